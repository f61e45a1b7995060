"""sessionWebhook replies: POST /robot/sendBySession?session=<id>."""

from __future__ import annotations

import re

from emu_helpers import OK, VECTOR_TS, answer, post, robot, text

SESSION_GONE = answer(300001, "session 不存在")


def test_session_webhook_accepts_a_reply_without_token_or_signature(start, client):
    emu = start(robot(secret="SECxyz", keywords=["监控"]))
    url = emu.create_session()

    assert re.fullmatch(rf"{re.escape(emu.server.url)}/robot/sendBySession\?session=[0-9a-f]{{32}}", url)
    assert post(client, url, text("no keyword, no sign")) == OK
    [received] = emu.messages()
    assert received.robot == "session:" + url.rsplit("=", 1)[1]
    assert emu.messages("ops") == []


def test_session_expires_after_ninety_minutes_by_default(start, client, clock):
    emu = start(robot())
    url = emu.create_session()

    clock.advance(89 * 60)
    before = post(client, url, text())
    clock.advance(60)
    after = post(client, url, text())

    assert (before, after) == (OK, SESSION_GONE)


def test_session_with_explicit_expiry_in_the_past_is_gone(start, client):
    emu = start(robot())
    url = emu.create_session(expires_at_ms=VECTOR_TS - 1)

    assert post(client, url, text()) == SESSION_GONE
    assert emu.rejections()[0].errcode == 300001


def test_unknown_or_missing_session_is_gone(start, client):
    emu = start(robot())

    unknown = post(client, f"{emu.server.url}/robot/sendBySession?session={'0' * 32}", text())
    missing = post(client, f"{emu.server.url}/robot/sendBySession", text())

    assert (unknown, missing) == (SESSION_GONE, SESSION_GONE)


def test_session_replies_are_still_validated(start, client):
    emu = start(robot())
    url = emu.create_session()

    bad_type = client.post(url, content=b"{}", headers={"Content-Type": "text/plain"}).json()
    bad_json = client.post(url, content=b"{", headers={"Content-Type": "application/json"}).json()
    bad_msgtype = post(client, url, {"msgtype": "voice"})
    bad_field = post(client, url, {"msgtype": "markdown", "markdown": {"text": "x"}})

    assert [r["errcode"] for r in (bad_type, bad_json, bad_msgtype, bad_field)] == [43004, 40035, 400105, 400402]
    assert emu.messages() == []


def test_session_webhook_can_be_created_over_http(start, client, clock):
    emu = start(robot())

    created = client.post(f"{emu.server.url}/_emulator/sessions", json={"expires_at_ms": VECTOR_TS + 1000})
    url = created.json()["session_webhook"]

    assert post(client, url, text()) == OK
    clock.advance(1)
    assert post(client, url, text()) == SESSION_GONE
