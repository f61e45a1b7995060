"""Finishing a claim: delivered, retried later, paused (DingTalk throttled the robot), or dead.

Finishing a digest's claim finishes every message of its batch. Each outcome closes the claim's entry in the send
log, which the rate limit counts from, and, given what the worker measured of the send (:class:`~..model.Sent`),
records the attempt in ``dr_attempts`` in the same transaction: no extra commit. A digest's attempt is recorded
once, on the digest; the messages it carries show it through their ``digest_id`` (:mod:`.history`).
Delivered and retried outcomes are group-committed (:mod:`.group`): those finishing together share one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ClauseElement

from ..model import ACTIVE, Claim, Outcome, Sent, Status, StoredMessage
from .claimsql import OutcomeSql
from .engines import Database
from .group import GroupCommit, Statements
from .rows import RELEASED
from .tables import messages, queue_state, sends

if TYPE_CHECKING:
    from .writes import SharedWrites

#: Send-log rows older than this can no longer matter to any rate window.
_SEND_LOG_SECONDS = 86400
_PRUNE_EVERY = 500   # sends: the outcome of every 500th also deletes the send log's old rows


class Outcomes:
    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None], *,
                 writes: SharedWrites | None = None) -> None:
        self.db = db
        self.notify = notify
        # delivered and retried sends: one commit for those finishing together (and, with ``writes``, on SQLite,
        # for the new messages accepted meanwhile)
        self._group = GroupCommit(db, writes=writes)
        self._sql = OutcomeSql(db.engine.dialect)

    def delivered(self, claim: Claim, *, now: float, sent: Sent | None = None) -> None:
        values: dict[str, Any] = {"status": Status.DELIVERED.value, "delivered_at": now}

        def write(conn: Connection) -> None:
            _record(conn, claim.message, sent, Outcome.DELIVERED, errcode=0, error=None)
            _finish(conn, claim, now, **values)

        self._group.run(self._planned(claim, sent, Outcome.DELIVERED, 0, None, now, values) or write)
        self.notify(None)

    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None:
        values: dict[str, Any] = {"status": Status.RETRYING.value, "next_attempt_at": at, "last_errcode": errcode,
                                  "last_error": error}

        def write(conn: Connection) -> None:
            _record(conn, claim.message, sent, Outcome.RETRY, errcode=errcode, error=error)
            _finish(conn, claim, now, **values)

        self._group.run(self._planned(claim, sent, Outcome.RETRY, errcode, error, now, values) or write)
        self.notify(None)

    def _planned(self, claim: Claim, sent: Sent | None, outcome: Outcome, errcode: int | None, error: str | None,
                 now: float, values: dict[str, Any]) -> Statements | None:
        """The common outcome (a plain message, plain values) as the statements :func:`_record` and :func:`_finish`
        would run, so that a group commit runs each once for its whole batch; ``None`` for the other cases."""
        if claim.message.is_digest or claim.send_id % _PRUNE_EVERY == 0:
            return None
        return (_attempt(self._sql, claim.message, sent, outcome, errcode=errcode, error=error)
                + _plain_finish(self._sql, claim, now, values))

    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None:
        """The robot is throttled: keep the message queued (the attempt does not count) and pause its queue."""
        with self.db.tx() as conn:
            _record(conn, claim.message, sent, Outcome.PAUSED, errcode=errcode, error=error)
            _finish(conn, claim, now, status=Status.RETRYING.value, next_attempt_at=until,
                    attempts=messages.c.attempts - 1, last_errcode=errcode, last_error=error)
            conn.execute(update(queue_state).where(queue_state.c.queue == claim.message.queue)
                         .values(paused_until=until, pause_reason=error))
        self.notify(None)

    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str,
             sent: Sent | None = None) -> None:
        with self.db.tx() as conn:
            if isinstance(claim, Claim):
                _record(conn, claim.message, sent, Outcome.DEAD, errcode=errcode, error=error)
                _finish(conn, claim, now, status=Status.DEAD.value, last_errcode=errcode, last_error=error)
            else:
                died = conn.execute(update(messages).where(
                    messages.c.seq == claim.seq, messages.c.status.in_([s.value for s in ACTIVE]))
                    .values(status=Status.DEAD.value, updated_at=now, last_errcode=errcode, last_error=error))
                if died.rowcount:
                    _record(conn, claim, sent, Outcome.DEAD, errcode=errcode, error=error)
        self.notify(None)

    def release_pause(self, queue: str) -> None:
        with self.db.tx() as conn:
            conn.execute(update(queue_state).where(queue_state.c.queue == queue)
                         .values(paused_until=None, pause_reason=None))
        self.notify(None)


def _attempt(sql: OutcomeSql, message: StoredMessage, sent: Sent | None, outcome: Outcome, *, errcode: int | None,
             error: str | None) -> Statements:
    """The statement recording the attempt that ended in ``outcome``, when the worker says what it measured."""
    if sent is None:
        return []
    return [(sql.record, (message.id, sent.started_at, sent.duration, sent.http_status, errcode, sent.errmsg, error,
                          outcome.value))]


def _plain_finish(sql: OutcomeSql, claim: Claim, now: float, values: dict[str, Any]) -> Statements:
    """Finishing a plain message given plain values: its send-log entry closed, its row released with ``values``."""
    return [(sql.close_send, (now, claim.send_id)),
            (sql.finish(tuple(values)), (now, *values.values(), claim.message.seq))]


def _record(conn: Connection, message: StoredMessage, sent: Sent | None, outcome: Outcome, *, errcode: int | None,
            error: str | None) -> None:
    sql = _sql(conn)
    for statement, params in _attempt(sql, message, sent, outcome, errcode=errcode, error=error):
        _raw(conn, sql, statement, params)


def _finish(conn: Connection, claim: Claim, now: float, **values: Any) -> None:
    """Finish ``claim``'s message; for a digest, every message of its batch."""
    m = claim.message
    sql = _sql(conn)
    if m.is_digest or any(isinstance(v, ClauseElement) for v in values.values()):
        _raw(conn, sql, sql.close_send, (now, claim.send_id))
        target = (and_(messages.c.digest_id == m.id, messages.c.status == Status.SENDING.value) if m.is_digest
                  else messages.c.seq == m.seq)
        conn.execute(update(messages).where(target).values(updated_at=now, **RELEASED, **values))
    else:   # the common case, a plain message given plain values: the statements as text
        for statement, params in _plain_finish(sql, claim, now, values):
            _raw(conn, sql, statement, params)
    if claim.send_id % _PRUNE_EVERY == 0:  # keep the send log short
        conn.execute(delete(sends).where(sends.c.finished_at < now - _SEND_LOG_SECONDS))


_SQL: dict[str, OutcomeSql] = {}


def _sql(conn: Connection) -> OutcomeSql:
    """The outcome statements for ``conn``'s dialect (made once per dialect)."""
    name = conn.dialect.name
    sql = _SQL.get(name)
    if sql is None:
        sql = _SQL[name] = OutcomeSql(conn.dialect)
    return sql


def _raw(conn: Connection, sql: OutcomeSql, statement: str, params: tuple[Any, ...]) -> None:
    cursor = conn.connection.cursor()
    try:
        sql.run(cursor, statement, params)
    finally:
        cursor.close()
