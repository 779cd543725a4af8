"""Score runs say whether they rescored everyone or only some subjects.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("score_runs") as batch:
        batch.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="full"))


def downgrade() -> None:
    with op.batch_alter_table("score_runs") as batch:
        batch.drop_column("scope")
