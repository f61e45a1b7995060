"""Retention on every backend, on an injected clock: delivered messages go after 7 days, dead ones after 30, their
attempts with them, idempotency keys after 24 h, idle session queues at once; always in batches."""

from __future__ import annotations

import threading

import pytest
from delivery_helpers import T0, FakeClock, msg
from sqlalchemy import func, select
from worker_helpers import SESSION_WEBHOOK, put, reload

from dingrelay.delivery.model import Claim, NewMessage, Sent, Status, StoredMessage
from dingrelay.delivery.retention import Retention, RetentionPolicy
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.tables import attempts, idempotency_keys, queue_state, sends

DAY = 86400.0


def claim(store: SqlStore, queue: str, now: float) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    c = store.claim(head, now=now, limit=1000, window=60.0, lease=60.0)
    assert isinstance(c, Claim)
    return c


def deliver(store: SqlStore, queue: str, now: float) -> Claim:
    c = claim(store, queue, now)
    store.delivered(c, now=now, sent=Sent(now, 0.05, http_status=200, errmsg="ok"))
    return c


def kill(store: SqlStore, queue: str, now: float) -> Claim:
    c = claim(store, queue, now)
    store.dead(c, now=now, errcode=300001, error="the access_token does not exist",
               sent=Sent(now, 0.05, http_status=200, errmsg="token不存在"))
    return c


def rows(store: SqlStore, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def exists(store: SqlStore, m: StoredMessage) -> bool:
    return store.get(m.id) is not None


def prune_all(retention: Retention, now: float) -> None:
    for _ in range(1000):
        if not retention.run_once(now).more:
            return
    pytest.fail("retention never finished")


def test_delivered_messages_go_after_7_days_and_dead_ones_stay_until_day_30(store: SqlStore) -> None:
    clock = FakeClock(T0)
    retention = Retention(store, RetentionPolicy(), clock=clock)   # the defaults: 7 and 30 days
    delivered, dead, waiting = put(store, "监控 ok", "监控 bad", "监控 waiting")
    deliver(store, "ops", T0)
    kill(store, "ops", T0 + 1)
    store.enqueue([msg("监控 alert", fingerprint="fp")], now=T0)
    [repeat], _ = store.enqueue([msg("监控 alert", fingerprint="fp")], now=T0 + 3, suppress_seconds=300)
    assert repeat.status is Status.SUPPRESSED

    seen = {}
    for day in (6.9, 7.1, 29.9, 30.1):
        clock.now = T0 + day * DAY
        prune_all(retention, clock.now)
        seen[day] = [exists(store, m) for m in (delivered, dead, waiting, repeat)]

    assert seen == {6.9: [True, True, True, True], 7.1: [False, True, True, False],
                    29.9: [False, True, True, False], 30.1: [False, False, True, False]}
    assert reload(store, waiting).status is Status.QUEUED   # a message still waiting is never pruned


def test_attempts_go_with_their_messages(store: SqlStore) -> None:
    gone, kept = put(store, "监控 old", "监控 new")
    deliver(store, "ops", T0)
    deliver(store, "ops", T0 + 6 * DAY)

    pruned = store.prune(now=T0 + 8 * DAY, delivered_before=T0 + DAY, dead_before=None)

    assert (pruned.messages, pruned.attempts) == (1, 1)
    assert store.attempts(gone.id) == []
    assert len(store.attempts(kept.id)) == 1
    assert rows(store, attempts) == 1


def test_a_digest_goes_only_with_the_messages_it_carried(store: SqlStore) -> None:
    ms = put(store, "监控 0", "监控 1", "监控 2")
    head = claim(store, "ops", T0)
    new = NewMessage(queue="ops", robot="ops", payload=b'{"msgtype":"markdown"}', msgtype="markdown", title="汇总")
    d = store.claim_digest(head, new, ms, now=T0, lease=60.0)
    store.delivered(d, now=T0, sent=Sent(T0, 0.05, http_status=200, errmsg="ok"))
    states = []
    for _ in range(10):
        pruned = store.prune(now=T0 + 8 * DAY, delivered_before=T0 + DAY, dead_before=None, limit=2)
        states.append([exists(store, m) for m in (*ms, d.message)])
        if not pruned.more:
            break

    assert len(states) >= 2   # two rows a batch: it took several
    for *carried, digest_left in states:
        assert digest_left or not any(carried)   # never a carried message naming a digest that is gone
    assert states[-1] == [False] * 4
    assert store.attempts(d.message.id) == []


def test_each_batch_is_at_most_the_limit_and_says_when_there_is_more(store: SqlStore) -> None:
    stored, _ = store.enqueue([msg(f"监控 {i}") for i in range(7)], now=T0)
    for m in stored:
        store.dead(m, now=T0, errcode=None, error="gone")

    batches = []
    while True:
        pruned = store.prune(now=T0 + 31 * DAY, delivered_before=None, dead_before=T0 + DAY, limit=3)
        batches.append(pruned.messages)
        if not pruned.more:
            break

    assert batches == [3, 3, 1]
    assert not any(exists(store, m) for m in stored)


def test_none_keeps_those_messages_forever(store: SqlStore) -> None:
    delivered, dead = put(store, "监控 ok", "监控 bad")
    deliver(store, "ops", T0)
    kill(store, "ops", T0)
    retention = Retention(store, RetentionPolicy(delivered_days=None, dead_days=None))

    prune_all(retention, T0 + 3650 * DAY)

    assert exists(store, delivered) and exists(store, dead)


def test_idempotency_keys_expire_after_24_hours(store: SqlStore) -> None:
    store.enqueue([msg("监控 a")], now=T0, idempotency=("heian", "k-old"))
    store.enqueue([msg("监控 b")], now=T0 + 20 * 3600, idempotency=("heian", "k-new"))

    pruned = store.prune(now=T0 + DAY + 1, delivered_before=None, dead_before=None)

    assert pruned.idempotency_keys == 1
    assert rows(store, idempotency_keys) == 1
    _, created = store.enqueue([msg("监控 b")], now=T0 + DAY + 2, idempotency=("heian", "k-new"))
    assert created is False   # the young key still answers


def test_idle_session_queues_are_removed_and_a_later_reply_to_the_session_still_goes(store: SqlStore) -> None:
    put(store, "收到 1", queue="session:idle", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    put(store, "收到 2", queue="session:busy", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    put(store, "监控 robot queue")
    deliver(store, "session:idle", T0)
    deliver(store, "ops", T0)

    pruned = store.prune(now=T0 + 1, delivered_before=None, dead_before=None)

    with store.engine.connect() as conn:
        left = set(conn.execute(select(queue_state.c.queue)).scalars())
    assert pruned.session_queues == 1
    assert left == {"session:busy", "ops"}   # a robot's queue stays, idle or not
    [again] = put(store, "收到 3", queue="session:idle", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400,
                  now=T0 + 2)
    assert [h.id for h in store.due_heads(T0 + 2) if h.queue == "session:idle"] == [again.id]
    deliver(store, "session:idle", T0 + 2)
    assert reload(store, again).status is Status.DELIVERED


def test_a_paused_session_queue_is_kept_until_its_pause_ends(store: SqlStore) -> None:
    [m] = put(store, "收到", queue="session:slow", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    store.pause(claim(store, "session:slow", T0), now=T0, until=T0 + 600, errcode=130101, error="throttled")
    store.dead(reload(store, m), now=T0 + 1, errcode=None, error="sessionWebhook expired")   # nothing waits now

    during = store.prune(now=T0 + 2, delivered_before=None, dead_before=None).session_queues
    after = store.prune(now=T0 + 601, delivered_before=None, dead_before=None).session_queues

    assert (during, after) == (0, 1)   # the pause is the session's rate-limit state: kept while it lasts


def test_the_send_log_keeps_a_day(store: SqlStore) -> None:
    put(store, "监控 1", "监控 2")
    deliver(store, "ops", T0)
    deliver(store, "ops", T0 + DAY)

    pruned = store.prune(now=T0 + DAY + 10, delivered_before=None, dead_before=None)

    assert (pruned.sends, rows(store, sends)) == (1, 1)


def test_pruning_runs_on_its_own_thread_until_stopped(store: SqlStore) -> None:
    [m] = put(store, "监控 ok")
    deliver(store, "ops", T0)
    retention = Retention(store, RetentionPolicy(delivered_days=1.0, interval_seconds=0.01),
                          clock=lambda: T0 + 2 * DAY, first_after_seconds=0.0)
    stop = threading.Event()
    thread = threading.Thread(target=retention.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        gone = threading.Event()
        for _ in range(2000):
            if not exists(store, m):
                gone.set()
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert gone.is_set()
    assert not thread.is_alive()
