"""A robot whose rate window is full costs the delivery loop nothing until its slot frees: no claim transaction
(each one takes SQLite's write lock, which every accepted request needs too), and no pass for new messages to it.
A pause is different: a person may release it early, and then the robot goes at once."""

from __future__ import annotations

from typing import Any

import pytest
from delivery_helpers import T0, FakeClock
from worker_helpers import ROBOTS, CountingStore, FakeDingTalk, drive, put

from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Worker
from dingrelay.dingtalk import RobotClient


@pytest.fixture
def store(sqlite_store: SqlStore) -> SqlStore:
    return sqlite_store


def _worker(store: Any, client: RobotClient, clock: FakeClock, *, limit: int = 2, window: float = 60.0,
            **policy: Any) -> Worker:
    return Worker(store, Sender(client, ROBOTS), limits=lambda _queue: (limit, window), policy=RetryPolicy(**policy),
                  clock=clock, digests=None)


def test_a_full_window_is_not_claimed_again_before_its_slot_even_as_messages_arrive(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    counting = CountingStore(store)
    worker = _worker(counting, client, clock)
    put(store, "监控 1", "监控 2", "监控 3")
    drive(worker, clock, until=T0 + 1)           # two sends fill the window of 2 per 60 s
    assert dingtalk.contents() == ["监控 1", "监控 2"]
    nxt = worker.run_once(clock.now)
    assert nxt is not None and nxt >= T0 + 60     # the slot frees a window after the first send finished
    claims = counting.calls.get("claim_many", 0)

    for i in range(10):                           # a burst for the throttled robot meanwhile
        clock.now = T0 + 5 + i
        put(store, f"监控 later {i}", now=clock.now)
        worker._wake.clear()
        worker.wake(frozenset({"ops"}))
        assert not worker._wake.is_set()          # no pass for it
        assert worker.run_once(clock.now) == nxt  # and a pass for anything else claims nothing of it

    assert counting.calls.get("claim_many", 0) == claims              # no claim transaction while the window was full
    assert dingtalk.contents() == ["监控 1", "监控 2"]
    clock.now = nxt
    drive(worker, clock, until=nxt + 1)
    # at its slot (both sends of the window finished at once, so two slots), in order
    assert dingtalk.contents() == ["监控 1", "监控 2", "监控 3", "监控 later 0"]


def test_another_robot_is_not_held_back_by_the_full_one(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    worker = _worker(store, client, clock, limit=1)
    put(store, "监控 1", "监控 2")
    drive(worker, clock, until=T0 + 1)
    put(store, "dev 1", queue="dev", now=clock.now)
    worker.wake(frozenset({"dev"}))
    assert worker._wake.is_set()
    drive(worker, clock, until=T0 + 1)
    assert dingtalk.contents() == ["监控 1", "dev 1"]


def test_a_pause_released_early_lets_the_robot_send_at_once(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    worker = _worker(store, client, clock, limit=20, penalty_seconds=600.0)
    put(store, "监控 1", "监控 2")
    dingtalk.answer("ops", (130101, "send too fast"))
    drive(worker, clock, until=T0 + 1)            # DingTalk throttled it: paused for 600 s
    assert worker.run_once(clock.now) == T0 + 600

    clock.now = T0 + 30
    assert store.dashboard.resume("ops", who="张三", now=clock.now) == 1   # a person resumed the robot
    worker.wake(frozenset({"ops"}))
    assert worker._wake.is_set()
    drive(worker, clock, until=T0 + 31)
    assert dingtalk.times() == [T0, T0 + 30, T0 + 30]
    assert dingtalk.contents() == ["监控 1", "监控 1", "监控 2"]
