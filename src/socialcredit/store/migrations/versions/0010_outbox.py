"""The outbox of domain events, and the ledger position each scoring run reflects.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("ledger_position", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_outbox_subject", "outbox", ["subject"])
    with op.batch_alter_table("score_runs") as batch:
        batch.add_column(sa.Column("ledger_position", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("score_runs") as batch:
        batch.drop_column("ledger_position")
    op.drop_index("ix_outbox_subject", table_name="outbox")
    op.drop_table("outbox")
