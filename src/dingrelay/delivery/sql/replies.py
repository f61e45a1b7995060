"""The bots' reply log (``dr_bot_replies``): which msgId each bot has answered, and how.

:mod:`dingrelay.bot.dedup` decides what to do with it; this module only reads and writes the rows, through the
store's write lock like every other writer. A claim is one transaction: insert, or read the earlier delivery's row
and take it over when its ``running`` claim is older than the lease. A database that cannot answer raises
:class:`~dingrelay.delivery.store.StorageUnavailable` (a callback gets 503, and DingTalk delivers it again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..model import REPLY_DONE as DONE
from ..model import REPLY_RUNNING as RUNNING
from ..model import ReplyRecord
from ..store import StorageUnavailable
from .engines import Database
from .reads import reading
from .tables import bot_replies as replies

_SELECT = select(replies.c.status, replies.c.via, replies.c.reply)


@contextlib.contextmanager
def _writing(db: Database) -> Iterator[Connection]:
    try:
        with db.tx() as conn:
            yield conn
    except DBAPIError as exc:
        raise StorageUnavailable(f"the reply log could not be written ({type(exc.orig).__name__})") from None


class Replies:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim_reply(self, bot: str, msg_id: str, *, now: float, lease_seconds: float) -> ReplyRecord | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it (new, or a ``running`` claim older than
        ``lease_seconds``, left by a process that died), else what the earlier delivery recorded."""
        key = (replies.c.bot == bot, replies.c.msg_id == msg_id)
        with _writing(self.db) as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(replies).values(bot=bot, msg_id=msg_id, status=RUNNING, created_at=now))
                return None
            except IntegrityError:
                pass
            row = conn.execute(_SELECT.where(*key)).one()
            if row.status == RUNNING:
                taken = conn.execute(update(replies).where(
                    *key, replies.c.status == RUNNING, replies.c.created_at < now - lease_seconds)
                    .values(created_at=now))
                if taken.rowcount == 1:
                    return None
        return ReplyRecord(status=row.status, via=row.via, reply_json=row.reply)

    def finish_reply(self, bot: str, msg_id: str, reply_json: str | None, *, via: str, now: float) -> None:
        with _writing(self.db) as conn:
            conn.execute(update(replies).where(replies.c.bot == bot, replies.c.msg_id == msg_id)
                         .values(status=DONE, via=via, reply=reply_json, finished_at=now))

    def get_reply(self, bot: str, msg_id: str) -> ReplyRecord | None:
        with reading(self.db) as conn:
            row = conn.execute(_SELECT.where(replies.c.bot == bot, replies.c.msg_id == msg_id)).first()
        return None if row is None else ReplyRecord(status=row.status, via=row.via, reply_json=row.reply)

    def purge_replies(self, *, before: float) -> int:
        """Forget the msgIds first seen before ``before``."""
        with _writing(self.db) as conn:
            return int(conn.execute(delete(replies).where(replies.c.created_at < before)).rowcount)
