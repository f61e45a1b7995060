"""The tables, as SQLAlchemy Core objects for the queries. Their DDL lives in the Alembic revisions
(``migrations/versions``); ``tests/storage`` checks that a migrated database matches these definitions. The sizes
of the columns a sender fills come from :mod:`..model` (``MAX_…``), which the web checks at the door.

``dr_messages`` holds every message; ``dr_queue_state`` one row per queue (its lock and pause); ``dr_sends`` the
send log the rate limit counts; ``dr_idempotency`` the keys of the last 24 h; ``dr_bot_replies`` what each bot
answered to which msgId, and the messages still being answered (their callback, and the process answering it);
``dr_attempts`` every send attempt; ``dr_audit`` who did what to which messages; for the dashboard,
``dr_hook_samples`` the hooks' last payloads (masked) and ``dr_ui_keys`` the session signing key.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text, text

from ..model import FINGERPRINT_LENGTH, MAX_ID, MAX_IDEMPOTENCY_KEY, MAX_MSG_ID, MAX_NAME, MAX_QUEUE, MAX_TITLE

metadata = MetaData()
BigInt = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "dr_messages", metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String(MAX_ID), nullable=False, unique=True),
    Column("queue", String(MAX_QUEUE), nullable=False),
    Column("robot", String(MAX_NAME)),
    Column("target_url", Text),
    Column("source", String(MAX_NAME)),
    Column("msgtype", String(20), nullable=False),
    Column("title", String(MAX_TITLE), nullable=False, default=""),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_until", Float),
    Column("lease_owner", String(120)),   # the process sending it: host:pid:incarnation (..owner)
    Column("expires_at", Float),
    Column("last_errcode", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("fingerprint", String(FINGERPRINT_LENGTH)),
    Column("digest_id", String(MAX_ID)),
    Column("duplicate_of", String(MAX_ID)),
    Column("duplicates", Integer, nullable=False, default=0, server_default=text("0")),
    Column("repeat_key", String(64)),    # what the message is about, where (..model.NewMessage.repeat_key)
    Column("requeued_at", Float),
    Column("fallback", Text),            # a bot reply's OpenAPI route once its sessionWebhook expired (..model)
)
#: Leads with status: finding the messages in flight (``recover``) is one index range scan.
Index("dr_messages_active", messages.c.status, messages.c.queue, messages.c.seq)
#: Literal, so SQLite and PostgreSQL can prove a query uses this partial index: finding a queue's head (its oldest
#: active message) costs one index probe however many delivered messages the table holds.
ACTIVE_SQL = text("status IN ('queued', 'retrying', 'sending')")
Index("dr_messages_head", messages.c.queue, messages.c.seq, sqlite_where=ACTIVE_SQL, postgresql_where=ACTIVE_SQL)
IN_DIGEST_SQL = text("digest_id IS NOT NULL")
Index("dr_messages_digest", messages.c.digest_id, sqlite_where=IN_DIGEST_SQL, postgresql_where=IN_DIGEST_SQL)
#: Finding the messages shown lately with a message's repeat key (suppression) is one index range scan per key.
REPEAT_SQL = text("repeat_key IS NOT NULL")
Index("dr_messages_repeat", messages.c.repeat_key, messages.c.created_at, sqlite_where=REPEAT_SQL,
      postgresql_where=REPEAT_SQL)
#: Messages that ended, by when: retention finds the old ones and the reports count the last 24 h (per robot:
#: ``queue`` makes the index cover those counts) without reading every stored message. Partial, so claims and
#: retries never touch it, and literal like ACTIVE_SQL: a query naming ENDED_SQL can use it on both databases.
ENDED_SQL = text("status IN ('delivered', 'dead', 'suppressed')")
Index("dr_messages_ended", messages.c.status, messages.c.updated_at, messages.c.queue,
      sqlite_where=ENDED_SQL, postgresql_where=ENDED_SQL)

idempotency_keys = Table(
    "dr_idempotency", metadata,
    Column("source", String(MAX_NAME), primary_key=True),
    Column("key", String(MAX_IDEMPOTENCY_KEY), primary_key=True),
    Column("message_ids", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("dr_idempotency_created", idempotency_keys.c.created_at)

queue_state = Table(
    "dr_queue_state", metadata,
    Column("queue", String(MAX_QUEUE), primary_key=True),
    Column("paused_until", Float),
    Column("pause_reason", Text),
)

sends = Table(
    "dr_sends", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("queue", String(MAX_QUEUE), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("dr_sends_queue", sends.c.queue, sends.c.finished_at)
Index("dr_sends_finished", sends.c.finished_at)

bot_replies = Table(
    "dr_bot_replies", metadata,
    Column("bot", String(MAX_NAME), primary_key=True),
    Column("msg_id", String(MAX_MSG_ID), primary_key=True),
    Column("status", String(10), nullable=False),   # running | done
    Column("via", String(10)),                       # response | session: how the reply went out
    Column("reply", Text),                           # the reply's DingTalk JSON; NULL: no reply
    Column("created_at", Float, nullable=False),     # first seen, or taken over (the claim's lease starts here)
    Column("finished_at", Float),
    Column("callback", Text),                        # the message as received (JSON), to answer it after a crash
    Column("lease_owner", String(120)),              # the process answering it: host:pid:incarnation (..owner)
)
#: Finding the messages still being answered, and by whom (``Replies.take_abandoned``), is one index range scan.
RUNNING_SQL = text("status = 'running'")
Index("dr_bot_replies_running", bot_replies.c.lease_owner, bot_replies.c.created_at, sqlite_where=RUNNING_SQL,
      postgresql_where=RUNNING_SQL)

attempts = Table(
    "dr_attempts", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("message_id", String(32), nullable=False),   # the message sent: for a digest's batch, the digest
    Column("started_at", Float, nullable=False),
    Column("duration", Float),
    Column("http_status", Integer),
    Column("errcode", Integer),
    Column("errmsg", Text),                              # DingTalk's errmsg, masked
    Column("error", Text),                               # the reason the outcome recorded, masked
    Column("via", String(32)),                           # copied from the digest that carried the message
    Column("outcome", String(10), nullable=False),       # delivered | retry | paused | dead
)
Index("dr_attempts_message", attempts.c.message_id, attempts.c.id)

audit = Table(
    "dr_audit", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("actor", String(200), nullable=False),        # cli:<os user>, ui:<user>
    Column("at", Float, nullable=False),
    Column("action", String(40), nullable=False),        # requeue, ...
    Column("target", Text, nullable=False),              # a message id, or the filter it applied to
    Column("detail", Text, nullable=False),
)
Index("dr_audit_at", audit.c.at)

# -- the dashboard (revision 0005): the hooks' payload samples, its session key ---------------------------------

#: The overview counts each robot's messages delivered, dead, digested and suppressed in the last 24 h through this.
Index("dr_messages_recent", messages.c.queue, messages.c.status, messages.c.updated_at)

hook_samples = Table(
    "dr_hook_samples", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("hook", String(20), nullable=False),      # alertmanager | grafana | generic
    Column("source", String(100), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("body", Text, nullable=False),            # the payload's JSON, secrets masked
)
Index("dr_hook_samples_newest", hook_samples.c.hook, hook_samples.c.source, hook_samples.c.id)

ui_keys = Table(
    "dr_ui_keys", metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),           # hex; the session signing key
)
