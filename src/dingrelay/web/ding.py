"""``/ding/send``: the tutorial-compatible endpoint (green info / red error 巡检 cards)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..gateway import Gateway, Rejected, rendered_from
from .body import json_body
from .fields import idempotency_key

bp = Blueprint("ding", __name__)

LEVELS = ("info", "error")
USAGE = {
    "usage": "POST /ding/send with Content-Type: application/json",
    "body": {
        "source": "the source's token (or send Authorization: Bearer <token>)",
        "title": "巡检标题 (required)",
        "content": "巡检内容 (required)",
        "level": "info (green card, default) or error (red card)",
        "author": "相关人员 (default 巡检机器人)",
        "url": "详情 link (optional)",
    },
    "answers": "202 {id, status} once the message is stored; GET /api/v1/messages/<id> shows its progress",
    "example": {"source": "<token>", "title": "rds日志拉去", "content": "rds日志拉去正常"},
}


def gateway() -> Gateway:
    gw: Gateway = current_app.extensions["dingrelay.gateway"]
    return gw


def bearer_token() -> str | None:
    return bearer_of(request.headers.get("Authorization", ""))


def bearer_of(auth: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header's value."""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _text(data: dict[str, Any], key: str, *, required: bool, default: str = "") -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Rejected(422, "missing_field", f"{key} is required", key)
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Rejected(422, "invalid_field", f"{key} must be a string", key)
    return str(value)


@bp.get("/ding/send")
def usage() -> ResponseReturnValue:
    return jsonify(USAGE)


@bp.post("/ding/send")
def send() -> ResponseReturnValue:
    status, body = take(gateway(), json_body(request), bearer=bearer_token(), idempotency_key=idempotency_key(request))
    return jsonify(body), status


def take(gw: Gateway, data: dict[str, Any], *, bearer: str | None, idempotency_key: str | None
         ) -> tuple[int, dict[str, Any]]:
    """Accept the tutorial's body ``data`` (parsed), sent with the token ``bearer`` (from Authorization) or in
    ``source``: (202, the answer), or :class:`Rejected`. The Flask view and :mod:`.fastpath` both answer with it."""
    source = gw.authenticate_request(bearer, data)
    level = _text(data, "level", required=False, default="info").lower()
    if level not in LEVELS:
        raise Rejected(422, "invalid_level", f"level must be info or error, not {data.get('level')!r}", "level")
    fields = {
        "title": _text(data, "title", required=True),
        "content": _text(data, "content", required=True),
        "author": _text(data, "author", required=False, default="巡检机器人"),
        "url": _text(data, "url", required=False, default=gw.tables.public_url),
        "level": level,
        "source": source,
    }
    robots = gw.robots_for(source, None)
    message = gw.render(level, fields, field="level")
    accepted = gw.accept(source, message, robots, idempotency_key=idempotency_key,
                         fingerprint=rendered_from(level, fields))
    first = accepted.messages[0]
    return 202, {"id": first.id, "ids": accepted.ids, "status": str(first.status)}   # a repeated key too
