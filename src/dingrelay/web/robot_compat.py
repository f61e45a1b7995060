"""``POST /robot/send``: a drop-in for DingTalk's own webhook (PROTOCOL.md §1).

An existing script or SDK changes only the host of its webhook URL. It sends exactly what it sent to DingTalk
(the robot's ``access_token``, and ``timestamp``/``sign`` if the robot uses 加签) and gets DingTalk's answer shape
back: HTTP 200 with ``{"errcode": …, "errmsg": …}``. ``errcode 0`` means the message is durably queued; the
gateway re-signs it on delivery.

Checks run in DingTalk's order (§1.8): token, Content-Type, size, JSON, signature, msgtype, fields, keywords.
A string that is not text (NUL, a lone surrogate) is a field error (400402 naming it). Bad input never gets a 5xx.
Only a failure to store answers HTTP 503 with errcode -1 (系统繁忙), which SDKs retry.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..delivery.model import MAX_IDEMPOTENCY_KEY
from ..dingtalk import signing
from ..dingtalk.errors import MessageInvalid
from ..dingtalk.keywords import satisfies_keywords
from ..dingtalk.messages import MAX_BODY_BYTES, Message, parse_message
from ..gateway import Gateway, Rejected
from .body import BodyInvalid, body_bytes, check_text, parse_json
from .ding import gateway

log = logging.getLogger("dingrelay.web.robot_compat")

bp = Blueprint("robot_compat", __name__)

#: Source name recorded for messages that came in through this endpoint for robot ``name``.
SOURCE_PREFIX = "robot:"
#: The msgtypes DingTalk's webhook takes, plus ``image`` (sent by DingtalkChatbot).
MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard", "image")
#: The field DingTalk names when the msgtype object itself is missing or not an object.
_FIRST_FIELD = {"text": "content", "markdown": "title", "link": "title", "actionCard": "title",
                "feedCard": "links", "image": "picURL"}
#: ``msgUuid`` becomes the idempotency key, which the store keeps up to this many characters.
MAX_MSG_UUID = MAX_IDEMPOTENCY_KEY


class DingAnswer(Exception):
    """Answer DingTalk-style: ``{"errcode", "errmsg"}`` with HTTP ``status`` (200 unless storing failed)."""

    def __init__(self, errcode: int, errmsg: str, status: int = 200) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg
        self.status = status


def _answer(errcode: int, errmsg: str, status: int = 200) -> tuple[Response, int]:
    return jsonify({"errcode": errcode, "errmsg": errmsg}), status


def field_errmsg(msgtype: str, field: str) -> str:
    """DingTalk's 400402 wording for a missing or ill-typed field."""
    return f"错误描述:参数 {msgtype} --》 {field} 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;"


def too_long(limit: int = MAX_BODY_BYTES) -> DingAnswer:
    return DingAnswer(460101, f"message too long, exceed {limit} bytes")


@bp.errorhandler(DingAnswer)
def _ding_answer(exc: DingAnswer) -> tuple[Response, int]:
    return _answer(exc.errcode, exc.errmsg, exc.status)


@bp.post("/robot/send")
def send() -> tuple[Response, int]:
    gw = gateway()
    robot = _robot_for(gw, request.args.get("access_token"))
    raw, body = _body()
    _verify_signature(gw, robot)
    message, msg_uuid = _message(raw, body)
    _check_keywords(gw, robot, message)
    try:
        gw.accept(SOURCE_PREFIX + robot, message, [robot], idempotency_key=msg_uuid)
    except Rejected as exc:  # the checks above mirror Gateway.check, so this is a safety net
        if exc.code == "too_large":
            raise too_long() from None
        if exc.code == "keyword_missing":
            raise DingAnswer(310000, "keywords not in content") from None
        raise DingAnswer(400402, field_errmsg(message.msgtype, exc.field or message.msgtype)) from None
    except Exception:
        log.exception("robot %s: storing a /robot/send message failed", robot)
        raise DingAnswer(-1, "系统繁忙", status=503) from None
    return _answer(0, "ok")


def _robot_for(gw: Gateway, token: str | None) -> str:
    """The robot whose webhook has ``token``, compared in constant time against every robot."""
    if not token:
        raise DingAnswer(40035, "缺少参数 access_token")
    found = gw.robot_with_token(token)
    if found is None:
        raise DingAnswer(300005, "token is not exist")
    return found


def _body() -> tuple[bytes, dict[str, Any]]:
    media_type = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise DingAnswer(43004, "无效的HTTP HEADER Content-Type")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_long()
    try:
        raw = body_bytes(request)
    except RequestEntityTooLarge:  # the server's own limit (server.max_body_bytes) is lower still
        raise too_long(min(MAX_BODY_BYTES, gateway().tables.limits.max_body_bytes)) from None
    if len(raw) > MAX_BODY_BYTES:  # a chunked body has no Content-Length
        raise too_long()
    try:
        data: dict[str, Any] = parse_json(raw, text_required=False)  # text is a field's matter: see _message
    except BodyInvalid:  # invalid, too deep, or not an object: DingTalk answers all three alike
        raise DingAnswer(40035, "缺少参数 json") from None
    return raw, data


def _verify_signature(gw: Gateway, robot: str) -> None:
    """加签: a robot with a secret requires a valid timestamp and sign, exactly as DingTalk does.

    Knowing the token is not enough to bypass the robot's signing. A robot without a secret ignores them, as DingTalk
    does. ``sign`` is the query value decoded once, so a double-encoded signature does not match.
    """
    secret = gw.tables.robots[robot].secret
    if secret is None:
        return
    timestamp, sign = request.args.get("timestamp"), request.args.get("sign")
    if not timestamp:
        raise DingAnswer(310000, "invalid timestamp")
    try:
        signing.verify(secret.reveal(), timestamp, sign, now=signing.now_ms(gw.clock))
    except signing.SignatureCheckFailed as exc:
        if exc.reason == "stale":
            raise DingAnswer(310000, "invalid timestamp") from None
        raise DingAnswer(310000, "sign not match") from None


def _message(raw: bytes, body: dict[str, Any]) -> tuple[Message, str | None]:
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in MSGTYPES:
        raise DingAnswer(400105, "不支持的消息类型")
    try:
        check_text(raw, body)
    except BodyInvalid as exc:
        raise DingAnswer(400402, field_errmsg(msgtype, _dingtalk_field(msgtype, exc.field))) from None
    msg_uuid = body.get("msgUuid")
    if msg_uuid is not None and (not isinstance(msg_uuid, str) or not 0 < len(msg_uuid) <= MAX_MSG_UUID):
        raise DingAnswer(400402, field_errmsg(msgtype, "msgUuid"))
    try:
        message = parse_message(body, allow_image=True)
    except MessageInvalid as exc:
        if "DingTalk accepts at most" in str(exc):  # re-serialised, it still exceeds the limit
            raise too_long() from None
        raise DingAnswer(400402, field_errmsg(msgtype, _dingtalk_field(msgtype, exc.field))) from None
    if message.size() > MAX_BODY_BYTES:
        raise too_long()
    return message, msg_uuid


def _dingtalk_field(msgtype: str, field: str | None) -> str:
    """Our field path (``feedCard.links.0.picURL``) in DingTalk's notation (``links[0].picURL``)."""
    if not field or field in ("msgtype", msgtype):
        return _FIRST_FIELD.get(msgtype, msgtype)
    parts = field.split(".")
    if parts[0] == msgtype:
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _check_keywords(gw: Gateway, robot: str, message: Message) -> None:
    if not satisfies_keywords(message, gw.tables.robots[robot].keywords):
        raise DingAnswer(310000, "keywords not in content")
