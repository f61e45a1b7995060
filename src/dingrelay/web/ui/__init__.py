"""The dashboard at ``/ui/``: server-rendered pages (Jinja2, ``templates/``, interface text in Chinese), one module
per idea: ``site`` (the blueprint, shared state and filters), ``security`` (sign-in guard, CSRF, headers),
``auth`` (login), ``overview``, ``messages``, ``actions`` (requeue, retry, cancel, resume, the audit log),
``previews`` (the template page) and ``recording`` (what the hooks received, kept as samples). No JavaScript:
the overview refreshes itself with a meta refresh and draws its charts as inline SVG. It may import Flask, the
gateway, the tables, the delivery queue's records and protocol, and ``dingrelay.dashboard``; no settings and no
storage library (everything comes through :class:`~dingrelay.delivery.browse.Dashboard`)."""

from __future__ import annotations

import logging

from flask import Flask
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from ...dashboard.samples import SampleRecorder
from ...dashboard.throttle import Throttle
from ...delivery.browse import Dashboard
from ...gateway import Gateway
from . import actions, auth, messages, overview, previews, security  # noqa: F401 (their views join the blueprint)
from .recording import record_hook_sample
from .site import UI, bp, page

log = logging.getLogger("dingrelay.web")


def known_secrets(gateway: Gateway) -> list[str]:
    """Every token and secret of the tables, and the users' password hashes: no page may show one."""
    t = gateway.tables
    found = [s.token.reveal() for s in t.sources.values()]
    found += [r.access_token.reveal() for r in t.robots.values() if r.access_token is not None]
    found += [r.secret.reveal() for r in t.robots.values() if r.secret is not None]
    found += [h.reveal() for h in t.users.values()]
    return [s for s in found if s]


def install(app: Flask, gateway: Gateway, dashboard: Dashboard) -> UI:
    """Serve the dashboard on ``app``; its sessions are signed with the key the store keeps."""
    secrets = known_secrets(gateway)
    ui = UI(dashboard=dashboard, gateway=gateway, throttle=Throttle(),
            recorder=SampleRecorder(dashboard, secrets, clock=gateway.clock), secrets=secrets)
    app.extensions["dingrelay.ui"] = ui
    security.configure(app, key=dashboard.session_key(), https=gateway.tables.public_url.startswith("https://"))
    app.register_blueprint(bp)
    return ui


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    title = {404: "找不到页面", 405: "不支持的请求方法"}.get(exc.code or 0, "请求出错")
    return page("error.html", exc.code or 400, title=title, message=Markup.escape(exc.description or ""))


__all__ = ["UI", "install", "record_hook_sample"]
