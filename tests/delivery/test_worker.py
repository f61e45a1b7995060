"""``Worker.run_once(now)`` end to end: a real RobotClient on ``httpx.MockTransport``, a SQLite store, a fake clock.

The loop is driven the way ``run_forever`` drives it: call ``run_once(now)``, then move the fake clock to the
time it returned (never backwards). No test sleeps; a send takes no time on the fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import httpx
import pytest
from delivery_helpers import T0, FakeClock
from worker_helpers import ROBOTS, SESSION_WEBHOOK, TOKENS, Answer, FakeDingTalk, drive, put, reload

from dingrelay.delivery.model import Claim, Status
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Worker
from dingrelay.dingtalk import RobotClient

MakeWorker = Callable[..., Worker]


@pytest.fixture
def store(sqlite_store: SqlStore) -> SqlStore:
    return sqlite_store


@pytest.fixture
def make_worker(store: SqlStore, client: RobotClient, clock: FakeClock) -> MakeWorker:
    """``make_worker(limit=20, window=60, **retry_policy)``: a worker on the fake clock, running sends inline.

    ``real_time=True`` puts it on ``time.time`` instead, for the tests of ``run_forever``.
    """

    def make(limit: int = 20, window: float = 60.0, *, real_time: bool = False, **policy: Any) -> Worker:
        return Worker(store, Sender(client, ROBOTS), limits=lambda _queue: (limit, window),
                      policy=RetryPolicy(**policy), clock=time.time if real_time else clock)

    return make


# -- delivering --------------------------------------------------------------------------------------------


def test_a_message_is_delivered_byte_exact_and_freshly_signed(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控报警: disk 91% 磁盘")

    drive(make_worker(), clock)

    [request] = dingtalk.requests
    assert request.body == m.payload
    assert request.url.params["access_token"] == TOKENS["ops"]
    assert request.url.params["timestamp"] == str(int(T0 * 1000))
    assert request.url.params["sign"]
    got = reload(store, m)
    assert (got.status, got.attempts, got.delivered_at) == (Status.DELIVERED, 1, T0)


def test_a_session_reply_goes_to_its_session_webhook_unsigned(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)

    drive(make_worker(), clock)

    [request] = dingtalk.requests
    assert str(request.url) == SESSION_WEBHOOK
    assert request.body == m.payload
    assert reload(store, m).status is Status.DELIVERED


@pytest.mark.parametrize(("failure", "recorded"), [
    pytest.param((-1, "系统繁忙"), "busy", id="errcode--1"),
    pytest.param(httpx.Response(502, text="Bad Gateway"), "HTTP 502", id="http-502"),
    pytest.param(httpx.ConnectError("connection refused"), "could not reach", id="connection-refused"),
    pytest.param(httpx.ReadTimeout("read timed out"), "timed out", id="timeout"),
])
def test_a_retryable_failure_is_retried_after_a_backoff_then_delivered(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock,
        failure: Answer, recorded: str) -> None:
    [m] = put(store, "监控 a")
    dingtalk.answer("ops", failure)
    worker = make_worker(base_seconds=2.0)

    worker.run_once(clock.now)
    retrying = reload(store, m)
    drive(worker, clock)

    assert (retrying.status, retrying.attempts) == (Status.RETRYING, 1)
    assert recorded in (retrying.last_error or "")
    assert T0 + 1.0 <= retrying.next_attempt_at <= T0 + 2.0   # between half and all of base·2^0
    assert dingtalk.times() == [T0, retrying.next_attempt_at]
    got = reload(store, m)
    assert (got.status, got.attempts) == (Status.DELIVERED, 2)


def test_it_gives_up_when_the_horizon_passes_and_says_so(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 a")
    dingtalk.answer("ops", *[(-1, "系统繁忙")] * 100)

    drive(make_worker(give_up_after_seconds=30.0, base_seconds=1.0, max_seconds=5.0), clock)

    got = reload(store, m)
    assert (got.status, got.last_errcode) == (Status.DEAD, -1)
    assert got.attempts == len(dingtalk.requests) > 6   # many tries within the 30 s, then dead
    assert clock.now == T0 + 30.0
    assert (got.last_error or "").startswith("gave up after 30 s and ")


def test_a_rate_limit_errcode_pauses_the_robot_for_the_penalty_then_delivers(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    first, second = put(store, "监控 1", "监控 2")
    dingtalk.answer("ops", (130101, "send too fast"))
    worker = make_worker(penalty_seconds=600.0)

    drive(worker, clock, until=T0 + 600)
    during = reload(store, first)
    [state] = store.queues(clock.now)
    drive(worker, clock)

    assert dingtalk.times() == [T0, T0 + 600, T0 + 600]          # nothing at all during the penalty
    assert (during.status, during.attempts, during.last_errcode) == (Status.RETRYING, 0, 130101)
    assert state.paused_until == T0 + 600
    assert "rate-limited" in (state.last_error or "")
    assert dingtalk.contents() == ["监控 1", "监控 1", "监控 2"]
    assert [reload(store, m).status for m in (first, second)] == [Status.DELIVERED, Status.DELIVERED]
    assert reload(store, first).attempts == 1   # the throttled attempt did not count


@pytest.mark.parametrize(("errcode", "errmsg", "cause"), [
    pytest.param(310000, "keywords not in content", "requires keyword 监控", id="keyword-missing"),
    pytest.param(310000, "sign not match", "加签 secret", id="signature-rejected"),
    pytest.param(300001, "token is not exist", "access_token does not exist", id="token-invalid"),
    pytest.param(430101, "含有不安全的外链", "unsafe", id="content-rejected"),
])
def test_a_non_retryable_failure_goes_dead_at_once_with_the_reason(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock,
        errcode: int, errmsg: str, cause: str) -> None:
    bad, after = put(store, "监控 bad", "监控 after")
    dingtalk.answer("ops", (errcode, errmsg))

    drive(make_worker(), clock)

    got = reload(store, bad)
    assert (got.status, got.attempts, got.last_errcode) == (Status.DEAD, 1, errcode)
    assert cause in (got.last_error or "")
    assert dingtalk.contents() == ["监控 bad", "监控 after"]   # never retried; the queue moves on
    assert reload(store, after).status is Status.DELIVERED


def test_an_expired_session_reply_goes_dead_without_being_sent(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 + 5)
    clock.now = T0 + 10   # the gateway was down when the session expired

    drive(make_worker(), clock)

    assert dingtalk.requests == []
    got = reload(store, m)
    assert got.status is Status.DEAD
    assert "sessionWebhook expired" in (got.last_error or "")
    assert "OpenAPI" in (got.last_error or "")


def test_a_session_dingtalk_calls_expired_goes_dead_saying_so(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    dingtalk.answer("session", (300001, "session不存在"))

    drive(make_worker(), clock)

    got = reload(store, m)
    assert (got.status, got.last_errcode) == (Status.DEAD, 300001)
    assert "expired" in (got.last_error or "")
    assert len(dingtalk.requests) == 1


def test_a_message_for_a_robot_no_longer_configured_goes_dead_naming_it(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 a", queue="retired")

    drive(make_worker(), clock)

    assert dingtalk.requests == []
    got = reload(store, m)
    assert got.status is Status.DEAD
    assert "'retired'" in (got.last_error or "")
    assert "configuration" in (got.last_error or "")


def test_a_bug_while_sending_leaves_the_message_retrying_not_stuck(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    [m] = put(store, "监控 a")
    dingtalk.answer("ops", RuntimeError("a bug"))
    worker = make_worker()

    worker.run_once(clock.now)
    after_bug = reload(store, m)
    drive(worker, clock)

    assert after_bug.status is Status.RETRYING
    assert "internal error while sending: RuntimeError" in (after_bug.last_error or "")
    assert "unexpected error delivering" in caplog.text
    assert reload(store, m).status is Status.DELIVERED


# -- order and independence --------------------------------------------------------------------------------


def test_messages_to_one_robot_are_delivered_in_acceptance_order_across_retries(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(1, 6)])
    dingtalk.answer("ops", (0, "ok"), (-1, "系统繁忙"), (-1, "系统繁忙"))

    drive(make_worker(), clock)

    assert dingtalk.contents() == ["监控 1", "监控 2", "监控 2", "监控 2", "监控 3", "监控 4", "监控 5"]
    assert store.counts(clock.now)["delivered"] == 5


def test_a_throttled_robot_does_not_hold_back_another(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, "监控 ops", queue="ops")
    put(store, "dev 1", "dev 2", "dev 3", queue="dev")
    dingtalk.answer("ops", (130101, "send too fast"))

    drive(make_worker(penalty_seconds=600.0), clock, until=T0 + 600)

    assert dingtalk.contents("dev") == ["dev 1", "dev 2", "dev 3"]
    assert dingtalk.times("dev") == [T0, T0, T0]
    assert dingtalk.contents("ops") == ["监控 ops"]


@pytest.mark.parametrize(("messages", "limit", "window"), [
    pytest.param(25, 20, 60.0, id="25-at-20-per-minute"),
    pytest.param(12, 5, 10.0, id="12-at-5-per-10s"),
    pytest.param(3, 1, 2.0, id="3-at-1-per-2s"),
])
def test_a_robot_never_gets_more_than_its_budget_in_any_window(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock,
        messages: int, limit: int, window: float) -> None:
    put(store, *[f"监控 {i}" for i in range(messages)])
    worker = make_worker(limit=limit, window=window)

    drive(worker, clock, until=T0 + window)
    sent_in_first_window = len(dingtalk.requests)
    drive(worker, clock)

    assert sent_in_first_window == limit
    assert dingtalk.contents() == [f"监控 {i}" for i in range(messages)]
    times = dingtalk.times()
    assert all(times[i + limit] - times[i] >= window for i in range(len(times) - limit))


# -- the loop's answer: when to call again -----------------------------------------------------------------


def test_run_once_says_when_it_next_has_work(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    worker = make_worker(limit=1, window=60.0, penalty_seconds=600.0)

    def pass_at(t: float) -> float | None:
        clock.now = t
        return worker.run_once(t)

    idle = pass_at(T0)
    put(store, "监控 1", "监控 2")
    put(store, "dev 1", queue="dev")
    dingtalk.answer("dev", (130101, "send too fast"))

    assert idle is None
    assert pass_at(T0) == T0                  # it sent "监控 1" (and was throttled on "dev 1"): call again at once
    assert pass_at(T0) == T0 + 60.0           # ops' budget frees up before dev's pause ends
    assert pass_at(T0 + 60.0) == T0 + 60.0    # sent "监控 2"
    assert pass_at(T0 + 60.0) == T0 + 600.0   # only dev's pause is left
    assert pass_at(T0 + 600.0) == T0 + 600.0  # sent "dev 1"
    assert pass_at(T0 + 600.0) is None
    assert dingtalk.contents() == ["监控 1", "dev 1", "监控 2", "dev 1"]


# -- run_forever -------------------------------------------------------------------------------------------


def test_a_worker_started_after_a_crash_resends_the_interrupted_message(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk) -> None:
    [m] = put(store, "监控 interrupted", now=time.time() - 120)
    [head] = store.due_heads(time.time())
    assert store.claim(head, now=time.time() - 120, limit=20, window=60.0, lease=60.0) is not None  # then: crash

    worker = make_worker(real_time=True)
    thread = _running(worker)
    try:
        delivered = _wait_for(lambda: reload(store, m).status is Status.DELIVERED)
    finally:
        worker.stop()
        thread.join(timeout=30)

    assert delivered
    assert not thread.is_alive()
    assert dingtalk.contents() == ["监控 interrupted"]
    assert reload(store, m).attempts == 2   # at-least-once: the first attempt may have reached DingTalk


def test_a_running_worker_delivers_a_message_as_soon_as_it_is_accepted(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk) -> None:
    worker = make_worker(real_time=True)
    worker.idle_seconds = 3600.0   # no polling: only the store's notification can wake it
    thread = _running(worker)
    try:
        [m] = put(store, "监控 now", now=time.time())
        delivered = _wait_for(lambda: reload(store, m).status is Status.DELIVERED)
    finally:
        worker.stop()
        thread.join(timeout=30)

    assert delivered
    assert not thread.is_alive()


def test_a_running_worker_requeues_a_send_whose_lease_runs_out_while_it_runs(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk) -> None:
    [m] = put(store, "监控 stranded", now=time.time())
    [head] = store.due_heads(time.time())
    # claimed by a worker that then hangs: its lease is still good when this worker starts
    assert isinstance(store.claim(head, now=time.time(), limit=20, window=60.0, lease=1.0), Claim)
    worker = make_worker(real_time=True)
    worker.recover_seconds = 0.1
    thread = _running(worker)
    try:
        delivered = _wait_for(lambda: reload(store, m).status is Status.DELIVERED)
    finally:
        worker.stop()
        thread.join(timeout=30)

    assert delivered
    assert dingtalk.contents() == ["监控 stranded"]


def test_an_outcome_that_cannot_be_written_within_its_lease_is_sent_again_and_delivered(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(real_time=True)
    worker.lease_seconds, worker.recover_seconds = 1.0, 0.1
    real_delivered = store.delivered
    failures: list[str] = []

    def delivered(claim: Claim, **kwargs: Any) -> None:
        if len(failures) < 5:   # more than the retries that fit in one lease (0.05 s doubling)
            failures.append(claim.message.id)
            raise RuntimeError("database is locked")
        real_delivered(claim, **kwargs)

    monkeypatch.setattr(store, "delivered", delivered)
    [m] = put(store, "监控 unrecorded", now=time.time())
    thread = _running(worker)
    try:
        done = _wait_for(lambda: reload(store, m).status is Status.DELIVERED)
    finally:
        worker.stop()
        thread.join(timeout=30)

    assert done
    assert len(dingtalk.contents()) >= 2   # at-least-once: sent again once its lease ran out
    assert set(dingtalk.contents()) == {"监控 unrecorded"}
    assert f"gave up recording {m.id} as delivered" in caplog.text


def test_release_puts_a_send_in_flight_back_in_the_queue_due_now(
        store: SqlStore, make_worker: MakeWorker) -> None:
    [m] = put(store, "监控 in flight", now=time.time())
    worker = make_worker(real_time=True)
    worker.executor = _Never()
    worker.run_once()
    assert [c.message.id for c in worker.in_flight()] == [m.id]

    assert worker.release() == 1

    got = reload(store, m)
    assert got.status is Status.RETRYING
    assert got.next_attempt_at <= time.time()
    assert worker.in_flight() == []


class _Never(Executor):
    """A pool whose sends never finish: they stay in flight."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Future()


def _running(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    return thread


def _wait_for(condition: Callable[[], bool], *, limit: float = 20.0) -> bool:
    """Poll ``condition`` (a generous deadline only guards against a hang; it is not what the test checks)."""
    wake = threading.Event()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        wake.wait(0.01)
    return condition()
