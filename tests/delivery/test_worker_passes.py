"""A send in the executor costs the delivery loop one read of the due heads, not two: the pass after a claim
waits for the send's outcome (which wakes it) instead of reading every queue's head again at once. Under load
that second read ran for every message and took the GIL from the requests being accepted meanwhile."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from delivery_helpers import FakeClock
from worker_helpers import ROBOTS, CountingStore, FakeDingTalk, put

from dingrelay.delivery.model import Status
from dingrelay.delivery.retry import RetryPolicy
from dingrelay.delivery.sender import Sender
from dingrelay.delivery.sql import SqlStore
from dingrelay.delivery.worker import Worker
from dingrelay.dingtalk import RobotClient


@pytest.mark.parametrize("queues", [1, 2])
def test_each_message_sent_through_the_executor_costs_one_read_of_the_heads(sqlite_store: SqlStore,
                                                                           queues: int) -> None:
    dingtalk = FakeDingTalk(FakeClock(time.time()))   # records requests; the worker runs on real time
    counting = CountingStore(sqlite_store)
    n = 12
    with RobotClient(transport=httpx.MockTransport(dingtalk)) as client, ThreadPoolExecutor(4) as pool:
        worker = Worker(counting, Sender(client, ROBOTS), limits=lambda _queue: (1000, 1.0), policy=RetryPolicy(),
                        executor=pool, digests=None)
        stored = [m for q in ["ops", "dev"][:queues]
                  for m in put(sqlite_store, *[f"监控 {q} {i}" for i in range(n)], queue=q, now=time.time())]
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30   # guards against a hang only
            while time.monotonic() < deadline and any(
                    sqlite_store.get(m.id).status is not Status.DELIVERED for m in stored):   # type: ignore[union-attr]
                time.sleep(0.02)
        finally:
            worker.stop()
            thread.join(timeout=30)

    assert len(dingtalk.contents()) == len(stored)
    # One read per message at most (fewer when one pass claims the heads of several queues), plus the first pass.
    assert counting.calls.get("due_heads", 0) <= n * queues + 1
