"""``/silence/<token>``: the page behind an alert card's 静默 buttons, in Chinese, for DingTalk's in-app browser on
a phone (no JavaScript, one form).

::

    GET  /silence/<token>   names the alert and the duration, asks who is silencing; changes nothing
    POST /silence/<token>   form fields ``name`` and ``check``: creates the silence, shows its id and end time

The token is a signed link (:mod:`dingrelay.chatops.links`); the POST's ``check`` is bound to the token and to a
random value in a cookie set by the GET (SameSite=Lax, so a form on another site cannot post it). The name is
remembered in a cookie for the next card. Every answer is a page, never JSON or a 500: 400 a malformed link, 403
a forged one or a form without its check, 410 an expired one, 404 when the gateway has no silence links or the
source no Alertmanager, 413 a form over 4 KiB, 422 no name, 429 more than 10 POSTs a minute from one address,
502 when Alertmanager refuses, 503 when it cannot be reached. The alert hooks ask :func:`card_buttons` for a
card's buttons.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from flask import Blueprint, Flask, Response, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..adapters.alertmanager import Alert, ordered
from ..chatops.links import CardLinks, LinkRefused, SilenceLink, view_buttons
from ..chatops.silence_page import (
    MAX_NAME_CHARS,
    AlertmanagerError,
    CardSilencer,
    NoAlertmanager,
    clean_name,
    human_duration,
    shanghai,
)
from ..dashboard.throttle import Throttle
from ..dingtalk.messages import Text
from ..gateway import Gateway
from ..tables import SourceEntry

log = logging.getLogger("dingrelay.web")

bp = Blueprint("silence", __name__, url_prefix="/silence", template_folder="silence_templates")

EXTENSION = "dingrelay.silence_links"
NONCE_COOKIE = "dingrelay_silence"
NAME_COOKIE = "dingrelay_silence_name"
MAX_FORM_BYTES = 4096
POSTS_PER_MINUTE = 10
ACTIONCARD_TEMPLATE = "alertmanager_actioncard"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
REFUSALS = {
    "malformed": ("链接无效", "这个静默链接不完整或已损坏。请回到钉钉群，重新点击告警卡片上的按钮。"),
    "bad_signature": ("链接校验失败", "这个静默链接的签名不对：它可能被修改或截断了。"
                      "请回到钉钉群，重新点击告警卡片上的按钮。"),
    "expired": ("链接已过期", "静默链接在卡片发出 24 小时后失效。如仍需静默，请在 Alertmanager 中操作，"
                "或用机器人的 silence 命令。"),
}


class GatewayNotices:
    """The group's notice, queued like every message: to the card's robots (those still configured), with each
    robot's keyword put in front when the text lacks it."""

    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway

    def notify(self, source: str, text: str, robots: Sequence[str], *, key: str) -> None:
        tables = self._gw.tables
        known = [r for r in robots if r in tables.robots or r in tables.pools]
        if not known:
            return
        message = self._gw.with_keywords(Text(content=text), known, template="silence_notice")
        self._gw.accept(source, message, known, idempotency_key=key)


@dataclass(frozen=True)
class SilenceState:
    links: CardLinks
    silencer: CardSilencer
    throttle: Throttle
    https: bool


def install(app: Flask, gateway: Gateway, links: CardLinks | None) -> None:
    """Serve ``/silence/…`` (always: without ``links`` it answers 404 pages)."""
    if links is not None:
        silencer = CardSilencer(links.alertmanagers, audit=gateway.store, notices=GatewayNotices(gateway),
                                clock=gateway.clock)
        app.extensions[EXTENSION] = SilenceState(
            links, silencer, Throttle(max_failures=POSTS_PER_MINUTE, window=60.0, lockout=60.0),
            https=links.public_url.startswith("https://"))
    app.register_blueprint(bp)


def card_buttons(entry: SourceEntry, alerts: Sequence[Alert], robots: Sequence[str]) -> list[dict[str, str]] | None:
    """The buttons of an Alertmanager card of ``alerts`` for ``robots``: ``None`` when it is a markdown card (no
    alert of it routed to ``card: actioncard``), else its buttons (maybe none)."""
    if not any(entry.router.card_for(a.labels, entry.card) == "actioncard" for a in alerts):
        return None
    in_order = ordered(alerts)
    state: SilenceState | None = current_app.extensions.get(EXTENSION)
    if state is None:
        return view_buttons(in_order)
    return state.links.buttons(entry.name, in_order, robots)


# -- the pages -------------------------------------------------------------------------------------------------


def _page(template: str, status: int, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers.update(HEADERS)
    return response


def _refused(title: str, message: str, status: int) -> Response:
    return _page("silence_refused.html", status, title=title, message=message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    if isinstance(exc, RequestEntityTooLarge):
        return _refused("表单过大", f"提交的内容超过 {MAX_FORM_BYTES} 字节。请只填写姓名后重试。", 413)
    return _refused("请求出错", "无法处理这个请求。请回到钉钉群，重新点击告警卡片上的按钮。", exc.code or 400)


@bp.before_request
def _small_forms() -> None:
    request.max_content_length = MAX_FORM_BYTES


def _state() -> SilenceState | None:
    state: SilenceState | None = current_app.extensions.get(EXTENSION)
    return state


def _link(state: SilenceState | None, token: str) -> SilenceLink | Response:
    if state is None:
        return _refused("未启用静默链接", "这个网关没有配置 server.public_url 和 server.link_secret，"
                        "不能通过卡片按钮静默告警。", 404)
    try:
        link = state.links.signer.verify(token)
    except LinkRefused as exc:
        title, message = REFUSALS[exc.code]
        return _refused(title, message, exc.status)
    if not state.silencer.can_silence(link.source):
        return _refused("无法静默", f"来源 {link.source} 没有配置 Alertmanager（sources.{link.source}.alertmanager），"
                        "请联系网关管理员。", 404)
    return link


def _confirm_page(state: SilenceState, link: SilenceLink, token: str, nonce: str, *, name: str = "",
                  error: str = "", status: int = 200) -> Response:
    response = _page("silence_confirm.html", status, link=link, duration=human_duration(link.seconds),
                     expires=shanghai_epoch(link.expires_at), name=name, error=error, max_name=MAX_NAME_CHARS,
                     check=state.links.signer.form_check(token, nonce))
    response.set_cookie(NONCE_COOKIE, nonce, max_age=86400, path="/silence", httponly=True, samesite="Lax",
                        secure=state.https)
    return response


def shanghai_epoch(epoch: int) -> str:
    return shanghai(datetime.fromtimestamp(epoch, UTC))


@bp.get("/<token>")
def confirm(token: str) -> ResponseReturnValue:
    state = _state()
    link = _link(state, token)
    if isinstance(link, Response):
        return link
    assert state is not None
    nonce = request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(18)
    return _confirm_page(state, link, token, nonce, name=unquote(request.cookies.get(NAME_COOKIE, "")))


@bp.post("/<token>")
def silence(token: str) -> ResponseReturnValue:
    state = _state()
    address = request.remote_addr or ""
    if state is not None:
        key = state.throttle.key("silence", address)
        if state.throttle.retry_after(key) > 0:
            return _refused("操作太频繁", "一分钟内提交次数过多，请稍后再试。", 429)
        state.throttle.failed(key)   # every POST counts
    link = _link(state, token)
    if isinstance(link, Response):
        return link
    assert state is not None
    nonce = request.cookies.get(NONCE_COOKIE, "")
    if not state.links.signer.form_check_ok(token, nonce, request.form.get("check", "")):
        return _refused("请求被拒绝", "表单校验失败（页面可能不是从卡片按钮打开的，或浏览器未保存 Cookie）。"
                        "请回到钉钉群，重新点击告警卡片上的按钮。", 403)
    name = clean_name(request.form.get("name", ""))
    if name is None:
        return _confirm_page(state, link, token, nonce, name=request.form.get("name", "")[:MAX_NAME_CHARS],
                             error=f"请填写你的姓名（1–{MAX_NAME_CHARS} 个字），群里会看到是谁静默的。", status=422)
    try:
        done = state.silencer.silence(link, who=name, address=address)
    except NoAlertmanager:
        return _refused("无法静默", f"来源 {link.source} 没有配置 Alertmanager。", 404)
    except AlertmanagerError as exc:
        log.warning("a card's silence for %s failed: %s", link.alertname, exc)
        if exc.retryable:
            return _refused("Alertmanager 暂时不可用", "没有创建静默：Alertmanager 没有响应或出错了。"
                            "请稍后刷新本页重试；如果一直失败，请联系网关管理员检查 Alertmanager。", 503)
        return _refused("Alertmanager 拒绝了静默", f"没有创建静默：Alertmanager 拒绝了请求（HTTP {exc.status}）。"
                        "请联系网关管理员查看网关日志，或直接在 Alertmanager 中静默。", 502)
    response = _page("silence_done.html", 200, link=link, done=done, duration=human_duration(link.seconds),
                     ends=shanghai(done.ends_at), name=name)
    response.set_cookie(NAME_COOKIE, quote(name), max_age=180 * 86400, path="/silence", httponly=True,
                        samesite="Lax", secure=state.https)
    return response


__all__ = ["ACTIONCARD_TEMPLATE", "GatewayNotices", "bp", "card_buttons", "install"]
