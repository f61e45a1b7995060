"""The durable queue on SQLAlchemy 2 (SQLite in WAL mode by default; the same code runs on PostgreSQL).

This is the only module that knows SQL. A 2xx to a sender means :meth:`SqlStore.enqueue` committed.

Each queue (a robot, or one sessionWebhook) delivers in acceptance order: only its oldest active message may be
sent, and only one at a time. Claiming locks the queue's ``queue_state`` row (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite transactions start ``BEGIN IMMEDIATE``), so several workers never exceed a robot's rate.

A digest (:mod:`.digest`) is a message row of its own whose ``digest_id`` is its own id; the messages it carries
(its queue's head and those right behind it) point at it with ``digest_id``. They all change status together:
finishing a digest's claim finishes every row of the batch, and a retried batch is claimed again through its
head, so the same digest is re-sent. A message repeating a recent one (same ``fingerprint``, same queue) is
stored ``suppressed`` with ``duplicate_of``, and counted on the original (``duplicates``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from . import ratelimit
from .model import ACTIVE, Claim, NewMessage, QueueState, Status, StoredMessage

metadata = MetaData()
_BigInt = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "dr_messages", metadata,
    Column("seq", _BigInt, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("queue", String(200), nullable=False),
    Column("robot", String(100)),
    Column("target_url", Text),
    Column("source", String(100)),
    Column("msgtype", String(20), nullable=False),
    Column("title", String(200), nullable=False, default=""),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_until", Float),
    Column("lease_owner", String(120)),   # host:pid of the process sending it
    Column("expires_at", Float),
    Column("last_errcode", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("fingerprint", String(64)),
    Column("digest_id", String(32)),
    Column("duplicate_of", String(32)),
    Column("duplicates", Integer, nullable=False, default=0, server_default=text("0")),
)
Index("dr_messages_active", messages.c.status, messages.c.queue, messages.c.seq)
# Literal, so SQLite and PostgreSQL can prove a query uses this partial index: finding a queue's head (its oldest
# active message) costs one index probe however many delivered messages the table holds.
_ACTIVE_SQL = text("status IN ('queued', 'retrying', 'sending')")
Index("dr_messages_head", messages.c.queue, messages.c.seq, sqlite_where=_ACTIVE_SQL, postgresql_where=_ACTIVE_SQL)
_IN_DIGEST = text("digest_id IS NOT NULL")
Index("dr_messages_digest", messages.c.digest_id, sqlite_where=_IN_DIGEST, postgresql_where=_IN_DIGEST)
Index("dr_messages_fingerprint", messages.c.fingerprint, messages.c.created_at)

idempotency_keys = Table(
    "dr_idempotency", metadata,
    Column("source", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_ids", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

queue_state = Table(
    "dr_queue_state", metadata,
    Column("queue", String(200), primary_key=True),
    Column("paused_until", Float),
    Column("pause_reason", Text),
)

sends = Table(
    "dr_sends", metadata,
    Column("id", _BigInt, primary_key=True, autoincrement=True),
    Column("queue", String(200), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("dr_sends_queue", sends.c.queue, sends.c.finished_at)

IDEMPOTENCY_SECONDS = 24 * 3600


class StorageUnavailable(Exception):
    """The database could not store or read; callers should answer 503 so senders retry."""


_INSERT_MESSAGES = insert(messages).returning(messages.c.seq, sort_by_parameter_order=True)
_INSERT_IDEMPOTENCY = insert(idempotency_keys)
_INSERT_QUEUE = insert(queue_state)
_SELECT_QUEUE = select(queue_state.c.queue).where(queue_state.c.queue == bindparam("q"))
_SELECT_QUEUE_FOR_UPDATE = _SELECT_QUEUE.with_for_update()
_HEAD_SEQ = (select(messages.c.seq).where(messages.c.queue == queue_state.c.queue, _ACTIVE_SQL)
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
_SELECT_BY_IDS = select(messages).where(messages.c.id.in_(bindparam("ids", expanding=True)))
_ORIGINALS = (select(messages.c.queue, messages.c.fingerprint, messages.c.id)
              .where(messages.c.fingerprint.in_(bindparam("fps", expanding=True)),
                     messages.c.created_at >= bindparam("since"),
                     messages.c.status.not_in([Status.SUPPRESSED.value, Status.DEAD.value]))
              .order_by(messages.c.seq))
_COUNT_DUPLICATE = (update(messages).where(messages.c.id == bindparam("original"))
                    .values(duplicates=messages.c.duplicates + bindparam("n")))
_WAITING = (Status.QUEUED.value, Status.RETRYING.value)


@dataclass
class _Job:
    """One enqueue call waiting for its group commit."""

    new: list[NewMessage]
    now: float
    idempotency: tuple[str, str] | None
    suppress_seconds: float = 0.0
    result: tuple[list[StoredMessage], bool] | None = None
    error: Exception | None = None
    finished: bool = False


class Store(Protocol):
    """What the gateway needs from storage; one contract test suite runs against every backend."""

    def enqueue(self, new: Sequence[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None,
                suppress_seconds: float = 0.0) -> tuple[list[StoredMessage], bool]: ...
    def get(self, message_id: str) -> StoredMessage | None: ...
    def due_heads(self, now: float) -> list[StoredMessage]: ...
    def claim(self, head: StoredMessage, *, now: float, limit: int, window: float, lease: float
              ) -> Claim | float | None: ...
    def backlog(self, queue: str) -> int: ...
    def backlogs(self, queues: Sequence[str]) -> dict[str, int]: ...
    def following(self, claim: Claim, *, limit: int) -> list[StoredMessage]: ...
    def claim_digest(self, claim: Claim, digest: NewMessage, carried: Sequence[StoredMessage], *, now: float,
                     lease: float) -> Claim: ...
    def carried(self, digest_id: str) -> list[StoredMessage]: ...
    def delivered(self, claim: Claim, *, now: float) -> None: ...
    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str) -> None: ...
    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str) -> None: ...
    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str) -> None: ...
    def recover(self, *, now: float) -> int: ...
    def active_queues(self) -> set[str]: ...
    def next_wake(self, now: float) -> float | None: ...
    def queues(self, now: float) -> list[QueueState]: ...
    def counts(self) -> dict[str, int]: ...


def _owner() -> str:
    """Who holds a lease: this host and process (read at claim time, so it is right after a fork)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _leased(now: float, lease: float) -> dict[str, Any]:
    return {"lease_until": now + lease, "lease_owner": _owner()}


_RELEASED: dict[str, Any] = {"lease_until": None, "lease_owner": None}


def _owner_is_gone(owner: str | None) -> bool:
    """True when ``owner`` names a process of this host that has exited."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_id() -> str:
    return secrets.token_hex(10)


class SqlStore:
    """:class:`Store` on SQLAlchemy Core. ``url`` is any SQLAlchemy URL (sqlite:///…, postgresql+psycopg://…)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.engine = _engine(url)
        memory = url in ("sqlite://", "sqlite:///:memory:")
        # SQLite: reads go through their own engine (snapshots that never take the write lock), and writers of
        # this process queue on a lock instead of sleeping in SQLite's busy handler.
        self._reader = _engine(url, writer=False) if self.dialect == "sqlite" and not memory else self.engine
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext())
        self._listeners: list[Callable[[frozenset[str] | None], None]] = []
        self._listeners_lock = threading.Lock()
        self._pending: list[_Job] = []
        self._pending_lock = threading.Lock()
        self._leader = threading.Lock()
        self._known_queues: set[str] = set()
        if create:
            metadata.create_all(self.engine)
            self._add_missing_columns()
            for index in messages.indexes:  # databases made by an older version lack newer indexes
                index.create(self.engine, checkfirst=True)

    def _add_missing_columns(self) -> None:
        """Databases made by an older version lack newer (nullable or defaulted) columns of dr_messages."""
        have = {c["name"] for c in inspect(self.engine).get_columns(messages.name)}
        missing = [c for c in messages.columns if c.name not in have]
        if not missing:
            return
        with self._tx() as conn:
            for c in missing:
                default = " DEFAULT 0 NOT NULL" if c.name == "duplicates" else ""
                conn.exec_driver_sql(f"ALTER TABLE {messages.name} ADD COLUMN {c.name} "
                                     f"{c.type.compile(self.engine.dialect)}{default}")

    def close(self) -> None:
        self.engine.dispose()
        if self._reader is not self.engine:
            self._reader.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    # -- notifications (in-process: lets the worker start at once instead of polling) --------------------

    def subscribe(self, listener: Callable[[frozenset[str] | None], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, queues: frozenset[str] | None = None) -> None:
        """Tell listeners something changed: ``queues`` got new messages, or (``None``) a send finished or a
        message left its queue."""
        for listener in list(self._listeners):
            listener(queues)

    # -- accepting ---------------------------------------------------------------------------------------

    def enqueue(self, new: Sequence[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None,
                suppress_seconds: float = 0.0) -> tuple[list[StoredMessage], bool]:
        """Store ``new`` atomically. With ``idempotency=(source, key)`` seen in the last 24 h, store nothing and
        return the first request's messages. Returns (messages, created).

        With ``suppress_seconds``, a message whose fingerprint matches a message to the same queue accepted
        within that many seconds (not suppressed itself, not dead) is stored ``suppressed``, never sent.

        Group commit: requests arriving while another request's transaction is open are written together in
        the next transaction, so concurrent senders share one commit. Each caller still returns only after
        the transaction holding its messages has committed.
        """
        job = _Job(list(new), now, idempotency, suppress_seconds)
        with self._pending_lock:
            self._pending.append(job)
        with self._leader:
            if not job.finished:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._write_batch(batch)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        if job.result[1]:
            self._notify(frozenset(m.queue for m in job.result[0] if m.status is Status.QUEUED))
        return job.result

    def _write_batch(self, batch: list[_Job]) -> None:
        try:
            with self._tx() as conn:
                for q in sorted({m.queue for job in batch for m in job.new}):
                    self._ensure_queue(conn, q)
                for job in batch:
                    if job.idempotency is None:
                        job.result = (self._insert(conn, job), True)
                        continue
                    try:
                        with conn.begin_nested():
                            job.result = self._write_idempotent(conn, job)
                    except IntegrityError:
                        # Another process stored the same key meanwhile: answer with its messages.
                        existing = self._idempotent(conn, job.idempotency, job.now)
                        if existing is None:
                            job.error = StorageUnavailable("the idempotency key could not be recorded; retry")
                        else:
                            job.result = (self._get_many(conn, existing), False)
        except Exception as exc:  # the whole transaction is gone: every caller in the batch gets the error
            error = (StorageUnavailable(f"the database refused the write ({type(exc.orig).__name__})")
                     if isinstance(exc, DBAPIError) else exc)
            for job in batch:
                job.result, job.error = None, error
        finally:
            for job in batch:
                job.finished = True

    def _write_idempotent(self, conn: Connection, job: _Job) -> tuple[list[StoredMessage], bool]:
        assert job.idempotency is not None
        existing = self._idempotent(conn, job.idempotency, job.now)
        if existing is not None:
            return self._get_many(conn, existing), False
        stored = self._insert(conn, job)
        conn.execute(_INSERT_IDEMPOTENCY, {"source": job.idempotency[0], "key": job.idempotency[1],
                                           "message_ids": json.dumps([m.id for m in stored]),
                                           "created_at": job.now})
        return stored, True

    def _insert(self, conn: Connection, job: _Job) -> list[StoredMessage]:
        if not job.new:
            return []
        now = job.now
        rows: list[dict[str, Any]]
        rows = [{"id": new_id(), "queue": m.queue, "robot": m.robot, "target_url": m.target_url, "source": m.source,
                 "msgtype": m.msgtype, "title": m.title[:200], "payload": m.payload, "status": Status.QUEUED.value,
                 "attempts": 0, "next_attempt_at": now, "expires_at": m.expires_at, "created_at": now,
                 "updated_at": now, "fingerprint": m.fingerprint, "duplicate_of": None, "duplicates": 0}
                for m in job.new]
        if job.suppress_seconds > 0:
            self._suppress(conn, rows, since=now - job.suppress_seconds)
        seqs = conn.execute(_INSERT_MESSAGES, rows).scalars().all()
        return [StoredMessage(
            id=r["id"], seq=int(seq), queue=r["queue"], robot=r["robot"], target_url=r["target_url"],
            source=r["source"], msgtype=r["msgtype"], title=r["title"], payload=r["payload"],
            status=Status(r["status"]), attempts=0, next_attempt_at=now, expires_at=r["expires_at"],
            last_errcode=None, last_error=None, created_at=now, updated_at=now, delivered_at=None,
            fingerprint=r["fingerprint"], duplicate_of=r["duplicate_of"], duplicates=r["duplicates"])
            for r, seq in zip(rows, seqs, strict=True)]

    def _suppress(self, conn: Connection, rows: list[dict[str, Any]], *, since: float) -> None:
        """Mark the rows that repeat a recent message of their queue (or an earlier row) as suppressed."""
        fingerprints = list({r["fingerprint"] for r in rows if r["fingerprint"]})
        if not fingerprints:
            return
        found = conn.execute(_ORIGINALS, {"fps": fingerprints, "since": since}).all()
        originals: dict[tuple[str, str], str] = {(f.queue, f.fingerprint): f.id for f in found}  # the latest wins
        mine = {r["id"]: r for r in rows}
        counted: dict[str, int] = {}
        for r in rows:
            if not r["fingerprint"]:
                continue
            original = originals.setdefault((r["queue"], r["fingerprint"]), r["id"])
            if original == r["id"]:
                continue
            r["status"], r["duplicate_of"] = Status.SUPPRESSED.value, original
            if original in mine:
                mine[original]["duplicates"] += 1
            else:
                counted[original] = counted.get(original, 0) + 1
        if counted:
            conn.execute(_COUNT_DUPLICATE, [{"original": o, "n": n} for o, n in counted.items()])

    def _idempotent(self, conn: Connection, key: tuple[str, str], now: float) -> list[str] | None:
        row = conn.execute(select(idempotency_keys.c.message_ids, idempotency_keys.c.created_at).where(
            idempotency_keys.c.source == key[0], idempotency_keys.c.key == key[1])).first()
        if row is None:
            return None
        if row.created_at < now - IDEMPOTENCY_SECONDS:
            conn.execute(delete(idempotency_keys).where(idempotency_keys.c.source == key[0],
                                                      idempotency_keys.c.key == key[1]))
            return None
        return list(json.loads(row.message_ids))

    def _ensure_queue(self, conn: Connection, queue: str) -> None:
        """Create the queue's state row if needed and hold it until commit (PostgreSQL; SQLite has one writer).

        PostgreSQL hands out ``seq`` at insert time, not at commit: without the lock, a request that drew a
        lower ``seq`` but committed later would jump ahead of a message accepted before it.
        """
        postgres = self.dialect == "postgresql"
        if queue in self._known_queues and not postgres:
            return
        row = _SELECT_QUEUE_FOR_UPDATE if postgres else _SELECT_QUEUE
        if conn.execute(row, {"q": queue}).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(_INSERT_QUEUE, {"queue": queue})
            except IntegrityError:
                conn.execute(row, {"q": queue})  # a concurrent request created it: wait for it like any other
        self._known_queues.add(queue)

    # -- reading -----------------------------------------------------------------------------------------

    def get(self, message_id: str) -> StoredMessage | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
        return _row(row) if row else None

    def _get_many(self, conn: Connection, ids: Iterable[str]) -> list[StoredMessage]:
        ids = list(ids)
        rows = conn.execute(_SELECT_BY_IDS, {"ids": ids}).all()
        by_id = {r.id: _row(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def backlog(self, queue: str) -> int:
        """How many messages of ``queue`` wait for delivery (queued, retrying or sending)."""
        return self.backlogs([queue]).get(queue, 0)

    def backlogs(self, queues: Sequence[str]) -> dict[str, int]:
        with self._reader.connect() as conn:
            rows = conn.execute(select(messages.c.queue, func.count()).where(
                messages.c.queue.in_(list(queues)), _ACTIVE_SQL).group_by(messages.c.queue)).all()
        return {q: 0 for q in queues} | {r[0]: int(r[1]) for r in rows}

    def carried(self, digest_id: str) -> list[StoredMessage]:
        """The messages a digest carries, in queue order (not the digest itself)."""
        with self._reader.connect() as conn:
            rows = conn.execute(select(messages).where(messages.c.digest_id == digest_id,
                                                       messages.c.id != digest_id).order_by(messages.c.seq)).all()
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._reader.connect() as conn:
            rows = conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
        out = {s.value: 0 for s in Status}
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def messages_for(self, queue: str | None = None, *, limit: int = 100) -> list[StoredMessage]:
        q = select(messages).order_by(messages.c.seq.desc()).limit(limit)
        if queue:
            q = q.where(messages.c.queue == queue)
        with self._reader.connect() as conn:
            return [_row(r) for r in conn.execute(q).all()]

    def queues(self, now: float) -> list[QueueState]:
        with self._reader.connect() as conn:
            counts = conn.execute(
                select(messages.c.queue, messages.c.status, func.count())
                .group_by(messages.c.queue, messages.c.status)).all()
            states = {r.queue: r for r in conn.execute(select(queue_state)).all()}
            has_error = messages.c.last_error.is_not(None)
            latest = (select(messages.c.queue, func.max(messages.c.updated_at).label("at"))
                      .where(has_error).group_by(messages.c.queue).subquery())
            last_errors: dict[str, str] = {}
            for r in conn.execute(select(messages.c.queue, messages.c.last_error)
                                  .join(latest, and_(messages.c.queue == latest.c.queue,
                                                     messages.c.updated_at == latest.c.at))
                                  .where(has_error).order_by(messages.c.seq.desc())).all():
                last_errors.setdefault(r.queue, r.last_error)
        per: dict[str, dict[str, int]] = {}
        for q, status, n in counts:
            per.setdefault(q, {})[status] = int(n)
        for q in states:
            per.setdefault(q, {})
        out = []
        for q, c in sorted(per.items()):
            st = states.get(q)
            paused = st.paused_until if st is not None and st.paused_until and st.paused_until > now else None
            out.append(QueueState(queue=q, backlog=c.get("queued", 0) + c.get("retrying", 0),
                                  sending=c.get("sending", 0), paused_until=paused,
                                  last_error=last_errors.get(q), counts=c))
        return out

    # -- delivering --------------------------------------------------------------------------------------

    def due_heads(self, now: float) -> list[StoredMessage]:
        """The oldest active message of each queue, when it is due and its queue is not paused or busy."""
        with self._reader.connect() as conn:
            return [_row(r) for r in conn.execute(_DUE_HEADS, {"now": now}).all()]

    def active_queues(self) -> set[str]:
        """The queues that have a message waiting or in flight."""
        with self._reader.connect() as conn:
            return set(conn.execute(_ACTIVE_QUEUES).scalars().all())

    def next_wake(self, now: float) -> float | None:
        """The earliest future time at which some queue's head becomes due (ignores rate windows)."""
        with self._reader.connect() as conn:
            t = conn.execute(_NEXT_DUE, {"now": now}).scalar()
            p = conn.execute(_NEXT_UNPAUSE, {"now": now}).scalar()
        times = [x for x in (t, p) if x is not None]
        return min(times) if times else None

    def claim(self, head: StoredMessage, *, now: float, limit: int, window: float, lease: float
              ) -> Claim | float | None:
        """Take ``head`` for sending if its robot's budget allows.

        Returns the :class:`Claim`; or the time a rate slot frees up; or ``None`` when another worker holds the
        queue or the message is no longer the due head.
        """
        with self._tx() as conn:
            lock = select(queue_state.c.paused_until).where(queue_state.c.queue == head.queue)
            if self.dialect == "postgresql":
                lock = lock.with_for_update(skip_locked=True)
            state = conn.execute(lock).first()
            if state is None:
                if conn.execute(_SELECT_QUEUE, {"q": head.queue}).first() is not None:
                    return None  # another worker holds this queue right now
                conn.execute(_INSERT_QUEUE, {"queue": head.queue})  # lost (e.g. restored data): recreate it
                return now
            if state.paused_until is not None and state.paused_until > now:
                return float(state.paused_until)
            # Only the queue's oldest active message may go, and only when none of its messages is in flight.
            ahead = conn.execute(select(messages.c.seq).where(
                messages.c.queue == head.queue, messages.c.seq != head.seq, _ACTIVE_SQL,
                or_(messages.c.seq < head.seq, messages.c.status == Status.SENDING.value)).limit(1)).first()
            if ahead is not None:
                return None
            recent = conn.execute(select(sends.c.finished_at).where(
                sends.c.queue == head.queue,
                or_(sends.c.finished_at.is_(None), sends.c.finished_at > now - window))).scalars().all()
            wait = ratelimit.next_slot(recent, limit=limit, window=window, now=now)
            if wait is not None:
                return wait
            taken = conn.execute(
                update(messages)
                .where(messages.c.seq == head.seq,
                       messages.c.status.in_([Status.QUEUED.value, Status.RETRYING.value]),
                       messages.c.next_attempt_at <= now)
                .values(status=Status.SENDING.value, attempts=messages.c.attempts + 1,
                        **_leased(now, lease), updated_at=now))
            if taken.rowcount != 1:
                return None
            send_id = conn.execute(insert(sends).values(queue=head.queue, started_at=now)
                                   .returning(sends.c.id)).scalar_one()
            row = conn.execute(select(messages).where(messages.c.seq == head.seq)).one()
            if row.digest_id is not None and row.digest_id != row.id:
                # The head of a digest that failed before: the whole batch goes again, as the same digest.
                conn.execute(update(messages).where(
                    messages.c.digest_id == row.digest_id, messages.c.seq != head.seq,
                    messages.c.status.in_(_WAITING))
                    .values(status=Status.SENDING.value, attempts=messages.c.attempts + 1,
                            **_leased(now, lease), updated_at=now))
                row = conn.execute(select(messages).where(messages.c.id == row.digest_id)).one()
        return Claim(message=_row(row), send_id=int(send_id))

    def following(self, claim: Claim, *, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages waiting right behind ``claim``'s message in its queue, in order."""
        head = claim.message
        with self._reader.connect() as conn:
            rows = conn.execute(select(messages).where(
                messages.c.queue == head.queue, _ACTIVE_SQL, messages.c.seq > head.seq,
                messages.c.status.in_(_WAITING), messages.c.digest_id.is_(None))
                .order_by(messages.c.seq).limit(limit)).all()
        return [_row(r) for r in rows]

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
            with self._tx() as conn:
                marked = conn.execute(update(messages).where(
                    messages.c.seq == head.seq, messages.c.status == Status.SENDING.value,
                    messages.c.digest_id.is_(None)).values(digest_id=digest_id)).rowcount
                if others:  # the waiting messages from the head to the last carried: ``carried``, if unchanged
                    marked += conn.execute(update(messages).where(
                        messages.c.queue == head.queue, messages.c.seq > head.seq, messages.c.seq <= max(others),
                        messages.c.status.in_(_WAITING), messages.c.digest_id.is_(None))
                        .values(status=Status.SENDING.value, attempts=messages.c.attempts + 1,
                                **_leased(now, lease), updated_at=now, digest_id=digest_id)).rowcount
                if marked != len(others) + 1:
                    raise _Changed
                conn.execute(insert(messages).values(
                    id=digest_id, queue=head.queue, robot=digest.robot or head.robot, target_url=None,
                    source=digest.source, msgtype=digest.msgtype, title=digest.title[:200], payload=digest.payload,
                    status=Status.SENDING.value, attempts=1, next_attempt_at=now, **_leased(now, lease),
                    created_at=now, updated_at=now, fingerprint=digest.fingerprint, digest_id=digest_id))
                row = conn.execute(select(messages).where(messages.c.id == digest_id)).one()
        except _Changed:
            return claim
        return Claim(message=_row(row), send_id=claim.send_id)

    def _finish(self, conn: Connection, claim: Claim, now: float, **values: Any) -> None:
        """Finish ``claim``'s message; for a digest, every message of its batch (finish a batch)."""
        m = claim.message
        target = (and_(messages.c.digest_id == m.id, messages.c.status == Status.SENDING.value) if m.is_digest
                  else messages.c.seq == m.seq)
        conn.execute(update(sends).where(sends.c.id == claim.send_id).values(finished_at=now))
        conn.execute(update(messages).where(target).values(updated_at=now, **_RELEASED, **values))
        # Keep the send log short: rows older than a day can no longer matter to any window.
        if claim.send_id % 500 == 0:
            conn.execute(delete(sends).where(sends.c.finished_at < now - 86400))

    def delivered(self, claim: Claim, *, now: float) -> None:
        with self._tx() as conn:
            self._finish(conn, claim, now, status=Status.DELIVERED.value, delivered_at=now)
        self._notify()

    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str) -> None:
        with self._tx() as conn:
            self._finish(conn, claim, now, status=Status.RETRYING.value, next_attempt_at=at,
                         last_errcode=errcode, last_error=error)
        self._notify()

    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str) -> None:
        """The robot is throttled: keep the message queued (the attempt does not count) and pause its queue."""
        with self._tx() as conn:
            self._finish(conn, claim, now, status=Status.RETRYING.value, next_attempt_at=until,
                         attempts=messages.c.attempts - 1, last_errcode=errcode, last_error=error)
            conn.execute(update(queue_state).where(queue_state.c.queue == claim.message.queue)
                         .values(paused_until=until, pause_reason=error))
        self._notify()

    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str) -> None:
        with self._tx() as conn:
            if isinstance(claim, Claim):
                self._finish(conn, claim, now, status=Status.DEAD.value, last_errcode=errcode, last_error=error)
            else:
                conn.execute(update(messages).where(
                    messages.c.seq == claim.seq, messages.c.status.in_([s.value for s in ACTIVE]))
                    .values(status=Status.DEAD.value, updated_at=now, last_errcode=errcode, last_error=error))
        self._notify()

    def recover(self, *, now: float) -> int:
        """After a crash: messages left ``sending`` past their lease, or by a process of this host that no longer
        exists (a gateway killed with -9 and restarted), go back to the queue (at-least-once); their send-log
        entries are closed as finishing now (the conservative choice for the rate window)."""
        with self._tx() as conn:
            sending = conn.execute(select(messages.c.seq, messages.c.queue, messages.c.lease_until,
                                          messages.c.lease_owner).where(
                messages.c.status == Status.SENDING.value)).all()
            stale = [r for r in sending
                     if r.lease_until is None or r.lease_until <= now or _owner_is_gone(r.lease_owner)]
            if stale:
                conn.execute(update(messages).where(messages.c.seq.in_([r.seq for r in stale]))
                             .values(status=Status.RETRYING.value, next_attempt_at=now, **_RELEASED,
                                     updated_at=now, last_error="interrupted while sending; retried"))
                conn.execute(update(sends).where(
                    sends.c.queue.in_({r.queue for r in stale}), sends.c.finished_at.is_(None))
                    .values(finished_at=now))
        if stale:
            self._notify()
        return len(stale)

    def release_pause(self, queue: str) -> None:
        with self._tx() as conn:
            conn.execute(update(queue_state).where(queue_state.c.queue == queue)
                         .values(paused_until=None, pause_reason=None))
        self._notify()

    def delete_all(self) -> None:
        """Empty every table (tests and the demo reset)."""
        self._known_queues.clear()
        with self._tx() as conn:
            for t in (messages, idempotency_keys, queue_state, sends):
                conn.execute(delete(t))


class _Changed(Exception):
    """A batch's messages changed under a claim (the transaction is rolled back)."""


def _row(r: Any) -> StoredMessage:
    return StoredMessage(
        id=r.id, seq=int(r.seq), queue=r.queue, robot=r.robot, target_url=r.target_url, source=r.source,
        msgtype=r.msgtype, title=r.title, payload=bytes(r.payload), status=Status(r.status),
        attempts=int(r.attempts), next_attempt_at=float(r.next_attempt_at), expires_at=r.expires_at,
        last_errcode=r.last_errcode, last_error=r.last_error, created_at=float(r.created_at),
        updated_at=float(r.updated_at), delivered_at=r.delivered_at, fingerprint=r.fingerprint,
        digest_id=r.digest_id, duplicate_of=r.duplicate_of, duplicates=int(r.duplicates or 0))


def _engine(url: str, *, writer: bool = True) -> Engine:
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a killed process (kill -9); only an OS crash may lose the
            # last transactions.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the write lock up front (no SQLITE_BUSY on lock upgrade); readers take a snapshot
            # and never block writers (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


__all__ = ["SqlStore", "StorageUnavailable", "Store"]
