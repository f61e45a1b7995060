"""The dashboard's actions (POST, each with the CSRF token) and ``/ui/audit``, the log of who did what and when.

- ``/ui/messages/<id>/requeue``: a dead message goes back to its queue (a dead digest: what it carried);
- ``/ui/messages/requeue``: every dead message the filter in the form matches;
- ``/ui/messages/<id>/retry``: a message waiting for a later attempt is due now;
- ``/ui/messages/<id>/cancel``: a waiting message ends dead, saying who cancelled it;
- ``/ui/robots/<robot>/resume``: a paused robot's pause ends now.

Each answers with a redirect back (post/redirect/get) and a one-line notice of what it did.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from .messages import filter_query, parse_filter
from .site import bp, current_user, page, state

AUDIT_ROWS = 200


def _who() -> str:
    return current_user() or "?"


def _back_to(message_id: str) -> ResponseReturnValue:
    return redirect(url_for("ui.message", message_id=message_id), 303)


@bp.post("/messages/<message_id>/requeue")
def requeue(message_id: str) -> ResponseReturnValue:
    ui = state()
    n = ui.dashboard.requeue(message_id, who=_who(), now=ui.now())
    flash(f"已重新排队 {n} 条消息。" if n else "没有重新排队：这条消息不是失败状态。")
    return _back_to(message_id)


@bp.post("/messages/requeue")
def requeue_matching() -> ResponseReturnValue:
    ui = state()
    f, problems = parse_filter(request.form)
    if problems:  # an ignored field would widen what is requeued
        flash("没有重新排队：" + "；".join(problems).replace("，已忽略", "") + "。")
    else:
        n = ui.dashboard.requeue_matching(f, who=_who(), now=ui.now())
        flash(f"已把 {n} 条匹配的失败消息重新排队。")
    return redirect(url_for("ui.messages") + "?" + filter_query(request.form), 303)


@bp.post("/messages/<message_id>/retry")
def retry_now(message_id: str) -> ResponseReturnValue:
    ui = state()
    n = ui.dashboard.retry_now(message_id, who=_who(), now=ui.now())
    flash("已安排立即重试。" if n else "没有可以提前的重试：这条消息不在等待重试。")
    return _back_to(message_id)


@bp.post("/messages/<message_id>/cancel")
def cancel(message_id: str) -> ResponseReturnValue:
    ui = state()
    n = ui.dashboard.cancel(message_id, who=_who(), now=ui.now())
    flash(f"已取消 {n} 条消息。" if n else "没有取消：这条消息已不在等待（可能正在发送或已结束）。")
    return _back_to(message_id)


@bp.post("/robots/<robot>/resume")
def resume(robot: str) -> ResponseReturnValue:
    ui = state()
    if robot not in ui.gateway.tables.robots:
        abort(404)
    n = ui.dashboard.resume(robot, who=_who(), now=ui.now())
    flash(f"机器人 {robot} 已恢复发送。" if n else f"机器人 {robot} 没有暂停。")
    return redirect(url_for("ui.overview"), 303)


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    return page("audit.html", entries=state().dashboard.audit_log(limit=AUDIT_ROWS))
