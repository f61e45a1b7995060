"""Remembering which messages a bot has answered, so a redelivered callback runs nothing twice.

DingTalk may deliver the same message again (same ``msgId``) when our answer did not reach it. The first delivery
claims the ``msgId`` here; later ones read what the first answered. Rows live in the gateway's database
(``dr_bot_replies``, on the queue's engine) for a day. This is the only bot module that knows SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

replies = Table(
    "dr_bot_replies", metadata,
    Column("bot", String(100), primary_key=True),
    Column("msg_id", String(200), primary_key=True),
    Column("status", String(10), nullable=False),   # running | done
    Column("via", String(10)),                       # response | session: how the reply went out
    Column("reply", Text),                           # the reply's DingTalk JSON; NULL: no reply
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)

#: How long a msgId is remembered.
KEEP_SECONDS = 24 * 3600
#: A claim still ``running`` after this long was left by a process that died; the next delivery may take it over.
LEASE_SECONDS = 600.0

RUNNING = "running"
DONE = "done"


@dataclass(frozen=True)
class Seen:
    """What an earlier delivery of the same msgId did. ``reply`` is ``None`` while running or when it had none."""

    status: str
    via: str | None
    reply: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return self.status == DONE


class ReplyLog:
    """msgId -> reply, per bot, on ``engine`` (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, create: bool = True) -> None:
        self.engine = engine
        self._claims = 0
        if create:
            metadata.create_all(engine)

    def claim(self, bot: str, msg_id: str, *, now: float) -> Seen | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it, else what the earlier delivery did."""
        self._claims += 1
        if self._claims % 200 == 1:
            self.purge(now=now)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(replies).values(bot=bot, msg_id=msg_id, status=RUNNING, created_at=now))
            return None
        except IntegrityError:
            pass
        seen = self.get(bot, msg_id)
        if seen is None:  # purged in between: try once more
            return self.claim(bot, msg_id, now=now)
        if not seen.done:
            with self.engine.begin() as conn:  # take over a claim its process abandoned
                taken = conn.execute(update(replies).where(
                    replies.c.bot == bot, replies.c.msg_id == msg_id, replies.c.status == RUNNING,
                    replies.c.created_at < now - LEASE_SECONDS).values(created_at=now))
            if taken.rowcount == 1:
                return None
        return seen

    def finish(self, bot: str, msg_id: str, reply: dict[str, Any] | None, *, via: str, now: float) -> None:
        payload = json.dumps(reply, ensure_ascii=False) if reply is not None else None
        with self.engine.begin() as conn:
            conn.execute(update(replies).where(and_(replies.c.bot == bot, replies.c.msg_id == msg_id))
                         .values(status=DONE, via=via, reply=payload, finished_at=now))

    def get(self, bot: str, msg_id: str) -> Seen | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(replies.c.status, replies.c.via, replies.c.reply).where(
                replies.c.bot == bot, replies.c.msg_id == msg_id)).first()
        if row is None:
            return None
        return Seen(status=row.status, via=row.via, reply=json.loads(row.reply) if row.reply else None)

    def purge(self, *, now: float) -> int:
        """Forget msgIds older than :data:`KEEP_SECONDS`."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(replies).where(replies.c.created_at < now - KEEP_SECONDS)).rowcount)
