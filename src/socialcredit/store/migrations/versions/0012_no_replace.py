"""Append-only tables refuse a row whose key is stored already: SQLite's INSERT OR REPLACE
deleted the stored row without firing its DELETE trigger. Records skip such a row instead (as
ingest's ON CONFLICT DO NOTHING does), so re-sent records stay duplicates. On PostgreSQL,
which has no REPLACE, the append-only tables refuse TRUNCATE.

Revision ID: 0012
Revises: 0011
"""

from socialcredit.store.append_only import allow_replacing, refuse_replacing

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "records",
    "access_log",
    "decisions",
    "due_process_log",
    "notices",
    "reports",
    "report_decisions",
    "purges",
    "maintenance_runs",
)


def upgrade() -> None:
    refuse_replacing(*APPEND_ONLY, skipping=("records",))


def downgrade() -> None:
    allow_replacing(*APPEND_ONLY)
