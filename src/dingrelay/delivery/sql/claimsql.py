"""The statements of a claim, as text run on the write transaction's own DBAPI cursor.

A claim runs five statements per queue head, and a profile of ``serve`` under a 300-robot fan-out put 60 % of the
time the process held the GIL in building, caching and executing them through SQLAlchemy Core (README,
Performance). They are written here once per dialect, as :mod:`.inserts` writes the ingest insert, and run on
``Connection.connection`` of :meth:`.Database.tx`, inside the same transaction (and queue lock) as before, with the
same meaning as the Core statements they replace. A refused statement comes out as SQLAlchemy's
:class:`~sqlalchemy.exc.DBAPIError` subclass for the driver's error, with no bound parameter in it.

Taking the head and reading it back is one ``UPDATE ... RETURNING`` (SQLite 3.35+, PostgreSQL).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy.engine import Dialect

from .engines import driver_errors
from .tables import attempts, messages, queue_state, sends

COLUMNS = tuple(c.name for c in messages.c)
#: A ``dr_messages`` row read by these statements: what :func:`.rows.to_message` reads, by attribute.
Row = namedtuple("Row", COLUMNS)  # type: ignore[misc]

_ACTIVE = "status IN ('queued', 'retrying', 'sending')"   # literal: the partial index dr_messages_head answers it


class RawSql:
    """Statements written as text for ``dialect``; :meth:`run` executes one on a DBAPI cursor."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.mark = "?" if dialect.name == "sqlite" else "%s"

    def run(self, cursor: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """Execute ``sql`` with ``params`` on ``cursor``; its rows (none for a statement without any)."""
        with driver_errors(self.dialect, sql):
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def run_many(self, cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Execute ``sql`` once per row of parameters (psycopg pipelines them: one round trip for all)."""
        with driver_errors(self.dialect, sql):
            cursor.executemany(sql, rows)


class ClaimSql(RawSql):
    """The claim's statements for ``dialect``."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        p = self.mark
        m, s, q = messages.name, sends.name, queue_state.name   # our own names, no input
        cols = ", ".join(COLUMNS)
        self.lock = f"SELECT paused_until FROM {q} WHERE queue = {p}"  # noqa: S608
        if dialect.name == "postgresql":
            self.lock += " FOR UPDATE SKIP LOCKED"
        # Only the queue's oldest active message may go, and only when none of its messages is in flight.
        self.ahead = (f"SELECT seq FROM {m} WHERE queue = {p} AND seq != {p} AND {_ACTIVE} "  # noqa: S608
                      f"AND (seq < {p} OR status = 'sending') LIMIT 1")
        # The window counted (:func:`..ratelimit.next_slot_counted`): one row whatever the budget, where reading
        # every send in it (up to a robot's limit) stepped the statement once per send, each step handing the
        # GIL back and waiting for it again while the claim held the write lock.
        in_flight = "coalesce(sum(CASE WHEN finished_at IS NULL THEN 1 ELSE 0 END), 0)"
        self.recent_counts = (f"SELECT count(*), {in_flight} FROM {s} WHERE queue = {p} "  # noqa: S608
                              f"AND (finished_at IS NULL OR finished_at > {p})")
        self.nth_finished = (f"SELECT finished_at FROM {s} WHERE queue = {p} AND finished_at > {p} "  # noqa: S608
                             f"ORDER BY finished_at LIMIT 1 OFFSET {p}")
        self.take = (f"UPDATE {m} SET status = 'sending', attempts = attempts + 1, lease_until = {p}, "  # noqa: S608
                     f"lease_owner = {p}, updated_at = {p} WHERE seq = {p} AND status IN ('queued', 'retrying') "
                     f"AND next_attempt_at <= {p} RETURNING {cols}")
        self.log_send = f"INSERT INTO {s} (queue, started_at) VALUES ({p}, {p}) RETURNING id"  # noqa: S608


class OutcomeSql(RawSql):
    """The statements of a finished send (:mod:`.outcomes`): its attempt on record, its send-log entry closed,
    its message released with the outcome's plain values."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        p = self.mark
        cols = ATTEMPT_COLUMNS
        self.record = (f"INSERT INTO {attempts.name} ({', '.join(cols)}) "  # noqa: S608
                       f"VALUES ({', '.join([p] * len(cols))})")
        self.close_send = f"UPDATE {sends.name} SET finished_at = {p} WHERE id = {p}"  # noqa: S608
        self._finish: dict[tuple[str, ...], str] = {}

    def finish(self, names: tuple[str, ...]) -> str:
        """``UPDATE`` of one message by ``seq``: ``updated_at``, then ``names`` (our own column names), set; its
        lease released."""
        sql = self._finish.get(names)
        if sql is None:
            p = self.mark
            sets = ", ".join(f"{n} = {p}" for n in ("updated_at", *names))
            sql = self._finish[names] = (f"UPDATE {messages.name} SET {sets}, lease_until = NULL, "  # noqa: S608
                                         f"lease_owner = NULL WHERE seq = {p}")
        return sql


ATTEMPT_COLUMNS = ("message_id", "started_at", "duration", "http_status", "errcode", "errmsg", "error", "outcome")
