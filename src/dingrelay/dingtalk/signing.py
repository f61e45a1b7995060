"""加签: the HMAC-SHA256 signature DingTalk uses for robot webhooks and callbacks (PROTOCOL.md §1.3, §2.1).

Sign fresh for every request; never cache a signed URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote_plus

#: Allowed clock skew between the signer and the verifier, in milliseconds (one hour).
SIGNATURE_WINDOW_MS = 3_600_000

Clock = Callable[[], float]
"""Returns the current Unix time in seconds, like :func:`time.time`."""


def now_ms(clock: Clock = time.time) -> int:
    return int(clock() * 1000)


def sign(secret: str, timestamp_ms: int | str) -> str:
    """The raw Base64 signature of ``timestamp + "\\n" + secret`` keyed by ``secret``.

    This is the form DingTalk sends in a callback's ``sign`` header.
    """
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_query(secret: str, timestamp_ms: int) -> dict[str, str]:
    """Query parameters for a signed webhook call, with the signature still raw.

    Give these to an HTTP client's query encoder, which URL-encodes them exactly once.
    """
    return {"timestamp": str(timestamp_ms), "sign": sign(secret, timestamp_ms)}


def encoded_sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded signature, for building a query string by hand."""
    return quote_plus(sign(secret, timestamp_ms))


class SignatureCheckFailed(Exception):
    """A signature did not verify. ``reason`` is ``"stale"``, ``"missing"`` or ``"mismatch"``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    *,
    now: int,
    window_ms: int = SIGNATURE_WINDOW_MS,
) -> None:
    """Check a (timestamp, sign) pair against ``secret``; raise :class:`SignatureCheckFailed` if it fails.

    ``now`` is the verifier's time in milliseconds. The signature is compared in constant time.
    """
    if not timestamp or not signature:
        raise SignatureCheckFailed("missing", "timestamp and sign are both required")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureCheckFailed("stale", "timestamp is not a number of milliseconds") from None
    if abs(now - ts) > window_ms:
        raise SignatureCheckFailed(
            "stale", f"timestamp is {abs(now - ts) // 1000}s away from now; the window is ±{window_ms // 1000}s"
        )
    expected = sign(secret, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureCheckFailed("mismatch", "signature does not match the secret")
