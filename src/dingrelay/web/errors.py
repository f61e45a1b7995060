"""Every error answer is JSON ``{"error": {"code", "message", "field"}}``: never HTML, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ..delivery.store import StorageUnavailable
from ..gateway import Rejected

log = logging.getLogger("dingrelay.web")


def error(status: int, code: str, message: str, field: str | None = None) -> ResponseReturnValue:
    return jsonify(_body(code, message, field)), status


def storage_unavailable(exc: StorageUnavailable, method: str) -> tuple[int, dict[str, Any]]:
    """The answer when the database cannot be read or written (logged)."""
    log.error("storage unavailable: %s", exc)
    if method in ("GET", "HEAD"):
        return 503, _body("storage_unavailable", "the database cannot be read now; retry later")
    return 503, _body("storage_unavailable", "the message could not be stored; retry later")


def unexpected() -> tuple[int, dict[str, Any]]:
    """The answer to an error we did not expect (logged, with its trace, from inside the ``except``)."""
    log.exception("unhandled error")
    return 500, _body("internal_error", "an internal error occurred; it has been logged")


def _body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def register(app: Flask) -> None:
    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected) -> ResponseReturnValue:
        return jsonify(exc.to_json()), exc.status

    @app.errorhandler(StorageUnavailable)
    def _storage(exc: StorageUnavailable) -> ResponseReturnValue:
        status, body = storage_unavailable(exc, request.method)
        return jsonify(body), status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        code = (exc.name or "error").lower().replace(" ", "_")
        status = exc.code or 500
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error(413, "too_large", f"the request body is larger than {limit} bytes")
        return error(status, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        status, body = unexpected()
        return jsonify(body), status
