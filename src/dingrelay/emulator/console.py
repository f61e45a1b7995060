"""A readable console rendering of accepted messages, for people watching the emulator."""

from __future__ import annotations

import time

from .records import Received, display_label


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _extras(r: Received) -> list[str]:
    """Buttons and mentions: what a person would see around the bubble."""
    extras: list[str] = []
    part = r.body.get(r.msgtype)
    if isinstance(part, dict):
        single = part.get("singleTitle")
        if isinstance(single, str) and single:
            extras.append(f"[{single}]")
        elif isinstance(part.get("btns"), list):
            titles = [b.get("title") for b in part["btns"] if isinstance(b, dict)]
            extras += [f"[{t}]" for t in titles if isinstance(t, str)]
    at = r.body.get("at")
    if isinstance(at, dict):
        for key in ("atMobiles", "atUserIds"):
            if isinstance(at.get(key), list):
                extras += [f"@{who}" for who in at[key] if isinstance(who, str)]
        if at.get("isAtAll") is True:
            extras.append("@所有人")
    return extras


def format_received(r: Received, *, width: int = 100) -> str:
    """``[12:00:01] ops  markdown  「title」 first line`` plus, if there is more, an indented second line.

    Chinese content is shown as-is; long text is truncated with ``…``. Session ids are masked.
    """
    stamp = time.strftime("%H:%M:%S", time.localtime(r.received_at))
    lines = [line.strip() for line in r.text().splitlines() if line.strip()]
    title = r.title()
    head = f"[{stamp}] {display_label(r.robot)}  {r.msgtype}  "
    if title:
        head += f"「{title}」 "
    head += lines[0] if lines else ""
    rest = " | ".join(lines[1:])
    extras = " ".join(_extras(r))
    tail = "  ".join(part for part in (rest, extras) if part)
    out = _shorten(head.rstrip(), width)
    if tail:
        out += "\n    " + _shorten(tail, width - 4)
    return out
