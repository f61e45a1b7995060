"""The dashboard's blueprint and what every view shares: the state the app factory installs (:class:`UI`), the
gateway, the signed-in user, page rendering, and the Jinja filters for times (Asia/Shanghai, as the cards show
them), ages and masking."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, session
from markupsafe import Markup

from ...dashboard.masking import mask_all, scrub
from ...dashboard.passwords import fingerprint
from ...dashboard.samples import SampleRecorder
from ...dashboard.throttle import Throttle
from ...delivery.browse import Dashboard
from ...gateway import Gateway

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")

CST = ZoneInfo("Asia/Shanghai")
STATUS_NAMES = {"queued": "排队中", "sending": "发送中", "retrying": "等待重试", "delivered": "已送达",
                "dead": "失败", "suppressed": "已抑制（重复）"}


@dataclass
class UI:
    """What the dashboard works with, made once by :func:`dingrelay.web.ui.install`."""

    dashboard: Dashboard
    gateway: Gateway
    throttle: Throttle
    recorder: SampleRecorder
    #: Every configured token and secret: scrubbed from each page as a last line of defence.
    secrets: Sequence[str] = field(default_factory=tuple)
    clock: Callable[[], float] | None = None

    def now(self) -> float:
        return (self.clock or self.gateway.clock)()


def state() -> UI:
    ui: UI = current_app.extensions["dingrelay.ui"]
    return ui


def current_user() -> str | None:
    """The session's user, if it names a configured user whose password is unchanged since signing in."""
    user = session.get("user")
    users = state().gateway.tables.users
    if not isinstance(user, str) or user not in users:
        return None
    if not hmac.compare_digest(str(session.get("pw", "")), fingerprint(users[user].reveal())):
        return None
    return user


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A page of the dashboard: ``template`` with what the layout needs (the user, the CSRF token)."""
    return render_template(template, user=current_user(), **context), status


# -- filters ---------------------------------------------------------------------------------------------------


@bp.app_template_filter("cst")
def cst(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} 秒"
    if seconds < 3600:
        return f"{seconds // 60:.0f} 分 {seconds % 60:.0f} 秒"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} 小时 {seconds % 3600 // 60:.0f} 分"
    return f"{seconds // 86400:.0f} 天 {seconds % 86400 // 3600:.0f} 小时"


@bp.app_template_filter("ago")
def ago(ts: float | None) -> str:
    if ts is None:
        return "—"
    delta = state().now() - ts
    return f"{duration(delta)}前" if delta >= 0 else f"{duration(-delta)}后"


@bp.app_template_filter("mask")
def mask(text: Any) -> str:
    """Secret parameters masked, and every configured secret replaced."""
    return mask_all(str(text), state().secrets) if text is not None else ""


@bp.app_template_filter("status_name")
def status_name(status: str) -> str:
    return STATUS_NAMES.get(str(status), str(status))


@bp.app_template_filter("pretty_json")
def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def safe(html: str) -> Markup:
    """HTML made by :mod:`dingrelay.dashboard.markup` (sanitised there), with configured secrets scrubbed."""
    return Markup(scrub(html, state().secrets))  # noqa: S704 (sanitised by nh3 in dashboard.markup)
