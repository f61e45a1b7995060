"""Between database rows and the plain dataclasses of :mod:`..model` (no database type leaks out of the store)."""

from __future__ import annotations

import secrets
from typing import Any

from ..model import Status, StoredMessage

#: The lease columns of a message no process is sending.
RELEASED: dict[str, Any] = {"lease_until": None, "lease_owner": None}


def new_id() -> str:
    return secrets.token_hex(10)


def to_message(r: Any) -> StoredMessage:
    """A ``dr_messages`` row as a :class:`StoredMessage`."""
    return StoredMessage(
        id=r.id, seq=int(r.seq), queue=r.queue, robot=r.robot, target_url=r.target_url, source=r.source,
        msgtype=r.msgtype, title=r.title, payload=bytes(r.payload), status=Status(r.status),
        attempts=int(r.attempts), next_attempt_at=float(r.next_attempt_at), expires_at=r.expires_at,
        last_errcode=r.last_errcode, last_error=r.last_error, created_at=float(r.created_at),
        updated_at=float(r.updated_at), delivered_at=r.delivered_at, fingerprint=r.fingerprint,
        digest_id=r.digest_id, duplicate_of=r.duplicate_of, duplicates=int(r.duplicates or 0),
        repeat_key=r.repeat_key,
        requeued_at=r.requeued_at, fallback=r.fallback)
