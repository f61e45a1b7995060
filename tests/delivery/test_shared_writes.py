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
from sqlalchemy.exc import DBAPIError, OperationalError

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


def _status(store: SqlStore, claim: Claim) -> Status | None:
    stored = store.get(claim.message.id)
    return None if stored is None else stored.status


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
    (waiting for the write lock, which the test holds) until all of them are queued behind it, in order (the
    first call's thread leads their batch)."""
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
        for n, t in enumerate(threads, 1):
            t.start()
            assert wait_until(lambda n=n: len(batches._pending) == n, 20)   # type: ignore[misc]
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
    assert _status(store, claim) is Status.DELIVERED
    assert [a.outcome for a in store.attempts(claim.message.id)] == [Outcome.DELIVERED]


def _refuse(store: SqlStore, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(sql)


def test_a_refused_outcome_fails_alone_and_the_new_messages_beside_it_commit(store: SqlStore) -> None:
    claim = _claim(store, "ops")
    _refuse(store, "CREATE TRIGGER refuse_outcome BEFORE UPDATE OF status ON dr_messages "
                   "WHEN NEW.status = 'delivered' BEGIN SELECT RAISE(ABORT, 'outcome refused'); END")
    opened = _transactions(store)
    outcomes = _together(store, lambda: store.enqueue([msg("巡检 new")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    # the blocker; the shared one, refused; the new message again alone (plain), the outcome alone
    assert opened == ["raw", "raw", "raw", "tx"]
    assert isinstance(outcomes[1], DBAPIError)   # its caller learns it; the worker retries it
    [new], created = outcomes[0]
    assert created and store.get(new.id) is not None
    assert _status(store, claim) is Status.SENDING


def test_a_refused_new_message_fails_alone_and_the_outcome_beside_it_commits(store: SqlStore) -> None:
    claim = _claim(store, "r1")
    _refuse(store, "CREATE TRIGGER poison BEFORE INSERT ON dr_messages WHEN NEW.title = 'poison' "
                   "BEGIN SELECT RAISE(ABORT, 'refused row'); END")
    opened = _transactions(store)
    outcomes = _together(store, lambda: store.enqueue([msg("poison")], now=T0),
                         lambda: store.enqueue([msg("巡检 good")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    # the blocker; the shared one, refused; the two new messages again (plain), then each alone; the outcome
    assert opened == ["raw", "raw", "raw", "tx", "tx", "tx"]
    assert isinstance(outcomes[0], StorageUnavailable)
    [good], created = outcomes[1]
    assert created and store.get(good.id) is not None
    assert outcomes[2] is None
    assert _status(store, claim) is Status.DELIVERED


def test_new_messages_return_once_written_while_the_outcome_beside_them_still_writes(store: SqlStore) -> None:
    """An outcome that cannot go on the DBAPI connection (here, a function of a Connection) is written after the
    new messages of its batch, in a transaction of its own: their callers must not wait for it (unless one of
    them leads the batch, which writes both)."""
    returned = threading.Event()

    def slow_outcome(conn: Any) -> None:   # holds its transaction open until the new message's caller returned
        assert returned.wait(20), "the new message's caller waited for the outcome's transaction"

    def enqueue() -> Any:
        try:
            return store.enqueue([msg("巡检 new")], now=T0)
        finally:
            returned.set()

    # the outcome's caller leads the batch: the new message's caller is a follower, woken when its part is written
    outcomes = _together(store, lambda: store._outcomes._group.run(slow_outcome), enqueue)

    assert outcomes[0] is None
    [new], created = outcomes[1]
    assert created and store.get(new.id) is not None


def test_an_unreachable_database_fails_every_write_of_a_shared_batch_at_once(store: SqlStore) -> None:
    claim = _claim(store, "ops")
    opened = _transactions(store)
    raw_tx = store.db.raw_tx
    calls = {"n": 0}

    def gone() -> AbstractContextManager[Any]:
        calls["n"] += 1
        if calls["n"] == 2:   # the blocker's transaction goes through; the shared one finds the database gone
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("unable to open database file"))
        return raw_tx()

    store.db.raw_tx = gone  # type: ignore[method-assign]
    outcomes = _together(store, lambda: store.enqueue([msg("巡检 new")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    assert calls["n"] == 2 and "tx" not in opened   # no write was tried again, part by part
    assert isinstance(outcomes[0], StorageUnavailable)
    assert isinstance(outcomes[1], OperationalError)
    assert _status(store, claim) is Status.SENDING


def test_a_batch_whose_rows_cannot_be_built_fails_alone_and_the_outcome_beside_it_commits(
        store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    claim = _claim(store, "ops")
    rows = store._accept._rows

    def built(job: Any) -> Any:
        if any(m.title == "boom" for m in job.new):
            raise RuntimeError("a bug building the rows")
        return rows(job)

    monkeypatch.setattr(store._accept, "_rows", built)
    outcomes = _together(store, lambda: store.enqueue([msg("boom")], now=T0),
                         lambda: store.enqueue([msg("巡检 good")], now=T0),
                         lambda: store.delivered(claim, now=T0 + 1, sent=SENT))

    assert isinstance(outcomes[0], RuntimeError)
    [good], created = outcomes[1]
    assert created and store.get(good.id) is not None
    assert outcomes[2] is None
    assert _status(store, claim) is Status.DELIVERED
