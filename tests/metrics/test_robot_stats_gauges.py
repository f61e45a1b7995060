"""``Store.robot_stats(now, windows)``, what the queue gauges of ``/metrics`` are read from, on SQLite and PostgreSQL,
with injected times: depth, the oldest waiting message, pauses, the sends of each robot's own rate window, the last
day's delivered and dead messages, sessionWebhook queues summed as ``session``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dingrelay.delivery.model import SESSION_ROBOT, Claim, NewMessage, RobotStats
from dingrelay.delivery.sql import SqlStore

T0 = 1_700_000_000.0
DAY = 86400.0


def _new(queue: str, text: str = "巡检 ok", *, session: bool = False) -> NewMessage:
    payload = json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode()
    if session:
        return NewMessage(queue=queue, payload=payload, msgtype="text", target_url=f"https://example.invalid/{queue}")
    return NewMessage(queue=queue, robot=queue, payload=payload, msgtype="text")


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = SqlStore(store_url)
    yield s
    s.close()


def _claim(store: SqlStore, queue: str, now: float, *, limit: int = 20, window: float = 60.0) -> Claim:
    [head] = [h for h in store.due_heads(now) if h.queue == queue]
    claim = store.claim(head, now=now, limit=limit, window=window, lease=30)
    assert isinstance(claim, Claim)
    return claim


ROBOTS = {"ops": 60.0, "dba": 60.0, SESSION_ROBOT: 60.0}


def _by_queue(store: SqlStore, now: float, windows: dict[str, float] | None = None) -> dict[str, RobotStats]:
    return {s.robot: s for s in store.robot_stats(now, windows or ROBOTS)}


def test_an_empty_store_reports_every_robot_asked_for_as_idle(store: SqlStore) -> None:
    stats = _by_queue(store, T0)
    assert set(stats) == set(ROBOTS)
    assert all((s.depth, s.oldest_age(T0), s.window_sends, s.delivered_24h, s.dead_24h) == (0, None, 0, 0, 0)
               for s in stats.values())


def test_depth_oldest_age_pause_and_window_sends_per_robot(store: SqlStore) -> None:
    store.enqueue([_new("ops")], now=T0)
    store.enqueue([_new("ops"), _new("dba")], now=T0 + 10)
    store.delivered(_claim(store, "ops", T0 + 20), now=T0 + 21)       # ops: one sent, one left
    paused = _claim(store, "dba", T0 + 30)
    store.pause(paused, now=T0 + 31, until=T0 + 631, errcode=130101, error="throttled by DingTalk")

    stats = _by_queue(store, T0 + 40)
    ops, dba = stats["ops"], stats["dba"]
    assert (ops.depth, ops.oldest_age(T0 + 40), ops.paused_until, ops.window_sends) == (1, 30.0, None, 1)
    assert (ops.delivered_24h, ops.dead_24h) == (1, 0)
    assert (dba.depth, dba.oldest_age(T0 + 40), dba.paused_until, dba.pause_reason) == (
        1, 30.0, T0 + 631, "throttled by DingTalk")
    assert dba.window_sends == 1
    # once the pause and the window are over
    later = _by_queue(store, T0 + 700)
    assert (later["dba"].paused_until, later["dba"].pause_reason, later["dba"].window_sends) == (None, None, 0)


def test_window_sends_count_each_robots_own_window(store: SqlStore) -> None:
    store.enqueue([_new("ops"), _new("fast")], now=T0)
    store.delivered(_claim(store, "ops", T0), now=T0 + 1)
    store.delivered(_claim(store, "fast", T0), now=T0 + 1)
    stats = _by_queue(store, T0 + 10, {"ops": 60.0, "fast": 4.0})
    assert (stats["ops"].window_sends, stats["fast"].window_sends) == (1, 0)


def test_delivered_and_dead_count_the_last_day_only(store: SqlStore) -> None:
    store.enqueue([_new("ops")], now=T0)
    store.delivered(_claim(store, "ops", T0), now=T0 + 1)
    store.enqueue([_new("ops"), _new("ops")], now=T0 + DAY + 100)
    store.delivered(_claim(store, "ops", T0 + DAY + 100), now=T0 + DAY + 101)
    store.dead(_claim(store, "ops", T0 + DAY + 102), now=T0 + DAY + 103, errcode=430102, error="refused")
    ops = _by_queue(store, T0 + DAY + 200)["ops"]
    assert (ops.delivered_24h, ops.dead_24h, ops.depth, ops.oldest_age(T0 + DAY + 200)) == (1, 1, 0, None)


def test_session_webhook_queues_are_one_entry_named_session(store: SqlStore) -> None:
    store.enqueue([_new("session:aaa", session=True)], now=T0)
    store.enqueue([_new("session:bbb", session=True), _new("session:bbb", session=True)], now=T0 + 5)
    store.delivered(_claim(store, "session:bbb", T0 + 6), now=T0 + 7)
    s = _by_queue(store, T0 + 10)[SESSION_ROBOT]
    assert (s.depth, s.oldest_age(T0 + 10), s.window_sends, s.delivered_24h) == (2, 10.0, 1, 1)
