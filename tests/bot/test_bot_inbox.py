"""Answering after a crash, with a real store (SQLite and PostgreSQL): a message recorded by a process that is gone
before its reply was queued is answered by the next one, and its reply is queued exactly once, even when the dead
process had queued it already."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from gateway_harness import wait_until
from sqlalchemy import text

from dingrelay.bot import EMPTY, Bots, BotSpec, Context, Pipeline, command
from dingrelay.bot.dedup import LEASE_SECONDS, ReplyLog
from dingrelay.bot.registry import handlers_in
from dingrelay.bot.service import session_queue
from dingrelay.delivery import owner
from dingrelay.delivery.model import NewMessage, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.dingtalk.callback import DEFAULT_SESSION_WEBHOOK_PREFIXES, IncomingMessage, UrlPrefix, parse_callback
from dingrelay.dingtalk.masking import Secret
from dingrelay.emulator.user import callback_body
from dingrelay.rendering import Renderer

T0 = 1_700_000_000.0
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b48f59e8aa76da36b48f59e8aa"
CALLS: list[str] = []


@command("echo")
def echo(ctx: Context) -> str:
    CALLS.append(ctx.message.msg_id)
    return f"echo {ctx.args}"


class _Handlers:
    echo = echo


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = SqlStore(store_url)
    yield s
    s.close()


@pytest.fixture
def bots(store: SqlStore) -> Iterator[Bots]:
    CALLS.clear()
    spec = BotSpec("helper", app_secret=Secret("x"), reply_budget_seconds=0.05,
                   session_webhook_prefixes=tuple(UrlPrefix.parse(p) for p in DEFAULT_SESSION_WEBHOOK_PREFIXES))
    pipeline = Pipeline(spec, renderer=Renderer(), status=store, handlers=handlers_in(_Handlers))
    b = Bots({"helper": pipeline}, replies=ReplyLog(store), queue=store, clock=lambda: T0, resume_seconds=0.05)
    yield b
    b.close()


def message(text_: str, msg_id: str = "msgA==") -> IncomingMessage:
    now_ms = int(T0 * 1000)
    return parse_callback(callback_body(text_, session_webhook=SESSION, session_expires_at_ms=now_ms + 5_400_000,
                                        now_ms=now_ms, msg_id=msg_id, conversation_type="1"))


def gone_owner() -> str:
    """The lease owner a process of this host that has exited wrote."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return f"{socket.gethostname()}:{int(proc.stdout)}:00000000-1"


def recorded_by_a_dead_process(store: SqlStore, msg: IncomingMessage) -> None:
    """What a process killed after recording ``msg`` (and ACKing its frame) leaves behind."""
    assert ReplyLog(store).claim("helper", msg.msg_id, now=T0, message=msg) is None
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE dr_bot_replies SET lease_owner = :o"), {"o": gone_owner()})


def replies_queued(store: SqlStore) -> list[str]:
    return [json.loads(m.payload)["text"]["content"] for m in store.messages_for(session_queue(SESSION))]


def test_a_message_a_dead_process_recorded_is_answered_once_when_the_next_one_starts(store: SqlStore,
                                                                                    bots: Bots) -> None:
    recorded_by_a_dead_process(store, message("echo 你好"))

    bots.start()

    assert wait_until(lambda: replies_queued(store) == ["echo 你好"], 10)
    assert wait_until(lambda: (seen := bots.replies.get("helper", "msgA==")) is not None and seen.done, 10)
    assert bots.resume() == 0    # answered: nothing left for the next process
    assert replies_queued(store) == ["echo 你好"] and CALLS == ["msgA=="]
    [queued] = store.messages_for(session_queue(SESSION))
    assert (queued.target_url, queued.status, queued.source) == (SESSION, Status.QUEUED, "bot:helper")


def test_a_reply_the_dead_process_had_queued_already_is_not_queued_again(store: SqlStore, bots: Bots) -> None:
    msg = message("echo 你好")
    recorded_by_a_dead_process(store, msg)
    # it was killed after queueing the reply and before recording that it had: the queue has the reply
    store.enqueue([NewMessage(queue=session_queue(SESSION), target_url=SESSION, payload=json.dumps(
        {"msgtype": "text", "text": {"content": "echo 你好"}}, ensure_ascii=False).encode(), msgtype="text",
        source="bot:helper")], now=T0, idempotency=("bot:helper", msg.msg_id))

    assert bots.resume() == 1
    assert wait_until(lambda: (seen := bots.replies.get("helper", "msgA==")) is not None and seen.done, 10)
    assert replies_queued(store) == ["echo 你好"]


def test_a_running_process_answers_a_message_left_by_one_that_died_meanwhile(store: SqlStore, bots: Bots) -> None:
    bots.start()       # nothing to resume yet
    recorded_by_a_dead_process(store, message("echo 稍后"))
    assert wait_until(lambda: replies_queued(store) == ["echo 稍后"], 10)


def test_a_message_another_live_process_is_answering_is_left_to_it_until_its_lease_runs_out(store: SqlStore,
                                                                                           bots: Bots) -> None:
    assert ReplyLog(store).claim("helper", "msgA==", now=T0, message=message("echo 你好")) is None  # this process
    assert bots.resume() == 0
    later = Bots(bots.pipelines, replies=bots.replies, queue=store, clock=lambda: T0 + LEASE_SECONDS + 1)
    try:
        assert later.resume() == 1   # a claim that outlived its lease: its handler hung, or the process lost it
        assert wait_until(lambda: replies_queued(store) == ["echo 你好"], 10)
    finally:
        later.close()


def test_a_redelivery_takes_over_a_claim_whose_process_is_gone(store: SqlStore) -> None:
    log = ReplyLog(store)
    recorded_by_a_dead_process(store, message("echo 你好"))
    assert log.claim("helper", "msgA==", now=T0 + 1, message=message("echo 你好")) is None
    seen = log.claim("helper", "msgA==", now=T0 + 2)   # while this process answers, a third delivery waits
    assert seen is not None and not seen.done


@pytest.mark.parametrize("via", ["stream", "http"])
def test_a_message_is_recorded_with_its_process_before_it_is_acked_or_answered_empty(store: SqlStore, bots: Bots,
                                                                                     via: str) -> None:
    """What the stream client's ACK waits for (once answer_via_session returned, the message is in the store), and
    what an HTTP callback too slow for its response leaves, so that the reply still follows after a crash."""
    release = threading.Event()

    @command("hold")
    def hold(ctx: Context) -> str:
        release.wait(10)
        return "好"

    bots.pipelines["helper"].handlers.extend(handlers_in(type("H", (), {"hold": hold})))
    try:
        if via == "stream":
            assert bots.answer_via_session("helper", message("hold 住", "msgB==")) is True
        else:
            assert bots.answer("helper", message("hold 住", "msgB==")) == EMPTY
        with store.engine.connect() as conn:   # the handler is still running
            row = conn.execute(text("SELECT status, callback, lease_owner FROM dr_bot_replies")).one()
        assert (row.status, row.lease_owner) == ("running", str(owner.current()))
        assert parse_callback(json.loads(row.callback)).plain_text == "hold 住"
    finally:
        release.set()
    assert wait_until(lambda: replies_queued(store) == ["好"], 10)
