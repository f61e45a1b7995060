"""Per-robot sliding-window budget, computed from the store's send log.

A send counts from the moment it is claimed until ``window`` seconds after its HTTP exchange *finished*.
DingTalk receives a request between our claim and the end of the exchange, so measuring the window from the
finish can never let DingTalk see more than ``limit`` messages in any ``window`` — whatever the network delay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def next_slot(finished: Sequence[float | None], *, limit: int, window: float, now: float) -> float | None:
    """When the next send may start: ``None`` for now, else the time a slot frees up.

    ``finished`` holds the finish times of recent sends; ``None`` marks one still in flight.
    """
    live = sorted((f for f in finished if f is None or f > now - window), key=lambda f: (f is None, f))
    if len(live) < limit:
        return None
    # The oldest ``len(live) - limit + 1`` sends must age out before another may start.
    oldest_needed = live[len(live) - limit]
    if oldest_needed is None:  # all the slots are in flight: wait for one to finish
        return now + min(window, 1.0)
    return oldest_needed + window


def next_slot_counted(live: int, flying: int, nth_finished: Callable[[int], float], *, limit: int, window: float,
                      now: float) -> float | None:
    """:func:`next_slot` from counts: ``live`` sends in the window (finished after ``now - window``, or in flight),
    ``flying`` of them in flight, and ``nth_finished(k)``, the finish time of the ``k``-th oldest finished one
    (from 0), asked only when the window is full. The same answer as :func:`next_slot` on those sends, without
    reading every one of them: a claim under budget reads two numbers."""
    if live < limit:
        return None
    k = live - limit   # next_slot's oldest_needed: finished sends first, oldest first, then those in flight
    if k >= live - flying:
        return now + min(window, 1.0)
    return nth_finished(k) + window
