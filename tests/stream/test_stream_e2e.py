"""Issue #4 part 5 end to end: the emulator pushes over a real WebSocket, replies arrive at the sessionWebhook."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from stream_rig import RecordingBackoff, StreamRig, stream_rig

from dingrelay.dingtalk.stream import ROBOT_TOPIC, StreamAuthFailed


def text_of(reply: dict) -> str:
    """The reply's text without the @sender line a group reply ends with."""
    return reply["text"]["content"].split("\n@")[0]


def test_the_client_registers_for_robot_messages_and_connects_with_its_ticket(rig: StreamRig) -> None:
    [registration] = rig.emu.stream.registrations(rig.client_id)
    assert registration.status == 200
    assert {"type": "CALLBACK", "topic": ROBOT_TOPIC} in registration.subscriptions
    assert rig.emu.stream.tickets_issued(rig.client_id) == 1


def test_a_pushed_message_is_acked_and_answered_at_its_session(rig: StreamRig) -> None:
    chat = rig.say("echo 你好")
    ack = chat.ack()
    assert ack["code"] == 200
    assert ack["headers"] == {"messageId": chat.message_id, "contentType": "application/json"}
    assert json.loads(ack["data"]) == {"response": None}
    assert text_of(chat.reply()) == "张三: 你好"


def test_a_builtin_command_is_answered_over_stream_too(rig: StreamRig) -> None:
    assert text_of(rig.say(" ping").reply()).startswith("pong ")


def test_a_ping_frame_is_acked_with_its_opaque(rig: StreamRig) -> None:
    message_id = rig.emu.stream.ping(rig.client_id, opaque="123-dsfs")
    [ack] = rig.emu.stream.wait_for_ack(message_id)
    assert ack["code"] == 200
    assert ack["headers"]["messageId"] == message_id
    assert json.loads(ack["data"]) == {"opaque": "123-dsfs"}


@pytest.mark.parametrize("same_frame", [True, False], ids=["same messageId", "new frame, same msgId"])
def test_a_duplicate_push_is_acked_and_answered_once(rig: StreamRig, same_frame: bool) -> None:
    chat = rig.say("echo 一次")
    assert text_of(chat.reply()) == "张三: 一次"
    again = chat.push_again(same_frame=same_frame)
    [*_, ack] = rig.emu.stream.wait_for_ack(again, 2 if same_frame else 1)
    assert ack["code"] == 200
    assert rig.client.duplicates == 1
    # a later message in the same conversation is answered; the duplicate never was
    rig.say("echo 然后", session_webhook=chat.session_webhook).wait_for_session_reply(2)
    assert [text_of(m.body) for m in chat.session_replies()] == ["张三: 一次", "张三: 然后"]


def test_a_disconnect_frame_leads_to_a_new_ticket_and_no_lost_message(rig: StreamRig) -> None:
    assert rig.emu.stream.disconnect(rig.client_id, close_after=2.0) == 1
    around = rig.say("echo 轮换中")  # reaches the draining connection, or the new one if it is already up
    rig.emu.stream.wait_connected(rig.client_id, tickets=2)
    after = rig.say("echo 轮换后")
    assert text_of(around.reply()) == "张三: 轮换中"
    assert text_of(after.reply()) == "张三: 轮换后"
    assert around.ack()["code"] == after.ack()["code"] == 200
    rig.emu.stream.wait_until(lambda hub: hub.connected(rig.client_id) == 1, what="the old connection closed")
    assert rig.emu.stream.tickets_issued(rig.client_id) == 2
    assert rig.client.connections == 2


def test_a_dropped_connection_reconnects_with_a_new_ticket(rig: StreamRig) -> None:
    assert rig.emu.stream.drop(rig.client_id) == 1
    rig.emu.stream.wait_connected(rig.client_id, tickets=2)
    assert text_of(rig.say("echo 回来了").reply()) == "张三: 回来了"


def test_a_bad_client_secret_is_a_clear_error_retried_with_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="dingrelay.stream")
    backoff = RecordingBackoff(base=0.01, cap=10.0, jitter=lambda: 0.0)
    wrong = "not-the-app-secret-0123456789"
    with stream_rig(tmp_path, configured_secret=wrong, backoff=backoff, connect=False) as rig:
        rig.emu.stream.wait_until(
            lambda hub: sum(r.status == 401 for r in hub.registrations(rig.client_id)) >= 3,
            what="three refused registrations")
        error = rig.client.last_error
    assert isinstance(error, StreamAuthFailed)
    assert not error.retryable
    assert rig.client_id in str(error) and "authFailed" in str(error) and "AppSecret" in str(error)
    assert backoff.delays[:2] == pytest.approx([0.01, 0.02])
    assert rig.emu.stream.tickets_issued(rig.client_id) == 0
    logged = caplog.text
    assert "authFailed" in logged and "retrying in" in logged
    assert wrong not in logged and rig.secret not in logged
