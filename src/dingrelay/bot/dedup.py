"""Remembering which messages a bot has answered, so a redelivered callback runs nothing twice.

DingTalk may deliver the same message again (same ``msgId``) when our answer did not reach it. The first delivery
claims the ``msgId`` here; later ones read what the first answered. The log lives in the gateway's store (the
:class:`~dingrelay.delivery.store.ReplyStore` methods, ``dr_bot_replies``, written through the store's write lock
like every other write), for a day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..delivery.model import REPLY_DONE, ReplyRecord
from ..delivery.store import ReplyStore

#: How long a msgId is remembered.
KEEP_SECONDS = 24 * 3600
#: A claim still ``running`` after this long was left by a process that died; the next delivery may take it over.
LEASE_SECONDS = 600.0
#: Forget old msgIds once every this many claims.
_PURGE_EVERY = 200


@dataclass(frozen=True)
class Seen:
    """What an earlier delivery of the same msgId did. ``reply`` is ``None`` while running or when it had none."""

    status: str
    via: str | None
    reply: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return self.status == REPLY_DONE


def _seen(record: ReplyRecord | None) -> Seen | None:
    if record is None:
        return None
    return Seen(status=record.status, via=record.via,
                reply=json.loads(record.reply_json) if record.reply_json else None)


class ReplyLog:
    """msgId -> reply, per bot, in ``store``."""

    def __init__(self, store: ReplyStore) -> None:
        self.store = store
        self._claims = 0

    def claim(self, bot: str, msg_id: str, *, now: float) -> Seen | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it, else what the earlier delivery did."""
        self._claims += 1
        if self._claims % _PURGE_EVERY == 1:
            self.purge(now=now)
        return _seen(self.store.claim_reply(bot, msg_id, now=now, lease_seconds=LEASE_SECONDS))

    def finish(self, bot: str, msg_id: str, reply: dict[str, Any] | None, *, via: str, now: float) -> None:
        payload = json.dumps(reply, ensure_ascii=False) if reply is not None else None
        self.store.finish_reply(bot, msg_id, payload, via=via, now=now)

    def get(self, bot: str, msg_id: str) -> Seen | None:
        return _seen(self.store.get_reply(bot, msg_id))

    def purge(self, *, now: float) -> int:
        """Forget msgIds older than :data:`KEEP_SECONDS`."""
        return self.store.purge_replies(before=now - KEEP_SECONDS)
