"""Durations as Alertmanager (and amtool) write them, and as a Chinese reader says them.

:func:`parse_duration` reads Prometheus' duration syntax: units ``w``, ``d``, ``h``, ``m``, ``s`` from largest to
smallest, each at most once, no spaces: ``30m``, ``2h``, ``1d``, ``1h30m``, ``1w``. A silence from the chat lasts
between :data:`SHORTEST` and :data:`LONGEST`. :func:`say` writes a span the way the replies do: ``2小时5分``.
"""

from __future__ import annotations

import re
from datetime import timedelta

SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=30)
EXPECTED = "时长写成 30m、2h、1d、1h30m 或 1w（1 分钟到 30 天）"

_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile("".join(rf"(?:(\d+){u})?" for u, _ in _UNITS))


class DurationError(ValueError):
    """Not a duration, or one outside the allowed range; the message is a one-line Chinese reply."""


def looks_like_duration(text: str) -> bool:
    return bool(text) and _DURATION.fullmatch(text) is not None


def parse_duration(text: str, *, shortest: timedelta = SHORTEST, longest: timedelta = LONGEST) -> timedelta:
    """``text`` as a duration between ``shortest`` and ``longest``; :class:`DurationError` in Chinese if not."""
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        raise DurationError(f"「{text}」不是时长；{EXPECTED}")
    seconds = sum(int(v) * size for v, (_, size) in zip(m.groups(), _UNITS, strict=True) if v)
    span = timedelta(seconds=seconds)
    if span < shortest:
        raise DurationError(f"时长 {text} 太短，至少 {say(shortest)}；{EXPECTED}")
    if span > longest:
        raise DurationError(f"时长 {text} 太长，最多 {say(longest)}；{EXPECTED}")
    return span


def say(span: timedelta) -> str:
    """A span in Chinese, to the minute, its two largest units: ``3天2小时``, ``2小时5分``, ``5分``, ``不到1分``."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "不到1分"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "天"), (hours, "小时"), (mins, "分")) if n]
    return "".join(parts[:2])
