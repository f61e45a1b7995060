"""``/ui/``: one row per configured robot, refreshing itself every 15 s (a meta refresh: no script).

Each row: queue depth and the oldest waiting message; sends in the current rate window against the limit (a
``<meter>`` bar); a pause, until when and why; storm state (the backlog would take longer than
``delivery.digest_after_seconds`` to drain, so digests go out) with digests and suppressed repeats in 24 h;
delivered and dead in 24 h; and sends per minute over the last hour as an inline SVG line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask.typing import ResponseReturnValue

from ...delivery.browse import RobotRow
from .site import bp, page, state

REFRESH_SECONDS = 15
CHART_WIDTH, CHART_HEIGHT = 180, 36


@dataclass(frozen=True)
class Line:
    row: RobotRow
    limit: int
    window: float
    storm: bool
    points: str            # the SVG polyline of sends per minute
    peak: int
    total: int


def polyline(counts: Sequence[int], *, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> str:
    """SVG ``points`` for ``counts`` (oldest first), scaled to the box, the peak at the top."""
    if not counts:
        return ""
    peak = max(counts) or 1
    step = width / max(len(counts) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (c / peak) * (height - 4):.1f}" for i, c in enumerate(counts))


@bp.get("/")
def overview() -> ResponseReturnValue:
    ui = state()
    now = ui.now()
    robots = ui.gateway.tables.robots
    rows = ui.dashboard.overview({name: r.rate_window_seconds for name, r in robots.items()}, now=now)
    per_minute = ui.dashboard.sends_per_minute(list(robots), now=now)
    after = ui.gateway.tables.digest_after_seconds
    lines = []
    for row in rows:
        entry = robots[row.robot]
        counts = per_minute.get(row.robot, [])
        drain = row.depth / entry.rate_limit * entry.rate_window_seconds
        lines.append(Line(row, entry.rate_limit, entry.rate_window_seconds,
                          storm=after is not None and drain > after, points=polyline(counts),
                          peak=max(counts, default=0), total=sum(counts)))
    return page("overview.html", lines=lines, refresh=REFRESH_SECONDS, now=now, width=CHART_WIDTH,
                height=CHART_HEIGHT, digests_on=after is not None)
