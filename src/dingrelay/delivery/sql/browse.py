"""The dashboard on SQL: :class:`Browse` implements :class:`~dingrelay.delivery.browse.Dashboard`.

Reads go through :meth:`Database.read`; every query is bounded by an index: a page of messages walks the primary
key (``seq``) newest first, the overview reads each robot's active messages through the partial head index, its
send log through ``dr_sends_queue`` and its last 24 h through ``dr_messages_recent``. Actions are one write
transaction each, with their audit entry; a message in flight (``sending``) is never touched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..browse import DAY_SECONDS, AuditEntry, HookSample, MessageFilter, Page, RobotRow
from ..model import Status
from .engines import Database
from .rows import RELEASED, to_message
from .tables import ACTIVE_SQL, audit, hook_samples, messages, queue_state, sends, ui_keys

WAITING = (Status.QUEUED.value, Status.RETRYING.value)
_IS_DIGEST = messages.c.digest_id == messages.c.id
_SESSION_KEY = "session"


def _where(f: MessageFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if f.status:
        found.append(messages.c.status == f.status)
    if f.robot:
        found.append(messages.c.queue == f.robot)
    if f.source:
        found.append(messages.c.source == f.source)
    if f.since is not None:
        found.append(messages.c.created_at >= f.since)
    if f.until is not None:
        found.append(messages.c.created_at < f.until)
    if f.text:
        found.append(messages.c.title.icontains(f.text, autoescape=True))
    return found


class Browse:
    def __init__(self, db: Database, notify: Callable[[frozenset[str] | None], None]) -> None:
        self.db = db
        self.notify = notify

    # -- reading ---------------------------------------------------------------------------------------------

    def search(self, f: MessageFilter, *, before: int | None = None, limit: int = 50) -> Page:
        q = select(messages).where(*_where(f))
        if before is not None:
            q = q.where(messages.c.seq < before)
        with self.db.read() as conn:
            rows = conn.execute(q.order_by(messages.c.seq.desc()).limit(limit + 1)).all()
        found = [to_message(r) for r in rows[:limit]]
        return Page(found, found[-1].seq if len(rows) > limit else None)

    def overview(self, windows: Mapping[str, float], *, now: float) -> list[RobotRow]:
        robots = list(windows)
        since = now - DAY_SECONDS
        ours = messages.c.queue.in_(robots)
        with self.db.read() as conn:
            active = {r.queue: r for r in conn.execute(
                select(messages.c.queue, func.count().label("n"), func.min(messages.c.seq).label("head"))
                .where(ours, ACTIVE_SQL).group_by(messages.c.queue)).all()}
            heads = {r.queue: float(r.created_at) for r in conn.execute(
                select(messages.c.queue, messages.c.created_at)
                .where(messages.c.seq.in_([r.head for r in active.values()]))).all()} if active else {}
            states = {r.queue: r for r in conn.execute(
                select(queue_state).where(queue_state.c.queue.in_(robots))).all()}
            in_window = {r: int(conn.execute(select(func.count()).select_from(sends).where(
                sends.c.queue == r, or_(sends.c.finished_at.is_(None), sends.c.finished_at > now - w))).scalar_one())
                for r, w in windows.items()}
            kind = case((and_(messages.c.status == Status.DELIVERED.value, _IS_DIGEST), "digest"),
                        else_=messages.c.status)
            recent: dict[tuple[str, str], int] = {(r.queue, r.kind): int(r.n) for r in conn.execute(
                select(messages.c.queue, kind.label("kind"), func.count().label("n"))
                .where(ours, messages.c.status.in_([Status.DELIVERED.value, Status.DEAD.value,
                                                    Status.SUPPRESSED.value]),
                       messages.c.updated_at >= since)
                .group_by(messages.c.queue, kind)).all()}
        rows = []
        for r in robots:
            st = states.get(r)
            paused = st is not None and st.paused_until is not None and st.paused_until > now
            rows.append(RobotRow(
                robot=r, depth=int(active[r].n) if r in active else 0, oldest_at=heads.get(r),
                paused_until=float(st.paused_until) if paused and st is not None else None,
                pause_reason=st.pause_reason if paused and st is not None else None,
                window_sends=in_window[r], delivered_24h=recent.get((r, Status.DELIVERED.value), 0),
                dead_24h=recent.get((r, Status.DEAD.value), 0), digests_24h=recent.get((r, "digest"), 0),
                suppressed_24h=recent.get((r, Status.SUPPRESSED.value), 0)))
        return rows

    def sends_per_minute(self, robots: Sequence[str], *, now: float, minutes: int = 60) -> dict[str, list[int]]:
        start = now - minutes * 60
        offset = (sends.c.finished_at - start) / 60
        minute = cast(func.floor(offset), Integer) if self.db.postgres else cast(offset, Integer)  # offset >= 0
        with self.db.read() as conn:
            rows = conn.execute(select(sends.c.queue, minute.label("m"), func.count().label("n"))
                                .where(sends.c.queue.in_(list(robots)), sends.c.finished_at >= start,
                                       sends.c.finished_at <= now)
                                .group_by(sends.c.queue, minute)).all()
        out = {r: [0] * minutes for r in robots}
        for r in rows:
            out[r.queue][min(int(r.m), minutes - 1)] += int(r.n)
        return out

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        with self.db.read() as conn:
            rows = conn.execute(select(audit).order_by(audit.c.id.desc()).limit(limit)).all()
        return [AuditEntry(at=float(r.at), who=r.actor, action=r.action, target=r.target, detail=r.detail)
                for r in rows]

    # -- acting ----------------------------------------------------------------------------------------------

    def requeue(self, message_id: str, *, who: str, now: float) -> int:
        """A dead message goes back to its queue, due now, attempts from zero; a dead digest's messages do."""
        with self.db.tx() as conn:
            m = _one(conn, message_id)
            if m is None or m.status != Status.DEAD.value:
                return 0
            target = (and_(messages.c.digest_id == m.id, messages.c.id != m.id) if m.digest_id == m.id
                      else messages.c.seq == m.seq)
            n = _requeue(conn, and_(target, messages.c.status == Status.DEAD.value), now)
            _audit(conn, now, who, "requeue", message_id, f"{n} message(s) back in queue {m.queue}")
        self.notify(frozenset({m.queue}))
        return n

    def requeue_matching(self, f: MessageFilter, *, who: str, now: float) -> int:
        """Every dead message ``f`` matches (not dead digests: what they carried is matched on its own)."""
        with self.db.tx() as conn:
            chosen = and_(*_where(f), messages.c.status == Status.DEAD.value,
                          or_(messages.c.digest_id.is_(None), messages.c.digest_id != messages.c.id))
            queues = set(conn.execute(select(messages.c.queue).where(chosen).distinct()).scalars().all())
            n = _requeue(conn, chosen, now)
            _audit(conn, now, who, "requeue_matching", f.describe(), f"{n} dead message(s) back in their queues")
        if queues:
            self.notify(frozenset(queues))
        return n

    def retry_now(self, message_id: str, *, who: str, now: float) -> int:
        """A message waiting for its next attempt becomes due now (a digest's batch with it)."""
        with self.db.tx() as conn:
            m = _one(conn, message_id)
            if m is None:
                return 0
            n = conn.execute(update(messages).where(_batch(m), messages.c.status.in_(WAITING),
                                                    messages.c.next_attempt_at > now)
                             .values(next_attempt_at=now, updated_at=now)).rowcount
            if n:
                _audit(conn, now, who, "retry_now", message_id, f"due now in queue {m.queue}")
        if n:
            self.notify(frozenset({m.queue}))
        return n

    def cancel(self, message_id: str, *, who: str, now: float) -> int:
        """A waiting message (and the rest of its digest batch) ends dead, saying who cancelled it."""
        with self.db.tx() as conn:
            m = _one(conn, message_id)
            if m is None:
                return 0
            n = conn.execute(update(messages).where(_batch(m), messages.c.status.in_(WAITING))
                             .values(status=Status.DEAD.value, updated_at=now, last_errcode=None,
                                     last_error=f"cancelled in the dashboard by {who}", **RELEASED)).rowcount
            if n:
                _audit(conn, now, who, "cancel", message_id, f"{n} message(s) of queue {m.queue} cancelled")
        if n:
            self.notify(None)
        return n

    def resume(self, robot: str, *, who: str, now: float) -> int:
        """End ``robot``'s pause now; its waiting messages are due at once."""
        with self.db.tx() as conn:
            n = conn.execute(update(queue_state).where(queue_state.c.queue == robot,
                                                       queue_state.c.paused_until > now)
                             .values(paused_until=None, pause_reason=None)).rowcount
            if n:
                conn.execute(update(messages).where(messages.c.queue == robot, messages.c.status.in_(WAITING),
                                                    messages.c.next_attempt_at > now).values(next_attempt_at=now))
                _audit(conn, now, who, "resume", robot, "pause ended")
        if n:
            self.notify(frozenset({robot}))
        return n

    # -- the hooks' payload samples --------------------------------------------------------------------------

    def record_sample(self, hook: str, source: str, body: str, *, now: float, keep: int = 20) -> None:
        mine = and_(hook_samples.c.hook == hook, hook_samples.c.source == source)
        with self.db.tx() as conn:
            conn.execute(insert(hook_samples).values(hook=hook, source=source, received_at=now, body=body))
            old = conn.execute(select(hook_samples.c.id).where(mine).order_by(hook_samples.c.id.desc())
                               .offset(keep)).scalars().all()
            if old:
                conn.execute(delete(hook_samples).where(hook_samples.c.id.in_(old)))

    def samples(self) -> list[HookSample]:
        """Every kept sample, newest first, without its body."""
        with self.db.read() as conn:
            rows = conn.execute(select(hook_samples.c.id, hook_samples.c.hook, hook_samples.c.source,
                                       hook_samples.c.received_at, func.length(hook_samples.c.body).label("size"))
                                .order_by(hook_samples.c.id.desc())).all()
        return [HookSample(id=int(r.id), hook=r.hook, source=r.source, received_at=float(r.received_at),
                           size=int(r.size), body=None) for r in rows]

    def sample(self, sample_id: int) -> HookSample | None:
        with self.db.read() as conn:
            r = conn.execute(select(hook_samples).where(hook_samples.c.id == sample_id)).first()
        return None if r is None else HookSample(id=int(r.id), hook=r.hook, source=r.source,
                                                 received_at=float(r.received_at), size=len(r.body), body=r.body)

    def session_key(self) -> bytes:
        find = select(ui_keys.c.value).where(ui_keys.c.name == _SESSION_KEY)
        with self.db.read() as conn:
            value = conn.execute(find).scalar()
        if value is None:
            try:
                with self.db.tx() as conn:
                    conn.execute(insert(ui_keys).values(name=_SESSION_KEY, value=secrets.token_hex(32)))
            except IntegrityError:
                pass  # another process made it first: use theirs
            with self.db.read() as conn:
                value = conn.execute(find).scalar_one()
        return bytes.fromhex(value)


def _one(conn: Connection, message_id: str) -> Any:
    return conn.execute(select(messages).where(messages.c.id == message_id)).first()


def _batch(m: Any) -> ColumnElement[bool]:
    """``m`` itself, or every message of the digest batch it belongs to (the digest's own row too)."""
    if m.digest_id is not None:
        return messages.c.digest_id == str(m.digest_id)
    return messages.c.seq == int(m.seq)


def _requeue(conn: Connection, where: ColumnElement[bool], now: float) -> int:
    """Back to the queue, due now, attempts from zero, out of any digest; the queues' rows are made if missing
    (the worker finds queue heads through them)."""
    queues = set(conn.execute(select(messages.c.queue).where(where).distinct()).scalars().all())
    have = set(conn.execute(select(queue_state.c.queue).where(queue_state.c.queue.in_(queues))).scalars().all())
    for q in sorted(queues - have):
        conn.execute(insert(queue_state).values(queue=q))
    return int(conn.execute(update(messages).where(where).values(
        status=Status.QUEUED.value, next_attempt_at=now, attempts=0, digest_id=None, updated_at=now,
        **RELEASED)).rowcount)


def _audit(conn: Connection, now: float, who: str, action: str, target: str, detail: str) -> None:
    conn.execute(insert(audit).values(at=now, actor=who[:200], action=action, target=target, detail=detail))
