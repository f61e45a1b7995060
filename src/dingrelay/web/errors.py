"""Every error answer is JSON ``{"error": {"code", "message", "field"}}``: never HTML, never a stack trace."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Request, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ..delivery.store import StorageUnavailable
from ..gateway import Rejected

log = logging.getLogger("dingrelay.web")


def error(status: int, code: str, message: str, field: str | None = None) -> ResponseReturnValue:
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


def json_body(request: Request) -> Any:
    """The request's JSON body, or :class:`Rejected` with 415 (not JSON) or 400 (invalid JSON)."""
    if not request.is_json:
        raise Rejected(415, "unsupported_media_type",
                       f"send Content-Type: application/json (got {request.mimetype or 'none'})", None)
    try:
        data = json.loads(request.get_data(cache=True))
    except ValueError as exc:
        raise Rejected(400, "invalid_json", f"the body is not valid JSON: {exc}", None) from None
    if not isinstance(data, dict):
        raise Rejected(400, "invalid_json", "the body must be a JSON object", None)
    return data


def register(app: Flask) -> None:
    @app.errorhandler(Rejected)
    def _rejected(exc: Rejected) -> ResponseReturnValue:
        return jsonify(exc.to_json()), exc.status

    @app.errorhandler(StorageUnavailable)
    def _storage(exc: StorageUnavailable) -> ResponseReturnValue:
        log.error("storage unavailable: %s", exc)
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
