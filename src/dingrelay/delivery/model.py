"""What the queue stores, as plain dataclasses (no database types leak out of the store).

A message's ``target_url`` is a sessionWebhook, whose ``session`` parameter is the key to the conversation: the
reprs show it masked, so neither a log line nor a traceback carries it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
#: Statuses a message ends in (retention prunes them).
FINISHED = (Status.DELIVERED, Status.DEAD, Status.SUPPRESSED)

#: The queues of sessionWebhook replies are named ``session:<digest of the URL>``; in reports they count together
#: as the robot :data:`SESSION_ROBOT`.
SESSION_PREFIX = "session:"
SESSION_ROBOT = "session"
#: The rate budget of each sessionWebhook queue: (messages, window seconds).
SESSION_LIMIT = (20, 60.0)


class Outcome(StrEnum):
    """How one send attempt ended."""

    DELIVERED = "delivered"
    RETRY = "retry"        # failed; the message is tried again later
    PAUSED = "paused"      # DingTalk throttled the robot: its queue pauses (the attempt does not count)
    DEAD = "dead"          # failed for good

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
    fallback: str | None = None     # a reply's :class:`Fallback` (JSON): the OpenAPI route once its session expired

    __repr__ = _masked_repr


@dataclass(frozen=True)
class Fallback:
    """Where a bot's reply goes by the app robot's OpenAPI when its sessionWebhook has expired: the bot (whose app
    credentials send it) and the group (``open_conversation_id``) or the person (``user_id``, a staff id)."""

    bot: str
    open_conversation_id: str | None = None
    user_id: str | None = None

    def to_text(self) -> str:
        where = {"group": self.open_conversation_id} if self.open_conversation_id else {"user": self.user_id}
        return json.dumps({"bot": self.bot, **where}, ensure_ascii=False)

    @classmethod
    def parse(cls, text: str | None) -> Fallback | None:
        """The fallback stored as ``text``; ``None`` for none (or one this version cannot read)."""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("bot"), str):
            return None
        group, user = data.get("group"), data.get("user")
        if isinstance(group, str) and group:
            return cls(data["bot"], open_conversation_id=group)
        if isinstance(user, str) and user:
            return cls(data["bot"], user_id=user)
        return None


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
    requeued_at: float | None = None  # when a person last put it back in its queue after it died
    fallback: str | None = None      # see NewMessage.fallback

    __repr__ = _masked_repr

    @property
    def is_digest(self) -> bool:
        return self.digest_id == self.id

    @property
    def why(self) -> str | None:
        """Why the message was not sent on its own, and by which message: suppressed, merged into a digest, or a
        digest itself. ``None`` for a message that goes (or went) out alone."""
        if self.status is Status.SUPPRESSED and self.duplicate_of:
            return (f"suppressed as a repeat of message {self.duplicate_of}, accepted for the same robot within "
                    "delivery.suppress_window_seconds: never sent, counted on that message")
        if self.is_digest:
            return ("a digest: during an alert storm it carried its robot's backlog in one message (the messages "
                    "whose digest_id is this id)")
        if self.digest_id:
            return (f"merged into digest {self.digest_id}: its robot's backlog would have taken longer than "
                    "delivery.digest_after_seconds to drain at the robot's rate, so it went out inside that digest")
        return None

    def to_json(self, attempts: Sequence[Attempt] = ()) -> dict[str, Any]:
        """The public view (no target URL: it carries a session key), with ``attempts``, its send attempts."""
        import json

        return {
            "id": self.id,
            "status": str(self.status),
            "robot": self.robot or self.queue,
            "source": self.source,
            "msgtype": self.msgtype,
            "title": self.title,
            "attempt_count": self.attempts,
            "attempts": [a.to_json() for a in attempts],
            "why": self.why,
            "last_errcode": self.last_errcode,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "delivered_at": self.delivered_at,
            "next_attempt_at": self.next_attempt_at if self.status in (Status.QUEUED, Status.RETRYING) else None,
            "digest_id": self.digest_id,
            "duplicate_of": self.duplicate_of,
            "duplicates": self.duplicates,
            "requeued_at": self.requeued_at,
            "message": json.loads(self.payload),
        }


@dataclass(frozen=True)
class Claim:
    """A message taken for sending, with the rate-window reservation made for it."""

    message: StoredMessage   # for a digest, the digest's own row
    send_id: int


class RateWait(float):
    """What a claim returns when the robot's rate window is full: the earliest time another send may start.

    It is a lower bound whatever else happens: a window only fills as sends are added (by any worker or instance),
    and a send frees its slot no sooner than ``window`` after it finished. So a worker may leave the queue alone
    until then. (A pause is not one: a person may release it early.)"""


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


@dataclass(frozen=True)
class Unanswered:
    """A message a bot recorded for answering whose reply was never queued: its process is gone (or its claim
    outlived the lease). Taken over by the process that read it; ``callback_json`` is the message as received."""

    bot: str
    msg_id: str
    callback_json: str = field(repr=False)   # carries the sessionWebhook, a credential


@dataclass(frozen=True)
class Sent:
    """What the worker measured of one send, recorded with its outcome as an :class:`Attempt`: when it started,
    how long it took, the HTTP status DingTalk answered (``None``: no answer) and DingTalk's errmsg (masked)."""

    started_at: float
    duration: float
    http_status: int | None = None
    errmsg: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One send attempt on record: when it started, how long it took, what DingTalk answered (HTTP status, errcode,
    errmsg) and how it ended. ``digest_id``: the message went out inside that digest (it is the digest's attempt).
    ``error`` is the reason the outcome recorded; like ``errmsg`` it is masked (no token, no session key)."""

    started_at: float
    duration: float | None
    http_status: int | None
    errcode: int | None
    errmsg: str | None
    error: str | None
    outcome: Outcome
    digest_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"started_at": self.started_at, "duration": self.duration, "http_status": self.http_status,
                "errcode": self.errcode, "errmsg": self.errmsg, "error": self.error, "outcome": str(self.outcome),
                "digest_id": self.digest_id}


@dataclass(frozen=True)
class RobotStats:
    """One robot's live state, as the dashboard, ``/metrics`` and the bots report it (:meth:`Store.robot_stats`).

    ``robot`` is a robot's name, or :data:`SESSION_ROBOT` for every sessionWebhook queue together."""

    robot: str
    depth: int                        # messages waiting or in flight (queued, retrying, sending)
    sending: int                      # of which in flight
    oldest_created_at: float | None   # when the oldest of them was accepted
    paused_until: float | None        # DingTalk throttled the robot until then (None: not paused now)
    pause_reason: str | None
    window_sends: int                 # sends in its current rate window, those in flight included
    delivered_24h: int                # messages delivered in the last 24 h
    dead_24h: int                     # messages that died in the last 24 h

    def oldest_age(self, now: float) -> float | None:
        """How long the oldest waiting message has waited, in seconds (``None``: nothing waits)."""
        return None if self.oldest_created_at is None else max(0.0, now - self.oldest_created_at)


@dataclass(frozen=True)
class MessageFilter:
    """Which messages to list or requeue; every given field must match. ``robot`` is a robot's name (or
    :data:`SESSION_ROBOT`), ``since``/``until`` bound when they were accepted, ``text`` is a part of the title."""

    status: Status | None = None
    robot: str | None = None
    source: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when: a person's action on messages or robots (``actor`` such as ``cli:alice`` or
    ``ui:alice``; ``action`` such as ``requeue``; ``target`` a message id or a filter; ``detail`` the result)."""

    actor: str
    at: float
    action: str
    target: str
    detail: str


@dataclass(frozen=True)
class Pruned:
    """What one retention pass removed. ``more``: it stopped at its batch size; call again soon."""

    messages: int = 0
    attempts: int = 0
    idempotency_keys: int = 0
    sends: int = 0
    session_queues: int = 0
    audit: int = 0
    vacuumed_pages: int = 0
    more: bool = False

    @property
    def anything(self) -> bool:
        return any((self.messages, self.attempts, self.idempotency_keys, self.sends, self.session_queues,
                    self.audit, self.vacuumed_pages))
