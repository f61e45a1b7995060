"""The tables, as SQLAlchemy Core objects for the queries. Their DDL lives in the Alembic revisions
(``migrations/versions``); ``tests/storage`` checks that a migrated database matches these definitions.

``dr_messages`` holds every message; ``dr_queue_state`` one row per queue (its lock and pause); ``dr_sends`` the
send log the rate limit counts; ``dr_idempotency`` the keys of the last 24 h; ``dr_bot_replies`` what each bot
answered to which msgId; for the dashboard, ``dr_audit`` who did what, ``dr_hook_samples`` the hooks' last payloads
(masked), ``dr_ui_keys`` the session signing key.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text, text

metadata = MetaData()
BigInt = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "dr_messages", metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("queue", String(200), nullable=False),
    Column("robot", String(100)),
    Column("target_url", Text),
    Column("source", String(100)),
    Column("msgtype", String(20), nullable=False),
    Column("title", String(200), nullable=False, default=""),
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
    Column("fingerprint", String(64)),
    Column("digest_id", String(32)),
    Column("duplicate_of", String(32)),
    Column("duplicates", Integer, nullable=False, default=0, server_default=text("0")),
)
#: Leads with status: finding the messages in flight (``recover``) is one index range scan.
Index("dr_messages_active", messages.c.status, messages.c.queue, messages.c.seq)
#: Literal, so SQLite and PostgreSQL can prove a query uses this partial index: finding a queue's head (its oldest
#: active message) costs one index probe however many delivered messages the table holds.
ACTIVE_SQL = text("status IN ('queued', 'retrying', 'sending')")
Index("dr_messages_head", messages.c.queue, messages.c.seq, sqlite_where=ACTIVE_SQL, postgresql_where=ACTIVE_SQL)
IN_DIGEST_SQL = text("digest_id IS NOT NULL")
Index("dr_messages_digest", messages.c.digest_id, sqlite_where=IN_DIGEST_SQL, postgresql_where=IN_DIGEST_SQL)
Index("dr_messages_fingerprint", messages.c.fingerprint, messages.c.created_at)

idempotency_keys = Table(
    "dr_idempotency", metadata,
    Column("source", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_ids", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

queue_state = Table(
    "dr_queue_state", metadata,
    Column("queue", String(200), primary_key=True),
    Column("paused_until", Float),
    Column("pause_reason", Text),
)

sends = Table(
    "dr_sends", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("queue", String(200), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
)
Index("dr_sends_queue", sends.c.queue, sends.c.finished_at)

bot_replies = Table(
    "dr_bot_replies", metadata,
    Column("bot", String(100), primary_key=True),
    Column("msg_id", String(200), primary_key=True),
    Column("status", String(10), nullable=False),   # running | done
    Column("via", String(10)),                       # response | session: how the reply went out
    Column("reply", Text),                           # the reply's DingTalk JSON; NULL: no reply
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)

# -- the dashboard (revision 0005): its audit log, the hooks' payload samples, its session key -------------------

#: The overview counts each robot's messages delivered, dead, digested and suppressed in the last 24 h through this.
Index("dr_messages_recent", messages.c.queue, messages.c.status, messages.c.updated_at)

audit = Table(
    "dr_audit", metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("who", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300), nullable=False),
    Column("detail", Text, nullable=False),
)

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
