"""The send pool: futures carry results and errors, shutdown cancels what has not started, and a stuck send cannot
hold a stopping process (daemon threads, joined only until a deadline)."""

from __future__ import annotations

import threading
import time

import pytest

from dingrelay.delivery.pool import SendPool


def test_futures_carry_results_and_errors() -> None:
    pool = SendPool(2)
    ok = pool.submit(lambda x: x * 2, 21)

    def fail() -> None:
        raise ValueError("boom")

    bad = pool.submit(fail)
    assert ok.result(10) == 42
    with pytest.raises(ValueError, match="boom"):
        bad.result(10)
    pool.shutdown()


def test_no_more_threads_than_max_workers_and_idle_ones_are_reused() -> None:
    pool = SendPool(2, name="pool-reuse")
    gate = threading.Event()
    futures = [pool.submit(gate.wait, 10) for _ in range(5)]
    gate.set()
    assert all(f.result(10) for f in futures)
    for _ in range(5):
        pool.submit(time.sleep, 0).result(10)
    assert len([t for t in threading.enumerate() if t.name.startswith("pool-reuse-")]) <= 2
    pool.shutdown()


def test_shutdown_cancels_what_has_not_started_and_refuses_more() -> None:
    pool = SendPool(1)
    gate = threading.Event()
    running = pool.submit(gate.wait, 10)
    waiting = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert running.result(10) is True
    assert waiting.cancelled()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: None)
    assert pool.join(time.monotonic() + 10)


def test_a_stuck_send_is_waited_for_only_until_the_deadline_on_a_daemon_thread() -> None:
    pool = SendPool(1, name="pool-stuck")
    gate = threading.Event()
    started = threading.Event()
    pool.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(10)
    pool.shutdown(wait=False)
    assert pool.join(time.monotonic() + 0.2) is False
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("pool-stuck-"))
    gate.set()
    assert pool.join(time.monotonic() + 10)
