"""What the queue stores, as plain dataclasses (no database types leak out of the store).

A message's ``target_url`` is a sessionWebhook, whose ``session`` parameter is the key to the conversation: the
reprs show it masked, so neither a log line nor a traceback carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from ..dingtalk.masking import mask_url


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPPRESSED = "suppressed"  # a duplicate of a recent message to the same robot; never sent (see duplicate_of)


#: Statuses still waiting for delivery (they hold their queue's order).
ACTIVE = (Status.QUEUED, Status.RETRYING, Status.SENDING)

# The longest value, in characters, the store keeps of each field: the columns of ``delivery/sql/tables.py`` are
# sized from these, and the web checks what a sender gives against them at the door.
MAX_ID = 32                  # message ids (the store makes them: lowercase hex)
MAX_NAME = 100               # source, robot and bot names (``source`` also holds ``robot:<name>``, ``bot:<name>``)
MAX_QUEUE = 200              # a robot's name, or ``session:<digest>``
MAX_TITLE = 200              # longer titles are cut: a title is only the message's summary
MAX_IDEMPOTENCY_KEY = 200    # the ``Idempotency-Key`` header, ``/robot/send``'s ``msgUuid``
MAX_MSG_ID = 200             # the msgId of a message people sent to a bot
FINGERPRINT_LENGTH = 64      # a SHA-256 in hex


def _masked_repr(self: Any) -> str:
    """The dataclass's own repr, with ``target_url`` masked."""
    def shown(name: str, value: Any) -> str:
        return repr(mask_url(value) if name == "target_url" and isinstance(value, str) else value)

    parts = (f"{f.name}={shown(f.name, getattr(self, f.name))}" for f in fields(self))
    return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
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

    __repr__ = _masked_repr


@dataclass(frozen=True, repr=False)
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

    __repr__ = _masked_repr

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


@dataclass(frozen=True)
class RobotStats:
    """One queue at a glance (``/metrics``, the dashboard): a robot's, or every sessionWebhook queue together as
    ``session``. ``oldest_age_seconds`` is ``None`` when nothing waits; ``paused_until`` only while paused;
    ``window_sends`` counts the sends in the robot's current rate window; ``delivered_24h`` and ``dead_24h`` the
    messages accepted in the last 24 h that are now delivered or dead."""

    queue: str
    depth: int
    oldest_age_seconds: float | None
    paused_until: float | None
    pause_reason: str | None
    window_sends: int
    delivered_24h: int
    dead_24h: int


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


@dataclass(frozen=True)
class Unanswered:
    """A message a bot recorded for answering whose reply was never queued: its process is gone (or its claim
    outlived the lease). Taken over by the process that read it; ``callback_json`` is the message as received."""

    bot: str
    msg_id: str
    callback_json: str = field(repr=False)   # carries the sessionWebhook, a credential
