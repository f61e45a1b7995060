"""Lease recovery: sends whose process is gone, or whose lease ran out, go back to their queue (at-least-once).

Every running worker calls :meth:`Recovery.recover` every few seconds, so its common case (nothing to recover) is
one read: the owners and earliest lease ends of the messages ``sending``, found through the index that leads with
``status``, on the reader (never the write lock). Only when something is stale does it write. An owner is gone when
:func:`..owner.is_gone` says so: a process of this host that exited, is a zombie, or whose pid now belongs to
another process (including a restarted container's, with the same hostname and pid). Another host's process only
loses its send when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, or_, select, update

from .. import owner
from ..model import Status
from .engines import Database
from .rows import RELEASED
from .tables import messages, sends

_SENDING = messages.c.status == Status.SENDING.value
#: Per owner, the earliest lease end of its messages in flight (a message without one counts as ended).
_IN_FLIGHT = (select(messages.c.lease_owner, func.min(func.coalesce(messages.c.lease_until, 0.0)))
              .where(_SENDING).group_by(messages.c.lease_owner))
INTERRUPTED = "interrupted while sending; retried"


class Recovery:
    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None]) -> None:
        self.db = db
        self.notify = notify

    def recover(self, *, now: float) -> int:
        """Re-queue the messages left ``sending`` past their lease or by a process that is gone; their send-log
        entries are closed as finishing now (the conservative choice for the rate window). Returns how many."""
        with self.db.read() as conn:
            in_flight = conn.execute(_IN_FLIGHT).all()
        gone = sorted({o for o, _ in in_flight if o is not None and owner.is_gone(o)})
        if not gone and all(until > now for _, until in in_flight):
            return 0
        stale = [messages.c.lease_until.is_(None), messages.c.lease_until <= now]
        if gone:
            stale.append(messages.c.lease_owner.in_(gone))
        with self.db.tx() as conn:
            requeued = conn.execute(
                update(messages).where(_SENDING, or_(*stale))
                .values(status=Status.RETRYING.value, next_attempt_at=now, **RELEASED, updated_at=now,
                        last_error=INTERRUPTED)
                .returning(messages.c.queue)).scalars().all()
            if requeued:
                conn.execute(update(sends).where(sends.c.queue.in_(set(requeued)), sends.c.finished_at.is_(None))
                             .values(finished_at=now))
        if requeued:
            self.notify(None)
        return len(requeued)
