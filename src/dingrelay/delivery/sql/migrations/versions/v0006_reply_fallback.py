"""A bot reply's way round an expired sessionWebhook: ``dr_messages.fallback``, where the reply goes by the app
robot's OpenAPI instead (the bot, and its group's openConversationId or the sender's staff id, as JSON).

Skipped when already there, so a database whose tables were made from newer table definitions upgrades too.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "fallback" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("dr_messages")}:
        op.add_column("dr_messages", sa.Column("fallback", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("dr_messages") as batch:
        batch.drop_column("fallback")
