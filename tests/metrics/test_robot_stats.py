"""``Store.robot_stats(now)``, what the queue gauges of ``/metrics`` are read from, on SQLite and PostgreSQL, with
injected times: depth, the oldest waiting message, pauses, the sends of each robot's own rate window, the last
day's delivered and dead messages, sessionWebhook queues summed as ``session``; and its cost: index searches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dingrelay.delivery.model import Claim, NewMessage, RobotStats
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.sql.stats import first_seq_since

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


def _by_queue(store: SqlStore, now: float, windows: dict[str, float] | None = None) -> dict[str, RobotStats]:
    return {s.queue: s for s in store.robot_stats(now, windows)}


def test_an_empty_store_has_no_queues(store: SqlStore) -> None:
    assert store.robot_stats(T0) == []


def test_depth_oldest_age_pause_and_window_sends_per_robot(store: SqlStore) -> None:
    store.enqueue([_new("ops")], now=T0)
    store.enqueue([_new("ops"), _new("dba")], now=T0 + 10)
    store.delivered(_claim(store, "ops", T0 + 20), now=T0 + 21)       # ops: one sent, one left
    paused = _claim(store, "dba", T0 + 30)
    store.pause(paused, now=T0 + 31, until=T0 + 631, errcode=130101, error="throttled by DingTalk")

    stats = _by_queue(store, T0 + 40)
    ops, dba = stats["ops"], stats["dba"]
    assert (ops.depth, ops.oldest_age_seconds, ops.paused_until, ops.window_sends) == (1, 30.0, None, 1)
    assert (ops.delivered_24h, ops.dead_24h) == (1, 0)
    assert (dba.depth, dba.oldest_age_seconds, dba.paused_until, dba.pause_reason) == (
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
    assert (ops.delivered_24h, ops.dead_24h, ops.depth, ops.oldest_age_seconds) == (1, 1, 0, None)


def test_session_webhook_queues_are_one_entry_named_session(store: SqlStore) -> None:
    store.enqueue([_new("session:aaa", session=True)], now=T0)
    store.enqueue([_new("session:bbb", session=True), _new("session:bbb", session=True)], now=T0 + 5)
    store.delivered(_claim(store, "session:bbb", T0 + 6), now=T0 + 7)
    stats = _by_queue(store, T0 + 10)
    assert set(stats) == {"session"}
    s = stats["session"]
    assert (s.depth, s.oldest_age_seconds, s.window_sends, s.delivered_24h) == (2, 10.0, 1, 1)


def test_the_day_boundary_is_found_by_key_whatever_the_gaps(store: SqlStore) -> None:
    for i in range(40):
        store.enqueue([_new("ops", f"巡检 {i}")], now=T0 + i * 100)
    with store.db.read() as conn:
        for since, first_recent in [(T0 - 1, 0), (T0 + 1500, 15), (T0 + 1550, 16), (T0 + 3900, 39),
                                    (T0 + 9999, None)]:
            low = first_seq_since(conn, since)
            seqs = [m.seq for m in store.messages_for("ops", limit=100)]
            recent = sorted(s for s in seqs if s >= low)
            assert len(recent) == (0 if first_recent is None else 40 - first_recent), since


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_reading_the_stats_searches_indexes_and_scans_only_the_queue_table(store: SqlStore, tmp_path: Path) -> None:
    from dingrelay.delivery.sql.stats import _statement

    sql = str(_statement(T0, 1, {"ops": 60.0}).compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        plan = [str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    scans = [step for step in plan if step.startswith("SCAN")]
    assert all(step.startswith("SCAN dr_queue_state") for step in scans), plan
    assert any("dr_messages_head" in step for step in plan), plan
    assert any("dr_sends_queue (queue=? AND finished_at>?)" in step for step in plan), plan
    assert any("dr_messages_active" in step for step in plan), plan
