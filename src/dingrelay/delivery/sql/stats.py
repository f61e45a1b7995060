"""Reports that cost O(robots), not O(stored messages): ``counts`` for ``/healthz`` and the bots, ``robot_stats``
for ``/metrics`` and the dashboard.

Each number is an index probe or an index range count: messages waiting or in flight through the indexes that lead
with the active statuses (their number is bounded by the backlog, not by the history kept); messages that ended in
the last 24 h through ``dr_messages_ended`` (status, updated_at, queue), which covers the count; a queue's oldest
active message is the head of the partial index ``dr_messages_head``; the rate window from the send log's index.
However many delivered messages retention keeps, none of them is read.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.engine import Connection

from ..model import ACTIVE, FINISHED, SESSION_ROBOT, RobotStats, Status
from .engines import Database
from .history import in_queues_of, is_session
from .tables import ACTIVE_SQL, ENDED_SQL, messages, queue_state, sends

DAY = 86400.0
_ACTIVE = [s.value for s in ACTIVE]
_ENDED = [s.value for s in FINISHED]

_COUNT_ACTIVE = (select(messages.c.status, func.count()).where(messages.c.status.in_(_ACTIVE))
                 .group_by(messages.c.status))
_COUNT_ENDED = (select(messages.c.status, func.count())
                .where(ENDED_SQL, messages.c.status.in_(_ENDED), messages.c.updated_at >= bindparam("since"))
                .group_by(messages.c.status))
_ENDED_BY_QUEUE = (select(messages.c.queue, messages.c.status, func.count())
                   .where(ENDED_SQL, messages.c.status.in_([Status.DELIVERED.value, Status.DEAD.value]),
                          messages.c.updated_at >= bindparam("since"))
                   .group_by(messages.c.queue, messages.c.status))


class Stats:
    def __init__(self, db: Database) -> None:
        self.db = db

    def counts(self, now: float) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        with self.db.read() as conn:
            out.update({r[0]: int(r[1]) for r in conn.execute(_COUNT_ACTIVE).all()})
            out.update({r[0]: int(r[1]) for r in conn.execute(_COUNT_ENDED, {"since": now - DAY}).all()})
        return out

    def robot_stats(self, now: float, windows: Mapping[str, float]) -> list[RobotStats]:
        with self.db.read() as conn:
            ended: dict[tuple[str, str], int] = {}
            for queue, status, n in conn.execute(_ENDED_BY_QUEUE, {"since": now - DAY}).all():
                key = (SESSION_ROBOT if is_session(queue) else queue, status)
                ended[key] = ended.get(key, 0) + int(n)
            return [_one(conn, robot, window, now, ended) for robot, window in windows.items()]


def _one(conn: Connection, robot: str, window: float, now: float, ended: Mapping[tuple[str, str], int]
         ) -> RobotStats:
    in_queue = in_queues_of(robot)
    by_status = {str(status): int(n) for status, n in conn.execute(
        select(messages.c.status, func.count()).where(messages.c.status.in_(_ACTIVE), in_queue)
        .group_by(messages.c.status)).all()}
    if robot == SESSION_ROBOT:
        oldest = conn.execute(select(func.min(messages.c.created_at)).where(in_queue, ACTIVE_SQL)).scalar()
        state = conn.execute(select(queue_state.c.paused_until, queue_state.c.pause_reason)
                             .where(in_queues_of(robot, queue_state.c.queue), queue_state.c.paused_until > now)
                             .order_by(queue_state.c.paused_until.desc()).limit(1)).first()
    else:
        oldest = conn.execute(select(messages.c.created_at).where(in_queue, ACTIVE_SQL)
                              .order_by(messages.c.seq).limit(1)).scalar()
        state = conn.execute(select(queue_state.c.paused_until, queue_state.c.pause_reason)
                             .where(queue_state.c.queue == robot)).first()
    in_window = or_(sends.c.finished_at.is_(None), sends.c.finished_at > now - window)
    window_sends = conn.execute(select(func.count()).select_from(sends)
                                .where(in_queues_of(robot, sends.c.queue), in_window)).scalar_one()
    paused = state is not None and state.paused_until is not None and state.paused_until > now
    return RobotStats(
        robot=robot, depth=sum(by_status.values()), sending=int(by_status.get("sending", 0)),
        oldest_created_at=None if oldest is None else float(oldest),
        paused_until=float(state.paused_until) if paused and state is not None else None,
        pause_reason=state.pause_reason if paused and state is not None else None,
        window_sends=int(window_sends), delivered_24h=ended.get((robot, Status.DELIVERED.value), 0),
        dead_24h=ended.get((robot, Status.DEAD.value), 0))
