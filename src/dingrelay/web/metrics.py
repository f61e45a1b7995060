"""``GET /metrics`` (Prometheus' text format) and the request hooks that count every answer.

Each request is counted by its Flask rule (``/hooks/alertmanager/<source>``, never the raw path, which may carry
a token) and status; requests no rule matches count as ``unmatched``. HTTP callbacks of a configured bot also
count by outcome: ``answered``, ``duplicate`` (a msgId answered before), ``refused_signature`` (401),
``invalid`` (400, 413, 415, 422) or ``failed``. With ``metrics.token`` set, a scrape needs it as
``Authorization: Bearer``, compared in constant time.

Processes without the HTTP API (``dingrelay worker``, ``dingrelay stream``) serve ``/metrics`` alone on
``metrics.listen``: :func:`metrics_server`, an app of this blueprint only, on a small threaded server.
"""

from __future__ import annotations

import hmac
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..bot import Bots
from ..delivery.metrics import current_endpoint
from ..gateway import Gateway, Rejected
from . import errors
from .ding import bearer_token, gateway

bp = Blueprint("metrics", __name__)

#: The callback view's endpoint name (``web.callback``).
CALLBACK_ENDPOINT = "callback.receive"
_REPEAT = "dingrelay_callback_repeat"


@bp.get("/metrics")
def scrape() -> ResponseReturnValue:
    gw = gateway()
    token = gw.tables.metrics_token
    if token is not None and not hmac.compare_digest((bearer_token() or "").encode(), token.reveal().encode()):
        raise Rejected(401, "unauthorized", "GET /metrics needs the metrics token (metrics.token) as "
                       "Authorization: Bearer <token>", "Authorization")
    body, content_type = gw.metrics.exposition()
    return Response(body, content_type=content_type)


def note_repeat(bots: Bots, bot: str, msg_id: str) -> None:
    """Before answering a callback: remember whether ``msg_id`` was answered (or taken) before."""
    if bots.replies.get(bot, msg_id) is not None:
        g.setdefault(_REPEAT, True)


def _endpoint() -> str:
    """The Flask rule of this request; for a 405, the rule its path matched with another method."""
    if request.url_rule is not None:
        return request.url_rule.rule
    exc = request.routing_exception
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        try:
            rule, _ = current_app.url_map.bind_to_environ(request.environ).match(
                method=next(iter(exc.valid_methods)), return_rule=True)
            return str(rule.rule)
        except HTTPException:
            pass
    return "unmatched"


def _callback_outcome(status: int) -> str | None:
    bot = (request.view_args or {}).get("bot")
    bots = gateway().bots
    if bots is None or bot not in bots:
        return None   # no such bot: a name anyone can make up is no label
    if status == 200:
        return "duplicate" if g.get(_REPEAT) else "answered"
    if status in (401, 403):
        return "refused_signature"
    return "invalid" if status in (400, 413, 415, 422) else "failed"


def register(app: Flask) -> None:
    """Count every answer of ``app``; let the gateway see which endpoint accepted each message."""

    @app.before_request
    def _begin() -> None:
        g.dingrelay_rule = _endpoint()
        g.dingrelay_endpoint = current_endpoint.set(g.dingrelay_rule)

    @app.after_request
    def _count(response: Response) -> Response:
        metrics = gateway().metrics
        metrics.http_request(g.get("dingrelay_rule") or _endpoint(), response.status_code)
        if request.url_rule is not None and request.url_rule.endpoint == CALLBACK_ENDPOINT:
            outcome = _callback_outcome(response.status_code)
            if outcome is not None:
                metrics.callback(str((request.view_args or {})["bot"]), outcome)
        return response

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        token = g.pop("dingrelay_endpoint", None)
        if token is not None:
            current_endpoint.reset(token)


def metrics_app(gateway: Gateway) -> Flask:
    """An app that serves ``GET /metrics`` only (every other path: a JSON 404)."""
    app = Flask("dingrelay.metrics")
    app.extensions["dingrelay.gateway"] = gateway
    errors.register(app)
    register(app)
    app.register_blueprint(bp)
    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:   # a scrape every few seconds is no news
        pass


def metrics_server(gateway: Gateway, host: str, port: int) -> WSGIServer:
    """:func:`metrics_app` bound to ``host:port``; the caller runs ``serve_forever`` and ``shutdown``."""
    return make_server(host, port, metrics_app(gateway), server_class=_Server, handler_class=_QuietHandler)
