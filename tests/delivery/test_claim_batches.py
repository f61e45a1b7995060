"""A batch of claims (one transaction; on PostgreSQL three statements for the whole batch) judges every head
exactly as a claim of its own would: a free head is taken, a paused robot answers its pause's end, a full rate
window the time its slot frees, a queue with a message in flight or ahead is left alone, a queue another worker
holds is skipped, a lost queue row is recreated. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from delivery_helpers import T0, msg
from sqlalchemy import delete, text

from dingrelay.delivery.model import Claim, RateWait, Status, StoredMessage
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.tables import queue_state


def _put(store: SqlStore, queue: str, n: int = 1, now: float = T0) -> list[StoredMessage]:
    stored, _ = store.enqueue([msg(f"巡检 {queue} {i}", queue=queue) for i in range(n)], now=now)
    return stored


def _take(store: SqlStore, head: StoredMessage, now: float) -> Claim:
    claim = store.claim(head, now=now, limit=20, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    return claim


def test_each_head_of_a_batch_is_judged_as_alone(store: SqlStore) -> None:
    now = T0 + 10
    [free] = _put(store, "free")
    [paused] = _put(store, "paused")
    store.pause(_take(store, paused, T0), now=T0, until=T0 + 600, errcode=130101, error="throttled")
    sent_before, full_head = _put(store, "full", 2)
    store.delivered(_take(store, sent_before, T0 + 1), now=T0 + 2)
    in_flight, behind = _put(store, "busy", 2)
    _take(store, in_flight, T0 + 3)
    first, not_first = _put(store, "stale", 2)
    [lost] = _put(store, "lost")
    with store.db.tx() as conn:
        conn.execute(delete(queue_state).where(queue_state.c.queue == "lost"))
    [free2] = _put(store, "free2")

    heads = [(free, 20, 60.0), (paused, 20, 60.0), (full_head, 1, 60.0), (behind, 20, 60.0),
             (not_first, 20, 60.0), (lost, 20, 60.0), (free2, 20, 60.0)]
    results = store.claim_many(heads, now=now, lease=60.0)

    taken, pause_end, slot, busy, stale, recreated, taken2 = results
    assert isinstance(taken, Claim) and taken.message.id == free.id and taken.message.status is Status.SENDING
    assert isinstance(taken2, Claim) and taken2.message.id == free2.id and taken2.send_id != taken.send_id
    assert pause_end == T0 + 600 and not isinstance(pause_end, RateWait)   # a person may end a pause early
    assert isinstance(slot, RateWait) and slot == T0 + 2 + 60             # a window after the send finished
    assert (busy, stale) == (None, None)
    assert recreated == now                                               # its row is back: due again at once
    with store.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM dr_queue_state WHERE queue = 'lost'")).scalar() == 1
    for untouched in (full_head, behind, not_first, first):
        got = store.get(untouched.id)
        assert got is not None and got.status is Status.QUEUED and got.attempts == 0
    # the taken heads count in their robots' windows: a robot allowed one send per minute now waits
    [after] = _put(store, "free", now=now)
    store.delivered(taken, now=now + 1)
    assert store.claim_many([(after, 1, 60.0), (_put(store, "other", now=now)[0], 1, 60.0)], now=now + 2,
                            lease=60.0)[0] == RateWait(now + 1 + 60)


@pytest.mark.postgres
def test_a_queue_another_worker_holds_is_skipped_not_waited_for(pg_url: str) -> None:
    store = SqlStore(pg_url)
    try:
        [held] = _put(store, "held")
        [free] = _put(store, "free")
        with store.db.engine.connect() as other:
            other.execute(text("SELECT queue FROM dr_queue_state WHERE queue = 'held' FOR UPDATE"))
            results = store.claim_many([(held, 20, 60.0), (free, 20, 60.0)], now=T0 + 1, lease=60.0)
            other.rollback()
        assert results[0] is None
        assert isinstance(results[1], Claim) and results[1].message.id == free.id
        got = store.get(held.id)
        assert got is not None and got.status is Status.QUEUED
        again = store.claim_many([(held, 20, 60.0), (_put(store, "x")[0], 20, 60.0)], now=T0 + 2, lease=60.0)
        assert isinstance(again[0], Claim) and again[0].message.id == held.id
    finally:
        store.close()
