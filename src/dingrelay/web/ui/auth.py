"""Signing in and out: ``/ui/login`` (a form with ``username`` and ``password``) and ``/ui/logout``.

There is no default password: with no ``dashboard.users`` the login page says how to add one. Failed logins are
throttled per username and address (:mod:`dingrelay.dashboard.throttle`): after five within five minutes, every
attempt is refused (429) for five minutes, the right password too.
"""

from __future__ import annotations

import math

from flask import redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ...dashboard.passwords import verify
from .security import csrf_token, signed_in, start_session
from .site import bp, page, state


def _next_page() -> str:
    """Where to go after signing in: a dashboard path given as ``next``, else the overview."""
    target = request.args.get("next") or request.form.get("next") or ""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("ui.overview")


@bp.get("/login")
def login() -> ResponseReturnValue:
    if not state().gateway.tables.users:
        return page("setup.html")
    if signed_in() is not None:
        return redirect(_next_page())
    csrf_token()  # the login form's POST carries it too
    return page("login.html", next=_next_page())


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    ui = state()
    users = ui.gateway.tables.users
    if not users:
        return page("setup.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    key = ui.throttle.key(username, request.remote_addr or "")
    wait = ui.throttle.retry_after(key)
    if wait > 0:
        return page("login.html", 429, next=_next_page(), username=username,
                    error=f"登录失败次数过多，请 {math.ceil(wait / 60)} 分钟后再试。")
    hashed = users.get(username)
    if not verify(password, hashed.reveal() if hashed is not None else None):
        ui.throttle.failed(key)
        return page("login.html", 401, next=_next_page(), username=username, error="用户名或密码错误。")
    ui.throttle.succeeded(key)
    start_session(username)
    return redirect(_next_page(), 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("ui.login"), 303)
