"""What a card's silence link does once the person confirmed it: the silence, the audit entry, the group's notice.

:meth:`CardSilencer.silence` creates the silence in the source's configured Alertmanager (never one named by a
payload), ``createdBy`` ``"<name> via DingTalk card"``, its comment naming the alert and carrying the link's id
(``[dingrelay-link:<id>]``). Then it records an audit entry (who, from which address, which alert, the silence id
and duration) and queues a notice to the robots the card went to ("张三 静默了 DiskFull 1小时…"), through the
durable queue like every message.

**One silence per link.** Before creating, the Alertmanager's silences (every state: active, pending, expired)
are searched for the link's id; a link already used answers the silence it made, and creates, records and
notifies nothing again. Within one process the search and the creation hold a lock, so two POSTs at once make one
silence; across processes the window is the few milliseconds between the search and the creation. The notice is
queued with the link's id as its idempotency key, so it is never queued twice either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from .api import Alertmanager, AlertmanagerError
from .links import SilenceLink

log = logging.getLogger("dingrelay.chatops")
SHANGHAI = ZoneInfo("Asia/Shanghai")
CREATED_BY_SUFFIX = " via DingTalk card"
#: What a person may give as their name.
MAX_NAME_CHARS = 40


class AuditLog(Protocol):
    def record_audit(self, *, actor: str, action: str, target: str, detail: str, now: float) -> None: ...


class Notices(Protocol):
    def notify(self, source: str, text: str, robots: Sequence[str], *, key: str) -> None:
        """Queue ``text`` to ``robots`` (the card's) on behalf of ``source``; once per ``key``."""
        ...


class NoAlertmanager(Exception):
    """The link's source has no Alertmanager configured (any more)."""


@dataclass(frozen=True)
class Silenced:
    silence_id: str
    ends_at: datetime
    created: bool          # False: the link was used before; this is the silence it made then
    notified: bool = True  # False: the silence holds, but the notice could not be queued


def marker(link: SilenceLink) -> str:
    return f"[dingrelay-link:{link.id}]"


def human_duration(seconds: int) -> str:
    """``3600`` -> ``1小时``, ``5400`` -> ``90分钟``, ``86400`` -> ``1天``."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400}天"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}小时"
    return f"{max(1, seconds // 60)}分钟"


def shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def clean_name(raw: str) -> str | None:
    """The name a person typed, trimmed, without control characters; ``None`` when empty or too long."""
    name = " ".join("".join(ch for ch in raw if ch.isprintable()).split())
    if not name or len(name) > MAX_NAME_CHARS:
        return None
    return name


class CardSilencer:
    """Silences through ``alertmanagers`` (source -> its client), recording to ``audit``, telling the group through
    ``notices``."""

    def __init__(self, alertmanagers: Mapping[str, Alertmanager], *, audit: AuditLog, notices: Notices,
                 clock: Callable[[], float] = time.time) -> None:
        self._alertmanagers = alertmanagers
        self._audit = audit
        self._notices = notices
        self._clock = clock
        self._lock = threading.Lock()

    def can_silence(self, source: str) -> bool:
        return source in self._alertmanagers

    def silence(self, link: SilenceLink, *, who: str, address: str) -> Silenced:
        """Silence what ``link`` names for ``who``; :class:`AlertmanagerError` when Alertmanager fails,
        :class:`NoAlertmanager` when the source has none. The audit entry and the notice are written after the
        silence exists; a storage failure then is reported as ``notified=False``, the silence kept."""
        am = self._alertmanagers.get(link.source)
        if am is None:
            raise NoAlertmanager(link.source)
        with self._lock:
            used = self._used(am, link)
            if used is not None:
                return used
            now = datetime.fromtimestamp(self._clock(), UTC)
            ends = now + timedelta(seconds=link.seconds)
            comment = f"{link.alertname}：钉钉告警卡片按钮静默 {human_duration(link.seconds)} {marker(link)}"
            silence_id = am.create_silence(link.matchers, starts_at=now, ends_at=ends,
                                           created_by=f"{who}{CREATED_BY_SUFFIX}", comment=comment)
        return Silenced(silence_id, ends, created=True, notified=self._tell(link, who, address, silence_id, ends))

    def _used(self, am: Alertmanager, link: SilenceLink) -> Silenced | None:
        mark = marker(link)
        for s in am.silences(states=()):
            if mark in s.comment:
                return Silenced(s.id, s.ends_at, created=False)
        return None

    def _tell(self, link: SilenceLink, who: str, address: str, silence_id: str, ends: datetime) -> bool:
        duration = human_duration(link.seconds)
        matchers = ", ".join(str(m) for m in link.matchers)
        try:
            self._audit.record_audit(
                actor=f"card:{who}"[:200], action="silence", target=link.alertname,
                detail=f"silence {silence_id} for {duration} ({link.seconds}s) from {address or '?'} via source "
                       f"{link.source}, link {link.id}: {matchers}", now=self._clock())
            text = (f"{who} 静默了 {link.alertname} {duration}（至 {shanghai(ends)} 北京时间，"
                    f"静默 ID {silence_id[:8]}）")
            if link.robots:
                self._notices.notify(link.source, text, link.robots, key=f"silence-link:{link.id}")
        except Exception as exc:  # the silence holds; the page says the group was not told
            log.error("silence %s was created, but its audit entry or notice was not stored: %s: %s",
                      silence_id, type(exc).__name__, exc)
            return False
        return True


__all__ = ["AlertmanagerError", "CardSilencer", "NoAlertmanager", "Silenced", "clean_name", "human_duration"]
