"""The one JSON body parser of every endpoint: strict JSON, UTF-8, an object where one is needed, and no deeper
than :data:`MAX_JSON_DEPTH` levels.

Nesting is limited because later code (validation, templates, ``json.dumps``) recurses into the body: a body that
``json.loads`` still takes could otherwise end in a ``RecursionError`` far from here. Every failure is a
:class:`BodyInvalid`; :func:`json_body` turns it into a 400 ``{"error": …}`` and ``/robot/send`` into DingTalk's
``40035 缺少参数 json``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request

from ..gateway import Rejected

#: Bodies nesting objects or arrays deeper than this are refused (the deepest payload we know, Grafana's, has 5).
MAX_JSON_DEPTH = 64


class BodyInvalid(ValueError):
    """The body is not JSON we take. ``code``: ``invalid_json`` or ``json_too_deep``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: One decoder for every request (``json.loads`` with options would build a new one each time).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def parse_json(raw: bytes, *, object_required: bool = True, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` parsed, or :class:`BodyInvalid` saying why not (NaN and Infinity are not JSON either)."""
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BodyInvalid("invalid_json", f"the body is not valid JSON: {exc}") from None
    # A body cannot nest deeper than the number of its brackets: most bodies need no walk at all.
    if raw.count(b"{") + raw.count(b"[") > max_depth and _deeper_than(data, max_depth):
        raise _too_deep(max_depth)
    if object_required and not isinstance(data, dict):
        raise BodyInvalid("invalid_json", "the body must be a JSON object")
    return data


def _too_deep(max_depth: int) -> BodyInvalid:
    return BodyInvalid("json_too_deep", f"the body nests objects or arrays more than {max_depth} levels deep")


def _deeper_than(data: Any, max_depth: int) -> bool:
    """True if ``data`` nests containers more than ``max_depth`` levels deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def json_body(request: Request, *, object_required: bool = True) -> Any:
    """The request's JSON body, or :class:`Rejected` with 415 (not JSON) or 400 (invalid, too deep, not an
    object when ``object_required``)."""
    if not request.is_json:
        raise Rejected(415, "unsupported_media_type",
                       f"send Content-Type: application/json (got {request.mimetype or 'none'})", None)
    try:
        return parse_json(request.get_data(cache=True), object_required=object_required)
    except BodyInvalid as exc:
        raise Rejected(400, exc.code, exc.message, None) from None
