"""Issue #9 over stream mode: a pushed message whose sessionWebhook is not under the allow-list gets no reply
anywhere, and a message for another robot is not handled; both are ACKed (DingTalk would not push them again)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from anywhere import anywhere
from gateway_harness import wait_until
from stream_rig import stream_rig

from dingrelay.bot.dedup import ReplyLog


def test_a_pushed_message_with_a_foreign_session_webhook_is_acked_and_answered_nowhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dingrelay")
    with anywhere() as other, stream_rig(tmp_path) as rig:
        session = rig.emu.create_session()
        parts = urlsplit(session)
        foreign = f"{other.url}{parts.path}?{parts.query}"
        chat = rig.say("echo 你好", session_webhook=foreign)
        assert chat.ack()["code"] == 200
        log = ReplyLog(rig.services.store)
        assert wait_until(lambda: (seen := log.get("helper", chat.msg_id)) is not None and seen.done, 10)
        seen = log.get("helper", chat.msg_id)
        assert seen is not None and seen.via == "refused"
        assert rig.services.store.messages_for() == []
        # the same conversation through its real sessionWebhook is answered
        rig.say("echo 然后", session_webhook=session).wait_for_session_reply(1)
        assert other.requests == []
    assert parts.query.split("=", 1)[1] not in caplog.text
    assert "the reply is refused" in caplog.text


@pytest.mark.parametrize("bot", [{"robot_code": "dingsomeoneelse"}, {"corp_id": "dingothercorp"}])
def test_a_pushed_message_for_another_robot_or_corp_is_acked_and_not_handled(
        tmp_path: Path, bot: dict, caplog: pytest.LogCaptureFixture) -> None:
    with stream_rig(tmp_path, bot=bot) as rig:
        chat = rig.say("echo 你好")
        assert chat.ack()["code"] == 200
        assert wait_until(lambda: "refused message" in caplog.text, 10)
        assert ReplyLog(rig.services.store).get("helper", chat.msg_id) is None   # not even recorded
        assert rig.services.store.messages_for() == [] and chat.session_replies() == []
