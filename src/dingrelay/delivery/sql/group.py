"""Group commit for small writes from many threads: each caller's write runs in a transaction shared with the
writes that arrived while the previous one committed, so N concurrent outcome writes cost one commit (one fsync on
SQLite, one round trip's commit on PostgreSQL) instead of N.

A caller returns only once its write is committed, or with the error that refused it. When the shared transaction
fails, each of its writes runs again in a transaction of its own, so only the write the database refuses fails and
its neighbours still commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from .claimsql import RawSql
from .engines import Database

Statements = list[tuple[str, tuple[Any, ...]]]
#: A write: a function of the shared transaction's connection, or plain statements with their parameters. The
#: statements of a batch's writes are run together, each statement once for all its rows (``executemany``: on
#: PostgreSQL one round trip, not one per row), in the order each first appears.
Write = Callable[[Connection], None] | Statements


@dataclass
class _Job:
    write: Write
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self._raw = RawSql(db.engine.dialect)
        self.max_batch = max_batch
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()
        self._leader = threading.Lock()

    def run(self, write: Write) -> None:
        """Run ``write(conn)`` in a committed transaction, maybe shared with other callers' writes."""
        job = _Job(write)
        with self._pending_lock:
            self._pending.append(job)
        while not job.finished.is_set():
            with self._leader:
                if job.finished.is_set():
                    break
                with self._pending_lock:
                    batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                self._commit(batch)
        if job.error is not None:
            raise job.error

    def _commit(self, batch: list[_Job]) -> None:
        try:
            if not self._together(batch) and len(batch) > 1:
                for job in batch:
                    self._together([job])
        finally:
            for job in batch:
                job.finished.set()

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
        cursor = conn.connection.cursor()
        try:
            for sql, rows in planned.items():
                self._raw.run_many(cursor, sql, rows)
        finally:
            cursor.close()
