"""Finishing a claim: delivered, retried later, paused (DingTalk throttled the robot), or dead.

Finishing a digest's claim finishes every message of its batch. Each outcome closes the claim's entry in the send
log, which the rate limit counts from. Delivered and retried outcomes are group-committed (:mod:`.group`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, update
from sqlalchemy.engine import Connection

from ..model import ACTIVE, Claim, Status, StoredMessage
from .engines import Database
from .group import GroupCommit
from .rows import RELEASED
from .tables import messages, queue_state, sends

#: Send-log rows older than this can no longer matter to any rate window.
_SEND_LOG_SECONDS = 86400


class Outcomes:
    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None]) -> None:
        self.db = db
        self.notify = notify
        self._group = GroupCommit(db)   # delivered and retried sends: one commit for those finishing together

    def delivered(self, claim: Claim, *, now: float) -> None:
        self._group.run(lambda conn: _finish(conn, claim, now, status=Status.DELIVERED.value, delivered_at=now))
        self.notify(None)

    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str) -> None:
        self._group.run(lambda conn: _finish(conn, claim, now, status=Status.RETRYING.value, next_attempt_at=at,
                                             last_errcode=errcode, last_error=error))
        self.notify(None)

    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str) -> None:
        """The robot is throttled: keep the message queued (the attempt does not count) and pause its queue."""
        with self.db.tx() as conn:
            _finish(conn, claim, now, status=Status.RETRYING.value, next_attempt_at=until,
                    attempts=messages.c.attempts - 1, last_errcode=errcode, last_error=error)
            conn.execute(update(queue_state).where(queue_state.c.queue == claim.message.queue)
                         .values(paused_until=until, pause_reason=error))
        self.notify(None)

    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str) -> None:
        with self.db.tx() as conn:
            if isinstance(claim, Claim):
                _finish(conn, claim, now, status=Status.DEAD.value, last_errcode=errcode, last_error=error)
            else:
                conn.execute(update(messages).where(
                    messages.c.seq == claim.seq, messages.c.status.in_([s.value for s in ACTIVE]))
                    .values(status=Status.DEAD.value, updated_at=now, last_errcode=errcode, last_error=error))
        self.notify(None)

    def release_pause(self, queue: str) -> None:
        with self.db.tx() as conn:
            conn.execute(update(queue_state).where(queue_state.c.queue == queue)
                         .values(paused_until=None, pause_reason=None))
        self.notify(None)


def _finish(conn: Connection, claim: Claim, now: float, **values: Any) -> None:
    """Finish ``claim``'s message; for a digest, every message of its batch."""
    m = claim.message
    target = (and_(messages.c.digest_id == m.id, messages.c.status == Status.SENDING.value) if m.is_digest
              else messages.c.seq == m.seq)
    conn.execute(update(sends).where(sends.c.id == claim.send_id).values(finished_at=now))
    conn.execute(update(messages).where(target).values(updated_at=now, **RELEASED, **values))
    if claim.send_id % 500 == 0:  # keep the send log short
        conn.execute(delete(sends).where(sends.c.finished_at < now - _SEND_LOG_SECONDS))
