"""Every error answer is JSON ``{"error": {"code", "message", "field"}}``: never HTML, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ..delivery.store import StorageUnavailable
from ..gateway import Rejected

log = logging.getLogger("dingrelay.web")


def error(status: int, code: str, message: str, field: str | None = None) -> ResponseReturnValue:
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


def register(app: Flask) -> None:
    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected) -> ResponseReturnValue:
        return jsonify(exc.to_json()), exc.status

    @app.errorhandler(StorageUnavailable)
    def _storage(exc: StorageUnavailable) -> ResponseReturnValue:
        log.error("storage unavailable: %s", exc)
        if request.method in ("GET", "HEAD"):
            return error(503, "storage_unavailable", "the database cannot be read now; retry later")
        return error(503, "storage_unavailable", "the message could not be stored; retry later")

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
        log.exception("unhandled error")
        return error(500, "internal_error", "an internal error occurred; it has been logged")
