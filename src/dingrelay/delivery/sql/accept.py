"""Accepting messages: group commit, idempotency keys, suppression of repeats. A 2xx to a sender means
:meth:`Acceptor.enqueue` committed.

Group commit: requests arriving while another request's transaction is open are written together in the next
transaction, so concurrent senders share one commit (on SQLite, shared with the outcomes of sends: :mod:`.writes`).
Each caller still returns only after the transaction holding its messages has committed.

Suppression compares with what was last shown: a message is a repeat when the latest message with its
``repeat_key`` (what it is about, on which robot or pool) accepted within the window that was not suppressed and
did not die (so delivered, waiting, in flight or carried by a digest) has its ``fingerprint`` (what it says). A
repeat is stored ``suppressed`` with ``duplicate_of`` that message, and counted on it (``duplicates``). So
firing, resolved, firing again are three messages; firing twice is one, counted twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..model import SESSION_PREFIX, NewMessage, Status, StoredMessage
from ..store import StorageUnavailable
from .engines import Database, driver_errors, unreachable
from .group import Batches
from .inserts import InsertMessages
from .reads import get_many
from .rows import new_id
from .tables import idempotency_keys, messages, queue_state

if TYPE_CHECKING:
    from .writes import SharedWrites

#: How long an idempotency key returns its first request's messages.
IDEMPOTENCY_SECONDS = 24 * 3600

_INSERT_IDEMPOTENCY = insert(idempotency_keys)
INSERT_QUEUE = insert(queue_state)
SELECT_QUEUE = select(queue_state.c.queue).where(queue_state.c.queue == bindparam("q"))
_SELECT_QUEUE_FOR_UPDATE = SELECT_QUEUE.with_for_update()
_LOCK_QUEUES = (f"SELECT queue FROM {queue_state.name} WHERE queue = ANY(%s) "  # noqa: S608 (our own name)
                "ORDER BY queue COLLATE \"C\" FOR UPDATE")   # Python's order of str
#: The messages shown (or to be shown) lately for some repeat keys, oldest first: one range of dr_messages_repeat
#: per key.
_SHOWN = (select(messages.c.repeat_key, messages.c.fingerprint, messages.c.id)
          .where(messages.c.repeat_key.in_(bindparam("keys", expanding=True)),
                 messages.c.created_at >= bindparam("since"),
                 messages.c.status.not_in([Status.SUPPRESSED.value, Status.DEAD.value]))
          .order_by(messages.c.seq))
_COUNT_DUPLICATE = (update(messages).where(messages.c.id == bindparam("original"))
                    .values(duplicates=messages.c.duplicates + bindparam("n")))


@dataclass
class _Job:
    """One enqueue call waiting for its group commit."""

    new: list[NewMessage]
    now: float
    idempotency: tuple[str, str] | None
    suppress_seconds: float = 0.0
    result: tuple[list[StoredMessage], bool] | None = None
    error: Exception | None = None


class Acceptor:
    """Writes new messages; tells ``notify`` which queues got some."""

    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None], *,
                 writes: SharedWrites | None = None) -> None:
        self.db = db
        self.notify = notify
        # group commit: all that waits, together (with ``writes``, SQLite: beside the outcomes of sends)
        self._batches: Batches[Any] = writes.join(_Job, self) if writes is not None else Batches(self._write_batch)
        self._known_queues: set[str] = set()
        self._insert_rows: Callable[[Any, Sequence[dict[str, Any]]], list[int]] = InsertMessages(
            db.engine.dialect)

    def forget_queues(self) -> None:
        self._known_queues.clear()

    def enqueue(self, new: Sequence[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None,
                suppress_seconds: float = 0.0) -> tuple[list[StoredMessage], bool]:
        """Store ``new`` atomically. With ``idempotency=(source, key)`` seen in the last 24 h, store nothing and
        return the first request's messages. Returns (messages, created).

        With ``suppress_seconds``, a repeat (see the module docstring) of what was shown within that many seconds
        is stored ``suppressed``, never sent.
        """
        job = _Job(list(new), now, idempotency, suppress_seconds)
        self._batches.run(job)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        if job.result[1]:
            self.notify(frozenset(m.queue for m in job.result[0] if m.status is Status.QUEUED))
        return job.result

    def _write_batch(self, batch: list[_Job]) -> None:
        """Write ``batch`` in one transaction. If the database refuses it, write each job again in a transaction
        of its own, so only the job it refuses fails and its neighbours still commit; unless the database is
        unreachable: then the jobs left fail alike, without waiting on the database for each."""
        failure = self._write_together(batch)
        if failure is not None and len(batch) > 1:
            for job in batch:
                failure = self._write_together([job])
                if failure is not None and unreachable(failure):
                    break  # the jobs not yet re-run keep the batch's error

    def _write_together(self, jobs: list[_Job]) -> Exception | None:
        """Write ``jobs`` in one transaction: each gets its result, or all get the error, which is returned."""
        for job in jobs:
            job.result, job.error = None, None
        try:
            built = self.prepare(jobs)
            if built is not None:   # every row of the batch in one call: a few statements in all
                with self.db.raw_tx() as raw:
                    seqs = self.write_raw(raw, built)
                self.settle(jobs, built, seqs)
                return None
            queues = sorted({m.queue for job in jobs for m in job.new})
            with self.db.tx() as conn:
                self._ensure_queues(conn, queues)
                for job in jobs:
                    if job.idempotency is None:
                        job.result = (self._insert(job, conn.connection, conn), True)
                        continue
                    try:
                        with conn.begin_nested():
                            job.result = self._write_idempotent(conn, job)
                    except IntegrityError:
                        # Another process stored the same key meanwhile: answer with its messages.
                        existing = _idempotent(conn, job.idempotency, job.now)
                        if existing is None:
                            job.error = StorageUnavailable("the idempotency key could not be recorded; retry")
                        else:
                            job.result = (get_many(conn, existing), False)
        except Exception as exc:  # the whole transaction is gone: every job in it gets the error
            self.fail(jobs, exc)
            return exc
        return None

    commit = _write_batch   # as a part of :class:`.writes.SharedWrites`

    def prepare(self, jobs: list[_Job]) -> list[list[dict[str, Any]]] | None:
        """Each job's rows when the batch is plain (:meth:`_plain`): all it writes is their insert, on the DBAPI
        connection; else ``None``."""
        if not self._plain(jobs, sorted({m.queue for job in jobs for m in job.new})):
            return None
        return [self._rows(job) for job in jobs]

    def write_raw(self, raw: Any, built: list[list[dict[str, Any]]]) -> list[int]:
        return self._insert_rows(raw, [row for rows in built for row in rows])

    def settle(self, jobs: list[_Job], built: list[list[dict[str, Any]]], seqs: list[int]) -> None:
        it = iter(seqs)
        for job, rows in zip(jobs, built, strict=True):
            job.result, job.error = (_stored(rows, [next(it) for _ in rows], job.now), True), None

    def fail(self, jobs: list[_Job], exc: Exception) -> None:
        """Every job refused with ``exc``: its whole transaction is gone."""
        # their queues' state rows may have been rolled back with it
        self._known_queues.difference_update({m.queue for job in jobs for m in job.new})
        error = (StorageUnavailable(f"the database refused the write ({type(exc.orig).__name__})")
                 if isinstance(exc, DBAPIError) else exc)
        for job in jobs:
            job.result, job.error = None, error

    def _write_idempotent(self, conn: Connection, job: _Job) -> tuple[list[StoredMessage], bool]:
        assert job.idempotency is not None
        existing = _idempotent(conn, job.idempotency, job.now)
        if existing is not None:
            return get_many(conn, existing), False
        stored = self._insert(job, conn.connection, conn)
        conn.execute(_INSERT_IDEMPOTENCY, {"source": job.idempotency[0], "key": job.idempotency[1],
                                           "message_ids": json.dumps([m.id for m in stored]),
                                           "created_at": job.now})
        return stored, True

    def _plain(self, jobs: Sequence[_Job], queues: Sequence[str]) -> bool:
        """True when ``jobs`` need nothing but their inserts: SQLite, queues whose state row exists, no
        idempotency key, no repeat suppression. Those are written on the DBAPI connection alone
        (:meth:`.Database.raw_tx`): their inserts (:mod:`.inserts`), with the outcomes of sends queued beside them
        when those are plain too (:mod:`.writes`)."""
        return (not self.db.postgres and all(q in self._known_queues for q in queues)
                and all(job.idempotency is None and job.suppress_seconds <= 0 for job in jobs))

    def _insert(self, job: _Job, dbapi_conn: Any, conn: Connection | None = None) -> list[StoredMessage]:
        """Insert ``job``'s messages on ``dbapi_conn``; with ``suppress_seconds``, repeats are found through
        ``conn`` (the SQLAlchemy connection of the same transaction) first."""
        rows = self._rows(job)
        if not rows:
            return []
        if job.suppress_seconds > 0:
            assert conn is not None, "suppression reads through SQLAlchemy (never a plain batch)"
            _suppress(conn, rows, since=job.now - job.suppress_seconds)
        return _stored(rows, self._insert_rows(dbapi_conn, rows), job.now)

    @staticmethod
    def _rows(job: _Job) -> list[dict[str, Any]]:
        now = job.now
        return [
            {"id": new_id(), "queue": m.queue, "robot": m.robot, "target_url": m.target_url, "source": m.source,
             "msgtype": m.msgtype, "title": m.title[:200], "payload": m.payload, "status": Status.QUEUED.value,
             "attempts": 0, "next_attempt_at": now, "expires_at": m.expires_at, "created_at": now,
             "updated_at": now, "fingerprint": m.fingerprint, "duplicate_of": None, "duplicates": 0,
             "repeat_key": repeat_key(m), "fallback": m.fallback}
            for m in job.new]

    def _ensure_queues(self, conn: Connection, queues: Sequence[str]) -> None:
        """:meth:`_ensure_queue` for each of ``queues`` (sorted). On PostgreSQL the rows that exist are locked by one
        statement, in ``queue`` order (the order one at a time would take them, so two batches cannot deadlock), and
        only the missing ones go one at a time."""
        if not self.db.postgres or len(queues) < 2:
            for q in queues:
                self._ensure_queue(conn, q)
            return
        cursor = conn.connection.cursor()
        try:
            with driver_errors(conn.dialect, _LOCK_QUEUES):
                cursor.execute(_LOCK_QUEUES, (list(queues),))
                locked = {r[0] for r in cursor.fetchall()}
        finally:
            cursor.close()
        for q in queues:
            if q in locked:
                if not q.startswith(SESSION_PREFIX):
                    self._known_queues.add(q)
            else:
                self._ensure_queue(conn, q)

    def _ensure_queue(self, conn: Connection, queue: str) -> None:
        """Create the queue's state row if needed and hold it until commit (PostgreSQL; SQLite has one writer).

        PostgreSQL hands out ``seq`` at insert time, not at commit: without the lock, a request that drew a
        lower ``seq`` but committed later would jump ahead of a message accepted before it.
        """
        postgres = self.db.postgres
        if queue in self._known_queues and not postgres:
            return   # never a session queue's: retention removes their rows when idle (.retention)
        row = _SELECT_QUEUE_FOR_UPDATE if postgres else SELECT_QUEUE
        if conn.execute(row, {"q": queue}).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(INSERT_QUEUE, {"queue": queue})
            except IntegrityError:
                conn.execute(row, {"q": queue})  # a concurrent request created it: wait for it like any other
        if not queue.startswith(SESSION_PREFIX):
            self._known_queues.add(queue)


def repeat_key(m: NewMessage) -> str | None:
    """``m``'s repeat key: the caller's, else its fingerprint on its queue (``None``: no fingerprint, no repeats)."""
    if m.repeat_key is not None:
        return m.repeat_key
    if not m.fingerprint:
        return None
    return hashlib.sha256(f"{m.queue}\n{m.fingerprint}".encode()).hexdigest()


def _suppress(conn: Connection, rows: list[dict[str, Any]], *, since: float) -> None:
    """Mark the rows whose key's latest shown message (stored, or an earlier row) says the same as suppressed."""
    keys = list({r["repeat_key"] for r in rows if r["repeat_key"] and r["fingerprint"]})
    if not keys:
        return
    found = conn.execute(_SHOWN, {"keys": keys, "since": since}).all()
    latest: dict[str, tuple[str | None, str]] = {f.repeat_key: (f.fingerprint, f.id) for f in found}  # last wins
    mine = {r["id"]: r for r in rows}
    counted: dict[str, int] = {}
    for r in rows:
        key = r["repeat_key"]
        if not key or not r["fingerprint"]:
            continue
        shown = latest.get(key)
        if shown is None or shown[0] != r["fingerprint"]:
            latest[key] = (r["fingerprint"], r["id"])   # this one will be shown: the next compares with it
            continue
        original = shown[1]
        r["status"], r["duplicate_of"] = Status.SUPPRESSED.value, original
        if original in mine:
            mine[original]["duplicates"] += 1
        else:
            counted[original] = counted.get(original, 0) + 1
    if counted:
        conn.execute(_COUNT_DUPLICATE, [{"original": o, "n": n} for o, n in counted.items()])


def _idempotent(conn: Connection, key: tuple[str, str], now: float) -> list[str] | None:
    row = conn.execute(select(idempotency_keys.c.message_ids, idempotency_keys.c.created_at).where(
        idempotency_keys.c.source == key[0], idempotency_keys.c.key == key[1])).first()
    if row is None:
        return None
    if row.created_at < now - IDEMPOTENCY_SECONDS:
        conn.execute(delete(idempotency_keys).where(idempotency_keys.c.source == key[0],
                                                  idempotency_keys.c.key == key[1]))
        return None
    return list(json.loads(row.message_ids))


def _stored(rows: Sequence[dict[str, Any]], seqs: Sequence[int], now: float) -> list[StoredMessage]:
    """The messages ``rows`` became, stored with ``seqs``."""
    return [StoredMessage(
        id=r["id"], seq=int(seq), queue=r["queue"], robot=r["robot"], target_url=r["target_url"],
        source=r["source"], msgtype=r["msgtype"], title=r["title"], payload=r["payload"],
        status=Status(r["status"]), attempts=0, next_attempt_at=now, expires_at=r["expires_at"],
        last_errcode=None, last_error=None, created_at=now, updated_at=now, delivered_at=None,
        fingerprint=r["fingerprint"], duplicate_of=r["duplicate_of"], duplicates=r["duplicates"],
        repeat_key=r["repeat_key"], fallback=r["fallback"])
        for r, seq in zip(rows, seqs, strict=True)]


