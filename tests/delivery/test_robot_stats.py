"""The reports behind /healthz, /metrics and the dashboard's overview, on every backend: each robot's queue depth,
oldest waiting message, pause, rate window and last 24 h, and the message counts; they read index ranges only."""

from __future__ import annotations

from delivery_helpers import T0, msg
from worker_helpers import SESSION_WEBHOOK, put

from dingrelay.delivery.model import SESSION_ROBOT, Claim, RobotStats
from dingrelay.delivery.sql import SqlStore

DAY = 86400.0
WINDOWS = {"ops": 60.0, "dev": 60.0, "idle": 60.0, SESSION_ROBOT: 60.0}


def claim(store: SqlStore, queue: str, now: float) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    c = store.claim(head, now=now, limit=1000, window=60.0, lease=60.0)
    assert isinstance(c, Claim)
    return c


def test_each_robots_live_state(store: SqlStore) -> None:
    put(store, "监控 old", now=T0 - 2 * DAY)
    store.delivered(claim(store, "ops", T0 - 2 * DAY), now=T0 - 2 * DAY)   # before the last 24 h: not counted
    put(store, "监控 1", "监控 2", "监控 3", "监控 4", now=T0)
    store.delivered(claim(store, "ops", T0), now=T0 + 1)
    store.dead(claim(store, "ops", T0 + 1), now=T0 + 2, errcode=300001, error="no such token")
    claim(store, "ops", T0 + 100)                                             # in flight
    put(store, "dev 1", "dev 2", queue="dev", now=T0 + 5)
    store.pause(claim(store, "dev", T0 + 5), now=T0 + 6, until=T0 + 606, errcode=130101, error="throttled")
    put(store, "收到", queue="session:a", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400, now=T0 + 50)
    put(store, "收到", queue="session:b", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400, now=T0 + 40)

    stats = store.robot_stats(T0 + 110, WINDOWS)

    assert stats == [
        RobotStats("ops", depth=2, sending=1, oldest_created_at=T0, paused_until=None, pause_reason=None,
                   window_sends=1, delivered_24h=1, dead_24h=1),   # sends before T0 + 50 are out of the window
        RobotStats("dev", depth=2, sending=0, oldest_created_at=T0 + 5, paused_until=T0 + 606,
                   pause_reason="throttled", window_sends=0, delivered_24h=0, dead_24h=0),
        RobotStats("idle", depth=0, sending=0, oldest_created_at=None, paused_until=None, pause_reason=None,
                   window_sends=0, delivered_24h=0, dead_24h=0),
        RobotStats(SESSION_ROBOT, depth=2, sending=0, oldest_created_at=T0 + 40, paused_until=None,
                   pause_reason=None, window_sends=0, delivered_24h=0, dead_24h=0),
    ]
    assert stats[0].oldest_age(T0 + 110) == 110
    assert store.robot_stats(T0 + 606, {"dev": 60.0})[0].paused_until is None   # the pause is over


def test_session_queues_count_together_as_one_robot(store: SqlStore) -> None:
    for key in ("a", "b", "c"):
        put(store, "收到", queue=f"session:{key}", target_url=SESSION_WEBHOOK, expires_at=T0 + 5400)
    store.delivered(claim(store, "session:a", T0), now=T0 + 1)
    store.dead(claim(store, "session:b", T0), now=T0 + 1, errcode=300001, error="session expired")

    [session] = store.robot_stats(T0 + 2, {SESSION_ROBOT: 60.0})

    assert (session.depth, session.delivered_24h, session.dead_24h, session.window_sends) == (1, 1, 1, 2)


def test_counts_are_what_waits_now_and_what_ended_in_the_last_24_hours(store: SqlStore) -> None:
    put(store, "监控 1", "监控 2", now=T0)
    store.delivered(claim(store, "ops", T0), now=T0)
    store.enqueue([msg("监控 x", fingerprint="x")], now=T0)
    store.enqueue([msg("监控 x", fingerprint="x")], now=T0 + 1, suppress_seconds=300)

    today = store.counts(T0 + 10)
    tomorrow = store.counts(T0 + DAY + 10)

    assert today == {"queued": 2, "sending": 0, "retrying": 0, "delivered": 1, "dead": 0, "suppressed": 1}
    assert tomorrow == {"queued": 2, "sending": 0, "retrying": 0, "delivered": 0, "dead": 0, "suppressed": 0}
