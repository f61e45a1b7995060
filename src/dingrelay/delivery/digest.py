"""Alert-storm digests: a robot's queued messages as ONE markdown message. Pure: no storage, no clock.

When a robot's backlog would take longer than ``delivery.digest_after_seconds`` to drain at its rate, the worker
takes the queue's head and the messages behind it, and :func:`build` turns the longest run of them that fits
into one digest (the head is always carried, so the queue's order holds)::

    #### 汇总 1234 条（异常 1200 条）
    **🔴 [巡检] 每天巡检异常** ×1200      a group: the messages with one title, errors first
    - 巡检标题：rds 巡检内容：超时          one short line per message: its text without headings and links
    - **[告警] [FIRING:1] DiskFull** 摘要：…   a message alone under its title is one line
    +66 more（稍后汇总）                    what did not fit stays queued for the next digest

A message suppressed as a duplicate of another (same fingerprint) shows on the original's line as ``×N``.

**Levels** come from the message itself, title and text, case-insensitively (nothing extra is stored):
a title saying resolved/恢复 (and not firing) is *resolved*; else any of critical, error, fatal, emergency,
failed, 异常, 错误, 故障, 失败, 严重, 宕机 makes it an *error*; else warn, firing, 告警, 警告 a *warning*; else *info*.
Groups are listed errors first, then warnings, info, resolved; within a level in queue order.

**Compact layout.** When the whole backlog does not fit the full layout above, messages alone under their title
are gathered by the title's head (``[告警] [FIRING:1] DiskFull`` -> ``[告警] [FIRING:1]``, one line each for
``DiskFull``, ``HighCPU``…) and lines are cut shorter, so one digest carries about a thousand alerts.

Size is DingTalk's: the bytes of the JSON request body, at most 20,000. The title or text always holds one of the
robot's keywords: when the listed messages do not, the first keyword is prepended (``【巡检】汇总 N 条``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ..dingtalk.messages import MAX_BODY_BYTES, Markdown, dumps
from .model import StoredMessage


@dataclass(frozen=True)
class Digests:
    """When the worker sends a robot's backlog as digests, and what it needs to build them."""

    after_seconds: float = 120.0
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)   # robot name -> its keywords
    max_bytes: Mapping[str, int] = field(default_factory=dict)   # robot name -> its largest body (app robots: less)
    max_messages: int = 1500   # the most messages read to build one digest (a compact digest holds ~1,000)

    def wanted(self, backlog: int, limit: int, window: float) -> bool:
        """Would ``backlog`` take longer than :attr:`after_seconds` to drain at ``limit`` per ``window``?"""
        return backlog / limit * window > self.after_seconds


class Level(IntEnum):
    ERROR = 0
    WARNING = 1
    INFO = 2
    RESOLVED = 3


_RESOLVED = re.compile(r"resolved|恢复|已解决", re.IGNORECASE)
_FIRING = re.compile(r"firing", re.IGNORECASE)
_ERROR = re.compile(r"critical|error|fatal|emergency|failed|异常|错误|故障|失败|严重|宕机", re.IGNORECASE)
_WARNING = re.compile(r"warn|firing|告警|警告", re.IGNORECASE)
_MARK = {Level.ERROR: "🔴 ", Level.WARNING: "🟠 "}

TITLE_BYTES = 120         # a group's title
FULL_DETAIL_BYTES = 96    # a message's line, full layout
COMPACT_DETAIL_BYTES = 40  # a message's line, compact layout


def level_of(title: str, text: str) -> Level:
    """The message's level, read from its title and text (see the module docstring)."""
    if _RESOLVED.search(title) and not _FIRING.search(title):
        return Level.RESOLVED
    both = f"{title}\n{text}"
    if _ERROR.search(both):
        return Level.ERROR
    if _WARNING.search(both):
        return Level.WARNING
    return Level.INFO


@dataclass(frozen=True)
class Digest:
    message: Markdown
    carried: list[StoredMessage]   # the first messages given, in queue order
    more: int                      # messages still waiting after these


@dataclass(frozen=True)
class _Entry:
    seq: int
    title: str
    detail: str
    level: Level
    count: int   # the message and its suppressed duplicates

    @classmethod
    def of(cls, m: StoredMessage) -> _Entry:
        text = main_text(m.payload)
        title = _one_line(m.title) or _one_line(plain(text)) or m.msgtype
        detail = plain(text)
        if detail.startswith(title):
            detail = detail[len(title):].strip()
        return cls(m.seq, cut(title, TITLE_BYTES), detail, level_of(m.title, text), 1 + m.duplicates)

    @property
    def times(self) -> str:
        return f" ×{self.count}" if self.count > 1 else ""


def build(messages: Sequence[StoredMessage], *, keywords: Sequence[str] = (), waiting: int | None = None,
          max_bytes: int = MAX_BODY_BYTES) -> Digest:
    """The digest of the longest prefix of ``messages`` (a queue's head first, in order) that fits ``max_bytes``.

    ``waiting`` counts every message waiting in the queue, ``messages`` included (default: just these); those left
    out make the "+N more" line.
    """
    if not messages:
        raise ValueError("a digest needs at least one message")
    entries = [_Entry.of(m) for m in messages]
    waiting = max(waiting or 0, len(entries))
    if len(entries) == waiting:
        title, text = _render(entries, compact=False, waiting=waiting, keywords=keywords)
        if _size(title, text) <= max_bytes:
            return Digest(Markdown(title=title, text=text), list(messages), 0)
    best = 1
    lo, hi = 2, len(entries)
    while lo <= hi:  # showing more messages never makes the digest smaller
        mid = (lo + hi) // 2
        if _size(*_render(entries[:mid], compact=True, waiting=waiting, keywords=keywords)) <= max_bytes:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    title, text = _render(entries[:best], compact=True, waiting=waiting, keywords=keywords)
    return Digest(Markdown(title=title, text=text), list(messages[:best]), waiting - best)


def _render(entries: Sequence[_Entry], *, compact: bool, waiting: int, keywords: Sequence[str]) -> tuple[str, str]:
    groups: dict[tuple[Level, str], list[_Entry]] = {}
    for e in entries:
        groups.setdefault((e.level, e.title), []).append(e)
    blocks: list[tuple[Level, int, str]] = []
    alone: dict[tuple[Level, str], list[_Entry]] = {}
    width = COMPACT_DETAIL_BYTES if compact else FULL_DETAIL_BYTES
    for (level, title), members in groups.items():
        if len(members) > 1:
            lines = [f"- {cut(e.detail, width)}{e.times}" for e in members if e.detail]
            blocks.append((level, members[0].seq, _block(level, title, members, lines)))
            continue
        e = members[0]
        head = split_title(title)[0]
        if compact and head:
            alone.setdefault((level, head), []).append(e)
        else:
            detail = "" if compact or not e.detail else " " + cut(e.detail, width)
            blocks.append((level, e.seq, f"- {_MARK.get(level, '')}**{title}**{e.times}{detail}"))
    for (level, head), members in alone.items():
        if len(members) == 1:
            e = members[0]
            blocks.append((level, e.seq, f"- {_MARK.get(level, '')}**{e.title}**{e.times}"))
        else:
            lines = [f"- {cut(split_title(e.title)[1], width)}{e.times}" for e in members]
            blocks.append((level, members[0].seq, _block(level, head, members, lines)))
    blocks.sort(key=lambda b: (b[0], b[1]))
    errors = sum(1 for e in entries if e.level is Level.ERROR)
    title = f"汇总 {len(entries)} 条" + (f"（异常 {errors} 条）" if errors else "")
    body = "\n\n".join(b[2] for b in blocks)
    more = waiting - len(entries)
    footer = f"\n\n+{more} more（稍后汇总）" if more > 0 else ""
    if keywords and not any(k in title or k in body for k in keywords):
        title = f"【{keywords[0]}】{title}"
    return title, f"#### {title}\n\n{body}{footer}"


def _block(level: Level, title: str, members: Sequence[_Entry], lines: Sequence[str]) -> str:
    header = f"**{_MARK.get(level, '')}{title}** ×{sum(e.count for e in members)}"
    return "\n".join([header, *lines])


def _size(title: str, text: str) -> int:
    return len(dumps({"msgtype": "markdown", "markdown": {"title": title, "text": text}}))


# -- reading a stored message ------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_LABEL_ONLY = re.compile(r"^[^：:]{0,16}[：:]$")
_TITLE_HEAD = re.compile(r"^(.*[\]】)])\s+(\S.*)$")


def main_text(payload: bytes) -> str:
    """The readable text of a DingTalk request body ("" for an image)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return ""
    msgtype = body.get("msgtype") if isinstance(body, dict) else None
    part: Any = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return ""
    if msgtype == "feedCard":
        links = part.get("links")
        return "\n".join(str(x.get("title", "")) for x in (links if isinstance(links, list) else [])
                         if isinstance(x, dict))
    value = part.get("content" if msgtype == "text" else "text")
    return value if isinstance(value, str) else ""


def plain(text: str) -> str:
    """Markdown text as one plain line: headings (they repeat the title), links, tags and emphasis left out."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = _EMPHASIS.sub("", _TAG.sub("", _LINK.sub("", line)))
        line = line.lstrip("->+*● ").strip(" |")
        if line and not _LABEL_ONLY.match(line):
            out.append(line)
    return " ".join(out)


def split_title(title: str) -> tuple[str, str]:
    """``[告警] [FIRING:1] DiskFull`` -> (``[告警] [FIRING:1]``, ``DiskFull``); a title of one word has no head."""
    m = _TITLE_HEAD.match(title)
    if m:
        return m.group(1), m.group(2)
    head, _, tail = title.rpartition(" ")
    return (head, tail) if head else ("", title)


def cut(text: str, n: int, end: str = "…") -> str:
    """At most ``n`` UTF-8 bytes, ``end`` included, never splitting a character."""
    encoded = text.encode()
    if len(encoded) <= n:
        return text
    return encoded[:n - len(end.encode())].decode(errors="ignore") + end


def _one_line(text: str) -> str:
    return " ".join(text.split())
