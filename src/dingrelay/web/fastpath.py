"""``POST /ding/send`` and ``POST /api/v1/messages`` answered in front of Flask: the hottest requests, without a
request context each.

Flask's own work per request (a request and an app context, URL matching, before/after hooks, a response object)
cost as much as the gateway's whole work for the tutorial's body (README, Performance). :class:`FastPaths` wraps
the app's ``wsgi_app`` and answers the plain case of each of its routes itself, with the same function the Flask
view calls (:func:`.ding.take`, :func:`.api.take`), the same JSON and the same error answers:

- ``POST`` to the exact path, ``Content-Type: application/json`` (optionally ``; charset=utf-8``), a
  ``Content-Length`` within ``limits.max_body_bytes``, no ``Transfer-Encoding``;
- anything else (chunked or oversized bodies, other media types, a body cut short, other methods) goes to Flask
  untouched, or for a body already read, with that body, and Flask answers as before.

Its answers are counted as Flask's are (``http_requests_total`` by route, the endpoint a message came through).
``tests/gateway/test_gateway_fastpath.py`` sends every kind of request to the app with and without it and compares the
answers byte for byte.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from ..delivery.metrics import current_endpoint
from ..delivery.store import StorageUnavailable
from ..gateway import Gateway, Rejected
from . import api, ding
from .body import json_from
from .errors import storage_unavailable, unexpected
from .fields import checked_idempotency_key

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: A route's answer to a parsed request: (status, JSON body); a :class:`Rejected` is answered as Flask would.
Handler = Callable[[Gateway, dict[str, Any], bytes], tuple[int, Any]]

_JSON_TYPE = re.compile(r"application/json(?:\s*;\s*charset=\"?utf-8\"?)?", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,12}")


def _handler(take: Callable[..., tuple[int, Any]]) -> Handler:
    """The fast path's handler for a route whose Flask view answers with ``take`` (:func:`.ding.take`,
    :func:`.api.take`): the same body, bearer token and Idempotency-Key, read from the WSGI environ."""
    def handle(gw: Gateway, environ: dict[str, Any], raw: bytes) -> tuple[int, Any]:
        return take(gw, json_from(raw), bearer=ding.bearer_of(environ.get("HTTP_AUTHORIZATION", "")),
                    idempotency_key=checked_idempotency_key(environ.get("HTTP_IDEMPOTENCY_KEY")))
    return handle


#: (method, path) -> (the Flask rule it stands for, its handler).
ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("POST", "/ding/send"): ("/ding/send", _handler(ding.take)),
    ("POST", "/api/v1/messages"): ("/api/v1/messages", _handler(api.take)),
}


class FastPaths:
    """WSGI middleware: :data:`ROUTES`' plain requests answered here, every other request by ``app``."""

    def __init__(self, app: WsgiApp, gateway: Gateway, *, max_body_bytes: int) -> None:
        self._app = app
        self._gateway = gateway
        self._max = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = ROUTES.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if route is None or not self._plain(environ):
            return self._app(environ, start_response)
        length = int(environ["CONTENT_LENGTH"])
        raw = environ["wsgi.input"].read(length) if length else b""
        if len(raw) != length:   # the client went away mid-body: Flask answers that as before
            environ["wsgi.input"] = io.BytesIO(raw)
            return self._app(environ, start_response)
        rule, handler = route
        status, body = self._answer(rule, handler, environ, raw)
        self._gateway.metrics.http_request(rule, status)
        data = (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _plain(self, environ: dict[str, Any]) -> bool:
        length = environ.get("CONTENT_LENGTH", "")
        return (_JSON_TYPE.fullmatch(environ.get("CONTENT_TYPE", "")) is not None
                and _DIGITS.fullmatch(length) is not None and int(length) <= self._max
                and "HTTP_TRANSFER_ENCODING" not in environ)

    def _answer(self, rule: str, handler: Handler, environ: dict[str, Any], raw: bytes) -> tuple[int, Any]:
        token = current_endpoint.set(rule)
        try:
            return handler(self._gateway, environ, raw)
        except Rejected as exc:
            return exc.status, exc.to_json()
        except StorageUnavailable as exc:
            return storage_unavailable(exc, environ["REQUEST_METHOD"])
        except Exception:
            return unexpected()
        finally:
            current_endpoint.reset(token)
