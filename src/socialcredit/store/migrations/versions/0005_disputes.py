"""Disputes (objections) of records and human reviews of adverse decisions; notices to subjects.

`disputes` and `reviews` hold where each case stands; `due_process_log` (who did what to a case,
when and why) and `notices` (what a subject was told) are append-only: triggers refuse UPDATE and
DELETE.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.store.append_only import drop_append_only_functions, make_append_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
APPEND_ONLY = ("due_process_log", "notices")

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("record", BIGINT, nullable=False),
        sa.Column("furnisher", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.String(500)),
        sa.Column("statement", sa.Text),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("opened_by", sa.String(40), nullable=False),
        sa.Column("deadline", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("closed_by", sa.String(40)),
        sa.Column("closing_reason", sa.Text),
        sa.Column("closing_evidence", sa.String(500)),
        sa.Column("retraction", sa.String(128)),
        sa.Column("reinserted", BIGINT),
    )
    op.create_index("ix_disputes_subject", "disputes", ["subject", "id"])
    op.create_index("ix_disputes_furnisher", "disputes", ["furnisher", "id"])
    op.create_index("ix_disputes_record", "disputes", ["record"])
    op.create_index("ix_disputes_reinserted", "disputes", ["reinserted"])
    op.create_index("ix_disputes_status_deadline", "disputes", ["status", "deadline"])
    op.create_index(
        "uq_disputes_open_record",
        "disputes",
        ["record"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decision", BIGINT, nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("original", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("new_decision", sa.String(32)),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("decided_by", sa.String(40)),
        sa.Column("decision_reason", sa.Text),
    )
    op.create_index("ix_reviews_subject", "reviews", ["subject", "id"])
    op.create_index("ix_reviews_decision", "reviews", ["decision"])
    op.create_index(
        "uq_reviews_open_decision",
        "reviews",
        ["decision"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        "due_process_log",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("dispute", sa.Integer),
        sa.Column("review", sa.Integer),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("principal_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_due_process_log_dispute", "due_process_log", ["dispute", "id"])
    op.create_index("ix_due_process_log_review", "due_process_log", ["review", "id"])
    op.create_table(
        "notices",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
    )
    op.create_index("ix_notices_subject", "notices", ["subject", "id"])
    make_append_only(*APPEND_ONLY)


def downgrade() -> None:
    for table in ("notices", "due_process_log", "reviews", "disputes"):
        op.drop_table(table)
    drop_append_only_functions(*APPEND_ONLY)
