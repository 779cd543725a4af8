"""Reports of other subjects' breaches and their adjudication.

`reports` (what a subject reported) and `report_decisions` (one per report: who decided, why,
the flags seen and the records written) are append-only: triggers refuse UPDATE and DELETE.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.store.append_only import drop_append_only_functions, make_append_only

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
APPEND_ONLY = ("reports", "report_decisions")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("reporter", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("evidence", sa.String(500), nullable=False),
        sa.Column("filed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_reports_reporter", "reports", ["reporter", "filed_at"])
    op.create_index("ix_reports_target", "reports", ["target"])
    op.create_index("ix_reports_filed_at", "reports", ["filed_at"])
    op.create_table(
        "report_decisions",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("report", BIGINT, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=False),
        sa.Column("decided_by_name", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("records", sa.Text, nullable=False),
        sa.UniqueConstraint("report", name="uq_report_decisions_report"),
    )
    make_append_only(*APPEND_ONLY)


def downgrade() -> None:
    for table in ("report_decisions", "reports"):
        op.drop_table(table)
    drop_append_only_functions(*APPEND_ONLY)
