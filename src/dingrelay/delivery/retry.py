"""Whether to retry a failed send, and when. It returns a decision; it never sleeps."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..dingtalk.errors import DingTalkError, RateLimited, SessionExpired


class Action(StrEnum):
    RETRY = "retry"      # try again at ``at``
    PAUSE = "pause"      # the robot is throttled: pause its whole queue until ``at``; not the message's fault
    DEAD = "dead"        # give up; ``reason`` says why


@dataclass(frozen=True)
class Decision:
    action: Action
    at: float
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 12
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    penalty_seconds: float = 600.0
    jitter: Callable[[], float] = random.random   # in [0, 1)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: between half and all of base·2^(attempts-1), capped."""
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(max(attempts - 1, 0), 64))
        return ceiling * (0.5 + 0.5 * self.jitter())

    def decide(self, error: DingTalkError, *, attempts: int, now: float) -> Decision:
        if isinstance(error, RateLimited):
            wait = max(self.penalty_seconds, 0.0)
            return Decision(Action.PAUSE, now + wait, f"{error}")
        if isinstance(error, SessionExpired):
            return Decision(Action.DEAD, now, f"{error}")
        if not error.retryable:
            return Decision(Action.DEAD, now, f"{error}")
        if attempts >= self.max_attempts:
            return Decision(Action.DEAD, now, f"gave up after {attempts} attempts; last error: {error}")
        return Decision(Action.RETRY, now + self.backoff(attempts), f"{error}")
