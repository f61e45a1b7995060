"""Issue #4 parts 2–4 over real HTTP: signed callbacks, the handler pipeline, replies in the body or via session."""

from __future__ import annotations

import json
import time

import bot_handlers
import httpx
import pytest
from bot_rig import BotRig
from gateway_harness import wait_until

from dingrelay.bot import APOLOGY
from dingrelay.delivery.model import Status, StoredMessage
from dingrelay.emulator import Fault
from dingrelay.emulator.user import signed_headers

TWO_HOURS_MS = 2 * 3600 * 1000


def content(reply: dict) -> str:
    return reply["text"]["content"] if reply["msgtype"] == "text" else reply[reply["msgtype"]]["text"]


# -- signatures ------------------------------------------------------------------------------------------------

def test_a_signed_ping_is_answered_with_pong_in_the_response_body(rig: BotRig) -> None:
    conv = rig.say(" ping")
    assert conv.response.status_code == 200
    reply = conv.reply_in_response
    assert reply is not None and reply["msgtype"] == "text"
    assert reply["text"]["content"].startswith("pong ")
    assert "Asia/Shanghai" in reply["text"]["content"]
    assert conv.session_replies() == []


@pytest.mark.parametrize(("case", "kwargs"), [
    ("forged signature", {"sign_with": "not-the-app-secret"}),
    ("timestamp two hours old", {"timestamp_ms": int(time.time() * 1000) - TWO_HOURS_MS}),
    ("no signature headers", {"headers": {}}),
])
def test_a_forged_stale_or_unsigned_callback_gets_401_json_and_runs_no_handler(
        rig: BotRig, case: str, kwargs: dict) -> None:
    conv = rig.say("echo hi", **kwargs)
    assert conv.response.status_code == 401, case
    assert conv.answer["error"]["code"] == "unauthorized"
    assert bot_handlers.CALLS == []
    assert conv.session_replies() == []


def test_an_unknown_bot_gets_404_json(rig: BotRig) -> None:
    rig.bot = "nobody"
    conv = rig.say("ping")
    assert conv.response.status_code == 404
    assert conv.answer["error"]["code"] == "unknown_bot"


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (json.dumps({"msgtype": "text", "text": {"content": "hi"}}).encode(), 422, "invalid_callback"),
    (json.dumps({"msgtype": "text", "msgId": "msg1=="}).encode(), 422, "invalid_callback"),
])
def test_a_signed_callback_with_a_junk_body_gets_a_json_error(rig: BotRig, body: bytes, status: int,
                                                              code: str) -> None:
    r = httpx.post(rig.callback_url, content=body, headers=signed_headers(rig.secret, int(time.time() * 1000)))
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert bot_handlers.CALLS == []


# -- de-duplication --------------------------------------------------------------------------------------------

def test_the_same_msg_id_sent_twice_runs_the_handler_once_and_both_get_the_same_reply(rig: BotRig) -> None:
    conv = rig.say("count")
    again = conv.send_again()
    assert conv.response.status_code == again.status_code == 200
    assert again.json() == conv.answer
    assert "第 1 次" in content(conv.answer)
    assert bot_handlers.CALLS == [("count", conv.msg_id)]


def test_a_different_msg_id_runs_the_handler_again(rig: BotRig) -> None:
    first, second = rig.say("count"), rig.say("count")
    assert "第 1 次" in content(first.answer)
    assert "第 2 次" in content(second.answer)


# -- the pipeline ----------------------------------------------------------------------------------------------

def test_a_reply_rule_with_a_named_group_answers_from_its_template_with_the_group_and_the_nick(rig: BotRig) -> None:
    conv = rig.say(" 天气 杭州", sender_nick="李雷")
    reply = conv.reply_in_response
    assert reply is not None and reply["msgtype"] == "markdown"
    assert reply["markdown"]["title"] == "杭州天气"
    assert "李雷，杭州今天晴" in reply["markdown"]["text"]


def test_an_inline_text_rule_sees_the_bots_vars_and_the_sender(rig: BotRig) -> None:
    reply = rig.say("值班", sender_nick="韩梅梅").reply_in_response
    assert reply is not None
    assert reply["text"]["content"].startswith("今天值班: 王五（韩梅梅 问的）")


def test_a_python_command_gets_the_text_after_its_word(rig: BotRig) -> None:
    conv = rig.say(" echo 你好 世界")
    assert content(conv.reply()).startswith("echo 你好 世界")
    assert bot_handlers.CALLS == [("echo", conv.msg_id)]


def test_a_python_pattern_handler_gets_its_named_group_and_may_answer_markdown(rig: BotRig) -> None:
    reply = rig.say("发布 billing-api").reply_in_response
    assert reply == {"msgtype": "markdown", "markdown": {"title": "发布", "text": "开始发布 **billing-api**"}}


def test_a_handler_returning_none_gets_an_empty_answer(rig: BotRig) -> None:
    conv = rig.say("silent")
    assert conv.answer == {"msgtype": "empty"}
    assert bot_handlers.CALLS == [("silent", conv.msg_id)]


def test_a_text_reply_in_a_group_ats_the_sender_and_in_a_one_to_one_chat_does_not(rig: BotRig) -> None:
    group = rig.say("ping", sender_staff_id="manager1234").reply_in_response
    single = rig.say("ping", conversation_type="1", sender_staff_id="manager1234").reply_in_response
    assert group is not None and single is not None
    assert group["at"]["atUserIds"] == ["manager1234"]
    assert "@manager1234" in group["text"]["content"]
    assert "at" not in single
    assert "@manager1234" not in single["text"]["content"]


def test_help_lists_every_command_and_reply_rule(rig: BotRig) -> None:
    text = content(rig.say("help").reply())
    for expected in ("help", "ping", "status", "echo <文字>: 原样回复", "count: 数一数被调用了几次", "boom",
                     r"/^发布\s+(?P<svc>\S+)/: 发布 <服务>", r"/^天气\s*(?P<city>\S+)/ → 模板 weather",
                     "/^值班/ → 内联文本"):
        assert expected in text


@pytest.mark.parametrize("text", ["随便说点什么", "", "HELPME please"])
def test_unknown_input_gets_the_help_reply(rig: BotRig, text: str) -> None:
    assert rig.say(text).reply() == rig.say("help").reply()
    assert bot_handlers.CALLS == []


def test_status_shows_queue_numbers_backlog_throttle_and_the_last_failure(rig: BotRig) -> None:
    rig.emu.inject(Fault(kind="errcode", errcode=410100, errmsg="发送速度太快而限流", robot="ops"))
    r = rig.gateway.http.post("/ding/send", json={"source": "heian-token", "title": "巡检", "content": "磁盘 91%"})
    assert r.status_code == 202
    store = rig.gateway.services.store
    assert wait_until(lambda: any(q.paused_until for q in store.queues(time.time())), 10)
    text = content(rig.say("status").reply())
    assert "队列：排队 0，重试 1，发送中 0，已送达 0，失败 0" in text
    ops_line = next(line for line in text.splitlines() if line.startswith("ops："))
    assert "积压 1" in ops_line
    assert "限流至" in ops_line
    assert "最近失败" in ops_line and "410100" in ops_line


# -- errors ------------------------------------------------------------------------------------------------------

def test_a_handler_error_gets_a_short_apology_and_its_trace_only_in_the_log(
        rig: BotRig, caplog: pytest.LogCaptureFixture) -> None:
    conv = rig.say("boom")
    assert conv.response.status_code == 200
    raw = conv.response.text
    assert content(conv.answer).startswith(APOLOGY)
    for leak in ("Traceback", "RuntimeError", "hunter2", "bot_handlers"):
        assert leak not in raw
    logged = [rec for rec in caplog.records if rec.name == "dingrelay.bot" and rec.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


# -- slow handlers ---------------------------------------------------------------------------------------------

def test_a_slow_handlers_reply_arrives_at_the_emulators_send_by_session(rig: BotRig) -> None:
    conv = rig.say("slow", sender_nick="李雷")
    assert conv.answer == {"msgtype": "empty"}
    assert conv.session_replies() == []
    bot_handlers.RELEASE.set()
    [received] = conv.wait_for_session_reply(1)
    assert received.msgtype == "text"
    assert received.body["text"]["content"].startswith("慢回复：李雷，好了")
    assert received.body["at"]["atUserIds"] == ["manager1234"]


def test_a_redelivered_slow_message_is_answered_once_through_the_session(rig: BotRig) -> None:
    conv = rig.say("slow")
    assert conv.send_again().json() == {"msgtype": "empty"}
    bot_handlers.RELEASE.set()
    conv.wait_for_session_reply(1)
    assert conv.send_again().json() == {"msgtype": "empty"}  # the reply already went through the session
    assert [c for c, _ in bot_handlers.CALLS] == ["slow"]
    assert len(conv.session_replies()) == 1


def test_a_slow_handlers_error_reaches_the_chat_as_an_apology_without_a_trace(rig: BotRig) -> None:
    conv = rig.say("slowboom")
    assert conv.answer == {"msgtype": "empty"}
    bot_handlers.RELEASE.set()
    [received] = conv.wait_for_session_reply(1)
    text = json.dumps(received.body, ensure_ascii=False)
    assert received.body["text"]["content"].startswith(APOLOGY)
    for leak in ("Traceback", "ValueError", "hunter2", "corrupted"):
        assert leak not in text


def test_a_slow_reply_to_an_expired_session_ends_dead_with_the_expiry_reason(rig: BotRig) -> None:
    expired = rig.emu.state.now_ms() - 1000
    conv = rig.say("slow", session_expires_at_ms=expired)
    assert conv.answer == {"msgtype": "empty"}
    bot_handlers.RELEASE.set()
    store = rig.gateway.services.store

    def reply_row() -> StoredMessage | None:
        return next((m for m in store.messages_for() if m.target_url == conv.session_webhook), None)

    assert wait_until(lambda: (m := reply_row()) is not None and m.status is Status.DEAD, 10)
    row = reply_row()
    assert row is not None and row.last_error is not None
    assert "expired" in row.last_error
    assert row.expires_at == expired / 1000
    assert conv.session_replies() == []
