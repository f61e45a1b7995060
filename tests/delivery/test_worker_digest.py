"""Storms through ``Worker.run_once(now)``: a backlog too long to drain at the robot's rate goes out as digests.

A real RobotClient on ``httpx.MockTransport`` (:class:`FakeDingTalk`), a SQLite store, a fake clock; as in
test_worker.py, no test sleeps and a send takes no time.
"""

from __future__ import annotations

from typing import Any

import pytest
from delivery_helpers import T0, FakeClock, msg
from worker_helpers import ROBOTS, SESSION_WEBHOOK, FakeDingTalk, drive, put, reload

from dingrelay.delivery.model import Status, StoredMessage
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Digests, Worker
from dingrelay.dingtalk import RobotClient


@pytest.fixture
def store(sqlite_store: SqlStore) -> SqlStore:
    return sqlite_store


def worker(store: SqlStore, client: RobotClient, clock: FakeClock, *, limit: int = 20, window: float = 60.0,
           keywords: tuple[str, ...] = ("监控",), max_messages: int = 1500, **policy: Any) -> Worker:
    return Worker(store, Sender(client, ROBOTS), limits=lambda _queue: (limit, window),
                  policy=RetryPolicy(**policy), clock=clock,
                  digests=Digests(after_seconds=120.0, keywords={"ops": keywords}, max_messages=max_messages))


def digests_sent(dingtalk: FakeDingTalk) -> list[str]:
    return [b["markdown"]["text"] for b in dingtalk.bodies() if b["msgtype"] == "markdown"]


def carried_by(store: SqlStore, ms: list[StoredMessage]) -> set[str | None]:
    return {reload(store, m).digest_id for m in ms}


def test_a_backlog_that_drains_in_time_goes_message_by_message(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(40)])   # 40 at 20/min: two minutes, not more than 120 s

    drive(worker(store, client, clock), clock)

    assert dingtalk.contents() == [f"监控 {i}" for i in range(40)]


def test_a_backlog_too_long_to_drain_goes_out_as_one_digest_of_everything(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    ms = put(store, *[f"监控 {i}" for i in range(41)])

    drive(worker(store, client, clock), clock)

    [text] = digests_sent(dingtalk)
    assert len(dingtalk.requests) == 1
    assert text.startswith("#### 汇总 41 条")
    assert all(f"**监控 {i}**" in text for i in range(41))
    [digest_id] = carried_by(store, ms)
    assert digest_id is not None
    assert {reload(store, m).status for m in ms} == {Status.DELIVERED}
    digest = store.get(digest_id)
    assert digest is not None and (digest.status, digest.is_digest) == (Status.DELIVERED, True)


def test_a_storm_is_carried_by_few_digests_each_one_send_within_the_budget(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    ms = put(store, *[f"监控 {i}" for i in range(2500)])

    drive(worker(store, client, clock), clock)

    texts = digests_sent(dingtalk)
    assert 2 <= len(dingtalk.requests) == len(texts) <= 4
    assert dingtalk.times()[-1] < T0 + 60.0                  # all within the first window's budget of 20
    assert "more（稍后汇总）" in texts[0]
    assert all(len(r.body) <= 20_000 for r in dingtalk.requests)
    listed = {line for text in texts for line in text.splitlines()}
    assert "**监控** ×" in "\n".join(texts)          # compact: titles gathered by their head
    assert all(f"- {i}" in listed for i in range(2500))
    assert {reload(store, m).status for m in ms} == {Status.DELIVERED}
    assert None not in carried_by(store, ms)


def test_while_digests_flow_sends_are_spaced_evenly_over_the_window(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(300)])

    drive(worker(store, client, clock, max_messages=50), clock)   # at most 50 messages per digest

    assert dingtalk.times() == [T0 + 3.0 * i for i in range(6)]  # 60 s / 20 messages = one every 3 s


def test_when_the_storm_is_over_messages_go_singly_again(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(50)])
    w = worker(store, client, clock)
    drive(w, clock)

    put(store, "监控 after", now=clock.now)
    drive(w, clock)

    assert len(digests_sent(dingtalk)) == 1
    assert dingtalk.bodies()[-1] == {"msgtype": "text", "text": {"content": "监控 after"}}
    assert dingtalk.times() == [T0, T0 + 3.0]   # the last digest's spacing, then single messages


def test_a_storm_that_slows_down_stays_in_digests_until_its_queue_is_empty(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(50)])
    w = worker(store, client, clock)
    drive(w, clock)

    put(store, *[f"监控 late {i}" for i in range(5)], now=clock.now)   # too few for a storm on their own
    drive(w, clock)
    put(store, "监控 alone", now=clock.now)
    drive(w, clock)

    kinds = [b["msgtype"] for b in dingtalk.bodies()]
    assert kinds == ["markdown", "markdown", "text"]
    assert dingtalk.bodies()[1]["markdown"]["title"] == "汇总 5 条"
    assert dingtalk.times() == [T0, T0 + 3.0, T0 + 6.0]


def test_a_storm_ends_when_a_window_passes_without_a_digest(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"监控 {i}" for i in range(50)])
    w = worker(store, client, clock)
    drive(w, clock)

    clock.now = T0 + 61
    put(store, "监控 a", "监控 b", now=clock.now)
    drive(w, clock)

    assert [b["msgtype"] for b in dingtalk.bodies()] == ["markdown", "text", "text"]


def test_a_digest_that_fails_retryably_is_sent_again_the_same_then_delivers_everything(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    ms = put(store, *[f"监控 {i}" for i in range(60)])
    dingtalk.answer("ops", (-1, "系统繁忙"))
    w = worker(store, client, clock, base_seconds=2.0)

    w.run_once(clock.now)
    retrying = [reload(store, m).status for m in ms]
    drive(w, clock)

    first, second = dingtalk.requests
    assert retrying == [Status.RETRYING] * 60
    assert first.body == second.body
    assert {reload(store, m).status for m in ms} == {Status.DELIVERED}
    assert len(carried_by(store, ms)) == 1


def test_a_digest_refused_for_good_takes_its_messages_dead_with_the_reason(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    ms = put(store, *[f"监控 {i}" for i in range(60)])
    dingtalk.answer("ops", (310000, "keywords not in content"))

    drive(worker(store, client, clock), clock)

    assert len(dingtalk.requests) == 1
    got = [reload(store, m) for m in ms]
    assert {m.status for m in got} == {Status.DEAD}
    assert all("requires keyword" in (m.last_error or "") for m in got)


def test_a_digest_carries_the_robots_keyword_even_when_no_listed_message_does(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"disk {i}" for i in range(60)])

    drive(worker(store, client, clock, keywords=("巡检", "监控")), clock)

    [body] = dingtalk.bodies()
    assert body["markdown"]["title"] == "【巡检】汇总 60 条"


def test_session_replies_are_never_digested(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    put(store, *[f"收到 {i}" for i in range(60)], queue="session:abc", target_url=SESSION_WEBHOOK,
        expires_at=T0 + 5400)

    drive(worker(store, client, clock), clock, until=T0 + 1)

    assert dingtalk.contents() == [f"收到 {i}" for i in range(20)]


def test_a_repeat_suppressed_at_the_door_shows_as_a_count_in_the_digest(
        store: SqlStore, client: RobotClient, dingtalk: FakeDingTalk, clock: FakeClock) -> None:
    store.enqueue([msg(f"监控 {i}", fingerprint=f"fp-{i % 50}") for i in range(53)], now=T0, suppress_seconds=300)

    drive(worker(store, client, clock), clock)

    [text] = digests_sent(dingtalk)
    lines = text.splitlines()
    assert text.startswith("#### 汇总 50 条")
    assert {"- **监控 0** ×2", "- **监控 2** ×2", "- **监控 3**"} <= set(lines)
