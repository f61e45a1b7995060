"""What the dashboard reads and does through the store: the :class:`Dashboard` protocol and its records. Its SQL
implementation is :class:`dingrelay.delivery.sql.browse.Browse` (``SqlStore.dashboard``).

Reading: messages by filter, newest first, a page at a time; one row per robot for the overview; sends per minute.
Acting: requeue a dead message (or every dead message a filter matches), retry a waiting one now, cancel one,
resume a paused robot. Each action is written to the audit log in the same transaction as the change it made.
The hooks' payload samples (masked before they get here) are kept, the newest ``keep`` per hook and source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .model import StoredMessage

#: How far back the overview counts delivered and dead messages.
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class MessageFilter:
    """Which messages: every field set must match (``text``: a part of the title, any case)."""

    status: str | None = None
    robot: str | None = None
    source: str | None = None
    since: float | None = None   # created at or after (epoch seconds)
    until: float | None = None   # created before
    text: str | None = None

    def describe(self) -> str:
        """The filter as the audit log shows it."""
        parts = [f"{k}={v}" for k, v in (("status", self.status), ("robot", self.robot), ("source", self.source),
                                         ("since", self.since), ("until", self.until), ("text", self.text))
                 if v not in (None, "")]
        return " ".join(parts) or "all"


@dataclass(frozen=True)
class Page:
    """One page of messages, newest first; ``next_before`` is the cursor of the next (older) page, if any."""

    messages: list[StoredMessage]
    next_before: int | None


@dataclass(frozen=True)
class RobotRow:
    """One robot's line on the overview."""

    robot: str
    depth: int                      # messages waiting or in flight
    oldest_at: float | None         # when the oldest of them was accepted
    paused_until: float | None      # a pause still running (DingTalk's rate-limit penalty)
    pause_reason: str | None
    window_sends: int               # sends in the robot's current rate window
    delivered_24h: int
    dead_24h: int
    digests_24h: int                # digest messages sent for it (storms)
    suppressed_24h: int             # repeats counted, not sent


@dataclass(frozen=True)
class AuditEntry:
    at: float
    who: str
    action: str                     # requeue, requeue_matching, retry_now, cancel, resume
    target: str                     # a message id, a robot, or a filter
    detail: str


@dataclass(frozen=True)
class HookSample:
    """A payload a hook received: ``body`` is its JSON text, secrets already masked (``None`` in listings)."""

    id: int
    hook: str                       # alertmanager, grafana or generic
    source: str
    received_at: float
    size: int                       # characters of JSON
    body: str | None = None


class Dashboard(Protocol):
    # reading
    def search(self, f: MessageFilter, *, before: int | None = None, limit: int = 50) -> Page: ...

    def overview(self, windows: Mapping[str, float], *, now: float) -> list[RobotRow]:
        """One row per robot of ``windows`` (robot -> its rate window in seconds), in that order."""
        ...

    def sends_per_minute(self, robots: Sequence[str], *, now: float, minutes: int = 60) -> dict[str, list[int]]:
        """Per robot, sends in each of the last ``minutes`` minutes, oldest first."""
        ...

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]: ...

    # acting: each returns how many messages (robots) it changed, and writes the audit log
    def requeue(self, message_id: str, *, who: str, now: float) -> int: ...
    def requeue_matching(self, f: MessageFilter, *, who: str, now: float) -> int: ...
    def retry_now(self, message_id: str, *, who: str, now: float) -> int: ...
    def cancel(self, message_id: str, *, who: str, now: float) -> int: ...
    def resume(self, robot: str, *, who: str, now: float) -> int: ...

    # the hooks' payload samples
    def record_sample(self, hook: str, source: str, body: str, *, now: float, keep: int = 20) -> None: ...
    def samples(self) -> list[HookSample]: ...
    def sample(self, sample_id: int) -> HookSample | None: ...

    def session_key(self) -> bytes:
        """The key that signs dashboard sessions: made once, kept in the database, shared by every process."""
        ...


__all__ = ["DAY_SECONDS", "AuditEntry", "Dashboard", "HookSample", "MessageFilter", "Page", "RobotRow"]
