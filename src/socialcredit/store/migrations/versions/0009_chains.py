"""Each correction's chain (the external id of its chain's first record), so that every engine
resolves a chain to its latest received record with one group-by; stored corrections get
theirs here.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from socialcredit.domain.records import chain_starts

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# As 0001 made it.
APPEND_ONLY_UPDATE_SQLITE = """
CREATE TRIGGER records_append_only_UPDATE BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END
"""
WITH_CHAIN = sa.text("chain IS NOT NULL")


def _backfill() -> None:
    """Write the chain of every stored correction, the append-only trigger held off meanwhile:
    a value computed from the ledger itself, as ingest now writes it with each correction."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, furnisher, external_id, replaces FROM records "
            "WHERE replaces IS NOT NULL ORDER BY id"
        )
    ).all()
    if not rows:
        return
    links = {(r.furnisher, r.external_id): (r.furnisher, r.replaces) for r in rows}
    starts = chain_starts(links, {})
    values = [{"id": r.id, "chain": starts[(r.furnisher, r.external_id)][1]} for r in rows]
    dialect = bind.dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER records_append_only_UPDATE")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE records DISABLE TRIGGER records_append_only_UPDATE")
    bind.execute(sa.text("UPDATE records SET chain = :chain WHERE id = :id"), values)
    if dialect == "sqlite":
        op.execute(APPEND_ONLY_UPDATE_SQLITE)
    elif dialect == "postgresql":
        op.execute("ALTER TABLE records ENABLE TRIGGER records_append_only_UPDATE")


def upgrade() -> None:
    op.add_column("records", sa.Column("chain", sa.String(128)))
    _backfill()
    op.create_index(
        "ix_records_chain",
        "records",
        ["furnisher", "chain"],
        sqlite_where=WITH_CHAIN,
        postgresql_where=WITH_CHAIN,
    )


def downgrade() -> None:
    op.drop_index("ix_records_chain", "records")
    op.drop_column("records", "chain")
