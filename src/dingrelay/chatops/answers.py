"""The ChatOps replies, in Chinese: the numbered alert list, the silence list, and one-line confirmations.

Alerts are grouped by ``alertname``; groups with the most severe alert come first (critical, warning, info, then
any other severity), and within a group the most severe and longest-firing first. Each alert gets a number, counted
on across the groups, that ``ack`` takes; the list stops at ``limit`` alerts with "…另有 N 条".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..adapters.matchers import Matcher
from ..rendering import SHANGHAI
from .api import Alert, Silence
from .durations import say

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
LIST_LIMIT = 20
ID_PREFIX = 8
_LINE = 160     # characters of one alert's labels and summary, at most


def severity_rank(alert: Alert) -> int:
    return SEVERITY_ORDER.get(alert.labels.get("severity", "").casefold(), len(SEVERITY_ORDER))


def ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Grouped by alertname, the groups by their most severe alert then name; in a group, severity then age."""
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        groups.setdefault(a.name, []).append(a)
    ranked = sorted(groups.items(), key=lambda g: (min(severity_rank(a) for a in g[1]), g[0]))
    return [a for _, members in ranked for a in sorted(members, key=lambda a: (severity_rank(a), a.starts_at))]


def alert_list(alerts: Sequence[Alert], now: datetime, *, filtered: Sequence[Matcher] = (),
               limit: int = LIST_LIMIT) -> tuple[str, list[Alert]]:
    """The reply to ``alerts`` and the alerts it numbered 1..n, in that order."""
    where = f"（条件 {', '.join(map(str, filtered))}）" if filtered else ""
    if not alerts:
        return f"当前没有正在告警的告警{where}。", []
    everything = ordered(alerts)
    shown = everything[:limit]
    lines = [f"正在告警 {len(everything)} 条{where}："]
    current = None
    for n, a in enumerate(shown, 1):
        if a.name != current:
            current = a.name
            count = sum(1 for x in everything if x.name == a.name)
            lines.append(f"【{a.name or '(无 alertname)'}】{count} 条")
        lines.append(f"{n}. {describe(a)} · 已持续 {say(now - a.starts_at)}")
    if len(everything) > len(shown):
        lines.append(f"…另有 {len(everything) - len(shown)} 条（加上条件缩小范围，例如 alerts severity=critical）")
    lines.append("认领：ack 编号；静默：silence 标签=值 时长 备注")
    return "\n".join(lines), shown


def describe(alert: Alert) -> str:
    """``[critical] instance=web-1 job=node · 磁盘将满``: severity, the other labels, the summary."""
    severity = alert.labels.get("severity")
    labels = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity"))
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    text = " · ".join(part for part in (labels, summary) if part)
    text = text if len(text) <= _LINE else text[:_LINE - 1] + "…"
    return f"[{severity}] {text}" if severity else text


def labels_text(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))


def matchers_text(matchers: Sequence[Matcher]) -> str:
    return ", ".join(str(m) for m in matchers)


def when(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + "（北京时间）"


def short_id(silence_id: str) -> str:
    return silence_id[:ID_PREFIX]


def silence_list(silences: Sequence[Silence], now: datetime) -> str:
    if not silences:
        return "当前没有生效中的静默。"
    lines = [f"生效中的静默 {len(silences)} 条："]
    for s in silences[:LIST_LIMIT]:
        parts = [short_id(s.id), matchers_text(s.matchers), s.created_by or "(未知)",
                 f"{say(s.ends_at - now)}后结束"]
        if s.comment:
            parts.append(s.comment)
        lines.append("- " + " · ".join(parts))
    if len(silences) > LIST_LIMIT:
        lines.append(f"…另有 {len(silences) - LIST_LIMIT} 条")
    lines.append("解除：unsilence id前缀")
    return "\n".join(lines)


def silenced(silence_id: str, matchers: Sequence[Matcher], ends_at: datetime) -> str:
    return (f"已静默 {matchers_text(matchers)}，至 {when(ends_at)}；id {silence_id}，"
            f"解除：unsilence {short_id(silence_id)}")


def unsilenced(silence: Silence, who: str) -> str:
    return f"{who} 已解除静默 {short_id(silence.id)}（{matchers_text(silence.matchers)}）。"


def acked(number: int, alert: Alert, who: str, mention: str, silence_id: str, ends_at: datetime) -> str:
    at = f" @{mention}" if mention else ""
    return (f"{who}{at} 认领了告警 {number}：{alert.name}（{labels_text(alert)}），已静默至 {when(ends_at)}，"
            f"告警恢复后自动解除；id {short_id(silence_id)}")
