"""Whether to retry a failed send, and when. It returns a decision; it never sleeps.

A retryable failure is retried with capped exponential backoff until the message has waited
``give_up_after_seconds`` since it was accepted (a day by default): an outage of an hour costs no message.
``max_attempts`` is an optional extra cap for those who want one. Non-retryable errcodes die at once.
"""

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
    give_up_after_seconds: float = 86400.0
    max_attempts: int | None = None
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    penalty_seconds: float = 600.0
    jitter: Callable[[], float] = random.random   # in [0, 1)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: between half and all of base·2^(attempts-1), capped."""
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(max(attempts - 1, 0), 64))
        return ceiling * (0.5 + 0.5 * self.jitter())

    def decide(self, error: DingTalkError, *, attempts: int, now: float, since: float | None = None) -> Decision:
        """What to do after ``error`` on the ``attempts``-th attempt of a message accepted at ``since``."""
        if isinstance(error, RateLimited):
            wait = max(self.penalty_seconds, 0.0)
            return Decision(Action.PAUSE, now + wait, f"{error}")
        if isinstance(error, SessionExpired):
            return Decision(Action.DEAD, now, f"{error}")
        if not error.retryable:
            return Decision(Action.DEAD, now, f"{error}")
        deadline = None if since is None else since + self.give_up_after_seconds
        if deadline is not None and now >= deadline:
            return Decision(Action.DEAD, now, f"gave up after {_duration(now - (since or now))} and {attempts} "
                                              f"attempts (delivery.give_up_after_seconds); last error: {error}")
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return Decision(Action.DEAD, now, f"gave up after {attempts} attempts (delivery.max_attempts); "
                                              f"last error: {error}")
        at = now + self.backoff(attempts)
        return Decision(Action.RETRY, at if deadline is None else min(at, deadline), f"{error}")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
