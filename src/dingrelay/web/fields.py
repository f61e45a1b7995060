"""The values outside the JSON body that the store keeps or looks up, checked at the door: the ``Idempotency-Key``
header, message ids in paths, a callback's msgId, query arguments a template may show.

Each must be text (:func:`~.body.text_problem`: no NUL, no lone surrogate) and fit its column
(:mod:`dingrelay.delivery.model`'s ``MAX_…``, which size the columns too), so a bad value is a 4xx naming it, alike
on SQLite and PostgreSQL, and never reaches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from flask import Request

from ..delivery.model import MAX_ID, MAX_IDEMPOTENCY_KEY, MAX_MSG_ID
from ..gateway import Rejected
from .body import text_problem

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: What the store's message ids look like (lowercase hex); anything else names no message.
_MESSAGE_ID = re.compile(f"[0-9a-f]{{1,{MAX_ID}}}")


def checked_text(value: str, field: str, *, max_chars: int | None = None, required: bool = True) -> str:
    """``value`` if it is text of 1 (0 unless ``required``) to ``max_chars`` characters, else 422 naming
    ``field``."""
    problem = text_problem(value)
    if problem:
        raise Rejected(422, "invalid_text", f"{field}: {problem}", field)
    if max_chars is not None and len(value) > max_chars:
        raise Rejected(422, "invalid_field", f"{field} is {len(value)} characters long; at most {max_chars} are kept",
                       field)
    if required and not value:
        raise Rejected(422, "invalid_field", f"{field} must not be empty", field)
    return value


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header (1 to 200 characters), if given."""
    return checked_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))


def checked_idempotency_key(key: str | None) -> str | None:
    """An ``Idempotency-Key`` header's value, checked (``None``: not given)."""
    if key is None:
        return None
    return checked_text(key, IDEMPOTENCY_HEADER, max_chars=MAX_IDEMPOTENCY_KEY)


def checked_message_id(value: str) -> str:
    """``value`` if it can be a message id, else 404: no message has it (the value itself is not echoed)."""
    if _MESSAGE_ID.fullmatch(value) is None:
        raise Rejected(404, "not_found", "no such message: message ids are the lowercase hex ids a 202 gave", "id")
    return value


def checked_msg_id(value: str) -> str:
    """A callback's ``msgId``: how a bot knows a redelivered message."""
    return checked_text(value, "msgId", max_chars=MAX_MSG_ID)


def text_args(args: Mapping[str, str], *, skip: Iterable[str] = (), field: str = "args") -> dict[str, str]:
    """The query arguments but ``skip``, each checked to be text (a template may put them in a stored title)."""
    skipped = set(skip)
    return {k: checked_text(v, f"{field}.{checked_text(k, field, required=False)}", required=False)
            for k, v in args.items() if k not in skipped}
