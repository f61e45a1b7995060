"""``POST /dingtalk/callback/<bot>``: messages people send to a robot (DingTalk's HTTP mode, PROTOCOL.md §2).

Verify the signature (within the bot's ``callback_window_seconds``) before reading anything else, parse, refuse a
message for another robot or corp (403), and answer with the reply (or ``{"msgtype":"empty"}``).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..bot import Bots, Refused
from ..dingtalk.callback import CallbackInvalid, CallbackRejected, parse_callback
from ..gateway import Rejected
from .body import json_body
from .ding import gateway
from .fields import checked_msg_id
from .metrics import note_repeat

bp = Blueprint("callback", __name__)


def _bots(name: str) -> Bots:
    bots: Bots | None = gateway().bots
    if bots is None or name not in bots:
        raise Rejected(404, "unknown_bot", f"no bot named {name!r} in the configuration (bots:)", "bot")
    return bots


@bp.post("/dingtalk/callback/<bot>")
def receive(bot: str) -> ResponseReturnValue:
    bots = _bots(bot)
    try:
        bots.verify(bot, request.headers.get("timestamp"), request.headers.get("sign"))
    except CallbackRejected as exc:
        raise Rejected(401, "unauthorized", f"callback signature rejected ({exc.reason}): {exc}",
                       "sign" if exc.reason == "mismatch" else "timestamp") from None
    try:
        message = parse_callback(json_body(request))
    except CallbackInvalid as exc:
        raise Rejected(422, "invalid_callback", str(exc), None) from None
    checked_msg_id(message.msg_id)
    note_repeat(bots, bot, message.msg_id)
    try:
        return jsonify(bots.answer(bot, message))
    except Refused as exc:
        raise Rejected(403, "wrong_robot", str(exc), exc.field) from None
