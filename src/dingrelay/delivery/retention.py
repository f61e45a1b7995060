"""Retention: how long finished messages are kept, and the loop that prunes them a small batch at a time.

Delivered (and suppressed) messages go after :attr:`RetentionPolicy.delivered_days`, dead ones after
:attr:`RetentionPolicy.dead_days`, their attempts with them; the store also expires idempotency keys (24 h), idle
sessionWebhook queues and the rate limit's old send log, and gives SQLite's free pages back
(:meth:`~.store.Store.prune`). Every process that delivers runs :meth:`Retention.run_forever` on a thread of its
own (the runtime's), so pruning never holds up a delivery pass: each batch is a few short transactions, one pass every
:attr:`~RetentionPolicy.interval_seconds`, and while a pass finds more than a batch (a first run on a year of
history) the next one follows after :attr:`Retention.busy_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .model import Pruned
from .store import Store

log = logging.getLogger("dingrelay.retention")

DAY = 86400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """``None`` keeps those messages forever."""

    delivered_days: float | None = 7.0
    dead_days: float | None = 30.0
    interval_seconds: float = 60.0
    batch: int = 500

    def cutoffs(self, now: float) -> tuple[float | None, float | None]:
        """(delivered before, dead before): what is older goes."""
        return (None if self.delivered_days is None else now - self.delivered_days * DAY,
                None if self.dead_days is None else now - self.dead_days * DAY)


class Retention:
    def __init__(self, store: Store, policy: RetentionPolicy | None = None, *,
                 clock: Callable[[], float] = time.time, busy_seconds: float = 0.2,
                 first_after_seconds: float = 5.0) -> None:
        self.store = store
        self.policy = policy or RetentionPolicy()
        self.clock = clock
        self.busy_seconds = busy_seconds
        self.first_after_seconds = first_after_seconds

    def run_once(self, now: float | None = None) -> Pruned:
        """One batch of pruning as of ``now``."""
        now = self.clock() if now is None else now
        delivered_before, dead_before = self.policy.cutoffs(now)
        pruned = self.store.prune(now=now, delivered_before=delivered_before, dead_before=dead_before,
                                  limit=self.policy.batch)
        if pruned.anything:
            log.debug("retention: %s", pruned)
        return pruned

    def run_forever(self, stop: threading.Event) -> None:
        """Prune until ``stop`` is set: a batch every interval, or soon again while there is more."""
        wait = min(self.first_after_seconds, self.policy.interval_seconds)
        while not stop.wait(wait):
            try:
                more = self.run_once().more
            except Exception:
                log.exception("retention pass failed; trying again in %.0fs", self.policy.interval_seconds)
                more = False
            wait = self.busy_seconds if more else self.policy.interval_seconds
