"""Password hashes for the dashboard's users: scrypt (``hashlib``), in one self-describing string.

``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in unpadded base64), which ``dingrelay passwd`` prints and
``dashboard.users.<name>.password_hash`` holds. The cost parameters travel with the hash, so raising them later
keeps old hashes valid. Checking compares in constant time, and an unknown user costs as much as a known one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from ..dingtalk.masking import Secret

SCHEME = "scrypt"
#: OWASP's scrypt minimum (N=2^14, r=8, p=5): 16 MiB and a few tens of milliseconds per check.
N, R, P = 2**14, 8, 5
_MAXMEM = 256 * 1024 * 1024
_SALT_BYTES = 16
_HASH_BYTES = 32


class HashInvalid(ValueError):
    """Not a hash ``dingrelay passwd`` made."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_HASH_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(hashed: str) -> tuple[int, int, int, bytes, bytes]:
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise HashInvalid("is not a password hash: run `dingrelay passwd` and paste the line it prints "
                          "(scrypt$…)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise HashInvalid("is a damaged scrypt hash: run `dingrelay passwd` again and paste the whole line") from None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 64 or n * r * 128 * 2 > _MAXMEM or not digest:
        raise HashInvalid("has scrypt parameters out of range: run `dingrelay passwd` again")
    return n, r, p, salt, digest


def valid_hash(value: Secret) -> Secret:
    """``value`` if it holds a hash :func:`verify` can check; else :class:`HashInvalid` saying what to do."""
    _parse(value.reveal())
    return value


@functools.cache
def _dummy() -> str:
    """Checked against when the user is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def verify(password: str, hashed: str | None) -> bool:
    """Does ``password`` match ``hashed``? ``None`` (no such user) is checked against a dummy and fails."""
    n, r, p, salt, digest = _parse(hashed or _dummy())
    given = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=len(digest))
    return hmac.compare_digest(given, digest) and hashed is not None


def fingerprint(hashed: str) -> str:
    """A short tag of ``hashed`` kept in a session: changing the password ends the sessions made before."""
    return hashlib.sha256(hashed.encode()).hexdigest()[:16]
