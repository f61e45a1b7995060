"""The one JSON body parser of every endpoint: the whole body within the size limit (chunked too), strict JSON,
UTF-8, an object where one is needed, no deeper than :data:`MAX_JSON_DEPTH` levels, and text in every string.

Nesting is limited because later code (validation, templates, ``json.dumps``) recurses into the body: a body that
``json.loads`` still takes could otherwise end in a ``RecursionError`` far from here. Strings must be text: a JSON
escape can still spell a lone surrogate (``"\\ud800"``), which no UTF-8 encoder takes, or NUL (``"\\u0000"``),
which PostgreSQL refuses in text columns. Both are refused, whatever the backend, rather than NUL being silently
dropped: the sender learns which field is wrong. Every failure is a :class:`BodyInvalid`; :func:`json_body` turns
it into a 400 ``{"error": …}`` (422 naming the field for a string that is not text) and ``/robot/send`` into
DingTalk's own answers.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from ..gateway import Rejected

#: Bodies nesting objects or arrays deeper than this are refused (the deepest payload we know, Grafana's, has 5).
MAX_JSON_DEPTH = 64


class BodyInvalid(ValueError):
    """The body is not JSON we take. ``code``: ``invalid_json``, ``json_too_deep``, or ``invalid_text`` (with
    ``field``, the path of the string that is not text, e.g. ``alerts.0.labels.alertname``)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: One decoder for every request (``json.loads`` with options would build a new one each time).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


#: The escapes that may decode to a lone surrogate or NUL: a body without any is text throughout (raw surrogates and
#: control characters already fail UTF-8 decoding or strict JSON), and most bodies are not walked at all.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
#: What a decoded string may not hold. JSON joins an escaped surrogate pair into one character, so any surrogate
#: left is a lone one.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def parse_json(raw: bytes, *, object_required: bool = True, max_depth: int = MAX_JSON_DEPTH,
               text_required: bool = True) -> Any:
    """``raw`` parsed, or :class:`BodyInvalid` saying why not (NaN and Infinity are not JSON either). With
    ``text_required``, also :func:`check_text`."""
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
    if text_required:
        check_text(raw, data)
    return data


def check_text(raw: bytes, data: Any) -> None:
    """:class:`BodyInvalid` (``invalid_text``, naming the field) if a string or key of ``data``, parsed from
    ``raw``, holds a lone surrogate or NUL."""
    if _SUSPECT_ESCAPE.search(raw) is None:
        return
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise BodyInvalid("invalid_text", f"{_dotted(path) or 'the body'}: {problem}", _dotted(path) or None)
        elif isinstance(value, dict):
            for key, child in value.items():
                problem = text_problem(key)
                if problem:
                    where = _dotted((*path, key))
                    raise BodyInvalid("invalid_text", f"the key {where}: {problem}", where)
                stack.append((child, (*path, key)))
        elif isinstance(value, list):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(value))


def text_problem(value: str) -> str | None:
    """Why ``value`` is not text we can store (a lone surrogate, NUL), or ``None``."""
    found = _NOT_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text may not contain NUL (\\u0000)"
    return f"text must be valid Unicode; a lone surrogate (\\u{ord(found.group()):04x}) is not a character"


def _dotted(path: tuple[str, ...]) -> str:
    """A field path, printable even when a key is not text."""
    return ".".join(part.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000") for part in path)


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


def body_bytes(request: Request) -> bytes:
    """The whole body, or :class:`RequestEntityTooLarge` when it is over ``request.max_content_length``, with a
    ``Content-Length`` or without one (chunked)."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # werkzeug stops reading a body without Content-Length at the limit, silently: is there more?
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def json_body(request: Request, *, object_required: bool = True) -> Any:
    """The request's JSON body, or :class:`Rejected` with 415 (not JSON), 413 (too large), 400 (invalid, too deep,
    not an object when ``object_required``) or 422 (a string that is not text, naming the field)."""
    if not request.is_json:
        raise Rejected(415, "unsupported_media_type",
                       f"send Content-Type: application/json (got {request.mimetype or 'none'})", None)
    return json_from(body_bytes(request), object_required=object_required)


def json_from(raw: bytes, *, object_required: bool = True) -> Any:
    """:func:`parse_json`, its refusal a :class:`Rejected`: 400 (invalid, too deep, not an object when
    ``object_required``) or 422 (a string that is not text, naming the field)."""
    try:
        return parse_json(raw, object_required=object_required)
    except BodyInvalid as exc:
        raise Rejected(422 if exc.field is not None else 400, exc.code, exc.message, exc.field) from None
