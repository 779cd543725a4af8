"""Score badges shared by link, and subjects' opt-ins to the public side.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("relying_party", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
        sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
    )
    op.create_index("ix_shares_subject", "shares", ["subject", "id"])
    op.create_table(
        "subject_settings",
        sa.Column("subject", sa.String(32), primary_key=True),
        sa.Column("public_percentile", sa.Boolean, nullable=False),
        sa.Column("leaderboard", sa.Boolean, nullable=False),
        sa.Column("game", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subject_settings")
    op.drop_index("ix_shares_subject", table_name="shares")
    op.drop_table("shares")
