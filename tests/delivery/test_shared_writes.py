"""On SQLite, new messages and the outcomes of sends share one group commit (``delivery/sql/writes.py``): those
arriving together are written in one transaction, and a write the database refuses still fails alone, its
neighbours of either kind committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from delivery_helpers import T0, content_of, msg
from gateway_harness import wait_until
from sqlalchemy.exc import DBAPIError

from dingrelay.delivery.model import Claim, Outcome, Sent, Status
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.store import StorageUnavailable

SENT = Sent(T0 + 0.01, 0.05, http_status=200, errmsg="ok")


@pytest.fixture
def store(sqlite_store: SqlStore) -> Iterator[SqlStore]:
    sqlite_store.enqueue([msg("first"), msg("巡检 r1", queue="r1")], now=T0)   # both queues known: plain batches
    yield sqlite_store


def _claim(store: SqlStore, queue: str) -> Claim:
    [head] = [h for h in store.due_heads(T0) if h.queue == queue]
    claim = store.claim(head, now=T0, limit=20, window=60.0, lease=60.0)
    assert isinstance(claim, Claim)
    return claim


def _transactions(store: SqlStore) -> list[str]:
    """Which kind of write transaction the store opens, in order."""
    opened: list[str] = []
    raw_tx, tx = store.db.raw_tx, store.db.tx

    def counted_raw() -> AbstractContextManager[Any]:
        opened.append("raw")
        return raw_tx()

    def counted() -> AbstractContextManager[Any]:
        opened.append("tx")
        return tx()

    store.db.raw_tx = counted_raw  # type: ignore[method-assign]
    store.db.tx = counted  # type: ignore[method-assign]
    return opened


def _together(store: SqlStore, *calls: Any) -> dict[int, Any]:
    """Run ``calls`` from threads of their own so that they land in one batch: a first write holds the batch
    (waiting for the write lock, which the test holds) until all of them are queued behind it."""
    outcomes: dict[int, Any] = {}

    def run(i: int, call: Any) -> None:
        try:
            outcomes[i] = call()
        except Exception as exc:   # kept for the assertions
            outcomes[i] = exc

    batches = store._accept._batches
    assert batches is store._outcomes._group._batches   # one group commit for both
    blocker = threading.Thread(target=run, args=(-1, lambda: store.enqueue([msg("blocker")], now=T0)))
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    with store.db._write_lock:
        blocker.start()
        assert wait_until(lambda: batches._leading and not batches._pending, 20)
        for t in threads:
            t.start()
        assert wait_until(lambda: len(batches._pending) == len(calls), 20)
    for t in [blocker, *threads]:
        t.join(30)
    return outcomes


def test_an_outcome_and_new_messages_arriving_together_commit_in_one_transaction(store: SqlStore) -> None:
    claim = _claim(store, "ops")
    opened = _transactions(store)
    outcomes = _together(store, lambda: store.enqueue([msg("巡检 new")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    assert opened == ["raw", "raw"]   # the blocker's, then one for the new message and the outcome
    [new], created = outcomes[0]
    assert created and content_of(new.payload) == "巡检 new"
    delivered = store.get(claim.message.id)
    assert delivered is not None and delivered.status is Status.DELIVERED
    assert [a.outcome for a in store.attempts(claim.message.id)] == [Outcome.DELIVERED]


def _refuse(store: SqlStore, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(sql)


def test_a_refused_outcome_fails_alone_and_the_new_messages_beside_it_commit(store: SqlStore) -> None:
    claim = _claim(store, "ops")
    _refuse(store, "CREATE TRIGGER refuse_outcome BEFORE UPDATE OF status ON dr_messages "
                   "WHEN NEW.status = 'delivered' BEGIN SELECT RAISE(ABORT, 'outcome refused'); END")
    outcomes = _together(store, lambda: store.enqueue([msg("巡检 new")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    assert isinstance(outcomes[1], DBAPIError)   # its caller learns it; the worker retries it
    [new], created = outcomes[0]
    assert created and store.get(new.id) is not None
    still = store.get(claim.message.id)
    assert still is not None and still.status is Status.SENDING


def test_a_refused_new_message_fails_alone_and_the_outcome_beside_it_commits(store: SqlStore) -> None:
    claim = _claim(store, "r1")
    _refuse(store, "CREATE TRIGGER poison BEFORE INSERT ON dr_messages WHEN NEW.title = 'poison' "
                   "BEGIN SELECT RAISE(ABORT, 'refused row'); END")
    outcomes = _together(store, lambda: store.enqueue([msg("poison")], now=T0),
                         lambda: store.enqueue([msg("巡检 good")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    assert isinstance(outcomes[0], StorageUnavailable)
    [good], created = outcomes[1]
    assert created and store.get(good.id) is not None
    assert outcomes[2] is None
    delivered = store.get(claim.message.id)
    assert delivered is not None and delivered.status is Status.DELIVERED
