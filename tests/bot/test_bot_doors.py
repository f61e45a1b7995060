"""Issue #9, callbacks that cannot be turned against us, over real HTTP: a signed callback's sessionWebhook must lie
under the bot's allow-list (else no reply is queued or POSTed), robotCode and chatbotCorpId are checked when
configured, and the signature window is the bot's."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import bot_handlers
import httpx
import pytest
from anywhere import Anywhere, anywhere
from bot_rig import BotRig
from gateway_harness import wait_until

from dingrelay.bot import EMPTY
from dingrelay.bot.dedup import ReplyLog
from dingrelay.emulator.user import CORP_ID, callback_body, signed_headers

ROBOT_CODE = "dingabcdefghijk"   # what the emulator's callback bodies carry


@pytest.fixture
def other() -> Iterator[Anywhere]:
    with anywhere() as server:
        yield server


def post_signed(rig: BotRig, text: str, session_webhook: str, **fields: object) -> tuple[str, httpx.Response]:
    """A callback as DingTalk signs it, with the body's sessionWebhook (and other fields) as the sender chose:
    (its msgId, the answer)."""
    now = rig.emu.state.now_ms()
    body = callback_body(text, session_webhook=session_webhook, session_expires_at_ms=now + 3_600_000, now_ms=now)
    body.update(fields)
    return body["msgId"], httpx.post(rig.callback_url, json=body, headers=signed_headers(rig.secret, now), timeout=10)


def forged(where: str, rig: BotRig, other: Anywhere) -> tuple[str, str]:
    """(a sessionWebhook outside the allow-list, the session key it carries). The allow-list is the emulator's
    ``http://127.0.0.1:<port>/robot/sendBySession``; every URL here names a session the emulator knows."""
    real = rig.emu.create_session()
    parts = urlsplit(real)
    session = parse_qs(parts.query)["session"][0]
    path = f"{parts.path}?{parts.query}"
    return {
        "another port": f"{other.url}{path}",
        "the emulator under another name": f"http://localhost:{parts.port}{path}",
        "the allowed host as a user part": f"http://127.0.0.1:{parts.port}@127.0.0.1:{other.port}{path}",
        "the allowed URL in the query": f"{other.url}{path}&next=http://127.0.0.1:{parts.port}{parts.path}",
        "cloud metadata": f"http://169.254.169.254/latest/meta-data/?session={session}",
    }[where], session


FORGED = ["another port", "the emulator under another name", "the allowed host as a user part",
          "the allowed URL in the query", "cloud metadata"]


@pytest.mark.parametrize("where", FORGED)
def test_a_signed_callback_whose_session_webhook_is_not_allowed_makes_no_outbound_request(
        rig: BotRig, other: Anywhere, where: str, caplog: pytest.LogCaptureFixture) -> None:
    url, session = forged(where, rig, other)
    caplog.set_level(logging.INFO, logger="dingrelay")

    msg_id, r = post_signed(rig, "slow", url)
    assert (r.status_code, r.json()) == (200, EMPTY)   # too slow for the response: it would go via the session
    bot_handlers.RELEASE.set()
    log = ReplyLog(rig.gateway.services.store)
    assert wait_until(lambda: (seen := log.get("helper", msg_id)) is not None and seen.done, 10)

    assert bot_handlers.CALLS == [("slow", msg_id)]
    seen = log.get("helper", msg_id)
    assert seen is not None and seen.via == "refused"
    assert rig.gateway.services.store.messages_for() == []   # nothing queued, so nothing will ever be POSTed
    assert other.requests == []
    assert rig.emu.messages() == []
    refusals = [r.getMessage() for r in caplog.records if "session_webhook_prefixes" in r.getMessage()]
    assert len(refusals) == 1 and "the reply is refused" in refusals[0]
    assert session not in caplog.text   # the URL is logged masked


@pytest.mark.parametrize("where", ["another port", "cloud metadata"])
def test_a_fast_reply_to_a_callback_with_a_foreign_session_webhook_stays_in_the_response(
        rig: BotRig, other: Anywhere, where: str) -> None:
    url, _ = forged(where, rig, other)
    _, r = post_signed(rig, "echo 你好", url)
    assert r.status_code == 200 and r.json()["text"]["content"].startswith("echo 你好")
    assert rig.gateway.services.store.messages_for() == []
    assert other.requests == []


def test_a_slow_reply_to_an_allowed_session_webhook_still_arrives(rig: BotRig, other: Anywhere) -> None:
    """The control for the tests above: the same slow handler, a sessionWebhook under the allow-list."""
    session = rig.emu.create_session()
    assert post_signed(rig, "slow", session)[1].json() == EMPTY
    bot_handlers.RELEASE.set()
    label = "session:" + parse_qs(urlsplit(session).query)["session"][0]
    [received] = rig.emu.wait_for(1, robot=label, timeout=10)
    assert received.body["text"]["content"].startswith("慢回复")
    assert other.requests == []


MATCHING = {"robot_code": ROBOT_CODE, "corp_id": CORP_ID}


@pytest.mark.parametrize("bot_extra", [MATCHING], indirect=True)
@pytest.mark.parametrize(("field", "value"), [("robotCode", "dingsomeoneelse"), ("chatbotCorpId", "dingothercorp"),
                                              ("robotCode", "")])
def test_a_callback_for_another_robot_or_corp_gets_403_json_and_runs_nothing(
        rig: BotRig, field: str, value: str, caplog: pytest.LogCaptureFixture) -> None:
    _, r = post_signed(rig, "echo hi", rig.emu.create_session(), **{field: value})
    assert r.status_code == 403
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("wrong_robot", field)
    assert repr(value) in error["message"]
    assert bot_handlers.CALLS == []
    assert any("refused message" in rec.getMessage() for rec in caplog.records if rec.name == "dingrelay.bot")


@pytest.mark.parametrize("bot_extra", [MATCHING], indirect=True)
def test_a_callback_for_the_configured_robot_and_corp_is_answered(rig: BotRig) -> None:
    _, r = post_signed(rig, "echo hi", rig.emu.create_session())
    assert r.status_code == 200 and r.json()["text"]["content"].startswith("echo hi")


def test_without_robot_code_or_corp_id_configured_any_is_answered(rig: BotRig) -> None:
    _, r = post_signed(rig, "echo hi", rig.emu.create_session(), robotCode="dinganything", chatbotCorpId="dingx")
    assert r.status_code == 200 and r.json()["text"]["content"].startswith("echo hi")


@pytest.mark.parametrize("bot_extra", [{"callback_window_seconds": 60}], indirect=True)
@pytest.mark.parametrize(("age_seconds", "status"), [(120, 401), (-120, 401), (30, 200)])
def test_a_signature_older_or_newer_than_the_bots_window_is_refused(rig: BotRig, age_seconds: int,
                                                                    status: int) -> None:
    conv = rig.say("echo hi", timestamp_ms=rig.emu.state.now_ms() - age_seconds * 1000)
    assert conv.response.status_code == status
    if status == 401:
        assert conv.answer["error"]["field"] == "timestamp"
        assert "±60s" in conv.answer["error"]["message"]
        assert bot_handlers.CALLS == []


def test_the_default_window_is_dingtalks_hour(rig: BotRig) -> None:
    assert rig.say("echo hi", timestamp_ms=int(time.time() * 1000) - 50 * 60 * 1000).response.status_code == 200
    assert rig.say("echo hi", timestamp_ms=int(time.time() * 1000) - 61 * 60 * 1000).response.status_code == 401
