"""The bots' reply log (``dr_bot_replies``): which msgId each bot has answered, and how; and the messages still
being answered, each with its callback and the process answering it (``lease_owner``).

:mod:`dingrelay.bot.dedup` decides what to do with it; this module only reads and writes the rows, through the
store's write lock like every other writer. A claim is one transaction: insert, or read the earlier delivery's row
and take it over when its ``running`` claim is older than the lease or its process is gone (:mod:`..owner`).
:meth:`Replies.take_abandoned` takes over, in one ``UPDATE``, every such row that kept its callback, so the
message is answered again; its common case (nothing abandoned) is one read through the partial index of
``running`` rows, on the reader. A database that cannot answer raises
:class:`~dingrelay.delivery.store.StorageUnavailable` (a callback gets 503, and DingTalk delivers it again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import owner
from ..model import REPLY_DONE as DONE
from ..model import REPLY_RUNNING as RUNNING
from ..model import ReplyRecord, Unanswered
from ..store import StorageUnavailable
from .engines import Database
from .reads import reading
from .tables import bot_replies as replies

_SELECT = select(replies.c.status, replies.c.via, replies.c.reply)
_RESUMABLE = (replies.c.status == RUNNING, replies.c.callback.is_not(None))
#: Per owner, the earliest claim of its messages still being answered.
_RUNNING_OWNERS = (select(replies.c.lease_owner, func.min(replies.c.created_at)).where(*_RESUMABLE)
                   .group_by(replies.c.lease_owner))


def _record(row: Any) -> ReplyRecord:
    return ReplyRecord(status=row.status, via=row.via, reply_json=row.reply)


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

    def claim_reply(self, bot: str, msg_id: str, *, now: float, lease_seconds: float,
                    callback_json: str | None = None) -> ReplyRecord | None:
        """Take ``msg_id`` for answering: ``None`` if this call took it (new, or a ``running`` claim older than
        ``lease_seconds`` or whose process is gone), else what the earlier delivery recorded. ``callback_json`` is
        kept with the claim until it is finished, so that it can be answered after a crash."""
        key = (replies.c.bot == bot, replies.c.msg_id == msg_id)
        me = str(owner.current())
        with _writing(self.db) as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(replies).values(bot=bot, msg_id=msg_id, status=RUNNING, created_at=now,
                                                        callback=callback_json, lease_owner=me))
                return None
            except IntegrityError:
                pass
            row = conn.execute(select(*_SELECT.selected_columns, replies.c.created_at, replies.c.lease_owner)
                               .where(*key)).one()
            if row.status == RUNNING and (row.created_at < now - lease_seconds or owner.is_gone(row.lease_owner)):
                same = (replies.c.lease_owner.is_(None) if row.lease_owner is None
                        else replies.c.lease_owner == row.lease_owner)
                taken = conn.execute(update(replies).where(
                    *key, replies.c.status == RUNNING, replies.c.created_at == row.created_at, same)
                    .values(created_at=now, lease_owner=me,
                            **({"callback": callback_json} if callback_json is not None else {})))
                if taken.rowcount == 1:
                    return None
        return _record(row)

    def finish_reply(self, bot: str, msg_id: str, reply_json: str | None, *, via: str, now: float) -> None:
        """Record how ``msg_id`` was answered; its callback is no longer needed and is forgotten."""
        with _writing(self.db) as conn:
            conn.execute(update(replies).where(replies.c.bot == bot, replies.c.msg_id == msg_id)
                         .values(status=DONE, via=via, reply=reply_json, finished_at=now, callback=None,
                                 lease_owner=None))

    def get_reply(self, bot: str, msg_id: str) -> ReplyRecord | None:
        with reading(self.db) as conn:
            row = conn.execute(_SELECT.where(replies.c.bot == bot, replies.c.msg_id == msg_id)).first()
        return None if row is None else _record(row)

    def take_abandoned(self, bots: Sequence[str], *, now: float, lease_seconds: float) -> list[Unanswered]:
        """Take over the messages of ``bots`` still ``running`` with their callback, whose process is gone or whose
        claim is older than ``lease_seconds``; this process answers them now."""
        with reading(self.db) as conn:
            running = conn.execute(_RUNNING_OWNERS).all()
        gone = sorted({o for o, _ in running if o is not None and owner.is_gone(o)})
        if not gone and all(first >= now - lease_seconds for _, first in running):
            return []
        stale = [replies.c.created_at < now - lease_seconds]
        if gone:
            stale.append(replies.c.lease_owner.in_(gone))
        with _writing(self.db) as conn:
            taken = conn.execute(
                update(replies).where(*_RESUMABLE, replies.c.bot.in_(list(bots)), or_(*stale))
                .values(created_at=now, lease_owner=str(owner.current()))
                .returning(replies.c.bot, replies.c.msg_id, replies.c.callback)).all()
        return [Unanswered(bot, msg_id, callback) for bot, msg_id, callback in taken]

    def purge_replies(self, *, before: float) -> int:
        """Forget the msgIds first seen before ``before``."""
        with _writing(self.db) as conn:
            return int(conn.execute(delete(replies).where(replies.c.created_at < before)).rowcount)
