"""Holding a group commit's leadership from a test, so that the callers arriving meanwhile are written as one batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway_harness import wait_until


@contextmanager
def held(batches: Any, waiting: int, timeout: float = 20.0) -> Iterator[None]:
    """Take the leadership of ``batches`` (a :class:`dingrelay.delivery.sql.group.Batches` with no batch in
    progress); the body starts its callers; on leaving, once ``waiting`` callers queue, the first of them leads
    and commits them all together."""
    with batches._lock:
        assert not batches._leading, "a batch is in progress"
        batches._leading = True
    try:
        yield
        assert wait_until(lambda: len(batches._pending) == waiting, timeout), len(batches._pending)
    finally:
        batches.hand_off()
