"""``/ui/messages``: every stored message, filtered and paginated, newest first; ``/ui/messages/<id>``: one message.

Filters (query parameters, so a filtered list is a link): ``status``, ``robot``, ``source``, ``since`` and ``until``
(``datetime-local``, Asia/Shanghai), ``q`` (text in the title). Pages go by the ``before`` cursor (a message's
sequence number), 50 a page. A message's page shows it as DingTalk shows it (sanitised HTML), its exact JSON, the
attempt timeline, the digest it went out in (or, for a digest, what it carried), the repeats suppressed in its
favour, and the actions that apply to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import abort, request
from flask.typing import ResponseReturnValue

from ...dashboard.markup import excerpt, message_html
from ...delivery.browse import MessageFilter
from ...delivery.model import ACTIVE, Attempt, Status, StoredMessage
from .site import CST, bp, page, safe, state

PAGE_SIZE = 50
FILTER_KEYS = ("status", "robot", "source", "since", "until", "q")


def _time(value: str) -> float | None:
    """A ``datetime-local`` value (Asia/Shanghai) as epoch seconds; ``ValueError`` if it is not one."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=CST).timestamp()


def parse_filter(args: Any) -> tuple[MessageFilter, list[str]]:
    """The filter the form's fields ask for, and what could not be read (ignored, and said so)."""
    problems = []
    status = args.get("status", "").strip()
    if status and status not in {s.value for s in Status}:
        problems.append(f"没有“{status}”这种状态，已忽略")
        status = ""
    times: dict[str, float | None] = {}
    for key, name in (("since", "开始时间"), ("until", "结束时间")):
        try:
            times[key] = _time(args.get(key, "").strip())
        except ValueError:
            problems.append(f"{name}格式不对（例如 2024-05-01T10:00），已忽略")
            times[key] = None
    return MessageFilter(status=status or None, robot=args.get("robot", "").strip() or None,
                         source=args.get("source", "").strip() or None, since=times["since"], until=times["until"],
                         text=args.get("q", "").strip()[:200] or None), problems


def filter_query(args: Any, **extra: Any) -> str:
    """The filter's query string (for the next page's link), with ``extra`` parameters."""
    kept = {k: args.get(k) for k in FILTER_KEYS if args.get(k)}
    return urlencode({**kept, **{k: v for k, v in extra.items() if v is not None}})


@bp.app_template_filter("excerpt")
def _excerpt(m: StoredMessage) -> str:
    try:
        return excerpt(json.loads(m.payload), skip=m.title)
    except ValueError:
        return ""


@bp.get("/messages")
def messages() -> ResponseReturnValue:
    ui = state()
    f, problems = parse_filter(request.args)
    before = request.args.get("before", "")
    found = ui.dashboard.search(f, before=int(before) if before.isdigit() else None, limit=PAGE_SIZE)
    tables = ui.gateway.tables
    return page("messages.html", found=found, filter=f, args=request.args, problems=problems,
                statuses=[s.value for s in Status], robots=list(tables.robots), sources=list(tables.sources),
                next_query=filter_query(request.args, before=found.next_before) if found.next_before else None,
                first_query=filter_query(request.args),
                filter_fields={k: request.args.get(k, "") for k in FILTER_KEYS},
                can_requeue=f.status in (None, Status.DEAD.value), now=ui.now())


def actions_for(m: StoredMessage, now: float) -> list[str]:
    """What can be done to ``m`` now: requeue (dead), retry now (waiting for a later attempt), cancel (waiting)."""
    found = []
    if m.status == Status.DEAD:
        found.append("requeue")
    if m.status in (Status.QUEUED, Status.RETRYING):
        if m.next_attempt_at > now:
            found.append("retry")
        found.append("cancel")
    return found


#: How each attempt on record ended, as the timeline says it.
OUTCOME_NAMES = {"delivered": "发送成功", "retry": "发送失败，稍后重试", "paused": "被钉钉限流，机器人暂停",
                 "dead": "发送失败，不再重试"}


def timeline(m: StoredMessage, attempts: Sequence[Attempt], now: float) -> list[tuple[float | None, str, str]]:
    """(when, what, detail) of the message's life: accepted, each send attempt on record (what DingTalk answered,
    how long it took, how it ended), then where it stands now."""
    events: list[tuple[float | None, str, str]] = [(m.created_at, "接收", f"来源 {m.source or '—'}，排入队列 "
                                                                        f"{m.robot or 'session'}")]
    for n, a in enumerate(attempts, 1):
        answer = [f"HTTP {a.http_status}" if a.http_status is not None else "钉钉无应答"]
        if a.errcode is not None:
            answer.append(f"errcode {a.errcode}")
        if a.duration is not None:
            answer.append(f"{a.duration * 1000:.0f} ms")
        if a.digest_id and a.digest_id != m.id:
            answer.append(f"随汇总消息 {a.digest_id} 发送")
        reason = a.error or a.errmsg
        detail = "，".join(answer) + (f"：{reason}" if reason and str(a.outcome) != "delivered" else "")
        events.append((a.started_at, f"第 {n} 次尝试：{OUTCOME_NAMES.get(str(a.outcome), str(a.outcome))}", detail))
    if m.attempts and not attempts:   # sent before attempts were recorded (schema 0004)
        events.append((None, f"尝试发送 {m.attempts} 次", ""))
        if m.last_error:
            code = f"errcode {m.last_errcode}：" if m.last_errcode is not None else ""
            events.append((m.updated_at, "上次失败", code + m.last_error))
    if m.status == Status.DELIVERED:
        events.append((m.delivered_at, "已送达", "钉钉已接受（errcode 0）"))
    elif m.status == Status.DEAD:
        events.append((m.updated_at, "失败", "不再重试；可以重新排队"))
    elif m.status == Status.SUPPRESSED:
        events.append((m.created_at, "已抑制", "与近期一条消息重复，只计数，不发送"))
    elif m.status in ACTIVE:
        when = "现在" if m.next_attempt_at <= now else ""
        events.append((m.next_attempt_at, "下次尝试", when))
    return events


@bp.get("/messages/<message_id>")
def message(message_id: str) -> ResponseReturnValue:
    ui = state()
    store = ui.gateway.store
    m = store.get(message_id)
    if m is None:
        abort(404)
    now = ui.now()
    payload = json.loads(m.payload)
    digest = store.get(m.digest_id) if m.digest_id and not m.is_digest else None
    carried = store.carried(m.id) if m.is_digest else []
    original = store.get(m.duplicate_of) if m.duplicate_of else None
    return page("message.html", m=m, payload=payload, html=safe(message_html(payload)),
                exact=m.payload.decode("utf-8", errors="replace"), size=len(m.payload),
                timeline=timeline(m, store.attempts(m.id), now),
                actions=actions_for(m, now), digest=digest, carried=carried, original=original, now=now)
