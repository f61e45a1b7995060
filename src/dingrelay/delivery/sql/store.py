"""``SqlStore``: the :class:`~dingrelay.delivery.store.Store` on SQLAlchemy Core, composed of this package's parts.

Each method is one of the parts' (:mod:`.accept`, :mod:`.claims`, :mod:`.outcomes`, :mod:`.recovery`, :mod:`.reads`,
:mod:`.stats`, :mod:`.history`, :mod:`.requeue`, :mod:`.retention`, :mod:`.replies`); this class wires them to one
:class:`~.engines.Database` and one set of listeners, and brings the schema to the head revision when it is made
(:mod:`.migrate`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import delete

from ..model import (
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
from . import migrate
from .accept import Acceptor
from .browse import Browse
from .claims import Claims
from .engines import Database, Synchronous
from .history import History
from .outcomes import Outcomes
from .reads import Reads
from .recovery import Recovery
from .replies import Replies
from .requeue import Requeue
from .retention import Pruning
from .stats import Stats
from .tables import attempts, audit, bot_replies, hook_samples, idempotency_keys, messages, queue_state, sends
from .writes import SharedWrites

Listener = Callable[[frozenset[str] | None], None]


class SqlStore:
    """The durable queue on SQLite (WAL) or PostgreSQL. ``url`` is any SQLAlchemy URL (sqlite:///…,
    postgresql+psycopg://…).

    With ``upgrade`` (the default), the schema is first brought to the head revision under the migration lock, so
    every process that opens a store (``serve``, ``worker``, ``stream``) upgrades at start and N of them may start
    at once on an empty database.
    """

    def __init__(self, url: str, *, upgrade: bool = True, sqlite_synchronous: Synchronous = "full") -> None:
        self.url = url
        self.db = Database(url, sqlite_synchronous=sqlite_synchronous)
        self.dialect = self.db.dialect
        self.engine = self.db.engine   # for tests and tools; the store's own writes go through db.tx()
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        try:
            if upgrade:
                migrate.upgrade(self.db)
        except BaseException:
            self.db.close()
            raise
        writes = None if self.db.postgres else SharedWrites(self.db)   # SQLite's one writer: one group commit
        self._accept = Acceptor(self.db, self._notify, writes=writes)
        self._claims = Claims(self.db)
        self._outcomes = Outcomes(self.db, self._notify, writes=writes)
        self._recovery = Recovery(self.db, self._notify)
        self._reads = Reads(self.db)
        self._replies = Replies(self.db)
        self._stats = Stats(self.db)
        self._history = History(self.db)
        self._requeue = Requeue(self.db, self._notify)
        self._retention = Pruning(self.db)
        #: What the dashboard reads and does (:class:`~dingrelay.delivery.browse.Dashboard`).
        self.dashboard = Browse(self.db, self._notify)

    def close(self) -> None:
        self.db.close()

    # -- notifications (in-process: lets the worker start at once instead of polling) --------------------

    def subscribe(self, listener: Listener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, queues: frozenset[str] | None = None) -> None:
        """Tell listeners something changed: ``queues`` got new messages, or (``None``) a send finished or a
        message left its queue."""
        for listener in list(self._listeners):
            listener(queues)

    # -- accepting (.accept) -----------------------------------------------------------------------------

    def enqueue(self, new: Sequence[NewMessage], *, now: float, idempotency: tuple[str, str] | None = None,
                suppress_seconds: float = 0.0) -> tuple[list[StoredMessage], bool]:
        return self._accept.enqueue(new, now=now, idempotency=idempotency, suppress_seconds=suppress_seconds)

    # -- delivering (.claims, .outcomes, .recovery) ------------------------------------------------------

    def due_heads(self, now: float) -> list[StoredMessage]:
        return self._claims.due_heads(now)

    def active_queues(self) -> set[str]:
        return self._claims.active_queues()

    def next_wake(self, now: float) -> float | None:
        return self._claims.next_wake(now)

    def claim(self, head: StoredMessage, *, now: float, limit: int, window: float, lease: float
              ) -> Claim | float | None:
        return self._claims.claim(head, now=now, limit=limit, window=window, lease=lease)

    def claim_many(self, heads: Sequence[tuple[StoredMessage, int, float]], *, now: float, lease: float
                   ) -> list[Claim | float | None]:
        return self._claims.claim_many(heads, now=now, lease=lease)

    def following(self, claim: Claim, *, limit: int) -> list[StoredMessage]:
        return self._claims.following(claim, limit=limit)

    def claim_digest(self, claim: Claim, digest: NewMessage, carried: Sequence[StoredMessage], *, now: float,
                     lease: float) -> Claim:
        return self._claims.claim_digest(claim, digest, carried, now=now, lease=lease)

    def delivered(self, claim: Claim, *, now: float, sent: Sent | None = None) -> None:
        self._outcomes.delivered(claim, now=now, sent=sent)

    def retry(self, claim: Claim, *, now: float, at: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None:
        self._outcomes.retry(claim, now=now, at=at, errcode=errcode, error=error, sent=sent)

    def pause(self, claim: Claim, *, now: float, until: float, errcode: int | None, error: str,
              sent: Sent | None = None) -> None:
        self._outcomes.pause(claim, now=now, until=until, errcode=errcode, error=error, sent=sent)

    def dead(self, claim: Claim | StoredMessage, *, now: float, errcode: int | None, error: str,
             sent: Sent | None = None) -> None:
        self._outcomes.dead(claim, now=now, errcode=errcode, error=error, sent=sent)

    def release_pause(self, queue: str) -> None:
        self._outcomes.release_pause(queue)

    def recover(self, *, now: float) -> int:
        return self._recovery.recover(now=now)

    # -- reading (.reads) --------------------------------------------------------------------------------

    def ping(self) -> None:
        self._reads.ping()

    def get(self, message_id: str) -> StoredMessage | None:
        return self._reads.get(message_id)

    def backlog(self, queue: str) -> int:
        return self._reads.backlog(queue)

    def backlogs(self, queues: Sequence[str]) -> dict[str, int]:
        return self._reads.backlogs(queues)

    def carried(self, digest_id: str) -> list[StoredMessage]:
        return self._reads.carried(digest_id)

    def counts(self, now: float | None = None) -> dict[str, int]:
        return self._stats.counts(time.time() if now is None else now)

    def messages_for(self, queue: str | None = None, *, limit: int = 100) -> list[StoredMessage]:
        return self._reads.messages_for(queue, limit=limit)

    def queues(self, now: float) -> list[QueueState]:
        return self._reads.queues(now)

    # -- reports and history (.stats, .history) ----------------------------------------------------------

    def robot_stats(self, now: float, windows: Mapping[str, float]) -> list[RobotStats]:
        return self._stats.robot_stats(now, windows)

    def attempts(self, message_id: str) -> list[Attempt]:
        return self._history.attempts(message_id)

    def find(self, where: MessageFilter, *, limit: int = 50, before_seq: int | None = None) -> list[StoredMessage]:
        return self._history.find(where, limit=limit, before_seq=before_seq)

    def record_audit(self, *, actor: str, action: str, target: str, detail: str, now: float) -> None:
        self._history.record_audit(actor=actor, action=action, target=target, detail=detail, now=now)

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        return self._history.audit_log(limit=limit)

    # -- people's actions and retention (.requeue, .retention) -------------------------------------------

    def requeue(self, target: str | MessageFilter, *, now: float, actor: str) -> int:
        return self._requeue.requeue(target, now=now, actor=actor)

    def prune(self, *, now: float, delivered_before: float | None, dead_before: float | None,
              limit: int = 500) -> Pruned:
        return self._retention.prune(now=now, delivered_before=delivered_before, dead_before=dead_before,
                                     limit=limit)

    # -- the bots' reply log (.replies) ------------------------------------------------------------------

    def claim_reply(self, bot: str, msg_id: str, *, now: float, lease_seconds: float,
                    callback_json: str | None = None) -> ReplyRecord | None:
        return self._replies.claim_reply(bot, msg_id, now=now, lease_seconds=lease_seconds,
                                         callback_json=callback_json)

    def finish_reply(self, bot: str, msg_id: str, reply_json: str | None, *, via: str, now: float) -> None:
        self._replies.finish_reply(bot, msg_id, reply_json, via=via, now=now)

    def get_reply(self, bot: str, msg_id: str) -> ReplyRecord | None:
        return self._replies.get_reply(bot, msg_id)

    def take_abandoned(self, bots: Sequence[str], *, now: float, lease_seconds: float) -> list[Unanswered]:
        return self._replies.take_abandoned(bots, now=now, lease_seconds=lease_seconds)

    def purge_replies(self, *, before: float) -> int:
        return self._replies.purge_replies(before=before)

    # -- maintenance -------------------------------------------------------------------------------------

    def delete_all(self) -> None:
        """Empty every table (tests and the demo reset)."""
        self._accept.forget_queues()
        with self.db.tx() as conn:
            for t in (messages, attempts, audit, idempotency_keys, queue_state, sends, bot_replies, hook_samples):
                conn.execute(delete(t))
