"""The delivery loop. ``run_once(now)`` does one pass and returns when it next has work; ``run_forever`` repeats it,
woken at once by the store when a message is accepted or a send finishes.

Storms: when a robot's backlog would take longer than :attr:`Digests.after_seconds` to drain at its rate, the
message claimed at the queue's head goes out as a digest (:mod:`.digest`) carrying it and the messages behind it.
The storm lasts until a claim finds its message alone in the queue, or a window passes without a digest: until
then every send is a digest (a storm that slows down would otherwise spend the robot's budget on single messages
and leave the rest waiting a window). While it lasts, the robot's sends are spaced ``window / limit`` apart, so its
budget is spread over the window and each digest gathers what arrived since the last one.

A queue whose rate window is full (its claim answered a :class:`~.model.RateWait`) is not claimed again before
its slot frees, and new messages for it wake no pass. Every send attempt goes on record with its outcome
(:class:`~.model.Sent`: when it started, how long it took, DingTalk's HTTP status and errmsg).

Liveness: ``run_forever`` records a heartbeat (:attr:`Worker.beat`) on every turn of its loop and re-queues sends
whose lease expired (``store.recover``) every :attr:`Worker.recover_seconds`, not only at start. Writing a send's
outcome is retried until it succeeds, or until the send's lease has run out (recovery then re-queues it): a failed
write never leaves a message ``sending``. :meth:`Worker.release` puts the sends still in flight back in the queue
when a stopping process cannot wait for them any longer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime

from ..dingtalk.client import Receipt
from ..dingtalk.errors import ApiError, DingTalkError, OpenApiError, TransportError
from ..dingtalk.masking import mask_text
from ..dingtalk.messages import MAX_BODY_BYTES
from . import digest
from .digest import Digests
from .metrics import NO_METRICS, Metrics, robot_label
from .model import Claim, NewMessage, RateWait, Sent, StoredMessage
from .retry import Action, RetryPolicy
from .sender import Sender
from .store import Store

log = logging.getLogger("dingrelay.delivery")

Limits = Callable[[str], tuple[int, float]]
"""queue name -> (messages allowed, window seconds)."""


class Worker:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        *,
        limits: Limits,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 60.0,
        idle_seconds: float = 0.5,
        min_pass_seconds: float = 0.005,
        executor: Executor | None = None,
        digests: Digests | None = None,
        recover_seconds: float = 5.0,
        metrics: Metrics = NO_METRICS,
        claim_batch: int = 64,
    ) -> None:
        self.store = store
        self.sender = sender
        self.limits = limits
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.min_pass_seconds = min_pass_seconds
        self.executor = executor
        self.digests = digests
        self.metrics = metrics
        self.claim_batch = max(1, claim_batch)   # due heads claimed per transaction
        self._storms: dict[str, float] = {}   # queue in a storm -> when its last digest went
        self._full: dict[str, float] = {}   # queue whose rate window was full -> when a slot frees (RateWait)
        self._wake = threading.Event()
        self._active: frozenset[str] = frozenset()  # queues due or in flight here, as of the last pass
        self.recover_seconds = recover_seconds
        self.beat: float | None = None   # time.monotonic() of the loop's last turn
        self._stop = threading.Event()
        self._released = threading.Event()   # set by release(): outcomes still being written are left to recovery
        self._in_flight: dict[int, tuple[Claim, float]] = {}   # send id -> (claim, when its lease ends, monotonic)
        self._in_flight_lock = threading.Lock()

    def wake(self, queues: frozenset[str] | None = None) -> None:
        """Run a pass soon. New messages for queues that already have a head waiting or in flight need none:
        that head's send finishing, or its timer, brings the next pass."""
        if queues is not None and queues <= self._active:
            return
        self._wake.set()

    def run_once(self, now: float | None = None) -> float | None:
        """Claim every due message that its robot's budget allows and deliver it (in the executor, if any).

        Returns the earliest time more work may become due (``now`` after it delivered something inline: call
        again at once), or ``None`` when nothing else is waiting (a send in the executor wakes the loop when it
        ends).
        """
        now = self.clock() if now is None else now
        waits: list[float] = []
        claimed = False
        heads = self.store.due_heads(now)
        # Queues due now or with a send of ours in flight: each brings a pass of its own. Other active queues are
        # left out: a message for one costs at most an extra pass, not a read of every queue's head every pass.
        full = self._full
        with self._in_flight_lock:
            self._active = frozenset([h.queue for h in heads] + [c.message.queue for c, _ in self._in_flight.values()]
                                     + [q for q, t in full.items() if t > now])
        wanted: list[tuple[StoredMessage, int, float]] = []
        for head in heads:
            slot = full.get(head.queue)
            if slot is not None:
                if slot > now:  # its window is full until then, whoever sends meanwhile: no claim before it
                    waits.append(slot)
                    continue
                del full[head.queue]
            if head.expires_at is not None and head.expires_at <= now and head.fallback is None:
                self.store.dead(head, now=now, errcode=None, error=_expired(head))
                self.metrics.outcome(robot_label(head.queue), "dead")
                continue
            limit, window = self.limits(head.queue)
            last = self._storms.get(head.queue)
            if last is not None and last + window / limit > now:
                waits.append(last + window / limit)
                continue
            wanted.append((head, limit, window))
        for start in range(0, len(wanted), self.claim_batch):
            batch = wanted[start:start + self.claim_batch]
            results = self.store.claim_many(batch, now=now, lease=self.lease_seconds)
            claims = [(r, limit, window) for r, (_, limit, window) in zip(results, batch, strict=True)
                      if isinstance(r, Claim)]
            waits += [r for r in results if isinstance(r, float)]
            full.update((head.queue, r) for r, (head, _, _) in zip(results, batch, strict=True)
                        if isinstance(r, RateWait))
            backlogs = self._backlogs([c for c, _, _ in claims])
            for claim, limit, window in claims:
                claimed = True
                self._start(self._digest(claim, limit=limit, window=window, now=now,
                                         backlog=backlogs.get(claim.message.queue)))
        if claimed and self.executor is None:
            return now   # delivered inline: due at once. A send in the executor wakes the loop by its outcome
        nxt = self.store.next_wake(now)
        if nxt is not None:
            waits.append(nxt)
        return min(waits) if waits else None

    def _backlogs(self, claims: Sequence[Claim]) -> dict[str, int]:
        """The backlog of each claim's queue that may take a digest, read in one query for the batch."""
        if self.digests is None:
            return {}
        queues = [c.message.queue for c in claims
                  if not c.message.is_digest and c.message.robot is not None and c.message.target_url is None]
        if not queues:
            return {}
        try:
            return self.store.backlogs(queues)
        except Exception:  # _digest reads each one again
            log.exception("could not read the backlogs of %d queue(s)", len(queues))
            return {}

    def _start(self, claim: Claim) -> None:
        """Deliver ``claim`` (in the executor, if any)."""
        self._track(claim)
        if self.executor is None:
            self.deliver(claim)
            return
        try:
            self.executor.submit(self.deliver, claim)
        except RuntimeError:  # the pool is shut down: the process is stopping
            self.release([claim])

    def _digest(self, claim: Claim, *, limit: int, window: float, now: float, backlog: int | None = None
                ) -> Claim:
        """``claim`` turned into a digest's claim when the robot's backlog calls for one; else ``claim``."""
        m = claim.message
        if m.is_digest:  # a digest that failed before goes again
            self._storms[m.queue] = now
            return claim
        if self.digests is None or m.robot is None or m.target_url is not None:
            return claim
        try:
            if backlog is None:
                backlog = self.store.backlog(m.queue)
            last = self._storms.get(m.queue)
            storming = backlog > 1 and last is not None and last >= now - window
            if not storming and not self.digests.wanted(backlog, limit, window):
                self._storms.pop(m.queue, None)
                return claim
            batch = [m, *self.store.following(claim, limit=self.digests.max_messages - 1)]
            built = digest.build(batch, keywords=self.digests.keywords.get(m.robot, ()), waiting=backlog,
                                 max_bytes=self.digests.max_bytes.get(m.robot, MAX_BODY_BYTES))
            if len(built.carried) < 2:
                return claim
            new = NewMessage(queue=m.queue, robot=m.robot, payload=built.message.to_json(), msgtype="markdown",
                             title=built.message.title)
            result = self.store.claim_digest(claim, new, built.carried, now=now, lease=self.lease_seconds)
        except Exception:  # the head still goes, alone
            log.exception("could not build a digest for %s; sending its head alone", m.queue)
            return claim
        if result.message.is_digest:
            self._storms[m.queue] = now
            self.metrics.outcome(robot_label(m.queue), "digested", len(built.carried))
            log.info("%s: digest %s carries %d message(s), %d still waiting", m.queue, result.message.id,
                     len(built.carried), built.more)
        return result

    def _track(self, claim: Claim) -> None:
        with self._in_flight_lock:
            self._in_flight[claim.send_id] = (claim, time.monotonic() + self.lease_seconds)

    def _untrack(self, claim: Claim) -> bool:
        """Forget ``claim``; False if it was no longer tracked (:meth:`release` took it)."""
        with self._in_flight_lock:
            return self._in_flight.pop(claim.send_id, None) is not None

    def in_flight(self) -> list[Claim]:
        """The sends claimed and not yet finished, oldest first."""
        with self._in_flight_lock:
            return [claim for claim, _ in self._in_flight.values()]

    def deliver(self, claim: Claim) -> None:
        message = claim.message
        try:
            started, timer = self.clock(), time.perf_counter()
            try:
                receipt = self._send(message)
            except DingTalkError as exc:
                self._failed(claim, exc, _measured(started, timer, exc))
            except Exception as exc:  # a bug must not leave the message stuck in "sending"
                log.exception("unexpected error delivering %s", message.id)
                error = TransportError(f"internal error while sending: {type(exc).__name__}")
                self._failed(claim, error, _measured(started, timer, error))
            else:
                now = self.clock()
                sent = Sent(started, time.perf_counter() - timer, http_status=receipt.http_status,
                            errmsg=mask_text(receipt.errmsg))
                if self._record(claim, "delivered", lambda: self.store.delivered(claim, now=now, sent=sent)):
                    log.debug("delivered %s to %s", message.id, message.queue)
                    self._observe_delivered(message, now)
        except Exception:  # never into a discarded future
            log.exception("could not finish the send of %s; it is re-queued when its lease ends", message.id)
        finally:
            self._untrack(claim)

    def _send(self, message: StoredMessage) -> Receipt:
        started = time.monotonic()
        try:
            return self.sender.send(message)
        finally:
            self.metrics.send_duration(robot_label(message.queue), time.monotonic() - started)

    def _observe_delivered(self, message: StoredMessage, now: float) -> None:
        """Count a delivery, and each message it brought (a digest's: those it carried) from accepted to now."""
        robot = robot_label(message.queue)
        self.metrics.outcome(robot, "delivered")
        try:
            brought = self.store.carried(message.id) if message.is_digest else [message]
        except Exception:
            log.warning("could not read the messages digest %s carried; their latency is not measured", message.id)
            return
        for m in brought:
            self.metrics.delivery_latency(robot, now - m.created_at)

    def _record(self, claim: Claim, outcome: str, write: Callable[[], None]) -> bool:
        """Write ``claim``'s outcome, retrying until it is written, its lease ends (recovery then re-queues the
        message) or :meth:`release` took it. True if written."""
        message = claim.message
        with self._in_flight_lock:
            entry = self._in_flight.get(claim.send_id)
        lease_end = entry[1] if entry else time.monotonic() + self.lease_seconds
        delay = 0.05
        for attempt in range(1, 10_000):
            try:
                write()
                if attempt > 1:
                    log.warning("recorded %s as %s after %d attempts", message.id, outcome, attempt)
                return True
            except Exception as exc:
                if attempt == 1:
                    log.exception("could not record %s as %s; retrying", message.id, outcome)
                else:
                    log.warning("could not record %s as %s (attempt %d): %s", message.id, outcome, attempt, exc)
            if self._released.wait(delay):
                log.warning("stopped recording %s as %s: the stopping process re-queues it", message.id, outcome)
                return False
            if time.monotonic() >= lease_end:
                break
            delay = min(delay * 2, 2.0)
        log.error("gave up recording %s as %s; it goes back to the queue as its lease has ended", message.id, outcome)
        return False

    def release(self, claims: Sequence[Claim] | None = None) -> int:
        """Put ``claims`` (default: every send still in flight) back in the queue, due now; outcomes still being
        written stop retrying. Returns how many were released."""
        now = self.clock()
        if claims is None:
            self._released.set()
            claims = self.in_flight()
        released = 0
        for claim in claims:
            if not self._untrack(claim):
                continue  # finished meanwhile
            try:
                self.store.retry(claim, now=now, at=now, errcode=None,
                                 error="interrupted by a shutdown; sent again")
                released += 1
            except Exception:
                log.exception("could not release %s; it is re-queued when its lease ends", claim.message.id)
        return released

    def _failed(self, claim: Claim, error: DingTalkError, sent: Sent) -> None:
        now = self.clock()
        message = claim.message
        errcode = getattr(error, "errcode", None)
        # A message a person requeued gets a fresh give-up horizon from then.
        since = message.requeued_at or message.created_at
        decision = self.policy.decide(error, attempts=message.attempts, now=now, since=since)
        self._observe_failure(message, decision.action, errcode)
        if decision.action is Action.PAUSE:
            log.warning("%s throttled by DingTalk until %s: %s", message.queue, _fmt(decision.at), error)
            self._record(claim, "paused", lambda: self.store.pause(
                claim, now=now, until=decision.at, errcode=errcode, error=decision.reason, sent=sent))
        elif decision.action is Action.RETRY:
            log.info("retrying %s (attempt %d) at %s: %s", message.id, message.attempts, _fmt(decision.at), error)
            self._record(claim, "retrying", lambda: self.store.retry(
                claim, now=now, at=decision.at, errcode=errcode, error=decision.reason, sent=sent))
        else:
            log.warning("message %s to %s is dead: %s", message.id, message.queue, decision.reason)
            self._record(claim, "dead", lambda: self.store.dead(
                claim, now=now, errcode=errcode, error=decision.reason, sent=sent))

    def _observe_failure(self, message: StoredMessage, action: Action, errcode: int | None) -> None:
        robot = robot_label(message.queue)
        if errcode is not None:
            self.metrics.dingtalk_error(robot, errcode)
        self.metrics.outcome(robot, {Action.PAUSE: "paused", Action.RETRY: "retry"}.get(action, "dead"))

    def run_forever(self) -> None:
        """Run passes until :meth:`stop`: at once when woken, else when work comes due (at most
        :attr:`idle_seconds` apart). Every :attr:`recover_seconds` it first re-queues expired sends."""
        self.store.subscribe(self.wake)
        last_pass = 0.0
        last_recover: float | None = None
        while not self._stop.is_set():
            self.beat = time.monotonic()
            if last_recover is None or self.beat - last_recover >= self.recover_seconds:
                last_recover = self.beat
                self._recover()
            # Leading-edge throttle: a wake after a quiet spell runs a pass at once (no added latency), but a
            # stream of wakes (every accepted request notifies) runs at most one pass per min_pass_seconds.
            since = time.monotonic() - last_pass
            if since < self.min_pass_seconds:
                self._stop.wait(self.min_pass_seconds - since)
            self._wake.clear()
            last_pass = time.monotonic()
            try:
                nxt = self.run_once()
            except Exception:
                log.exception("delivery pass failed; retrying shortly")
                nxt = None
            timeout = self.idle_seconds if nxt is None else min(max(nxt - self.clock(), 0.0), self.idle_seconds)
            if timeout > 0 and not self._stop.is_set():
                self._wake.wait(timeout)

    def _recover(self) -> None:
        now = self.clock()
        for queue in [q for q, t in self._full.items() if t <= now]:  # queues gone quiet (sessions come and go)
            del self._full[queue]
        try:
            recovered = self.store.recover(now=self.clock())
        except Exception:
            log.exception("could not re-queue expired sends; trying again in %.0fs", self.recover_seconds)
            return
        if recovered:
            log.warning("re-queued %d message(s) whose send was interrupted", recovered)

    def stop(self) -> None:
        """Make :meth:`run_forever` return after its current pass (sends in flight go on)."""
        self._stop.set()
        self._wake.set()


def _measured(started: float, timer: float, error: DingTalkError) -> Sent:
    """The facts of a failed send: DingTalk's HTTP status and errmsg when it answered (masked by the client)."""
    errmsg = error.errmsg if isinstance(error, ApiError | OpenApiError) else None
    return Sent(started, time.perf_counter() - timer, http_status=error.status_code, errmsg=errmsg)


def _expired(message: StoredMessage) -> str:
    when = _fmt(message.expires_at or 0)
    return f"sessionWebhook expired at {when}; the conversation must be answered another way (OpenAPI)"


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
