"""Request checks, each returning the Answer DingTalk gives when it fails (PROTOCOL.md §1.2-§1.5).

Independent of dingrelay's own message models on purpose: a client bug must not be mirrored here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from dingrelay.dingtalk import signing

from .codes import (
    BAD_CONTENT_TYPE,
    BAD_FIELD,
    MISSING_PARAM,
    SECURITY,
    TOO_LONG,
    UNSUPPORTED_MSGTYPE,
    Answer,
    field_errmsg,
)

SUPPORTED_MSGTYPES = ("text", "link", "markdown", "actionCard", "feedCard", "image")


def check_content_type(value: str | None) -> Answer | None:
    """``application/json``, optionally with parameters such as ``charset=utf-8``."""
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return Answer(BAD_CONTENT_TYPE, "无效的HTTP HEADER Content-Type")
    return None


def check_size(size: int, limit: int) -> Answer | None:
    if size > limit:
        return Answer(TOO_LONG, f"message too long, exceed {limit} bytes")
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes) -> dict[str, Any] | Answer:
    """The body as a JSON object, or the 40035 answer."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return Answer(MISSING_PARAM, "缺少参数 json")
    return data


def check_signature(secret: str, timestamp: str | None, sign: str | None, now_ms: int) -> Answer | None:
    """加签: ``sign`` is the query value as decoded once by the query parser."""
    try:
        signing.verify(secret, timestamp, sign, now=now_ms)
    except signing.SignatureCheckFailed as exc:
        if exc.reason == "mismatch":
            return Answer(SECURITY, "sign not match")
        return Answer(SECURITY, "invalid timestamp")
    return None


def check_msgtype(body: dict[str, Any]) -> Answer | None:
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in SUPPORTED_MSGTYPES:
        return Answer(UNSUPPORTED_MSGTYPE, "不支持的消息类型")
    return None


class _Missing(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _required(obj: dict[str, Any], key: str, path: str = "") -> None:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _Missing(path + key)


def _optional(obj: dict[str, Any], key: str, *, ints_too: bool = False) -> None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return
    if ints_too and isinstance(value, int) and not isinstance(value, bool):
        return
    raise _Missing(key)


def _object(value: object, first_field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Missing(first_field)
    return value


def _items(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise _Missing(key)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Missing(f"{key}[{i}]")
    return value


def _text(part: object) -> None:
    _required(_object(part, "content"), "content")


def _markdown(part: object) -> None:
    obj = _object(part, "title")
    _required(obj, "title")
    _required(obj, "text")


def _link(part: object) -> None:
    obj = _object(part, "title")
    for key in ("title", "text", "messageUrl"):
        _required(obj, key)
    _optional(obj, "picUrl")


def _image(part: object) -> None:
    _required(_object(part, "picURL"), "picURL")


def _action_card(part: object) -> None:
    obj = _object(part, "title")
    _required(obj, "title")
    _required(obj, "text")
    _optional(obj, "btnOrientation", ints_too=True)
    _optional(obj, "hideAvatar", ints_too=True)
    single = [obj.get("singleTitle"), obj.get("singleURL")]
    if all(isinstance(v, str) and v for v in single):
        return  # 整体跳转: btns is ignored
    if obj.get("btns") is not None:
        for i, btn in enumerate(_items(obj, "btns")):
            _required(btn, "title", f"btns[{i}].")
            _required(btn, "actionURL", f"btns[{i}].")
        return
    if any(v is not None for v in single):
        _required(obj, "singleTitle")
        _required(obj, "singleURL")
    raise _Missing("btns")


def _feed_card(part: object) -> None:
    obj = _object(part, "links")
    for i, link in enumerate(_items(obj, "links")):
        for key in ("title", "messageURL", "picURL"):
            _required(link, key, f"links[{i}].")


_CHECKERS = {
    "text": _text,
    "markdown": _markdown,
    "link": _link,
    "image": _image,
    "actionCard": _action_card,
    "feedCard": _feed_card,
}


def _at(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _Missing("at")
    for key in ("atMobiles", "atUserIds"):
        items = value.get(key)
        if items is not None and not (isinstance(items, list) and all(isinstance(i, str) for i in items)):
            raise _Missing(f"at.{key}")
    if value.get("isAtAll") is not None and not isinstance(value["isAtAll"], bool):
        raise _Missing("at.isAtAll")


def check_fields(body: dict[str, Any]) -> Answer | None:
    """Required fields present with the right type (call after :func:`check_msgtype`)."""
    msgtype = body["msgtype"]
    try:
        _CHECKERS[msgtype](body.get(msgtype))
        _at(body.get("at"))
        if body.get("msgUuid") is not None and not isinstance(body["msgUuid"], str):
            raise _Missing("msgUuid")
    except _Missing as missing:
        return Answer(BAD_FIELD, field_errmsg(msgtype, missing.field))
    return None


def _strings(value: object) -> Iterator[str]:
    """Every string nested anywhere inside ``value`` (iteratively: bodies may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_keywords(body: dict[str, Any], keywords: Sequence[str]) -> Answer | None:
    """Some keyword must be a substring of some string inside the msgtype object (titles, buttons too)."""
    if not keywords:
        return None
    for text in _strings(body.get(body["msgtype"])):
        if any(keyword in text for keyword in keywords):
            return None
    return Answer(SECURITY, "keywords not in content")
