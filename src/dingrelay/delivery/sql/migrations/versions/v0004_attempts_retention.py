"""Every attempt on record, retention, requeue: ``dr_attempts`` (each send attempt), ``dr_audit`` (who requeued
what), ``dr_messages.requeued_at``, and the indexes retention and the O(robots) reports need: ended messages by
status and time (``dr_messages_ended``), the send log by finish time, idempotency keys by age.

SQLite's ``auto_vacuum=INCREMENTAL`` cannot be switched on here: it must be set before the first table exists, so
a new database gets it when its first connection opens (:mod:`dingrelay.delivery.sql.engines`), and an existing
file needs one VACUUM (``dingrelay db vacuum``, while dingrelay is stopped).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ENDED = sa.text("status IN ('delivered', 'dead', 'suppressed')")


def upgrade() -> None:
    op.create_table(
        "dr_attempts",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("duration", sa.Float),
        sa.Column("http_status", sa.Integer),
        sa.Column("errcode", sa.Integer),
        sa.Column("errmsg", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("via", sa.String(32)),
        sa.Column("outcome", sa.String(10), nullable=False),
    )
    op.create_index("dr_attempts_message", "dr_attempts", ["message_id", "id"])
    op.create_table(
        "dr_audit",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("dr_audit_at", "dr_audit", ["at"])
    op.add_column("dr_messages", sa.Column("requeued_at", sa.Float))
    op.create_index("dr_messages_ended", "dr_messages", ["status", "updated_at", "queue"],
                    sqlite_where=ENDED, postgresql_where=ENDED)
    op.create_index("dr_sends_finished", "dr_sends", ["finished_at"])
    op.create_index("dr_idempotency_created", "dr_idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_index("dr_idempotency_created", "dr_idempotency")
    op.drop_index("dr_sends_finished", "dr_sends")
    op.drop_index("dr_messages_ended", "dr_messages")
    with op.batch_alter_table("dr_messages") as batch:
        batch.drop_column("requeued_at")
    op.drop_table("dr_audit")
    op.drop_table("dr_attempts")
