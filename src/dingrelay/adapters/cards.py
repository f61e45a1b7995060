"""Fit a card within DingTalk's 20,000 bytes by showing fewer items, never by dropping the count.

The template shows the first ``n`` alerts and a "+N more" line for the rest, so the card with the most alerts
that still renders is found by bisection (showing more never makes a card smaller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

M = TypeVar("M")


def fit(render: Callable[[int], M], total: int, *, too_large: Callable[[Exception], bool]) -> M:
    """``render(n)`` with the largest ``n <= total`` whose message is accepted.

    An exception for which ``too_large`` is false is raised at once. If even ``render(0)`` is too large, the
    error from ``render(total)`` is raised.
    """
    try:
        return render(total)
    except Exception as exc:
        if not too_large(exc):
            raise
        first = exc
    best: M | None = None
    lo, hi = 0, total - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            message = render(mid)
        except Exception as exc:
            if not too_large(exc):
                raise
            hi = mid - 1
        else:
            best, lo = message, mid + 1
    if best is None:
        raise first
    return best
