"""Which messages may go now, and taking them for sending: queue heads, claims, digest claims.

Each queue (a robot, or one sessionWebhook) delivers in acceptance order: only its oldest active message may be
sent, and only one at a time. Claiming locks the queue's ``queue_state`` row (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite transactions start ``BEGIN IMMEDIATE``), so several workers never exceed a robot's rate.

A digest (:mod:`..digest`) is a message row of its own whose ``digest_id`` is its own id; the messages it carries
(its queue's head and those right behind it) point at it with ``digest_id``. They all change status together
(:mod:`.outcomes`), and a retried batch is claimed again through its head, so the same digest is re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from .. import owner, ratelimit
from ..model import Claim, NewMessage, RateWait, Status, StoredMessage
from .accept import INSERT_QUEUE, SELECT_QUEUE
from .batchclaim import BatchClaimSql, claim_batch
from .claimsql import ClaimSql, Row
from .engines import Database
from .rows import new_id, to_message
from .tables import ACTIVE_SQL, messages, queue_state

WAITING = (Status.QUEUED.value, Status.RETRYING.value)

_HEAD_SEQ = (select(messages.c.seq).where(messages.c.queue == queue_state.c.queue, ACTIVE_SQL)
             .order_by(messages.c.seq).limit(1).correlate(queue_state).scalar_subquery())
_HEADS = queue_state.join(messages, messages.c.seq == _HEAD_SEQ)
_DUE_HEADS = (select(messages).select_from(_HEADS)
              .where(messages.c.status != Status.SENDING.value, messages.c.next_attempt_at <= bindparam("now"),
                     or_(queue_state.c.paused_until.is_(None), queue_state.c.paused_until <= bindparam("now")))
              .order_by(messages.c.seq))
_NEXT_DUE = (select(func.min(messages.c.next_attempt_at)).select_from(_HEADS)
             .where(messages.c.status != Status.SENDING.value, messages.c.next_attempt_at > bindparam("now")))
_ACTIVE_QUEUES = select(queue_state.c.queue).select_from(_HEADS)
_NEXT_UNPAUSE = select(func.min(queue_state.c.paused_until)).where(queue_state.c.paused_until > bindparam("now"))


def leased(now: float, lease: float) -> dict[str, Any]:
    """The lease columns of a message this process takes for ``lease`` seconds."""
    return {"lease_until": now + lease, "lease_owner": str(owner.current())}


class _Changed(Exception):
    """A batch's messages changed under a claim (the transaction is rolled back)."""


class Claims:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql = ClaimSql(db.engine.dialect)
        self._batch = BatchClaimSql(db.engine.dialect) if db.postgres else None   # SQLite: one at a time, in-process

    def due_heads(self, now: float) -> list[StoredMessage]:
        """The oldest active message of each queue, when it is due and its queue is not paused or busy."""
        with self.db.read() as conn:
            return [to_message(r) for r in conn.execute(_DUE_HEADS, {"now": now}).all()]

    def active_queues(self) -> set[str]:
        """The queues that have a message waiting or in flight."""
        with self.db.read() as conn:
            return set(conn.execute(_ACTIVE_QUEUES).scalars().all())

    def next_wake(self, now: float) -> float | None:
        """The earliest future time at which some queue's head becomes due (ignores rate windows)."""
        with self.db.read() as conn:
            t = conn.execute(_NEXT_DUE, {"now": now}).scalar()
            p = conn.execute(_NEXT_UNPAUSE, {"now": now}).scalar()
        times = [x for x in (t, p) if x is not None]
        return min(times) if times else None

    def claim(self, head: StoredMessage, *, now: float, limit: int, window: float, lease: float
              ) -> Claim | float | None:
        """Take ``head`` for sending if its robot's budget allows.

        Returns the :class:`Claim`; or the time a rate slot frees up (a :class:`~..model.RateWait`) or the pause
        ends; or ``None`` when another worker holds the queue or the message is no longer the due head.
        """
        return self.claim_many([(head, limit, window)], now=now, lease=lease)[0]

    def claim_many(self, heads: Sequence[tuple[StoredMessage, int, float]], *, now: float, lease: float
                   ) -> list[Claim | float | None]:
        """:meth:`claim` for each ``(head, limit, window)``, in one transaction (one commit for the batch).

        Each head is judged exactly as :meth:`claim` judges it, under the same queue lock, so order and rate
        windows are as strict as one claim at a time; a failure rolls the whole batch back (nothing is claimed).
        """
        with self.db.tx() as conn:
            cursor = conn.connection.cursor()
            try:
                if self._batch is not None and len(heads) > 1:
                    cols = leased(now, lease)
                    return claim_batch(
                        self._batch, cursor, heads, now=now, lease_until=cols["lease_until"], owner=cols["lease_owner"],
                        lone=lambda h: self._claim(conn, cursor, h[0], now=now, limit=h[1], window=h[2], lease=lease),
                        finish=lambda row, send_id: self._taken(conn, row, send_id, now=now, lease=lease))
                return [self._claim(conn, cursor, head, now=now, limit=limit, window=window, lease=lease)
                        for head, limit, window in heads]
            finally:
                cursor.close()

    def _claim(self, conn: Connection, cursor: Any, head: StoredMessage, *, now: float, limit: int, window: float,
               lease: float) -> Claim | float | None:
        sql, run = self._sql, self._sql.run
        state = run(cursor, sql.lock, (head.queue,))
        if not state:
            if conn.execute(SELECT_QUEUE, {"q": head.queue}).first() is not None:
                return None  # another worker holds this queue right now
            conn.execute(INSERT_QUEUE, {"queue": head.queue})  # lost (e.g. restored data): recreate it
            return now
        paused_until = state[0][0]
        if paused_until is not None and paused_until > now:
            return float(paused_until)
        # Only the queue's oldest active message may go, and only when none of its messages is in flight.
        if run(cursor, sql.ahead, (head.queue, head.seq, head.seq)):
            return None
        since = now - window
        [(live, flying)] = run(cursor, sql.recent_counts, (head.queue, since))
        wait = ratelimit.next_slot_counted(int(live), int(flying),
                                           lambda k: self._nth_finished(cursor, head.queue, since, k, now=now),
                                           limit=limit, window=window, now=now)
        if wait is not None:
            return RateWait(wait)
        lease_cols = leased(now, lease)
        taken = run(cursor, sql.take, (lease_cols["lease_until"], lease_cols["lease_owner"], now, head.seq, now))
        if len(taken) != 1:
            return None
        send_id = run(cursor, sql.log_send, (head.queue, now))[0][0]
        return self._taken(conn, Row(*taken[0]), int(send_id), now=now, lease=lease)

    def _nth_finished(self, cursor: Any, queue: str, since: float, k: int, *, now: float) -> float:
        """The finish time of ``queue``'s ``k``-th oldest send finished after ``since``. On PostgreSQL the count
        before it was a statement of its own: if that send is gone meanwhile, ``now`` (the claim then waits a
        whole window, never too early)."""
        rows = self._sql.run(cursor, self._sql.nth_finished, (queue, since, k))
        return float(rows[0][0]) if rows else now

    def _taken(self, conn: Connection, row: Any, send_id: int, *, now: float, lease: float) -> Claim:
        """The claim of the head ``row`` just taken (its send logged as ``send_id``)."""
        if row.digest_id is not None and row.digest_id != row.id:
            # The head of a digest that failed before: the whole batch goes again, as the same digest.
            conn.execute(update(messages).where(
                messages.c.digest_id == row.digest_id, messages.c.seq != row.seq,
                messages.c.status.in_(WAITING))
                .values(status=Status.SENDING.value, attempts=messages.c.attempts + 1,
                        **leased(now, lease), updated_at=now))
            row = conn.execute(select(messages).where(messages.c.id == row.digest_id)).one()
        return Claim(message=to_message(row), send_id=send_id)

    def following(self, claim: Claim, *, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages waiting right behind ``claim``'s message in its queue, in order."""
        head = claim.message
        with self.db.read() as conn:
            rows = conn.execute(select(messages).where(
                messages.c.queue == head.queue, ACTIVE_SQL, messages.c.seq > head.seq,
                messages.c.status.in_(WAITING), messages.c.digest_id.is_(None))
                .order_by(messages.c.seq).limit(limit)).all()
        return [to_message(r) for r in rows]

    def claim_digest(self, claim: Claim, digest: NewMessage, carried: Sequence[StoredMessage], *, now: float,
                     lease: float) -> Claim:
        """Claim a batch: ``carried`` (``claim``'s head, then the messages waiting right behind it, as
        :meth:`following` lists them) go out as ``digest``.

        The digest is stored as a message of its own, ``sending`` under ``claim``'s rate-window reservation (one
        send), and every carried message is ``sending`` with ``digest_id`` pointing at it. Finish the returned claim
        as any other: that finishes the batch. If a carried message changed meanwhile, ``claim`` comes back as is.
        """
        head = claim.message
        others = [m.seq for m in carried if m.seq != head.seq]
        digest_id = new_id()
        try:
            with self.db.tx() as conn:
                marked = conn.execute(update(messages).where(
                    messages.c.seq == head.seq, messages.c.status == Status.SENDING.value,
                    messages.c.digest_id.is_(None)).values(digest_id=digest_id)).rowcount
                if others:  # the waiting messages from the head to the last carried: ``carried``, if unchanged
                    marked += conn.execute(update(messages).where(
                        messages.c.queue == head.queue, messages.c.seq > head.seq, messages.c.seq <= max(others),
                        messages.c.status.in_(WAITING), messages.c.digest_id.is_(None))
                        .values(status=Status.SENDING.value, attempts=messages.c.attempts + 1,
                                **leased(now, lease), updated_at=now, digest_id=digest_id)).rowcount
                if marked != len(others) + 1:
                    raise _Changed
                conn.execute(insert(messages).values(
                    id=digest_id, queue=head.queue, robot=digest.robot or head.robot, target_url=None,
                    source=digest.source, msgtype=digest.msgtype, title=digest.title[:200], payload=digest.payload,
                    status=Status.SENDING.value, attempts=1, next_attempt_at=now, **leased(now, lease),
                    created_at=now, updated_at=now, fingerprint=digest.fingerprint, digest_id=digest_id))
                row = conn.execute(select(messages).where(messages.c.id == digest_id)).one()
        except _Changed:
            return claim
        return Claim(message=to_message(row), send_id=claim.send_id)
