"""Putting dead messages back in their queue, as a person asks (the CLI, the dashboard), with an audit entry.

A requeued message is ``queued``, due at once, with its attempts counter at 0 and ``requeued_at`` set: the retry
policy's give-up horizon starts again from then. Its attempts stay on record. It keeps its ``seq``, so it goes
before the messages its queue accepted after it. A message a digest carried leaves the digest (its ``digest_id``
is cleared: it is sent on its own, or in a new digest), and takes copies of the digest's attempts, marked ``via``
the digest, so its timeline stays whole; the digest itself stays dead, as the record of what was sent. A filter
requeues in batches of :data:`BATCH`, each its own short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ..model import MessageFilter, Status
from .engines import Database
from .history import matching
from .rows import RELEASED
from .tables import attempts, audit, messages, queue_state

BATCH = 500
#: The message ids an audit entry names before it says "and N more".
_NAMED = 20

_DEAD = messages.c.status == Status.DEAD.value
_NOT_A_DIGEST = messages.c.digest_id.is_(None) | (messages.c.digest_id != messages.c.id)
_COPY_DIGEST_ATTEMPTS = insert(attempts).from_select(
    ["message_id", "started_at", "duration", "http_status", "errcode", "errmsg", "error", "outcome", "via"],
    select(bindparam("message_id", type_=attempts.c.message_id.type), attempts.c.started_at, attempts.c.duration,
           attempts.c.http_status, attempts.c.errcode, attempts.c.errmsg, attempts.c.error, attempts.c.outcome,
           attempts.c.message_id)
    .where(attempts.c.message_id == bindparam("digest_id")).order_by(attempts.c.id))


class Requeue:
    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None]) -> None:
        self.db = db
        self.notify = notify

    def requeue(self, target: str | MessageFilter, *, now: float, actor: str) -> int:
        if isinstance(target, MessageFilter):
            if target.status not in (None, Status.DEAD):
                raise ValueError(f"only dead messages can be requeued, not {target.status} ones")
            chosen = matching(target).with_only_columns(messages.c.seq).where(_DEAD, _NOT_A_DIGEST)
            described = describe(target)
        else:
            digest = messages.c.digest_id == target
            chosen = (select(messages.c.seq).where(_DEAD, (messages.c.id == target) & _NOT_A_DIGEST
                                                   | digest & (messages.c.id != target)))
            described = target
        requeued: list[str] = []
        queues: set[str] = set()
        after = 0
        while True:
            with self.db.tx() as conn:
                seqs = conn.execute(chosen.where(messages.c.seq > after).order_by(messages.c.seq)
                                    .limit(BATCH)).scalars().all()
                if not seqs:
                    break
                after = max(seqs)
                ids, names = _requeue(conn, list(seqs), now=now)
                requeued += ids
                queues |= names
            if len(seqs) < BATCH:
                break
        with self.db.tx() as conn:
            conn.execute(insert(audit).values(actor=actor, at=now, action="requeue", target=described,
                                              detail=_detail(requeued)))
        if queues:
            self.notify(frozenset(queues))
        return len(requeued)


def _requeue(conn: Connection, seqs: list[int], *, now: float) -> tuple[list[str], set[str]]:
    """Requeue the dead messages ``seqs``; their ids and queues."""
    rows = conn.execute(select(messages.c.id, messages.c.queue, messages.c.digest_id)
                        .where(messages.c.seq.in_(seqs), _DEAD)).all()
    carried = [{"message_id": r.id, "digest_id": r.digest_id} for r in rows if r.digest_id]
    if carried:
        conn.execute(_COPY_DIGEST_ATTEMPTS, carried)
    conn.execute(update(messages).where(messages.c.seq.in_(seqs), _DEAD).values(
        status=Status.QUEUED.value, next_attempt_at=now, attempts=0, requeued_at=now, updated_at=now,
        digest_id=None, **RELEASED))
    names = {r.queue for r in rows}
    have = set(conn.execute(select(queue_state.c.queue).where(queue_state.c.queue.in_(names))).scalars().all())
    for q in sorted(names - have):   # an idle session queue's row may have been pruned (.retention)
        conn.execute(insert(queue_state).values(queue=q))
    return [r.id for r in rows], names


def describe(where: MessageFilter) -> str:
    """A filter as the audit log shows it: ``status=dead robot=ops``."""
    parts: list[tuple[str, Any]] = [("status", where.status or Status.DEAD), ("robot", where.robot),
                                    ("source", where.source), ("since", where.since), ("until", where.until),
                                    ("text", where.text)]
    return " ".join(f"{k}={v}" for k, v in parts if v is not None and v != "")


def _detail(ids: Sequence[str]) -> str:
    if not ids:
        return "requeued 0 messages"
    named = ", ".join(ids[:_NAMED]) + (f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else "")
    return f"requeued {len(ids)} message(s): {named}"

