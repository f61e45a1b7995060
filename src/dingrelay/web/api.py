"""``/api/v1/messages``: any msgtype or a named template, to chosen robots, with an optional Idempotency-Key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..gateway import Gateway, Rejected, message_json, rendered_from, with_mentions
from .body import json_body
from .ding import bearer_token, gateway
from .fields import checked_message_id, idempotency_key

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/messages")
def create() -> ResponseReturnValue:
    status, body = take(gateway(), json_body(request), bearer=bearer_token(), idempotency_key=idempotency_key(request))
    return jsonify(body), status


def take(gw: Gateway, data: dict[str, Any], *, bearer: str | None, idempotency_key: str | None
         ) -> tuple[int, dict[str, Any]]:
    """Accept the parsed body ``data``: (202 stored, or 200 a repeated Idempotency-Key, and the answer), or
    :class:`Rejected`. The Flask view and :mod:`.fastpath` both answer with it."""
    source = gw.authenticate_request(bearer, data)
    robots_field = data.get("robots")
    if robots_field is not None and (not isinstance(robots_field, list)
                                     or not all(isinstance(r, str) for r in robots_field)):
        raise Rejected(422, "invalid_field", "robots must be a list of robot names", "robots")
    robots = gw.robots_for(source, robots_field)
    has_message, has_template = "message" in data, "template" in data
    if has_message == has_template:
        raise Rejected(422, "missing_field", "give either message (a DingTalk JSON body) or template with data",
                       "message")
    fingerprint = None   # a DingTalk body as given: the body itself
    if has_message:
        message = gw.parse(data["message"])
    else:
        template = data["template"]
        if not isinstance(template, str) or not template:
            raise Rejected(422, "invalid_field", "template must be a template name", "template")
        tdata = data.get("data", {})
        if not isinstance(tdata, dict):
            raise Rejected(422, "invalid_field", "data must be a JSON object", "data")
        message = gw.render(template, {**tdata, "source": source})
        fingerprint = rendered_from(template, {"data": tdata, "at": data.get("at")})
    message = with_mentions(message, data.get("at"))
    accepted = gw.accept(source, message, robots, idempotency_key=idempotency_key, fingerprint=fingerprint)
    first = accepted.messages[0]
    body = {"id": first.id, "ids": accepted.ids, "status": str(first.status), "duplicate": not accepted.created}
    return 202 if accepted.created else 200, body


@bp.get("/messages/<message_id>")
def show(message_id: str) -> ResponseReturnValue:
    gw = gateway()
    source = gw.authenticate(bearer_token() or request.args.get("token"))
    m = gw.lookup(source, checked_message_id(message_id))
    return jsonify(message_json(m, gw.store.attempts(m.id)))
