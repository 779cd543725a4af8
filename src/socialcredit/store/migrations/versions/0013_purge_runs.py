"""A purge names the maintenance run that made it, and only the run under way may purge.

Before, any row added to `purges` let its record be deleted. Now a run is logged when it starts
(`maintenance_starts`, append-only) and again when it finishes (`maintenance_runs`, the same
id); a purge row must name the latest run started and not yet finished, and a record's DELETE
passes only for such a purge. Forging one leaves a run start and a purge that cannot be taken
back. Existing runs get their start rows (their own ids and times).

PostgreSQL: the trigger functions read the schema's own tables (never a temporary table of the
same name), and `purge_records(run)` deletes a run's purged records as the schema's owner, so
the application's role needs no DELETE on records (docs/store.md).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.store.append_only import (
    allow_replacing,
    drop_append_only_functions,
    make_append_only,
    refuse_replacing,
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _open_run(run: str) -> str:
    """SQL true when `run` names the latest run started, and that run has not finished."""
    return (
        f"EXISTS (SELECT 1 FROM maintenance_starts s WHERE s.id = {run} "
        "AND s.id = (SELECT max(id) FROM maintenance_starts) "
        "AND NOT EXISTS (SELECT 1 FROM maintenance_runs m WHERE m.id = s.id))"
    )


PURGED = f"""
EXISTS (SELECT 1 FROM purges p WHERE p.record_id = OLD.id AND p.furnisher = OLD.furnisher
        AND p.external_id = OLD.external_id AND p.received_at = OLD.received_at
        AND {_open_run("p.run")})
"""
STARTED = "EXISTS (SELECT 1 FROM maintenance_starts s WHERE s.id = NEW.id)"
REFUSAL = "the ledger is append-only: only the retention purge deletes, and logs first"
NO_RUN = "a purge names the maintenance run under way"
NO_START = "a maintenance run is logged as started before it is logged as finished"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
    WHEN NOT {PURGED} BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
    f"""CREATE TRIGGER purges_run_INSERT BEFORE INSERT ON purges
    WHEN NOT {_open_run("NEW.run")} BEGIN SELECT RAISE(ABORT, '{NO_RUN}'); END""",
    f"""CREATE TRIGGER maintenance_runs_start_INSERT BEFORE INSERT ON maintenance_runs
    WHEN NOT {STARTED} BEGIN SELECT RAISE(ABORT, '{NO_START}'); END""",
)
TRIGGERS = ("records_append_only_DELETE", "purges_run_INSERT", "maintenance_runs_start_INSERT")
# As 0008 left them.
PURGED_0008 = """
EXISTS (SELECT 1 FROM purges p WHERE p.record_id = OLD.id AND p.furnisher = OLD.furnisher
        AND p.external_id = OLD.external_id AND p.received_at = OLD.received_at)
"""
SQLITE_0008 = f"""CREATE TRIGGER records_append_only_DELETE BEFORE DELETE ON records
WHEN NOT {PURGED_0008} BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"""

_PG_CHECK = """
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
  IF {condition} THEN RETURN {row}; END IF;
  RAISE EXCEPTION '{refusal}';
END $$
"""
PG_PURGE = """
CREATE FUNCTION purge_records(run integer) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
DECLARE gone bigint;
BEGIN
  DELETE FROM records r USING purges p WHERE p.run = purge_records.run AND p.record_id = r.id
    AND p.furnisher = r.furnisher AND p.external_id = r.external_id;
  GET DIAGNOSTICS gone = ROW_COUNT;
  RETURN gone;
END $$
"""
PG_TRIGGERS = (
    """CREATE TRIGGER purges_run_INSERT BEFORE INSERT ON purges
    FOR EACH ROW EXECUTE FUNCTION purges_name_open_run()""",
    """CREATE TRIGGER maintenance_runs_start_INSERT BEFORE INSERT ON maintenance_runs
    FOR EACH ROW EXECUTE FUNCTION maintenance_runs_started()""",
)
PG_0008 = f"""
CREATE OR REPLACE FUNCTION records_purge_only() RETURNS trigger AS $$
BEGIN
  IF {PURGED_0008} THEN RETURN OLD; END IF;
  RAISE EXCEPTION '{REFUSAL}';
END $$ LANGUAGE plpgsql
"""


def _postgresql_upgrade() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    where = op.get_bind().dialect.identifier_preparer.quote(schema)
    checks = (
        ("records_purge_only", PURGED, "OLD", REFUSAL),
        ("purges_name_open_run", _open_run("NEW.run"), "NEW", NO_RUN),
        ("maintenance_runs_started", STARTED, "NEW", NO_START),
    )
    for name, condition, row, refusal in checks:
        op.execute(
            _PG_CHECK.format(name=name, schema=where, condition=condition, row=row, refusal=refusal)
        )
    for trigger in PG_TRIGGERS:
        op.execute(trigger)
    op.execute(PG_PURGE.format(schema=where))
    op.execute("REVOKE EXECUTE ON FUNCTION purge_records(integer) FROM PUBLIC")
    op.execute(
        "SELECT setval(pg_get_serial_sequence('maintenance_starts', 'id'), "
        "coalesce(max(id), 0) + 1, false) FROM maintenance_starts"
    )


def upgrade() -> None:
    op.create_table(
        "maintenance_starts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO maintenance_starts (id, as_of, started_at) "
        "SELECT id, as_of, started_at FROM maintenance_runs"
    )
    make_append_only("maintenance_starts")
    refuse_replacing("maintenance_starts")
    op.add_column("purges", sa.Column("run", sa.Integer))
    op.create_index("ix_purges_run", "purges", ["run"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER records_append_only_DELETE")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    elif dialect == "postgresql":
        _postgresql_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute(SQLITE_0008)
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER purges_run_INSERT ON purges")
        op.execute("DROP TRIGGER maintenance_runs_start_INSERT ON maintenance_runs")
        for function in ("purges_name_open_run()", "maintenance_runs_started()"):
            op.execute(f"DROP FUNCTION {function}")
        op.execute("DROP FUNCTION purge_records(integer)")
        op.execute(PG_0008)
    op.drop_index("ix_purges_run", table_name="purges")
    op.execute("ALTER TABLE purges DROP COLUMN run")  # in place: purges keeps its triggers
    allow_replacing("maintenance_starts")
    op.drop_table("maintenance_starts")
    drop_append_only_functions("maintenance_starts")
