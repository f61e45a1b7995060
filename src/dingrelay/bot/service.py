"""Answering a verified callback within DingTalk's patience: the reply budget, de-duplication, the slow path, and
answering after a crash.

A reply ready within the bot's ``reply_budget_seconds`` goes back in the HTTP response body. Otherwise the caller
answers ``{"msgtype": "empty"}`` at once, and when the handler finishes its reply is queued durably to the message's
sessionWebhook, expiring with the session (the worker then marks it dead with that reason), unless the bot's
app credentials are known (``client_id``): then a reply that outlives its session goes by the OpenAPI instead.
Stream mode has no response body: its replies all go through the sessionWebhook. A sessionWebhook outside the
bot's allow-list gets no reply (:mod:`.admission`).

Each ``msgId`` runs once: a redelivery gets the reply the first delivery answered in its response, or ``empty``
when that reply went (or will go) through the sessionWebhook, so the chat never sees it twice.

A crash loses nothing. A message is recorded with its claim before any handler runs (in stream mode, before its
frame is ACKed); its reply is queued with the msgId as idempotency key, so it is queued once however often the
message is answered. A message whose process died before its reply was queued is answered again by
:meth:`Bots.resume`, at :meth:`Bots.start` and every :data:`RESUME_SECONDS` after.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from ..delivery.model import Fallback, NewMessage, StoredMessage
from ..dingtalk.callback import IncomingMessage, verify_callback
from ..dingtalk.masking import mask_url
from ..dingtalk.messages import Message, Text
from .admission import Refused, admit, reply_allowed
from .dedup import ReplyLog
from .pipeline import APOLOGY, SESSION_QUEUE_PREFIX, Pipeline

log = logging.getLogger("dingrelay.bot")

#: The HTTP answer meaning "no reply now" (a slow reply follows through the sessionWebhook).
EMPTY: dict[str, Any] = {"msgtype": "empty"}
#: How a message was answered (``dr_bot_replies.via``): in the response body, through the sessionWebhook, or not at
#: all because its sessionWebhook is not allowed.
RESPONSE = "response"
SESSION = "session"
REFUSED = "refused"
#: How often a running process looks for messages that a process that is gone left unanswered.
RESUME_SECONDS = 5.0
_POLL_SECONDS = 0.05


class Queue(Protocol):
    """Where slow replies go: the durable delivery queue (a :class:`~dingrelay.delivery.store.Store`)."""

    def enqueue(self, new: list[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None
                ) -> tuple[list[StoredMessage], bool]: ...


class UnknownBot(LookupError):
    """No bot by that name is configured."""


class Bots:
    """Every configured bot's pipeline, its secret and its budget, with one thread pool for handlers."""

    def __init__(self, pipelines: Mapping[str, Pipeline], *, replies: ReplyLog, queue: Queue,
                 clock: Callable[[], float] = time.time, max_workers: int = 8,
                 resume_seconds: float = RESUME_SECONDS) -> None:
        self.pipelines = dict(pipelines)
        self.replies = replies
        self.queue = queue
        self.clock = clock
        self.resume_seconds = resume_seconds
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dingrelay-bot")
        self._closing = threading.Event()
        self._resumer: threading.Thread | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.pipelines

    def pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise UnknownBot(name) from None

    def verify(self, name: str, timestamp: str | None, sign: str | None) -> None:
        """Check the callback headers with the bot's app secret; ``CallbackRejected`` if forged, missing, or older
        than the bot's ``callback_window_seconds`` (constant-time compare)."""
        spec = self.pipeline(name).spec
        verify_callback(spec.app_secret.reveal(), timestamp, sign, clock=self.clock,
                        window_ms=int(spec.callback_window_seconds * 1000))

    def admit(self, name: str, message: IncomingMessage) -> None:
        """:class:`~.admission.Refused` (and logged) when ``message`` names another robot or corp than the bot's."""
        try:
            admit(self.pipeline(name).spec, message)
        except Refused as exc:
            log.warning("bot %s: refused message %s: %s", name, message.msg_id, exc)
            raise

    def answer(self, name: str, message: IncomingMessage) -> dict[str, Any]:
        """The JSON body for DingTalk's callback request: the reply, or :data:`EMPTY`. Raises
        :class:`~.admission.Refused` for a message that is not for this bot."""
        pipeline = self.pipeline(name)
        self.admit(name, message)
        budget = pipeline.spec.reply_budget_seconds
        seen = self.replies.claim(name, message.msg_id, now=self.clock(), message=message)
        if seen is not None:
            return self._repeat(name, message.msg_id, budget)
        job = _Job(self, name, message)
        future = self._executor.submit(pipeline.reply, message)
        future.add_done_callback(job.finished)
        try:
            future.result(timeout=budget)
        except FutureTimeout:
            pass
        if not job.decide(future):
            log.info("bot %s: message %s takes longer than %.1fs; its reply will go through the sessionWebhook",
                     name, message.msg_id, budget)
            return EMPTY
        reply = _result(future, name, message)
        payload = reply.to_payload() if reply is not None else None
        self.replies.finish(name, message.msg_id, payload, via=RESPONSE, now=self.clock())
        return payload or EMPTY

    def answer_via_session(self, name: str, message: IncomingMessage) -> bool:
        """Stream mode: record the message, run the pipeline in the pool and queue its reply to the sessionWebhook
        (there is no response body to answer in). Once this returns the message is durably recorded, so the caller
        may ACK it: from here on a crash is made good by :meth:`resume`. False, running nothing, when this msgId was
        already taken or the message is not for this bot (logged)."""
        self.pipeline(name)
        try:
            self.admit(name, message)
        except Refused:
            return False
        if self.replies.claim(name, message.msg_id, now=self.clock(), message=message) is not None:
            log.info("bot %s: message %s delivered again; not run twice", name, message.msg_id)
            return False
        self._run_via_session(name, message)
        return True

    def _run_via_session(self, name: str, message: IncomingMessage) -> None:
        future = self._executor.submit(self.pipeline(name).reply, message)
        future.add_done_callback(lambda f: self._finish_via_session(name, message, f))

    # -- answering after a crash -------------------------------------------------------------------------

    def start(self) -> None:
        """Answer what processes that are gone left unanswered: now, and every :attr:`resume_seconds` until
        :meth:`close`. Never raises: a failure is logged and the next round tries again."""
        if self._resumer is not None:
            raise RuntimeError("the bots start once")
        self._resume_logged()
        self._resumer = threading.Thread(target=self._resume_every, name="dingrelay-bot-resume", daemon=True)
        self._resumer.start()

    def resume(self) -> int:
        """Take over the messages recorded by a process that is gone (or left running past the claim's lease)
        before their reply was queued, and answer them through their sessionWebhook. Returns how many."""
        taken = self.replies.abandoned(list(self.pipelines), now=self.clock())
        for name, message in taken:
            log.warning("bot %s: message %s was left unanswered by a process that is gone; answering it now",
                        name, message.msg_id)
            self._run_via_session(name, message)
        return len(taken)

    def _resume_every(self) -> None:
        while not self._closing.wait(self.resume_seconds):
            self._resume_logged()

    def _resume_logged(self) -> None:
        try:
            self.resume()
        except Exception:
            log.exception("bots: could not look for unanswered messages; trying again in %.0fs", self.resume_seconds)

    def _finish_via_session(self, name: str, message: IncomingMessage, future: Future[Message | None]) -> None:
        try:
            self.send_later(name, message, _result(future, name, message))
        except Exception:
            log.exception("bot %s: could not queue the reply to message %s", name, message.msg_id)

    def _repeat(self, name: str, msg_id: str, budget: float) -> dict[str, Any]:
        """A redelivery: wait (within the budget) for the first delivery's outcome and answer the same."""
        deadline = time.monotonic() + budget
        while True:
            seen = self.replies.get(name, msg_id)
            if seen is None or seen.done or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        log.info("bot %s: message %s delivered again; not run twice", name, msg_id)
        if seen is not None and seen.done and seen.via == RESPONSE and seen.reply is not None:
            return seen.reply
        return EMPTY

    def send_later(self, name: str, message: IncomingMessage, reply: Message | None) -> None:
        """Queue a slow reply to the message's sessionWebhook, and remember it for redeliveries. The msgId is the
        idempotency key: answering the same message again (after a crash) never queues a second reply. A
        sessionWebhook the bot's ``session_webhook_prefixes`` do not admit gets nothing: the reply is refused."""
        now = self.clock()
        via, source = SESSION, f"bot:{name}"
        if reply is not None and message.session_webhook and not reply_allowed(self.pipeline(name).spec, message):
            log.warning("bot %s: message %s: its sessionWebhook %s is not under bots.%s.session_webhook_prefixes; "
                        "the reply is refused", name, message.msg_id, mask_url(message.session_webhook), name)
            via = REFUSED
        elif reply is not None and message.session_webhook:
            expires = message.session_webhook_expired_time / 1000 if message.session_webhook_expired_time else None
            fallback = reply_fallback(self.pipeline(name).spec.openapi_fallback, name, message)
            self.queue.enqueue([NewMessage(
                queue=session_queue(message.session_webhook), target_url=message.session_webhook,
                expires_at=expires, payload=reply.to_json(), msgtype=reply.msgtype, title=reply.summary,
                source=source, fallback=fallback.to_text() if fallback else None)],
                now=now, idempotency=(source, message.msg_id))
        elif reply is not None:
            log.warning("bot %s: message %s has no sessionWebhook; its slow reply is dropped", name, message.msg_id)
        self.replies.finish(name, message.msg_id, reply.to_payload() if reply is not None else None,
                            via=via, now=now)

    def close(self) -> None:
        """Stop resuming, and wait for running handlers (their slow replies are queued before this returns)."""
        self._closing.set()
        if self._resumer is not None and self._resumer is not threading.current_thread():
            self._resumer.join()
        self._executor.shutdown(wait=True)


class _Job:
    """One callback's handler run. Whoever decides first under the lock says how its reply goes out."""

    def __init__(self, bots: Bots, name: str, message: IncomingMessage) -> None:
        self.bots, self.name, self.message = bots, name, message
        self._lock = threading.Lock()
        self._via: str | None = None

    def decide(self, future: Future[Message | None]) -> bool:
        """After the budget: True if the reply goes in the response, False if through the sessionWebhook."""
        with self._lock:
            self._via = RESPONSE if future.done() else SESSION
            return self._via == RESPONSE

    def finished(self, future: Future[Message | None]) -> None:
        with self._lock:
            if self._via != SESSION:
                return  # still within the budget: the request thread answers
        reply = _result(future, self.name, self.message)
        try:
            self.bots.send_later(self.name, self.message, reply)
        except Exception:
            log.exception("bot %s: could not queue the slow reply to message %s", self.name, self.message.msg_id)


def _result(future: Future[Message | None], name: str, message: IncomingMessage) -> Message | None:
    try:
        return future.result()
    except Exception:  # Pipeline.reply does not raise; this guards against a bug there
        log.exception("bot %s: pipeline failed on message %s", name, message.msg_id)
        return Text(content=APOLOGY)


def reply_fallback(allowed: bool, name: str, message: IncomingMessage) -> Fallback | None:
    """Where the reply goes by the OpenAPI should its sessionWebhook expire: the group (its conversationId is the
    openConversationId) or, in a 1:1 chat, the sender's staff id. ``None`` when the bot has no app credentials."""
    if not allowed:
        return None
    if message.is_group and message.conversation_id:
        return Fallback(name, open_conversation_id=message.conversation_id)
    if not message.is_group and message.sender_staff_id:
        return Fallback(name, user_id=message.sender_staff_id)
    return None


def session_queue(session_webhook: str) -> str:
    """The queue of one conversation's replies, named by a digest: the URL itself is a credential."""
    return SESSION_QUEUE_PREFIX + hashlib.sha256(session_webhook.encode()).hexdigest()[:24]
