"""Suppression by the state last shown: ``dr_messages.repeat_key`` and its index.

A message is a repeat when the latest message shown (not suppressed, not dead) with its repeat key (what it is
about, on which robot or pool) has its fingerprint (what it says). ``dr_messages_repeat`` makes that lookup one
index range scan per key; ``dr_messages_fingerprint``, which served the lookup by fingerprint, goes.

Rows stored before this revision have no repeat key: a repeat of a message accepted just before the upgrade is
sent once more. Each step is skipped when already done, so a database whose tables were made from newer table
definitions (tests do this) upgrades too.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REPEAT = sa.text("repeat_key IS NOT NULL")


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    if "repeat_key" not in {c["name"] for c in have.get_columns("dr_messages")}:
        op.add_column("dr_messages", sa.Column("repeat_key", sa.String(64)))
    indexes = {i["name"] for i in have.get_indexes("dr_messages")}
    if "dr_messages_repeat" not in indexes:
        op.create_index("dr_messages_repeat", "dr_messages", ["repeat_key", "created_at"],
                        sqlite_where=REPEAT, postgresql_where=REPEAT)
    if "dr_messages_fingerprint" in indexes:
        op.drop_index("dr_messages_fingerprint", "dr_messages")


def downgrade() -> None:
    op.create_index("dr_messages_fingerprint", "dr_messages", ["fingerprint", "created_at"])
    op.drop_index("dr_messages_repeat", "dr_messages")
    with op.batch_alter_table("dr_messages") as batch:
        batch.drop_column("repeat_key")
