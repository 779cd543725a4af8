"""Enrolment codes: an admin issues one, the subject redeems it for a key of its own (only the
code's hash is kept; a code works once, before it expires).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrolments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(40), nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("redeemed_at", sa.DateTime),
        sa.Column("redeemed_by", sa.String(40)),
        sa.UniqueConstraint("code_hash", name="uq_enrolments_code_hash"),
    )
    op.create_index("ix_enrolments_subject", "enrolments", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_enrolments_subject", table_name="enrolments")
    op.drop_table("enrolments")
