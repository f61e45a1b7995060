"""Remembering which messages a bot has answered, so a redelivered callback runs nothing twice, and which it is
still answering, so that a crash loses none.

DingTalk may deliver the same message again (same ``msgId``) when our answer did not reach it. The first delivery
claims the ``msgId`` here; later ones read what the first answered. The claim keeps the message itself and names
the process answering it until the answer is recorded: a message whose process died before its reply was queued
is taken over (:meth:`ReplyLog.abandoned`) and answered again. The log lives in the gateway's store (the
:class:`~dingrelay.delivery.store.ReplyStore` methods, ``dr_bot_replies``, written through the store's write lock
like every other write), for a day.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..delivery.model import REPLY_DONE, ReplyRecord
from ..delivery.store import ReplyStore
from ..dingtalk.callback import CallbackInvalid, IncomingMessage, parse_callback

log = logging.getLogger("dingrelay.bot")

#: How long a msgId is remembered.
KEEP_SECONDS = 24 * 3600
#: A claim still ``running`` after this long was left by a process that died or hung; another may take it over.
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


def recorded(message: IncomingMessage) -> str:
    """``message`` as the claim keeps it: the callback's JSON (ASCII, so any text survives any database)."""
    return json.dumps(message.model_dump(by_alias=True, mode="json"))


class ReplyLog:
    """msgId -> reply, per bot, in ``store``."""

    def __init__(self, store: ReplyStore) -> None:
        self.store = store
        self._claims = 0

    def claim(self, bot: str, msg_id: str, *, now: float, message: IncomingMessage | None = None) -> Seen | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it, else what the earlier delivery did. Once
        this returns ``None``, ``message`` is durably recorded until :meth:`finish`."""
        self._claims += 1
        if self._claims % _PURGE_EVERY == 1:
            self.purge(now=now)
        return _seen(self.store.claim_reply(bot, msg_id, now=now, lease_seconds=LEASE_SECONDS,
                                            callback_json=recorded(message) if message is not None else None))

    def finish(self, bot: str, msg_id: str, reply: dict[str, Any] | None, *, via: str, now: float) -> None:
        payload = json.dumps(reply, ensure_ascii=False) if reply is not None else None
        self.store.finish_reply(bot, msg_id, payload, via=via, now=now)

    def get(self, bot: str, msg_id: str) -> Seen | None:
        return _seen(self.store.get_reply(bot, msg_id))

    def abandoned(self, bots: Sequence[str], *, now: float) -> list[tuple[str, IncomingMessage]]:
        """Take over the messages of ``bots`` whose process is gone before their reply was queued (or that are still
        running after :data:`LEASE_SECONDS`): (bot, message) for this process to answer."""
        found: list[tuple[str, IncomingMessage]] = []
        for row in self.store.take_abandoned(bots, now=now, lease_seconds=LEASE_SECONDS):
            try:
                found.append((row.bot, parse_callback(json.loads(row.callback_json))))
            except (ValueError, CallbackInvalid) as exc:
                log.error("bot %s: message %s was recorded unreadably (%s); it is not answered", row.bot, row.msg_id,
                          exc)
                self.finish(row.bot, row.msg_id, None, via="lost", now=now)
        return found

    def purge(self, *, now: float) -> int:
        """Forget msgIds older than :data:`KEEP_SECONDS`."""
        return self.store.purge_replies(before=now - KEEP_SECONDS)
