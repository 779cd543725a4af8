"""Lists and decisions: the append-only decision log, credit repairs, organisations' addresses.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.store.append_only import drop_append_only_functions, make_append_only

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32)),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("measures", sa.Text, nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(40)),
        sa.Column("catalogue_version", sa.String(40), nullable=False),
        sa.Column("trace", sa.Text, nullable=False),
    )
    op.create_index("ix_decisions_subject", "decisions", ["subject", "id"])
    op.create_table(
        "repairs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
        sa.Column("commitment", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=False),
    )
    op.create_index("ix_repairs_subject", "repairs", ["subject", "list"])
    with op.batch_alter_table("registry") as batch:
        batch.add_column(sa.Column("address", sa.String(300)))
    make_append_only("decisions")


def downgrade() -> None:
    with op.batch_alter_table("registry") as batch:
        batch.drop_column("address")
    op.drop_table("repairs")
    op.drop_table("decisions")
    drop_append_only_functions("decisions")
