"""Retention: forgetting what no one needs any more, in small batches, and giving SQLite's free pages back.

One :func:`prune` call is a few short transactions, each touching at most ``limit`` rows, so the write lock is never
held long and the worker's claims and outcomes slip in between:

- messages delivered or suppressed before ``delivered_before`` and dead before ``dead_before``, with their attempts.
  A digest goes only with (or after) every message still pointing at it, so a carried message never names a
  digest that is gone;
- idempotency keys older than 24 h (they no longer answer anyway);
- the rate limit's send log older than 24 h;
- sessionWebhook queues' state rows with nothing waiting and no pause (the next reply to that session makes its
  row again: the acceptor never caches a session queue's row). On PostgreSQL the rows are locked ``SKIP LOCKED``
  and checked again under the lock, so a reply being accepted right then keeps its queue;
- audit entries older than :data:`AUDIT_SECONDS`;
- on SQLite with ``auto_vacuum=INCREMENTAL``: ``PRAGMA incremental_vacuum`` while more than an eighth of the file is
  free pages, at most :data:`VACUUM_PAGES` a call. A file made before dingrelay set that mode reuses its free
  pages (it stops growing) but never shrinks until one :func:`vacuum` converts it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.engine import Connection

from ..model import SESSION_ROBOT, Pruned, Status
from .accept import IDEMPOTENCY_SECONDS
from .engines import MEMORY_URLS, Database
from .history import in_queues_of
from .tables import ACTIVE_SQL, ENDED_SQL, attempts, audit, idempotency_keys, messages, queue_state, sends

log = logging.getLogger("dingrelay.storage")

SEND_LOG_SECONDS = 86400.0
AUDIT_SECONDS = 365 * 86400.0
VACUUM_PAGES = 2048
INCREMENTAL = 2   # PRAGMA auto_vacuum's value for INCREMENTAL


class Pruning:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._said_no_vacuum = False

    def prune(self, *, now: float, delivered_before: float | None, dead_before: float | None,
              limit: int = 500) -> Pruned:
        n_messages, n_attempts, more = self._messages(now, delivered_before, dead_before, limit)
        keys, more_keys = self._idempotency(now, limit)
        n_sends, more_sends = self._sends(now, limit)
        sessions, more_sessions = self._session_queues(now, limit)
        n_audit, more_audit = self._audit(now, limit)
        pages, more_pages = self._vacuum()
        return Pruned(messages=n_messages, attempts=n_attempts, idempotency_keys=keys, sends=n_sends,
                      session_queues=sessions, audit=n_audit, vacuumed_pages=pages,
                      more=more or more_keys or more_sends or more_sessions or more_audit or more_pages)

    def _messages(self, now: float, delivered_before: float | None, dead_before: float | None, limit: int
                  ) -> tuple[int, int, bool]:
        classes = [([Status.DELIVERED.value, Status.SUPPRESSED.value], delivered_before),
                   ([Status.DEAD.value], dead_before)]
        with self.db.tx() as conn:
            rows: list[Any] = []
            for statuses, before in classes:
                if before is None or len(rows) >= limit:
                    continue
                rows += conn.execute(select(messages.c.seq, messages.c.id, messages.c.digest_id).where(
                    ENDED_SQL, messages.c.status.in_(statuses), messages.c.updated_at < before)
                    .limit(limit - len(rows))).all()
            if not rows:
                return 0, 0, False
            seqs = [r.seq for r in rows]
            digests = [r.id for r in rows if r.digest_id == r.id]
            if digests:   # a digest waits for the messages still pointing at it
                held = set(conn.execute(select(messages.c.digest_id).where(
                    messages.c.digest_id.in_(digests), messages.c.seq.not_in(seqs)).distinct()).scalars().all())
                rows = [r for r in rows if r.id not in held]
            if not rows:
                return 0, 0, False
            n_attempts = conn.execute(delete(attempts).where(attempts.c.message_id.in_([r.id for r in rows])))
            n_messages = conn.execute(delete(messages).where(messages.c.seq.in_([r.seq for r in rows])))
            return int(n_messages.rowcount), int(n_attempts.rowcount), len(seqs) >= limit

    def _idempotency(self, now: float, limit: int) -> tuple[int, bool]:
        with self.db.tx() as conn:
            old = conn.execute(select(idempotency_keys.c.source, idempotency_keys.c.key)
                               .where(idempotency_keys.c.created_at < now - IDEMPOTENCY_SECONDS)
                               .limit(limit)).all()
            by_source: dict[str, list[str]] = {}
            for source, key in old:
                by_source.setdefault(source, []).append(key)
            # One primary-key probe per key: SQLite scans the whole table for a row-value IN (source, key).
            for source, keys in by_source.items():
                conn.execute(delete(idempotency_keys).where(idempotency_keys.c.source == source,
                                                            idempotency_keys.c.key.in_(keys)))
        return len(old), len(old) >= limit

    def _sends(self, now: float, limit: int) -> tuple[int, bool]:
        with self.db.tx() as conn:
            old = conn.execute(select(sends.c.id).where(sends.c.finished_at < now - SEND_LOG_SECONDS)
                               .limit(limit)).scalars().all()
            if old:
                conn.execute(delete(sends).where(sends.c.id.in_(old)))
        return len(old), len(old) >= limit

    def _session_queues(self, now: float, limit: int) -> tuple[int, bool]:
        busy = exists().where(messages.c.queue == queue_state.c.queue, ACTIVE_SQL)
        idle = (select(queue_state.c.queue)
                .where(in_queues_of(SESSION_ROBOT, queue_state.c.queue), ~busy,
                       or_(queue_state.c.paused_until.is_(None), queue_state.c.paused_until <= now))
                .limit(limit))
        with self.db.tx() as conn:
            if self.db.postgres:
                idle = idle.with_for_update(skip_locked=True)
            found = list(conn.execute(idle).scalars().all())
            if found and self.db.postgres:   # under the lock, a fresh snapshot: a reply committed meanwhile counts
                found = sorted(set(found) - _busy(conn, found))
            if found:
                conn.execute(delete(queue_state).where(queue_state.c.queue.in_(found)))
        return len(found), len(found) >= limit

    def _audit(self, now: float, limit: int) -> tuple[int, bool]:
        with self.db.tx() as conn:
            old = conn.execute(select(audit.c.id).where(audit.c.at < now - AUDIT_SECONDS)
                               .limit(limit)).scalars().all()
            if old:
                conn.execute(delete(audit).where(audit.c.id.in_(old)))
        return len(old), len(old) >= limit

    def _vacuum(self) -> tuple[int, bool]:
        if self.db.dialect != "sqlite" or self.db.url in MEMORY_URLS:
            return 0, False
        with self.db.read() as conn:
            mode, free, pages = (int(conn.exec_driver_sql(f"PRAGMA {p}").scalar_one())
                                 for p in ("auto_vacuum", "freelist_count", "page_count"))
        if mode != INCREMENTAL:
            if not self._said_no_vacuum:
                self._said_no_vacuum = True
                log.info("this SQLite file was made without incremental auto-vacuum: retention's freed pages are "
                         "reused, but the file does not shrink; run `dingrelay db vacuum` once while dingrelay "
                         "is stopped")
            return 0, False
        excess = free - pages // 8
        if excess <= 0:
            return 0, False
        n = min(excess, VACUUM_PAGES)
        self.db.script(f"PRAGMA incremental_vacuum({n})")
        return n, excess > n


def _busy(conn: Connection, queues: list[str]) -> set[str]:
    return set(conn.execute(select(messages.c.queue).where(messages.c.queue.in_(queues), ACTIVE_SQL)
                            .distinct()).scalars().all())


def vacuum(url: str) -> tuple[int, int]:
    """Rewrite the SQLite file at ``url`` with ``auto_vacuum=INCREMENTAL`` (a full VACUUM: run it while no
    dingrelay process uses the file). Returns the file's size in pages before and after."""
    db = Database(url)
    try:
        if db.dialect != "sqlite":
            raise ValueError("only SQLite files need this; PostgreSQL reclaims space with its autovacuum")
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            before = int(cur.execute("PRAGMA page_count").fetchone()[0])
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cur.execute("VACUUM")
            after = int(cur.execute("PRAGMA page_count").fetchone()[0])
            cur.close()
        finally:
            raw.close()
        return before, after
    finally:
        db.close()

