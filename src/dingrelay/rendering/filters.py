"""Jinja filters for DingTalk message text: Shanghai time, markdown escaping, byte-safe truncation, durations.

Each filter raises ``TypeError``/``ValueError`` naming what it accepts; the renderer reports that as a template
error. An undefined argument raises the usual undefined-variable error instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Undefined

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Epoch numbers at least this large are milliseconds (1e11 seconds is the year 5138).
_MILLIS_THRESHOLD = 1e11


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises the error naming the variable
    return value


def to_shanghai(value: Any) -> datetime:
    """An aware datetime in Asia/Shanghai from a datetime, epoch seconds/ms, or an ISO-8601 string.

    Naive datetimes and ISO strings without an offset are taken to be Shanghai time already.
    """
    value = _defined(value)
    if isinstance(value, bool):
        raise TypeError(f"cst: expected a time, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"cst: {value!r} is not an ISO-8601 time or epoch number") from None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _MILLIS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, SHANGHAI)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=SHANGHAI)
        return value.astimezone(SHANGHAI)
    raise TypeError(f"cst: expected a datetime, epoch number or ISO-8601 string, got {type(value).__name__}")


def cst(value: Any, fmt: str = DEFAULT_TIME_FORMAT) -> str:
    """Format a time in Asia/Shanghai (China Standard Time): ``{{ startsAt | cst }}`` -> ``2023-11-15 06:13:20``."""
    return to_shanghai(value).strftime(fmt)


# Characters that format anywhere in a line.
_INLINE = re.compile(r"([\\`*_\[\]<>~|])")
# Characters that format only at the start of a line (after indentation): headings, quotes, lists, rules.
_LINE_START = re.compile(r"^([ \t]*)([#>+=-])", re.MULTILINE)
# "1. item" / "1) item" at the start of a line is an ordered list.
_ORDERED = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)


def md_escape(value: Any) -> str:
    """Backslash-escape DingTalk-markdown syntax in user text so it shows literally."""
    text = _INLINE.sub(r"\\\1", str(_defined(value)))
    text = _LINE_START.sub(r"\1\\\2", text)
    return _ORDERED.sub(r"\1\\\2", text)


def truncate_bytes(value: Any, n: int, end: str = "…") -> str:
    """Cut text to at most ``n`` UTF-8 bytes, ``end`` included, never splitting a character."""
    text = str(_defined(value))
    if n < 0:
        raise ValueError(f"truncate_bytes: the byte limit must be >= 0, got {n}")
    encoded = text.encode()
    if len(encoded) <= n:
        return text
    room = n - len(end.encode())
    if room <= 0:
        return end.encode()[:n].decode(errors="ignore")
    return encoded[:room].decode(errors="ignore") + end


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(value: Any) -> str:
    """A short human duration from seconds or a timedelta: ``45s``, ``3h2m``, ``2d4h`` (two largest units)."""
    value = _defined(value)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"duration: {value!r} is not a number of seconds") from None
    else:
        raise TypeError(f"duration: expected seconds or a timedelta, got {type(value).__name__}")
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if parts:  # the unit right after the largest one; a zero there ends it
            if count:
                parts.append(f"{count}{unit}")
            break
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


FILTERS: dict[str, Callable[..., str]] = {
    "cst": cst,
    "md_escape": md_escape,
    "truncate_bytes": truncate_bytes,
    "duration": duration,
}
