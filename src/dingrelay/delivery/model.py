"""What the queue stores, as plain dataclasses (no database types leak out of the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPPRESSED = "suppressed"  # a duplicate of a recent message to the same robot; never sent (see duplicate_of)


#: Statuses still waiting for delivery (they hold their queue's order).
ACTIVE = (Status.QUEUED, Status.RETRYING, Status.SENDING)


@dataclass(frozen=True)
class NewMessage:
    """A message to store: the exact DingTalk JSON body and where it goes."""

    queue: str                      # robot name, or "session:<key>" for sessionWebhook replies
    payload: bytes                  # the DingTalk request body, sent as-is (signed at send time)
    msgtype: str
    title: str = ""
    robot: str | None = None        # the robot for webhook messages
    target_url: str | None = None   # the sessionWebhook for replies
    expires_at: float | None = None  # a sessionWebhook's expiry (epoch seconds)
    source: str | None = None
    fingerprint: str | None = None  # what it says: the same text, or the same alerts in the same states
    #: What it is about, where it is shown: an alert group (its states left out) on a robot or pool. A message
    #: whose latest shown predecessor with this key has the same ``fingerprint`` is a repeat. Default: the
    #: ``fingerprint`` on the message's queue.
    repeat_key: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: str
    seq: int
    queue: str
    robot: str | None
    target_url: str | None
    source: str | None
    msgtype: str
    title: str
    payload: bytes
    status: Status
    attempts: int
    next_attempt_at: float
    expires_at: float | None
    last_errcode: int | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    fingerprint: str | None = None
    digest_id: str | None = None     # the digest that carried it; a digest's own row points at itself
    duplicate_of: str | None = None  # a suppressed message: the message it repeats
    duplicates: int = 0              # how many later messages were suppressed as repeats of this one
    repeat_key: str | None = None    # see NewMessage.repeat_key

    @property
    def is_digest(self) -> bool:
        return self.digest_id == self.id

    def to_json(self) -> dict[str, Any]:
        """The public view (no target URL: it carries a session key)."""
        import json

        return {
            "id": self.id,
            "status": str(self.status),
            "robot": self.robot or self.queue,
            "source": self.source,
            "msgtype": self.msgtype,
            "title": self.title,
            "attempts": self.attempts,
            "last_errcode": self.last_errcode,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "delivered_at": self.delivered_at,
            "next_attempt_at": self.next_attempt_at if self.status in (Status.QUEUED, Status.RETRYING) else None,
            "digest_id": self.digest_id,
            "duplicate_of": self.duplicate_of,
            "duplicates": self.duplicates,
            "message": json.loads(self.payload),
        }


@dataclass(frozen=True)
class Claim:
    """A message taken for sending, with the rate-window reservation made for it."""

    message: StoredMessage   # for a digest, the digest's own row
    send_id: int


@dataclass(frozen=True)
class QueueState:
    queue: str
    backlog: int
    sending: int
    paused_until: float | None
    last_error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


#: The statuses of a bot reply log entry: a delivery is answering it, or has answered.
REPLY_RUNNING = "running"
REPLY_DONE = "done"


@dataclass(frozen=True)
class ReplyRecord:
    """What the bots' reply log holds for one (bot, msgId): ``running`` or ``done``, how the reply went out
    (``response`` or ``session``), and the reply's DingTalk JSON (``None``: none, or not yet)."""

    status: str
    via: str | None
    reply_json: str | None

    @property
    def done(self) -> bool:
        return self.status == REPLY_DONE
