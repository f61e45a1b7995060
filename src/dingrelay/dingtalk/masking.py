"""Keeping secrets out of logs, errors and reprs.

Webhook URLs carry access tokens and session keys, so URLs are masked too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters whose values are secret.
SECRET_PARAMS = frozenset({"access_token", "session", "sign", "token", "secret", "ticket"})


def mask_value(value: str, keep: int = 4) -> str:
    """``"abcdef123456"`` -> ``"abcd****"``; short values become ``"****"``."""
    if len(value) <= keep * 2:
        return "****"
    return value[:keep] + "****"


def mask_url(url: str) -> str:
    """Mask the values of secret query parameters in ``url``; leave the rest readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if not parts.query:
        return url
    query = [
        (k, mask_value(v) if k.lower() in SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+")


def mask_text(text: str) -> str:
    """Mask every URL found inside free text (an exception message, a log line)."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


class Secret:
    """A string that never prints itself. Use :meth:`reveal` where the real value is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class WebhookURL(Secret):
    """A robot webhook URL; prints with its access token masked."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"WebhookURL({mask_url(self._value)!r})"

    def __str__(self) -> str:
        return mask_url(self._value)
