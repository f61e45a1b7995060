"""安全设置: 加签 signatures, custom keywords and the IP allow-list, answered with errcode 310000."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from emu_helpers import OK, SECRET, TOKEN, VECTOR_SIGN, VECTOR_SIGN_ENCODED, VECTOR_TS, answer, post, robot, text

from dingrelay.dingtalk import signing

SIGN_NOT_MATCH = answer(310000, "sign not match")
INVALID_TIMESTAMP = answer(310000, "invalid timestamp")
NO_KEYWORD = answer(310000, "keywords not in content")


def _signed_url(emu, timestamp: object, encoded_sign: str) -> str:
    return f"{emu.webhook_url('ops')}&timestamp={timestamp}&sign={encoded_sign}"


def test_protocol_vector_signature_is_accepted(start, client):
    emu = start(robot(secret=SECRET))

    assert post(client, _signed_url(emu, VECTOR_TS, VECTOR_SIGN_ENCODED), text()) == OK

    [received] = emu.messages("ops")
    assert received.signed is True
    assert received.timestamp_ms == VECTOR_TS


def test_raw_signature_given_to_the_client_query_encoder_is_accepted(start, client):
    emu = start(robot(secret=SECRET))

    params = {"access_token": TOKEN, "timestamp": VECTOR_TS, "sign": VECTOR_SIGN}

    result = post(client, f"{emu.server.url}/robot/send", text(), params=params)

    assert result == OK


def test_signature_containing_plus_is_accepted_when_encoded_once(start, client, clock):
    emu = start(robot(secret=SECRET))
    clock.advance(0.001)

    url = _signed_url(emu, VECTOR_TS + 1, "h9I8htdbvJCasKF0f8Gu%2Ba2Cr5fjl9T%2Bpzb6hx3n%2BpE%3D")

    assert post(client, url, text()) == OK


def test_signature_with_unencoded_plus_does_not_match(start, client, clock):
    emu = start(robot(secret=SECRET))

    url = _signed_url(emu, VECTOR_TS + 1, "h9I8htdbvJCasKF0f8Gu+a2Cr5fjl9T+pzb6hx3n+pE=")

    assert post(client, url, text()) == SIGN_NOT_MATCH


@pytest.mark.parametrize(
    "encoded_sign",
    [
        quote_plus(quote_plus(VECTOR_SIGN)),
        quote_plus("mXX0uITzTNLzJfLOaa7fh9ReAQ+XMRiJS9srQxLlSDM="),
        quote_plus("dnsu25fgtKaZF3LVi3oY15MSW/wnmYxDixFIAj6ldj4="),
        quote_plus(signing.sign("SECanotherSecret", VECTOR_TS)),
        "garbage",
    ],
    ids=["double-encoded", "literal-backslash-n", "signed-seconds", "other-secret", "garbage"],
)
def test_wrong_signature_is_sign_not_match(start, client, encoded_sign):
    emu = start(robot(secret=SECRET))

    assert post(client, _signed_url(emu, VECTOR_TS, encoded_sign), text()) == SIGN_NOT_MATCH
    assert emu.messages() == []


@pytest.mark.parametrize("offset_ms", [-2 * 3_600_000, 2 * 3_600_000, -3_600_001])
def test_timestamp_more_than_an_hour_away_is_invalid_even_if_correctly_signed(start, client, offset_ms):
    emu = start(robot(secret=SECRET))
    ts = VECTOR_TS + offset_ms

    assert post(client, _signed_url(emu, ts, signing.encoded_sign(SECRET, ts)), text()) == INVALID_TIMESTAMP


def test_timestamp_exactly_one_hour_old_is_still_accepted(start, client):
    emu = start(robot(secret=SECRET))
    ts = VECTOR_TS - 3_600_000

    assert post(client, _signed_url(emu, ts, signing.encoded_sign(SECRET, ts)), text()) == OK


def test_timestamp_in_seconds_is_invalid(start, client):
    emu = start(robot(secret=SECRET))

    url = _signed_url(emu, 1_700_000_000, quote_plus("dnsu25fgtKaZF3LVi3oY15MSW/wnmYxDixFIAj6ldj4="))

    assert post(client, url, text()) == INVALID_TIMESTAMP


@pytest.mark.parametrize(
    "suffix", ["", f"&timestamp={VECTOR_TS}", f"&sign={VECTOR_SIGN_ENCODED}", f"&timestamp=&sign={VECTOR_SIGN_ENCODED}"]
)
def test_signed_robot_without_timestamp_or_sign_is_invalid_timestamp(start, client, suffix):
    emu = start(robot(secret=SECRET))

    assert post(client, emu.webhook_url("ops") + suffix, text()) == INVALID_TIMESTAMP


def test_signature_is_reusable_within_the_hour(start, client, clock):
    emu = start(robot(secret=SECRET))
    url = _signed_url(emu, VECTOR_TS, VECTOR_SIGN_ENCODED)

    first = post(client, url, text())
    clock.advance(59 * 60)
    second = post(client, url, text())

    assert (first, second) == (OK, OK)


def test_robot_without_secret_ignores_signature_parameters(start, client):
    emu = start(robot())

    assert post(client, _signed_url(emu, VECTOR_TS, "garbage"), text()) == OK
    assert emu.messages()[0].signed is False


def test_signature_is_checked_before_keywords(start, client):
    emu = start(robot(secret=SECRET, keywords=["监控"]))

    assert post(client, emu.webhook_url("ops"), text("no keyword here")) == INVALID_TIMESTAMP


def test_message_without_any_keyword_is_refused(start, client):
    emu = start(robot(keywords=["监控", "alert"]))

    assert post(client, emu.webhook_url("ops"), text("disk 91% on web-1")) == NO_KEYWORD
    assert emu.messages() == []


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "text", "text": {"content": "disk alert"}},
        {"msgtype": "markdown", "markdown": {"title": "监控", "text": "#### disk 91%"}},
        {"msgtype": "actionCard", "actionCard": {"title": "Incident", "text": "service down",
                                                 "btns": [{"title": "查看监控", "actionURL": "https://e.com/m"}]}},
        {"msgtype": "actionCard", "actionCard": {"title": "Incident", "text": "down",
                                                 "singleTitle": "监控面板", "singleURL": "https://e.com"}},
        {"msgtype": "feedCard", "feedCard": {"links": [{"title": "weekly 监控", "messageURL": "https://e.com/1",
                                                        "picURL": "https://e.com/1.png"}]}},
        {"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "https://e.com/监控"}},
    ],
    ids=["second-keyword", "markdown-title", "button-label", "single-button-label", "feed-title", "url"],
)
def test_keyword_anywhere_inside_the_message_object_is_accepted(start, client, body):
    emu = start(robot(keywords=["监控", "alert"]))

    assert post(client, emu.webhook_url("ops"), body) == OK


def test_keyword_only_in_the_at_object_does_not_count(start, client):
    emu = start(robot(keywords=["13800000000"]))
    body = {"msgtype": "text", "text": {"content": "please check"}, "at": {"atMobiles": ["13800000000"]}}

    assert post(client, emu.webhook_url("ops"), body) == NO_KEYWORD


@pytest.mark.parametrize(
    ("allowlist", "expected"),
    [
        (["203.0.113.7"], answer(310000, "ip 127.0.0.1 not in whitelist")),
        (["10.0.0.0/8", "192.168.1.0/24"], answer(310000, "ip 127.0.0.1 not in whitelist")),
        (["127.0.0.1"], OK),
        (["10.0.0.0/8", "127.0.0.0/8"], OK),
    ],
)
def test_ip_allowlist_refuses_callers_outside_it(start, client, allowlist, expected):
    emu = start(robot(ip_allowlist=allowlist))

    assert post(client, emu.webhook_url("ops"), text()) == expected


def test_malformed_allowlist_entry_is_refused_when_configuring():
    with pytest.raises(ValueError, match="ip_allowlist"):
        robot(ip_allowlist=["not-an-ip"])
