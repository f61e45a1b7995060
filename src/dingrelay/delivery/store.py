"""What the worker, the gateway and the bots need from storage: the :class:`Store` protocol. Its SQL implementation
is :class:`dingrelay.delivery.sql.SqlStore`; one contract test suite runs against every backend.

A 2xx to a sender means :meth:`Store.enqueue` returned. Each queue (a robot, or one sessionWebhook) delivers in
acceptance order, one message at a time: :meth:`Store.claim` takes a queue's due head within its robot's rate
budget, and one of :meth:`~Store.delivered`, :meth:`~Store.retry`, :meth:`~Store.pause` or :meth:`~Store.dead`
finishes the claim. A claim is a lease: :meth:`Store.recover` re-queues sends whose lease ran out or whose process
is gone (:mod:`.owner`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from .model import (
    Attempt,
    AuditEntry,
    Claim,
    MessageFilter,
    NewMessage,
    Pruned,
    QueueState,
    ReplyRecord,
    RobotStats,
    Sent,
    StoredMessage,
    Unanswered,
)


class StorageUnavailable(Exception):
    """The database could not store or read; callers should answer 503 so senders retry."""


class ReplyStore(Protocol):
    """The bots' reply log: which msgId each bot has answered, and how (:mod:`dingrelay.bot.dedup`)."""

    def claim_reply(self, bot: str, msg_id: str, *, now: float, lease_seconds: float,
                    callback_json: str | None = None) -> ReplyRecord | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it (new, or left ``running`` for longer than
        ``lease_seconds`` or by a process that is gone), else what the earlier delivery recorded. The claim keeps
        ``callback_json`` (the message) until it is finished."""
        ...

    def finish_reply(self, bot: str, msg_id: str, reply_json: str | None, *, via: str, now: float) -> None: ...
    def get_reply(self, bot: str, msg_id: str) -> ReplyRecord | None: ...

    def take_abandoned(self, bots: Sequence[str], *, now: float, lease_seconds: float) -> list[Unanswered]:
        """Take over the claims of ``bots`` that kept their message but whose process is gone (or that outlived
        ``lease_seconds``): the caller answers them. Cheap when there are none (call it every few seconds)."""
        ...

    def purge_replies(self, *, before: float) -> int: ...


class Store(ReplyStore, Protocol):
    """The durable queue."""

    # accepting
    def enqueue(self, new: Sequence[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None,
                suppress_seconds: float = 0.0) -> tuple[list[StoredMessage], bool]:
        """Store ``new`` atomically; returns (messages, created). With ``idempotency=(source, key)`` seen in the
        last 24 h, nothing is stored and the first request's messages come back with ``created`` False. With
        ``suppress_seconds``, a repeat of what was last shown that recently (the latest message with the same
        ``repeat_key`` not suppressed and not dead has the same ``fingerprint``) is stored ``suppressed`` and
        counted on that message."""
        ...

    def subscribe(self, listener: Callable[[frozenset[str] | None], None]) -> None:
        """Call ``listener`` when queues get new messages (their names), or a send finished (``None``)."""
        ...

    # delivering
    def due_heads(self, now: float) -> list[StoredMessage]: ...
    def active_queues(self) -> set[str]: ...
    def next_wake(self, now: float) -> float | None: ...
    def claim(self, head: StoredMessage, *, now: float, limit: int, window: float, lease: float
              ) -> Claim | float | None: ...
    def claim_many(self, heads: Sequence[tuple[StoredMessage, int, float]], *, now: float, lease: float
                   ) -> list[Claim | float | None]:
        """:meth:`claim` for each ``(head, limit, window)`` in one transaction: all judged as one at a time."""
        ...
    def following(self, claim: Claim, *, limit: int) -> list[StoredMessage]: ...
    def claim_digest(self, claim: Claim, digest: NewMessage, carried: Sequence[StoredMessage], *, now: float,
                     lease: float) -> Claim: ...
    # Finishing a claim. With ``sent`` (what the worker measured of the send), the attempt is recorded in the same
    # transaction as the outcome (:meth:`attempts`); without it (a send released at shutdown, an expired session
    # message that was never sent), nothing is.
    def delivered(self, claim: Claim, *, now: float, sent: Sent | None = None) -> None: ...
    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None: ...
    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None: ...
    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str,
             sent: Sent | None = None) -> None: ...

    def recover(self, *, now: float) -> int:
        """Re-queue the sends whose lease ran out or whose owner is gone; cheap when there are none (call it every
        few seconds). Returns how many messages went back to their queue."""
        ...

    # reading
    def ping(self) -> None:
        """Raise unless the database answers."""
        ...

    def get(self, message_id: str) -> StoredMessage | None: ...
    def backlog(self, queue: str) -> int: ...
    def backlogs(self, queues: Sequence[str]) -> dict[str, int]: ...
    def carried(self, digest_id: str) -> list[StoredMessage]: ...

    def counts(self, now: float | None = None) -> dict[str, int]:
        """Messages per status: those waiting (queued, retrying, sending) now, those that ended (delivered, dead,
        suppressed) in the 24 h before ``now`` (default: the time of day). Index range counts: never a scan of
        every stored message."""
        ...

    def queues(self, now: float) -> list[QueueState]: ...

    def robot_stats(self, now: float, windows: Mapping[str, float]) -> list[RobotStats]:
        """The live state of each robot named in ``windows`` (robot name -> its rate window in seconds), in that
        order; :data:`~.model.SESSION_ROBOT` stands for every sessionWebhook queue together. A few index probes
        per robot, however many messages are stored."""
        ...

    def attempts(self, message_id: str) -> list[Attempt]:
        """The send attempts of a message, oldest first; for a message a digest carried, the digest's too."""
        ...

    def find(self, where: MessageFilter, *, limit: int = 50, before_seq: int | None = None) -> list[StoredMessage]:
        """Messages matching ``where``, newest first; ``before_seq`` (the last ``seq`` of the previous page)
        pages on."""
        ...

    # people's actions
    def requeue(self, target: str | MessageFilter, *, now: float, actor: str) -> int:
        """Put dead messages back in their queue, due ``now``: the message ``target`` (an id; for a digest, the
        dead messages it carried), or every dead message ``target`` (a filter) matches. Their attempts stay on
        record; they get a fresh give-up horizon. Recorded in the audit log as ``actor``. Returns how many."""
        ...

    def record_audit(self, *, actor: str, action: str, target: str, detail: str, now: float) -> None: ...
    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        """The latest audit entries, newest first."""
        ...

    # retention
    def prune(self, *, now: float, delivered_before: float | None, dead_before: float | None,
              limit: int = 500) -> Pruned:
        """One small batch of retention: messages delivered or suppressed before ``delivered_before`` and dead
        before ``dead_before`` (``None``: keep them) with their attempts, idempotency keys older than 24 h, idle
        sessionWebhook queues, the rate limit's old send log; then, on SQLite, free pages go back to the file
        system. Each part is a short transaction of at most ``limit`` rows: call again while ``more``."""
        ...

    def close(self) -> None: ...


__all__ = ["ReplyStore", "StorageUnavailable", "Store"]
