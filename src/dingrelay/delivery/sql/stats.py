"""Every queue at a glance, for ``/metrics`` and the dashboard: :func:`robot_stats`.

One statement reads every queue's row of ``dr_queue_state`` (its pause) with, per queue, index probes only: its
depth and oldest active message through the partial index ``dr_messages_head``, the sends of its current rate
window through ``dr_sends_queue``, and its delivered and dead messages of the last 24 h through
``dr_messages_active`` from the first message accepted since then. That first message is found by a binary search
on the primary key (``created_at`` grows with ``seq``: both follow acceptance), so the cost follows the number of
queues and of the last day's messages, never the number of messages stored. sessionWebhook queues are summed into
one entry, ``session``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.engine import Connection

from ..metrics import SESSION, robot_label
from ..model import RobotStats, Status
from .engines import Database
from .tables import ACTIVE_SQL, messages, queue_state, sends

#: The rate window of a queue ``windows`` does not name (sessionWebhooks: DingTalk's 20 per minute).
DEFAULT_WINDOW = 60.0
DAY = 86400.0


def _count(*where: Any) -> Any:
    return select(func.count()).select_from(messages).where(*where).scalar_subquery()


def _sends(queue: Any, *where: Any) -> Any:
    """Two index ranges (in flight; finished within the window) rather than one ``OR`` that reads every row."""
    return select(func.count()).select_from(sends).where(sends.c.queue == queue, *where).scalar_subquery()


def _statement(now: float, low: int, windows: Mapping[str, float]) -> Any:
    q = queue_state.c.queue
    window = case(dict(windows), value=q, else_=literal(DEFAULT_WINDOW)) if windows else literal(DEFAULT_WINDOW)
    return select(
        q, queue_state.c.paused_until, queue_state.c.pause_reason,
        _count(messages.c.queue == q, ACTIVE_SQL).label("depth"),
        select(messages.c.created_at).where(messages.c.queue == q, ACTIVE_SQL).order_by(messages.c.seq).limit(1)
        .scalar_subquery().label("oldest"),
        (_sends(q, sends.c.finished_at.is_(None)) + _sends(q, sends.c.finished_at > now - window))
        .label("window_sends"),
        _count(messages.c.status == Status.DELIVERED.value, messages.c.queue == q, messages.c.seq >= low)
        .label("delivered"),
        _count(messages.c.status == Status.DEAD.value, messages.c.queue == q, messages.c.seq >= low).label("dead"),
    ).order_by(q)


def first_seq_since(conn: Connection, since: float) -> int:
    """A ``seq`` from which on every message was accepted at ``since`` or later (binary search on the key)."""
    lo, hi = conn.execute(select(func.min(messages.c.seq), func.max(messages.c.seq))).one()
    if lo is None:
        return 0
    lo, hi = int(lo), int(hi) + 1   # the answer lies in [lo, hi]; hi: none of them is that recent
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(select(messages.c.seq, messages.c.created_at).where(messages.c.seq >= mid)
                           .order_by(messages.c.seq).limit(1)).first()
        if row is None or row.created_at >= since:
            hi = mid
        else:
            lo = int(row.seq) + 1
    return lo


def robot_stats(db: Database, now: float, windows: Mapping[str, float] | None = None) -> list[RobotStats]:
    """Each queue's :class:`RobotStats`, robots by name and sessionWebhooks together as ``session``. ``windows``:
    each robot's rate window in seconds (default :data:`DEFAULT_WINDOW`)."""
    with db.read() as conn:
        low = first_seq_since(conn, now - DAY)
        rows = conn.execute(_statement(now, low, windows or {})).all()
    out: dict[str, RobotStats] = {}
    for r in rows:
        paused = r.paused_until if r.paused_until is not None and r.paused_until > now else None
        stats = RobotStats(
            queue=robot_label(r.queue), depth=int(r.depth),
            oldest_age_seconds=None if r.oldest is None else max(0.0, now - float(r.oldest)),
            paused_until=paused, pause_reason=r.pause_reason if paused is not None else None,
            window_sends=int(r.window_sends), delivered_24h=int(r.delivered), dead_24h=int(r.dead))
        out[stats.queue] = _merge(out[stats.queue], stats) if stats.queue in out else stats
    return list(out.values())


def _merge(a: RobotStats, b: RobotStats) -> RobotStats:
    """Two sessionWebhook queues as one :data:`SESSION` entry: sums, the oldest age, the latest pause."""
    ages = [x for x in (a.oldest_age_seconds, b.oldest_age_seconds) if x is not None]
    pause = max((a, b), key=lambda s: s.paused_until or 0.0)
    return RobotStats(queue=SESSION, depth=a.depth + b.depth, oldest_age_seconds=max(ages) if ages else None,
                      paused_until=pause.paused_until, pause_reason=pause.pause_reason,
                      window_sends=a.window_sends + b.window_sends, delivered_24h=a.delivered_24h + b.delivered_24h,
                      dead_24h=a.dead_24h + b.dead_24h)
