"""The dashboard's guards, applied to every ``/ui/`` request.

- Signed in: a page without a session redirects to ``/ui/login`` (``next`` says where to come back). A session
  names a configured user and the fingerprint of that user's password hash, so changing the password (or removing
  the user) ends it.
- CSRF: every POST carries the session's token in ``csrf_token``; a POST without it (or with another) is refused
  with 403 and changes nothing.
- Headers: a Content-Security-Policy that allows only the dashboard's own style sheet and forms to itself (no
  script, no frame, no remote image), ``X-Frame-Options: DENY``, ``nosniff``, no referrer, no caching.
- Secrets: every configured token and secret is scrubbed from each page before it leaves (the views mask too).
- The session cookie: HttpOnly, SameSite=Strict, path ``/ui``, Secure when ``server.public_url`` is https. Only
  ``/ui`` requests open a session: a browser sends the cookie nowhere else, so the API skips reading and signing it.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, Request, Response, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import ResponseReturnValue

from ...dashboard.masking import scrub
from ...dashboard.passwords import fingerprint
from .site import bp, current_user, page, state

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: Reachable without signing in.
PUBLIC = frozenset({"ui.login", "ui.login_submit", "ui.static"})
SESSION_HOURS = 12


def _under_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


class _UiSessions(SecureCookieSessionInterface):
    """The dashboard's signed-cookie sessions, opened on ``/ui`` requests only (the cookie's path); every other
    request gets Flask's null session, which is never saved."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        return super().open_session(app, request) if _under_ui(request.path) else None


def configure(app: Flask, *, key: bytes, https: bool) -> None:
    app.secret_key = key
    app.session_interface = _UiSessions()
    app.config.update(SESSION_COOKIE_NAME="dingrelay_ui", SESSION_COOKIE_PATH="/ui", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=https,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))

    @app.after_request
    def _headers(response: Response) -> Response:
        if _under_ui(request.path):
            response.headers.update(HEADERS)
            if request.endpoint != "ui.static":
                response.headers["Cache-Control"] = "no-store"
                if response.mimetype == "text/html" and not response.direct_passthrough:
                    body = response.get_data(as_text=True)
                    cleaned = scrub(body, state().secrets)
                    if cleaned != body:
                        response.set_data(cleaned)
        return response


def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


bp.add_app_template_global(csrf_token, "csrf_token")


signed_in = current_user


def start_session(user: str) -> None:
    """A fresh session for ``user`` (nothing of the signed-out one is kept, the CSRF token neither)."""
    session.clear()
    session["user"] = user
    session["pw"] = fingerprint(state().gateway.tables.users[user].reveal())
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    if request.endpoint == "ui.static":
        return None
    if request.method == "POST":
        given = request.form.get("csrf_token", "")
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            return page("error.html", 403, title="请求被拒绝",
                        message="表单缺少有效的 CSRF 令牌（页面可能已过期）。请刷新页面后重试。")
    if request.endpoint in PUBLIC:
        return None
    if not state().gateway.tables.users:  # nobody can sign in: say how to add a user
        return page("setup.html") if request.endpoint == "ui.overview" else redirect(url_for("ui.login"))
    if signed_in() is None:
        session.pop("user", None)
        target = (request.full_path if request.query_string else request.path) if request.method == "GET" else None
        return redirect(url_for("ui.login", next=target), 303 if request.method == "POST" else 302)
    return None
