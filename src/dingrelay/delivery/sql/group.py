"""Group commit for small writes from many threads: each caller's write runs in a transaction shared with the
writes that arrived while the previous one committed, so N concurrent outcome writes cost one commit (one fsync on
SQLite, one round trip's commit on PostgreSQL) instead of N.

A caller returns only once its write is committed, or with the error that refused it. When the shared transaction
fails, each of its writes runs again in a transaction of its own, so only the write the database refuses fails and
its neighbours still commit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.engine import Connection

from .claimsql import RawSql
from .engines import Database

Statements = list[tuple[str, tuple[Any, ...]]]
#: A write: a function of the shared transaction's connection, or plain statements with their parameters. The
#: statements of a batch's writes are run together, each statement once for all its rows (``executemany``: on
#: PostgreSQL one round trip, not one per row), in the order each first appears.
Write = Callable[[Connection], None] | Statements


T = TypeVar("T")


class _Gate:
    """What a waiting caller sleeps on: a lock held from the start, which :meth:`open` releases and :meth:`wait`
    takes. The primitive ``threading.Event`` waits on, without its Condition's bookkeeping around every wait and
    every wake, which the profile of a busy ingest showed (README, Performance). Opening an open gate is a no-op."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def open(self) -> None:
        with contextlib.suppress(RuntimeError):   # already open
            self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _Entry(Generic[T]):
    __slots__ = ("done", "item", "lead", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.lead = False
        self.wake = _Gate()


class Batches(Generic[T]):
    """Leader and followers: callers of :meth:`run` queue their item; one of them, the leader, hands the queue
    (up to ``max_batch``) to ``commit`` while the others wait on a gate of their own (:class:`_Gate`), and when it
    is done names the first caller still waiting leader. So a caller wakes once, when its batch is committed,
    instead of queueing on a lock that every caller must take in turn (under the GIL each hand-off may wait a
    switch interval: with 64 send threads that convoy was the largest wait of a send, README, Performance)."""

    def __init__(self, commit: Callable[[list[T]], None], *, max_batch: int | None = None) -> None:
        self._commit = commit
        self.max_batch = max_batch
        self._pending: list[_Entry[T]] = []
        self._lock = threading.Lock()
        self._leading = False
        self._committing: dict[int, _Entry[T]] = {}   # the batch being committed, by id of its items (the leader's)

    def run(self, item: T) -> None:
        """Return once ``item`` went through ``commit`` (whatever ``commit`` did with it)."""
        entry = _Entry(item)
        with self._lock:
            self._pending.append(entry)
            if not self._leading:
                self._leading = entry.lead = True
        if not entry.lead:
            entry.wake.wait()
            if entry.done:
                return
        try:   # the leader: its own item is first in the queue
            with self._lock:
                n = len(self._pending) if self.max_batch is None else self.max_batch
                batch, self._pending = self._pending[:n], self._pending[n:]
            self._committing = {id(e.item): e for e in batch}
            try:
                self._commit([e.item for e in batch])
            finally:
                self._committing = {}
                for e in batch:
                    e.done = True
                    e.wake.open()
        finally:
            self.hand_off()

    def finished(self, items: list[T]) -> None:
        """Called by ``commit`` for some items of its batch: those are done, and their callers return now rather
        than when the whole batch is (a shared batch's other part may still be writing: :mod:`.writes`)."""
        for item in items:
            e = self._committing.get(id(item))
            if e is not None:
                e.done = True
                e.wake.open()

    def hand_off(self) -> None:
        """End a leadership: the first caller waiting leads next, or nobody leads until the next :meth:`run`."""
        with self._lock:
            if self._pending:
                nxt = self._pending[0]
                nxt.lead = True
                nxt.wake.open()
            else:
                self._leading = False


@dataclass
class _Job:
    write: Write
    error: BaseException | None = None


class Shared(Protocol):
    """Group commits shared with other writers (:class:`.writes.SharedWrites`, which this module cannot import: it
    imports :class:`Batches` from here)."""

    def join(self, kind: type, part: Any) -> Batches[Any]: ...


class GroupCommit:
    """Writes in group commits: a batch of their own (at most ``max_batch``), or with ``writes`` (SQLite) the
    store's shared one, where a batch may also hold new messages (:mod:`.writes`), bounded by the callers
    waiting."""

    def __init__(self, db: Database, *, max_batch: int = 256, writes: Shared | None = None) -> None:
        self.db = db
        self._raw = RawSql(db.engine.dialect)
        self._batches: Batches[Any] = (writes.join(_Job, self) if writes is not None
                                       else Batches(self._commit, max_batch=max_batch))

    def run(self, write: Write) -> None:
        """Run ``write(conn)`` in a committed transaction, maybe shared with other callers' writes."""
        job = _Job(write)
        self._batches.run(job)
        if job.error is not None:
            raise job.error

    def _commit(self, batch: list[_Job]) -> None:
        if not self._together(batch) and len(batch) > 1:
            for job in batch:
                self._together([job])

    commit = _commit   # as a part of :class:`.writes.SharedWrites`

    def prepare(self, jobs: list[_Job]) -> dict[str, list[tuple[Any, ...]]] | None:
        """The jobs' statements, each with its rows in order; ``None`` if a job is a function of a Connection."""
        planned: dict[str, list[tuple[Any, ...]]] = {}
        for job in jobs:
            if callable(job.write):
                return None
            for sql, params in job.write:
                planned.setdefault(sql, []).append(params)
        return planned

    def write_raw(self, raw: Any, planned: dict[str, list[tuple[Any, ...]]]) -> None:
        self._run_planned_on(raw, planned)

    def settle(self, jobs: list[_Job], _planned: object, _written: object) -> None:
        for job in jobs:
            job.error = None

    def fail(self, jobs: list[_Job], exc: Exception) -> None:
        for job in jobs:
            job.error = exc

    def _together(self, jobs: list[_Job]) -> bool:
        """Run ``jobs`` in one transaction; on failure every job carries the error. True if committed."""
        try:
            with self.db.tx() as conn:
                planned: dict[str, list[tuple[Any, ...]]] = {}
                for job in jobs:
                    if callable(job.write):
                        job.write(conn)
                    else:
                        for sql, params in job.write:
                            planned.setdefault(sql, []).append(params)
                if planned:
                    self._run_planned(conn, planned)
        except Exception as exc:
            for job in jobs:
                job.error = exc
            return False
        for job in jobs:
            job.error = None
        return True

    def _run_planned(self, conn: Connection, planned: dict[str, list[tuple[Any, ...]]]) -> None:
        self._run_planned_on(conn.connection, planned)

    def _run_planned_on(self, dbapi_conn: Any, planned: dict[str, list[tuple[Any, ...]]]) -> None:
        cursor = dbapi_conn.cursor()
        try:
            for sql, rows in planned.items():
                self._raw.run_many(cursor, sql, rows)
        finally:
            cursor.close()
