"""The dashboard: the hooks' last payloads (``dr_hook_samples``, masked), its session signing key (``dr_ui_keys``),
and an index the overview counts a robot's last 24 h through. Its audit log is ``dr_audit`` (revision 0004).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("dr_messages_recent", "dr_messages", ["queue", "status", "updated_at"])
    op.create_table(
        "dr_hook_samples",
        sa.Column("id", BigInt, primary_key=True, autoincrement=True),
        sa.Column("hook", sa.String(20), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("dr_hook_samples_newest", "dr_hook_samples", ["hook", "source", "id"])
    op.create_table(
        "dr_ui_keys",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dr_ui_keys")
    op.drop_table("dr_hook_samples")
    op.drop_index("dr_messages_recent", "dr_messages")
