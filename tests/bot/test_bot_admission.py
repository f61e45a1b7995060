"""Which sessionWebhooks a reply may go to (parsed part by part, not a string prefix), the bots' keys that say so,
and the session key kept out of the queue's reprs."""

from __future__ import annotations

import logging

import pytest

from dingrelay.config import ConfigError, parse_settings
from dingrelay.delivery.model import NewMessage, Status, StoredMessage
from dingrelay.dingtalk.callback import DEFAULT_SESSION_WEBHOOK_PREFIXES, UrlPrefix, session_webhook_allowed
from dingrelay.wiring import bot_spec

DEFAULTS = tuple(UrlPrefix.parse(p) for p in DEFAULT_SESSION_WEBHOOK_PREFIXES)
SESSION = "76da36b48f59e8aa76da36b48f59e8aa"


@pytest.mark.parametrize("url", [
    f"https://oapi.dingtalk.com/robot/sendBySession?session={SESSION}",
    "https://oapi.dingtalk.com/robot/sendBySession/v2?session=x",
    "https://api.dingtalk.com/v1.0/robot/oToMessages/batchSend",
    "https://API.DingTalk.com:443/v1.0/x",
    "https://api.dingtalk.com",
])
def test_dingtalks_own_session_webhooks_are_allowed_by_default(url: str) -> None:
    assert session_webhook_allowed(url, DEFAULTS)


@pytest.mark.parametrize("url", [
    "https://api.dingtalk.com.evil.example/",                       # the host as a prefix of another host
    "https://oapi.dingtalk.com.evil.example/robot/sendBySession",
    "https://api.dingtalk.com@evil.example/",                       # the host as a user part
    "https://api.dingtalk.com:443@evil.example/",
    "https://api.dingtalk.com\\@evil.example/",                     # parsers disagree on a backslash
    "https://evil.example/?next=https://api.dingtalk.com/",
    "https://evil.example/https://api.dingtalk.com/",
    "http://api.dingtalk.com/",                                     # another scheme
    "https://api.dingtalk.com:8443/",                               # another port
    "https://oapi.dingtalk.com/robot/sendBySessionX?session=x",     # the path as a prefix of another segment
    "https://oapi.dingtalk.com/robot/send?access_token=x",          # another path on that host
    "https://oapi.dingtalk.com/robot/sendBySession/../send?access_token=x",
    "https://oapi.dingtalk.com/robot/sendBySession/%2e%2e/send",
    "https://oapi.dingtalk.com/robot/sendBySession%2f..%2fsend",
    "https://api.dingtalk%2ecom/",
    "https://api.dingtalk.com./",
    " https://api.dingtalk.com/",
    "https://api.dingtalk.com/\n",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "",
])
def test_anything_else_is_refused_however_it_resembles_them(url: str) -> None:
    assert not session_webhook_allowed(url, DEFAULTS)


def test_a_configured_prefix_replaces_the_defaults_and_compares_host_and_port() -> None:
    prefixes = (UrlPrefix.parse("http://127.0.0.1:8089/robot/sendBySession"),)
    assert session_webhook_allowed("http://127.0.0.1:8089/robot/sendBySession?session=x", prefixes)
    assert not session_webhook_allowed("http://127.0.0.1:8090/robot/sendBySession?session=x", prefixes)
    assert not session_webhook_allowed("http://localhost:8089/robot/sendBySession?session=x", prefixes)
    assert not session_webhook_allowed(f"https://oapi.dingtalk.com/robot/sendBySession?session={SESSION}", prefixes)


def _bot(**keys: object) -> dict:
    return {"bots": {"helper": {"app_secret": "s3cret", **keys}}}


def test_the_bots_keys_default_to_dingtalks_prefixes_and_window_and_check_nothing_else() -> None:
    spec = bot_spec("helper", parse_settings(_bot()).bots["helper"])
    assert [str(p) for p in spec.session_webhook_prefixes] == list(DEFAULT_SESSION_WEBHOOK_PREFIXES)
    assert spec.callback_window_seconds == 3600
    assert (spec.robot_code, spec.corp_id) == (None, None)


def test_the_bots_keys_reach_its_spec() -> None:
    spec = bot_spec("helper", parse_settings(_bot(
        session_webhook_prefixes=["http://127.0.0.1:8089/robot/sendBySession"], robot_code="dingabc",
        corp_id="dingcorp", callback_window_seconds=300)).bots["helper"])
    assert [str(p) for p in spec.session_webhook_prefixes] == ["http://127.0.0.1:8089/robot/sendBySession"]
    assert (spec.robot_code, spec.corp_id, spec.callback_window_seconds) == ("dingabc", "dingcorp", 300)


@pytest.mark.parametrize(("keys", "key", "says"), [
    ({"session_webhook_prefixes": ["oapi.dingtalk.com/robot"]}, "bots.helper.session_webhook_prefixes.0",
     "http(s) URL prefix"),
    ({"session_webhook_prefixes": ["https://api.dingtalk.com/", "https://user@api.dingtalk.com/"]},
     "bots.helper.session_webhook_prefixes.1", "http(s) URL prefix"),
    ({"session_webhook_prefixes": ["https://oapi.dingtalk.com/robot/sendBySession?session="]},
     "bots.helper.session_webhook_prefixes.0", "query"),
    ({"callback_window_seconds": 7200}, "bots.helper.callback_window_seconds", "3600"),
    ({"callback_window_seconds": 0}, "bots.helper.callback_window_seconds", "greater than 0"),
])
def test_a_bad_bot_key_fails_start_up_naming_it(keys: dict, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(_bot(**keys))
    [problem] = info.value.problems
    assert problem.key == key and says in problem.message


URL = f"https://oapi.dingtalk.com/robot/sendBySession?session={SESSION}"


def _stored(target_url: str | None) -> StoredMessage:
    return StoredMessage(id="m1", seq=1, queue="session:abc", robot=None, target_url=target_url, source="bot:helper",
                         msgtype="text", title="好", payload=b"{}", status=Status.QUEUED, attempts=0,
                         next_attempt_at=0.0, expires_at=None, last_errcode=None, last_error=None, created_at=0.0,
                         updated_at=0.0, delivered_at=None)


def test_a_queued_replys_repr_and_log_lines_mask_its_session_key(caplog: pytest.LogCaptureFixture) -> None:
    new = NewMessage(queue="session:abc", payload=b"{}", msgtype="text", target_url=URL)
    stored = _stored(URL)
    caplog.set_level(logging.INFO)
    logging.getLogger("dingrelay.test").info("queued %r, stored %r; %s", new, stored, [new])
    for shown in (repr(new), repr(stored), str(new), caplog.text):
        assert SESSION not in shown
        assert "sendBySession?session=76da****" in shown
    assert repr(_stored(None)).count("target_url=None") == 1
    assert "queue='session:abc'" in repr(new) and "source='bot:helper'" in repr(stored)  # the rest still shows
    assert new.target_url == stored.target_url == URL   # masked only when shown: the worker still sends to it

