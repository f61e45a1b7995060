"""Reading messages and reporting on queues: the status API, ``/healthz``, the bots' ``status`` command, pools.

Every read goes through :func:`reading` (:meth:`Database.read`: on SQLite a snapshot that never waits for
writers), except :func:`get_many`, which reads inside a writer's transaction. A database that cannot answer raises
:class:`~dingrelay.delivery.store.StorageUnavailable`, as a failed write does, so callers answer 503, not 500.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..model import QueueState, StoredMessage
from ..store import StorageUnavailable
from .claimsql import RawSql
from .engines import Database
from .rows import to_message
from .tables import ACTIVE_SQL, messages, queue_state

_SELECT_BY_IDS = select(messages).where(messages.c.id.in_(bindparam("ids", expanding=True)))


def get_many(conn: Connection, ids: Iterable[str]) -> list[StoredMessage]:
    """The messages of ``ids`` that exist, in the order of ``ids``."""
    ids = list(ids)
    rows = conn.execute(_SELECT_BY_IDS, {"ids": ids}).all()
    by_id = {r.id: to_message(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


@contextlib.contextmanager
def reading(db: Database) -> Iterator[Connection]:
    """A read connection; the database's failures come out as :class:`StorageUnavailable` (no parameters in it)."""
    try:
        with db.read() as conn:
            yield conn
    except DBAPIError as exc:
        raise StorageUnavailable(f"the database could not be read ({type(exc.orig).__name__})") from None


class Reads:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql = RawSql(db.engine.dialect)

    def ping(self) -> None:
        """Raise unless the database answers."""
        with reading(self.db) as conn:
            conn.execute(text("SELECT 1"))

    def get(self, message_id: str) -> StoredMessage | None:
        with reading(self.db) as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
        return to_message(row) if row else None

    def backlog(self, queue: str) -> int:
        """How many messages of ``queue`` wait for delivery (queued, retrying or sending)."""
        return self.backlogs([queue]).get(queue, 0)

    def backlogs(self, queues: Sequence[str]) -> dict[str, int]:
        """:meth:`backlog` of each of ``queues``, in one query (as text on the DBAPI cursor: the worker reads it for
        every batch it claims)."""
        queues = list(queues)
        if not queues:
            return {}
        sql = self._sql
        marks = ", ".join([sql.mark] * len(queues))
        statement = (f"SELECT queue, count(*) FROM {messages.name} WHERE queue IN ({marks}) "  # noqa: S608
                     f"AND {ACTIVE_SQL.text} GROUP BY queue")   # our own names and marks, no input
        with reading(self.db) as conn:
            cursor = conn.connection.cursor()
            try:
                rows = sql.run(cursor, statement, tuple(queues))
            finally:
                cursor.close()
        return {q: 0 for q in queues} | {r[0]: int(r[1]) for r in rows}

    def carried(self, digest_id: str) -> list[StoredMessage]:
        """The messages a digest carries, in queue order (not the digest itself)."""
        with reading(self.db) as conn:
            rows = conn.execute(select(messages).where(messages.c.digest_id == digest_id,
                                                       messages.c.id != digest_id).order_by(messages.c.seq)).all()
        return [to_message(r) for r in rows]

    def messages_for(self, queue: str | None = None, *, limit: int = 100) -> list[StoredMessage]:
        q = select(messages).order_by(messages.c.seq.desc()).limit(limit)
        if queue:
            q = q.where(messages.c.queue == queue)
        with reading(self.db) as conn:
            return [to_message(r) for r in conn.execute(q).all()]

    def queues(self, now: float) -> list[QueueState]:
        with reading(self.db) as conn:
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
