"""What happened to messages: each one's send attempts, finding messages by filter (newest first), the audit log.

A digest's attempt is recorded once, on the digest; a message it carried reads the digest's attempts through its
``digest_id`` (or, once requeued on its own, through the copies :mod:`.requeue` made, marked ``via`` the digest).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, select
from sqlalchemy.sql import Select

from ..model import SESSION_PREFIX, SESSION_ROBOT, Attempt, AuditEntry, MessageFilter, Outcome, StoredMessage
from .engines import Database
from .rows import to_message
from .tables import attempts, audit, messages

#: Every session queue name sorts between these two (``;`` follows ``:``): a range the queue indexes can serve.
SESSION_RANGE = (SESSION_PREFIX, SESSION_PREFIX[:-1] + chr(ord(SESSION_PREFIX[-1]) + 1))

_DIGEST_OF = select(messages.c.digest_id).where(messages.c.id == bindparam("id"))
_ATTEMPTS = (select(attempts).where(attempts.c.message_id.in_(bindparam("ids", expanding=True)))
             .order_by(attempts.c.started_at, attempts.c.id))


def in_queues_of(robot: str, queue: ColumnElement[str] = messages.c.queue) -> ColumnElement[bool]:
    """The condition on a ``queue`` column for a robot's rows (:data:`SESSION_ROBOT`: every session queue's)."""
    if robot == SESSION_ROBOT:
        return and_(queue >= SESSION_RANGE[0], queue < SESSION_RANGE[1])
    return queue == robot


def is_session(queue: str) -> bool:
    return SESSION_RANGE[0] <= queue < SESSION_RANGE[1]


def matching(where: MessageFilter) -> Select[Any]:
    """The messages ``where`` selects, unordered."""
    q = select(messages)
    if where.status is not None:
        q = q.where(messages.c.status == where.status.value)
    if where.robot:
        q = q.where(in_queues_of(where.robot))
    if where.source:
        q = q.where(messages.c.source == where.source)
    if where.since is not None:
        q = q.where(messages.c.created_at >= where.since)
    if where.until is not None:
        q = q.where(messages.c.created_at < where.until)
    if where.text:
        q = q.where(func.lower(messages.c.title).contains(where.text.lower(), autoescape=True))
    return q


class History:
    def __init__(self, db: Database) -> None:
        self.db = db

    def attempts(self, message_id: str) -> list[Attempt]:
        with self.db.read() as conn:
            digest = conn.execute(_DIGEST_OF, {"id": message_id}).scalar()
            ids = [message_id, *([digest] if digest and digest != message_id else [])]
            rows = conn.execute(_ATTEMPTS, {"ids": ids}).all()
        return [Attempt(started_at=float(r.started_at), duration=r.duration, http_status=r.http_status,
                        errcode=r.errcode, errmsg=r.errmsg, error=r.error, outcome=Outcome(r.outcome),
                        digest_id=r.via or (r.message_id if r.message_id != message_id else None))
                for r in rows]

    def find(self, where: MessageFilter, *, limit: int = 50, before_seq: int | None = None) -> list[StoredMessage]:
        q = matching(where).order_by(messages.c.seq.desc()).limit(limit)
        if before_seq is not None:
            q = q.where(messages.c.seq < before_seq)
        with self.db.read() as conn:
            return [to_message(r) for r in conn.execute(q).all()]

    def record_audit(self, *, actor: str, action: str, target: str, detail: str, now: float) -> None:
        with self.db.tx() as conn:
            conn.execute(insert(audit).values(actor=actor, at=now, action=action, target=target, detail=detail))

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        with self.db.read() as conn:
            rows = conn.execute(select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)).all()
        return [AuditEntry(actor=r.actor, at=float(r.at), action=r.action, target=r.target, detail=r.detail)
                for r in rows]
