"""The schema of dingrelay 0.1: messages, queue state, the send log, idempotency keys, the bots' reply log.

A database made before migrations (by ``create_all``, without a version table) is brought to this schema in place,
rows kept: missing tables are created, the columns later added to ``dr_messages`` are added when missing
(``lease_owner``, ``fingerprint``, ``digest_id``, ``duplicate_of``, ``duplicates``), missing indexes are created.
An empty database gets everything.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = sa.text("status IN ('queued', 'retrying', 'sending')")
IN_DIGEST = sa.text("digest_id IS NOT NULL")


def _messages() -> list[sa.Column[Any]]:
    return [
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("robot", sa.String(100)),
        sa.Column("target_url", sa.Text),
        sa.Column("source", sa.String(100)),
        sa.Column("msgtype", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float),
        sa.Column("lease_owner", sa.String(120)),
        sa.Column("expires_at", sa.Float),
        sa.Column("last_errcode", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("digest_id", sa.String(32)),
        sa.Column("duplicate_of", sa.String(32)),
        sa.Column("duplicates", sa.Integer, nullable=False, server_default=sa.text("0")),
    ]


#: Columns of dr_messages that databases made by earlier versions may lack (all nullable or defaulted).
LATER_COLUMNS = {"lease_owner", "fingerprint", "digest_id", "duplicate_of", "duplicates"}


def _idempotency() -> list[sa.Column[Any]]:
    return [
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("message_ids", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    ]


def _queue_state() -> list[sa.Column[Any]]:
    return [
        sa.Column("queue", sa.String(200), primary_key=True),
        sa.Column("paused_until", sa.Float),
        sa.Column("pause_reason", sa.Text),
    ]


def _sends() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    ]


def _bot_replies() -> list[sa.Column[Any]]:
    return [
        sa.Column("bot", sa.String(100), primary_key=True),
        sa.Column("msg_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("via", sa.String(10)),
        sa.Column("reply", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    ]


TABLES: dict[str, Callable[[], list[sa.Column[Any]]]] = {
    "dr_messages": _messages, "dr_idempotency": _idempotency, "dr_queue_state": _queue_state, "dr_sends": _sends,
    "dr_bot_replies": _bot_replies,
}

#: (name, table, columns, dialect options)
INDEXES: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("dr_messages_active", "dr_messages", ["status", "queue", "seq"], {}),
    ("dr_messages_head", "dr_messages", ["queue", "seq"], {"sqlite_where": ACTIVE, "postgresql_where": ACTIVE}),
    ("dr_messages_digest", "dr_messages", ["digest_id"], {"sqlite_where": IN_DIGEST, "postgresql_where": IN_DIGEST}),
    ("dr_messages_fingerprint", "dr_messages", ["fingerprint", "created_at"], {}),
    ("dr_sends_queue", "dr_sends", ["queue", "finished_at"], {}),
]


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    existing = set(have.get_table_names())
    for name, columns in TABLES.items():
        if name not in existing:
            op.create_table(name, *columns())
            continue
        present = {c["name"] for c in have.get_columns(name)}
        missing = [c for c in columns() if c.name not in present]
        unexpected = [c.name for c in missing if name != "dr_messages" or c.name not in LATER_COLUMNS]
        if unexpected:
            raise RuntimeError(f"table {name} lacks column(s) {', '.join(unexpected)}: not a dingrelay database")
        for c in missing:
            op.add_column(name, c)
    for index, table, columns_, options in INDEXES:
        if index not in {i["name"] for i in have.get_indexes(table)}:
            op.create_index(index, table, columns_, **options)


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
