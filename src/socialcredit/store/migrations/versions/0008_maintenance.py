"""Retention: the log of purged records, the log of maintenance runs, and the one way a
record may leave the ledger (a DELETE passes only for a record the purge log names).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.store.append_only import drop_append_only_functions, make_append_only

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
LOGS = ("purges", "maintenance_runs")


# The purge log names the very record (id, furnisher, external id, received time): a DELETE
# of any other record is refused, as before.
PURGED = """
EXISTS (SELECT 1 FROM purges p WHERE p.record_id = OLD.id AND p.furnisher = OLD.furnisher
        AND p.external_id = OLD.external_id AND p.received_at = OLD.received_at)
"""
REFUSAL = "the ledger is append-only: only the retention purge deletes, and logs first"

PURGE_ONLY_SQLITE = f"""
CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
WHEN NOT {PURGED}
BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END
"""
PURGE_ONLY_PG_FUNCTION = f"""
CREATE FUNCTION records_purge_only() RETURNS trigger AS $$
BEGIN
  IF {PURGED} THEN RETURN OLD; END IF;
  RAISE EXCEPTION '{REFUSAL}';
END $$ LANGUAGE plpgsql
"""
PURGE_ONLY_PG = """
CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
FOR EACH ROW EXECUTE FUNCTION records_purge_only()
"""
# As 0001 left it.
APPEND_ONLY_RECORDS_SQLITE = """
CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END
"""
APPEND_ONLY_RECORDS_PG = """
CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
FOR EACH ROW EXECUTE FUNCTION records_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "purges",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("purged_at", sa.DateTime, nullable=False),
        sa.Column("record_id", BIGINT, nullable=False),
        sa.Column("furnisher", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_purges_record", "purges", ["record_id"])
    op.create_index("ix_purges_subject", "purges", ["subject", "id"])
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("disputes_closed", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("rescored", sa.Integer, nullable=False),
        sa.Column("purged", sa.Integer, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    make_append_only(*LOGS)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER records_append_only_DELETE")
        op.execute(PURGE_ONLY_SQLITE)
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER records_append_only_DELETE ON records")
        op.execute(PURGE_ONLY_PG_FUNCTION)
        op.execute(PURGE_ONLY_PG)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER records_append_only_DELETE")
        op.execute(APPEND_ONLY_RECORDS_SQLITE)
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER records_append_only_DELETE ON records")
        op.execute("DROP FUNCTION IF EXISTS records_purge_only()")
        op.execute(APPEND_ONLY_RECORDS_PG)
    for table in LOGS:
        op.drop_table(table)
    drop_append_only_functions(*LOGS)
