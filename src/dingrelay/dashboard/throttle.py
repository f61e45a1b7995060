"""The login throttle: after too many failed logins for one username from one address, refuse for a while.

Per process, in memory (a restart forgets it), bounded in size. While a key is locked out every attempt is refused,
the right password too, so guessing cannot go on at any speed. The clock is injected for tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: Keys tracked at most; past this, the keys idle longest are forgotten first.
MAX_KEYS = 10_000


class Throttle:
    """``max_failures`` failures within ``window`` seconds lock the key out for ``lockout`` seconds."""

    def __init__(self, *, max_failures: int = 5, window: float = 300.0, lockout: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, address: str) -> tuple[str, str]:
        return (username.strip().lower(), address)

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        with self._lock:
            until = self._locked.get(key)
            now = self.clock()
            if until is None:
                return 0.0
            if until <= now:
                del self._locked[key]
                return 0.0
            return until - now

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            now = self.clock()
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.max_failures:
                self._locked[key] = now + self.lockout
                times.clear()
            self._failures[key] = times   # re-inserted: the dict stays ordered by last activity
            while len(self._failures) > MAX_KEYS:
                del self._failures[next(iter(self._failures))]
            while len(self._locked) > MAX_KEYS:
                del self._locked[next(iter(self._locked))]

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)
