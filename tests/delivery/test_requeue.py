"""Requeueing dead messages, on every backend: back in their queue due at once, their attempts kept, one audit
entry naming who asked; the worker then sends them with a fresh give-up horizon."""

from __future__ import annotations

from typing import Any

import pytest
from delivery_helpers import T0, FakeClock, content_of, msg
from worker_helpers import ROBOTS, SESSION_WEBHOOK, FakeDingTalk, drive, put, reload

from dingrelay.delivery.model import Claim, MessageFilter, NewMessage, Outcome, Sent, Status
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Worker
from dingrelay.dingtalk import RobotClient

DAY = 86400.0


def claim(store: SqlStore, queue: str, now: float) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    c = store.claim(head, now=now, limit=20, window=60.0, lease=60.0)
    assert isinstance(c, Claim)
    return c


def kill(store: SqlStore, queue: str, now: float, error: str = "robot ops: the access_token does not exist"
         ) -> Claim:
    c = claim(store, queue, now)
    store.dead(c, now=now, errcode=300001, error=error, sent=Sent(now, 0.1, http_status=200, errmsg="token不存在"))
    return c


def test_a_dead_message_requeued_is_due_now_and_keeps_its_attempts(store: SqlStore) -> None:
    [m] = put(store, "监控 a")
    kill(store, "ops", T0)

    n = store.requeue(m.id, now=T0 + 3600, actor="cli:alice")

    got = reload(store, m)
    assert n == 1
    assert (got.status, got.attempts, got.requeued_at, got.next_attempt_at) == (Status.QUEUED, 0, T0 + 3600,
                                                                                  T0 + 3600)
    assert [h.id for h in store.due_heads(T0 + 3600)] == [m.id]
    assert [a.outcome for a in store.attempts(m.id)] == [Outcome.DEAD]
    [entry] = store.audit_log()
    assert (entry.actor, entry.at, entry.action, entry.target) == ("cli:alice", T0 + 3600, "requeue", m.id)
    assert entry.detail == f"requeued 1 message(s): {m.id}"


def test_only_dead_messages_are_requeued(store: SqlStore) -> None:
    delivered, queued = put(store, "监控 ok", "监控 waiting")
    store.delivered(claim(store, "ops", T0), now=T0)

    assert store.requeue(delivered.id, now=T0 + 1, actor="cli:alice") == 0
    assert store.requeue(queued.id, now=T0 + 1, actor="cli:alice") == 0
    assert store.requeue("0" * 20, now=T0 + 1, actor="cli:alice") == 0
    assert (reload(store, delivered).status, reload(store, queued).status) == (Status.DELIVERED, Status.QUEUED)
    with pytest.raises(ValueError, match="only dead messages"):
        store.requeue(MessageFilter(status=Status.DELIVERED), now=T0 + 1, actor="cli:alice")


def test_a_filter_requeues_every_dead_message_of_a_robot_and_no_other(store: SqlStore) -> None:
    ops = put(store, "监控 1", "监控 2", "监控 3")
    [dev] = put(store, "dev 1", queue="dev")
    for i in range(3):
        kill(store, "ops", T0 + i)
    kill(store, "dev", T0)

    n = store.requeue(MessageFilter(status=Status.DEAD, robot="ops"), now=T0 + 10, actor="ui:bob")

    assert n == 3
    assert [reload(store, m).status for m in ops] == [Status.QUEUED] * 3
    assert reload(store, dev).status is Status.DEAD
    assert [content_of(h.payload) for h in store.due_heads(T0 + 10)] == ["监控 1"]   # in acceptance order
    [entry] = store.audit_log()
    assert (entry.actor, entry.target) == ("ui:bob", "status=dead robot=ops")
    assert entry.detail.startswith("requeued 3 message(s): ")


def test_a_filter_requeues_in_batches_beyond_one(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from dingrelay.delivery.sql import requeue as module

    monkeypatch.setattr(module, "BATCH", 2)
    stored, _ = store.enqueue([msg(f"监控 {i}") for i in range(5)], now=T0)
    for m in stored:
        store.dead(m, now=T0 + 1, errcode=None, error="gone")

    assert store.requeue(MessageFilter(robot="ops"), now=T0 + 2, actor="cli:alice") == 5
    assert {reload(store, m).status for m in stored} == {Status.QUEUED}


def test_requeued_messages_that_a_digest_carried_go_again_and_keep_the_digests_attempts(store: SqlStore) -> None:
    ms = put(store, "监控 0", "监控 1", "监控 2")
    head = claim(store, "ops", T0)
    digest = NewMessage(queue="ops", robot="ops", payload=b'{"msgtype":"markdown"}', msgtype="markdown",
                        title="汇总 2 条")
    d = store.claim_digest(head, digest, ms[:2], now=T0, lease=60.0)
    assert d.message.is_digest
    store.dead(d, now=T0 + 1, errcode=310000, error="robot ops requires keyword 监控",
               sent=Sent(T0, 0.1, http_status=200, errmsg="keywords not in content"))

    n = store.requeue(d.message.id, now=T0 + 60, actor="cli:alice")

    assert n == 2
    again = [reload(store, m) for m in ms[:2]]
    assert [(m.status, m.digest_id) for m in again] == [(Status.QUEUED, None)] * 2   # each goes on its own now
    assert reload(store, d.message).status is Status.DEAD                            # the record of what was sent
    assert [(a.outcome, a.digest_id) for a in store.attempts(ms[0].id)] == [(Outcome.DEAD, d.message.id)]
    assert [content_of(h.payload) for h in store.due_heads(T0 + 60)] == ["监控 0"]


def test_a_requeued_session_reply_is_sent_even_after_its_idle_queue_was_pruned(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "收到", queue="session:abc", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    dingtalk.answer("session", (400102, "robot disabled"))
    worker = Worker(store, Sender(client, ROBOTS), limits=lambda _q: (20, 60.0), clock=clock)
    drive(worker, clock)
    assert reload(store, m).status is Status.DEAD
    assert store.prune(now=T0 + 1, delivered_before=None, dead_before=None).session_queues == 1

    assert store.requeue(m.id, now=T0 + 2, actor="cli:alice") == 1
    clock.now = T0 + 2
    drive(worker, clock)

    assert reload(store, m).status is Status.DELIVERED
    assert [a.outcome for a in store.attempts(m.id)] == [Outcome.DEAD, Outcome.DELIVERED]


def test_a_requeued_message_gets_a_fresh_give_up_horizon(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    [m] = put(store, "监控 a")
    dingtalk.answer("ops", *[(-1, "系统繁忙")] * 4)   # tries at T0, T0 + 600, T0 + 1000: dead; then once more
    policy: dict[str, Any] = {"give_up_after_seconds": 1000.0, "base_seconds": 600.0, "max_seconds": 600.0,
                              "jitter": lambda: 0.999}
    worker = Worker(store, Sender(client, ROBOTS), limits=lambda _q: (20, 60.0), policy=RetryPolicy(**policy),
                    clock=clock)
    drive(worker, clock)
    died_at = clock.now
    assert reload(store, m).status is Status.DEAD

    clock.now = T0 + 2 * DAY   # a day after it died, someone requeues it; DingTalk is still busy, once
    store.requeue(m.id, now=clock.now, actor="cli:alice")
    drive(worker, clock)

    got = reload(store, m)
    assert died_at == T0 + 1000
    assert (got.status, got.attempts) == (Status.DELIVERED, 2)   # retried, not dead at once for being 2 days old
    assert [a.outcome for a in store.attempts(m.id)][-2:] == [Outcome.RETRY, Outcome.DELIVERED]


def test_the_audit_log_lists_the_newest_first(store: SqlStore) -> None:
    store.record_audit(actor="ui:alice", action="resume", target="ops", detail="resumed robot ops", now=T0)
    store.record_audit(actor="ui:bob", action="cancel", target="abc", detail="cancelled 1 message", now=T0 + 1)

    assert [(e.actor, e.action) for e in store.audit_log()] == [("ui:bob", "cancel"), ("ui:alice", "resume")]
    assert [e.actor for e in store.audit_log(limit=1)] == ["ui:bob"]


