"""Every send attempt on record: the worker measures each send and the store keeps it with its outcome, on every
backend (``store_url``). A real RobotClient on ``httpx.MockTransport`` and a fake clock, as in test_worker.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import httpx
import pytest
from delivery_helpers import T0, FakeClock
from worker_helpers import ROBOTS, SESSION_WEBHOOK, TOKENS, FakeDingTalk, drive, put, reload

from dingrelay.delivery.model import Claim, Outcome, Sent, Status
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Digests, Worker
from dingrelay.dingtalk import RobotClient

MakeWorker = Callable[..., Worker]
SESSION_KEY = SESSION_WEBHOOK.rsplit("=", 1)[1]


@pytest.fixture
def make_worker(store: SqlStore, client: RobotClient, clock: FakeClock) -> MakeWorker:
    def make(*, digests: Digests | None = None, **policy: Any) -> Worker:
        return Worker(store, Sender(client, ROBOTS), limits=lambda _queue: (20, 60.0), policy=RetryPolicy(**policy),
                      clock=clock, digests=digests)

    return make


def outcomes(store: SqlStore, message_id: str) -> list[tuple[Outcome, int | None, int | None]]:
    return [(a.outcome, a.http_status, a.errcode) for a in store.attempts(message_id)]


def test_a_delivered_message_has_one_attempt_with_what_dingtalk_answered(
        store: SqlStore, make_worker: MakeWorker, clock: FakeClock) -> None:
    [m] = put(store, "监控 ok")

    drive(make_worker(), clock)

    [attempt] = store.attempts(m.id)
    assert (attempt.outcome, attempt.http_status, attempt.errcode, attempt.errmsg) == (
        Outcome.DELIVERED, 200, 0, "ok")
    assert attempt.started_at == T0
    assert attempt.duration is not None and 0 <= attempt.duration < 10
    assert (attempt.error, attempt.digest_id) == (None, None)


@pytest.mark.parametrize(("failure", "http_status", "errcode"), [
    pytest.param((-1, "系统繁忙"), 200, -1, id="errcode--1-in-a-200"),
    pytest.param(httpx.Response(502, text="Bad Gateway"), 502, None, id="http-502"),
    pytest.param(httpx.ConnectError("connection refused"), None, None, id="no-answer"),
])
def test_each_retry_is_an_attempt_of_its_own_before_the_delivery(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock,
        failure: Any, http_status: int | None, errcode: int | None) -> None:
    [m] = put(store, "监控 flaky")
    dingtalk.answer("ops", failure, failure)

    drive(make_worker(base_seconds=2.0), clock)

    first, second, third = store.attempts(m.id)
    assert [first.outcome, second.outcome, third.outcome] == [Outcome.RETRY, Outcome.RETRY, Outcome.DELIVERED]
    assert (first.http_status, first.errcode) == (http_status, errcode)
    assert first.error and third.error is None
    assert second.error == reload(store, m).last_error   # the reason the last retry recorded
    assert [a.started_at for a in (first, second, third)] == dingtalk.times()
    assert reload(store, m).attempts == 3


def test_a_throttled_attempt_is_on_record_as_paused_though_it_does_not_count(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 1")
    dingtalk.answer("ops", (130101, "send too fast"))

    drive(make_worker(penalty_seconds=600.0), clock)

    assert outcomes(store, m.id) == [(Outcome.PAUSED, 200, 130101), (Outcome.DELIVERED, 200, 0)]
    paused = store.attempts(m.id)[0]
    assert paused.errmsg == "send too fast" and "rate-limited" in (paused.error or "")
    assert [a.started_at for a in store.attempts(m.id)] == [T0, T0 + 600]
    assert reload(store, m).attempts == 1


def test_a_dead_message_ends_with_a_dead_attempt_saying_why(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 bad")
    dingtalk.answer("ops", (310000, "keywords not in content"))

    drive(make_worker(), clock)

    [attempt] = store.attempts(m.id)
    assert (attempt.outcome, attempt.http_status, attempt.errcode) == (Outcome.DEAD, 200, 310000)
    assert attempt.errmsg == "keywords not in content"
    assert attempt.error == reload(store, m).last_error
    assert "requires keyword 监控" in (attempt.error or "")


def test_giving_up_after_the_horizon_keeps_every_attempt(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 a")
    dingtalk.answer("ops", *[(-1, "系统繁忙")] * 100)

    drive(make_worker(give_up_after_seconds=30.0, base_seconds=1.0, max_seconds=5.0), clock)

    kinds = [a.outcome for a in store.attempts(m.id)]
    assert kinds == [Outcome.RETRY] * (len(kinds) - 1) + [Outcome.DEAD]
    assert len(kinds) == len(dingtalk.requests) == reload(store, m).attempts
    assert (store.attempts(m.id)[-1].error or "").startswith("gave up after 30 s")


def test_no_attempt_names_a_token_or_a_session_key(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [robot] = put(store, "监控 a")
    [reply] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    url = f"https://oapi.dingtalk.com/robot/send?access_token={TOKENS['ops']}"
    dingtalk.answer("ops", httpx.ConnectError(f"connection to {url} refused"),
                    (310000, f"keywords not in content {url}"))
    dingtalk.answer("session", httpx.ConnectError(f"connection to {SESSION_WEBHOOK} refused"),
                    (300001, f"session不存在 {SESSION_WEBHOOK}"))

    drive(make_worker(base_seconds=1.0), clock)

    recorded = json.dumps([a.to_json() for m in (robot, reply) for a in store.attempts(m.id)], ensure_ascii=False)
    assert len(store.attempts(robot.id)) == len(store.attempts(reply.id)) == 2
    assert TOKENS["ops"] not in recorded and SESSION_KEY not in recorded
    assert "access_token=" in recorded   # the URL is there, masked


def test_a_digests_attempt_is_recorded_once_and_shown_for_every_message_it_carried(
        store: SqlStore, make_worker: MakeWorker, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    ms = put(store, *[f"监控 {i}" for i in range(45)])
    dingtalk.answer("ops", (-1, "系统繁忙"))

    drive(make_worker(digests=Digests(after_seconds=120.0, keywords={"ops": ("监控",)}), base_seconds=1.0), clock)

    digest_id = reload(store, ms[0]).digest_id
    assert digest_id is not None and len(dingtalk.requests) == 2
    assert outcomes(store, digest_id) == [(Outcome.RETRY, 200, -1), (Outcome.DELIVERED, 200, 0)]
    for m in (ms[0], ms[44]):
        assert [(a.outcome, a.digest_id) for a in store.attempts(m.id)] == [
            (Outcome.RETRY, digest_id), (Outcome.DELIVERED, digest_id)]


def test_a_send_released_at_shutdown_or_never_sent_leaves_no_attempt(
        store: SqlStore, make_worker: MakeWorker, clock: FakeClock) -> None:
    [m] = put(store, "监控 a")
    [expired] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 - 1)
    stopping = make_worker()
    stopping.executor = _Never()   # claimed, but the process stops before the send starts
    stopping.run_once(clock.now)

    assert stopping.release() == 1
    drive(make_worker(), clock)

    assert reload(store, expired).status is Status.DEAD
    assert store.attempts(expired.id) == []
    assert outcomes(store, m.id) == [(Outcome.DELIVERED, 200, 0)]   # only the send that happened


class _Never(Executor):
    """A pool whose sends never start."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Future()


def test_an_outcome_and_its_attempt_are_one_commit(store: SqlStore) -> None:
    from sqlalchemy import event

    [m] = put(store, "监控 a")
    [head] = store.due_heads(T0)
    claim = store.claim(head, now=T0, limit=20, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    commits: list[float] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(time.monotonic()))

    store.delivered(claim, now=T0 + 1, sent=Sent(T0, 0.25, http_status=200, errmsg="ok"))

    assert len(commits) == 1
    assert outcomes(store, m.id) == [(Outcome.DELIVERED, 200, 0)]
    assert reload(store, m).status is Status.DELIVERED
