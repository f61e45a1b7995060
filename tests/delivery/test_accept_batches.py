"""The group commit's plain batches (SQLite, known queues, no idempotency key, no suppression) are written on the
DBAPI connection alone: a row the database refuses still fails alone, with no message text in the error, and
the neighbours of its batch commit. The whole batch's rows go in a few multi-row statements, with the seqs SQLite
itself would have given them."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from delivery_helpers import T0, content_of, msg
from gateway_harness import wait_until
from sqlalchemy import event

from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.store import StorageUnavailable

SECRET = "机密-poison-0123456789"


def _refuse(store: SqlStore, text: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TRIGGER poison BEFORE INSERT ON dr_messages WHEN NEW.title = '{text}' "
                             "BEGIN SELECT RAISE(ABORT, 'refused row'); END")


def _counting_raw_tx(store: SqlStore) -> list[int]:
    """Count the transactions :meth:`Database.raw_tx` opens (the plain path)."""
    opened: list[int] = []
    raw_tx = store.db.raw_tx

    def counted() -> AbstractContextManager[Any]:
        opened.append(1)
        return raw_tx()

    store.db.raw_tx = counted  # type: ignore[method-assign]
    return opened


@pytest.fixture
def store(sqlite_store: SqlStore) -> Iterator[SqlStore]:
    sqlite_store.enqueue([msg("first")], now=T0)   # the queue's state row exists: later batches are plain
    yield sqlite_store


def test_a_refused_row_in_a_plain_batch_fails_alone_and_its_neighbours_commit(store: SqlStore) -> None:
    _refuse(store, SECRET)
    opened = _counting_raw_tx(store)
    acceptor = store._accept
    contents = ["good 0", "good 1", SECRET, "good 2"]
    outcomes: dict[str, Any] = {}

    def send(content: str) -> None:
        try:
            outcomes[content] = store.enqueue([msg(content)], now=T0)[0][0]
        except StorageUnavailable as exc:
            outcomes[content] = exc

    threads = [threading.Thread(target=send, args=(c,)) for c in contents]
    blocker = threading.Thread(target=send, args=("blocker",))
    with store.db._write_lock:   # the blocker's batch waits for the database; all four queue behind it
        blocker.start()
        assert wait_until(lambda: acceptor._batches._leading and not acceptor._batches._pending, 20)
        for t in threads:
            t.start()
        assert wait_until(lambda: len(acceptor._batches._pending) == len(contents), 20)
    for t in [blocker, *threads]:   # then the four are written as one batch
        t.join(30)
    assert content_of(outcomes.pop("blocker").payload) == "blocker"

    refused = outcomes.pop(SECRET)
    assert isinstance(refused, StorageUnavailable)
    assert SECRET not in "".join(traceback.format_exception(refused))
    assert {c: content_of(m.payload) for c, m in outcomes.items()} == {c: c for c in outcomes}
    assert [content_of(m.payload) for m in store.due_heads(T0)] == ["first"]
    assert store.counts()["queued"] == 2 + len(outcomes)   # first, the blocker, the good ones
    # the batch was plain; after its failure the queue is checked again through SQLAlchemy, once
    assert 1 < len(opened) < 1 + len(contents)


def test_a_plain_batch_is_committed_and_readable_by_another_store(store: SqlStore) -> None:
    opened = _counting_raw_tx(store)
    [m], created = store.enqueue([msg("plain")], now=T0)
    assert created and opened == [1]
    other = SqlStore(store.url, upgrade=False)
    try:
        got = other.get(m.id)
        assert got is not None and content_of(got.payload) == "plain" and got.seq == m.seq
    finally:
        other.close()


def _traced(store: SqlStore) -> list[str]:
    """The SQL of every statement SQLite runs on the store's write connections from now on."""
    seen: list[str] = []
    store.db.engine.dispose()   # new connections, each traced from its start

    @event.listens_for(store.db.engine, "connect")
    def _trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(seen.append)

    return seen


@pytest.mark.parametrize("n", [1, 37, 300])
def test_a_plain_batch_gets_the_seqs_sqlite_would_give_in_a_few_statements(store: SqlStore, n: int) -> None:
    with store.engine.begin() as conn:   # a gap below the newest row: seqs go on from the newest, as SQLite's do
        conn.exec_driver_sql("INSERT INTO dr_messages (seq, id, queue, msgtype, title, payload, status, "
                             "attempts, next_attempt_at, created_at, updated_at) VALUES "
                             "(500, 'gap', 'ops', 'text', '', x'00', 'delivered', 0, 0, 0, 0)")
    seen = _traced(store)
    contents = [f"巡检 {i}" for i in range(n)]
    stored, created = store.enqueue([msg(c) for c in contents], now=T0)

    assert created and [m.seq for m in stored] == list(range(501, 501 + n))
    for m, c in zip(stored, contents, strict=True):   # each seq is its own row's
        got = store.get(m.id)
        assert got is not None and (got.seq, content_of(got.payload)) == (m.seq, c)
    inserts = [s for s in seen if s.startswith("INSERT INTO dr_messages")]
    # 32 rows per statement at most, the rest in binary chunks: 37 = 32 + 4 + 1, never a statement per row
    assert len(inserts) == n // 32 + bin(n % 32).count("1")
    later = store.enqueue([msg("after")], now=T0)[0][0]
    assert later.seq == 501 + n


def test_past_the_largest_rowid_sqlite_picks_the_seqs_and_the_batch_still_commits(store: SqlStore) -> None:
    top = 2**63 - 1
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO dr_messages (seq, id, queue, msgtype, title, payload, status, "
                             "attempts, next_attempt_at, created_at, updated_at) VALUES "
                             "(?, 'top', 'ops', 'text', '', x'00', 'delivered', 0, 0, 0, 0)", (top,))
    stored, created = store.enqueue([msg("巡检 a"), msg("巡检 b")], now=T0)
    assert created and len({m.seq for m in stored}) == 2
    for m in stored:
        got = store.get(m.id)
        assert got is not None and got.seq == m.seq < top
