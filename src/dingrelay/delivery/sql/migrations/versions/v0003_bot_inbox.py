"""The bots' inbox: a reply-log row keeps the message it answers and the process answering it, so a message whose
reply was never queued (its process was killed) is answered after a restart.

``dr_bot_replies`` gains ``callback`` (the message as received, JSON) and ``lease_owner`` (host:pid:incarnation),
and a partial index over the rows still ``running``. Rows written before this revision have neither: they are
never resumed, and are purged after a day like every row.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.add_column("dr_bot_replies", sa.Column("callback", sa.Text))
    op.add_column("dr_bot_replies", sa.Column("lease_owner", sa.String(120)))
    op.create_index("dr_bot_replies_running", "dr_bot_replies", ["lease_owner", "created_at"],
                    sqlite_where=RUNNING, postgresql_where=RUNNING)


def downgrade() -> None:
    op.drop_index("dr_bot_replies_running", table_name="dr_bot_replies")
    with op.batch_alter_table("dr_bot_replies") as batch:
        batch.drop_column("lease_owner")
        batch.drop_column("callback")
