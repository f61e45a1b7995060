"""DingTalk's per-robot throttle: a sliding window of accepted messages plus a penalty period; and
:func:`max_in_window`, how benches and tests check what a robot received against that window."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class SlidingWindowLimiter:
    """At most ``limit`` admissions within any ``window`` seconds; exceeding it starts a penalty.

    A message admitted at ``t`` counts until ``t + window`` (exclusive). Times are passed in, so the
    limiter is pure logic driven by whatever clock the caller uses. Not thread-safe on its own.
    """

    def __init__(self, limit: int, window: float, penalty: float) -> None:
        self.limit = limit
        self.window = window
        self.penalty = penalty
        self._admitted: deque[float] = deque()
        self._penalty_until: float | None = None

    def in_penalty(self, now: float) -> bool:
        if self._penalty_until is None:
            return False
        if now < self._penalty_until:
            return True
        self._penalty_until = None
        return False

    def penalty_until(self) -> float | None:
        return self._penalty_until

    def admit(self, now: float) -> bool:
        """Count a message at ``now`` if the window has room; otherwise start the penalty and refuse."""
        while self._admitted and now - self._admitted[0] >= self.window:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            self._penalty_until = now + self.penalty
            return False
        self._admitted.append(now)
        return True

    def reset(self) -> None:
        self._admitted.clear()
        self._penalty_until = None


def max_in_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` in any half-open interval ``[t, t + window)``, as the limiter counts."""
    ts, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
