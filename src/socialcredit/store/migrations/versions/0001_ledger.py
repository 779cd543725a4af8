"""The ledger, subjects, furnishers, registry, policies and score snapshots.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")

APPEND_ONLY_SQLITE = """
CREATE TRIGGER records_append_only_{op} BEFORE {op} ON records
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END
"""
APPEND_ONLY_PG_FUNCTION = """
CREATE FUNCTION records_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$ LANGUAGE plpgsql
"""
APPEND_ONLY_PG = """
CREATE TRIGGER records_append_only_{op} BEFORE {op} ON records
FOR EACH ROW EXECUTE FUNCTION records_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "furnishers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("registered_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "registry",
        sa.Column("subject", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("region", sa.String(100)),
        sa.Column("urban", sa.Boolean),
        sa.Column("birth_year", sa.Integer),
        sa.Column("sex", sa.String(8)),
    )
    op.create_table(
        "records",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("furnisher", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("evidence", sa.String(500)),
        sa.Column("replaces", sa.String(128)),
        sa.UniqueConstraint("furnisher", "external_id", name="uq_records_furnisher_external_id"),
    )
    op.create_index("ix_records_subject", "records", ["subject"])
    op.create_table(
        "relations",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("furnisher", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("other", sa.String(32), nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("start", sa.DateTime, nullable=False),
        sa.Column("end", sa.DateTime),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("furnisher", "external_id", name="uq_relations_furnisher_external_id"),
    )
    op.create_index("ix_relations_subject", "relations", ["subject"])
    op.create_index("ix_relations_other", "relations", ["other"])
    op.create_table(
        "policies",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("first_used_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "score_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("computed_at", sa.DateTime, nullable=False),
        sa.Column("subjects", sa.Integer, nullable=False),
    )
    op.create_table(
        "scores",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("grade", sa.String(16)),
        sa.Column("percentile", sa.Float),
        sa.Column("explanation", sa.Text, nullable=False),
    )
    op.create_index("ix_scores_subject_program", "scores", ["subject", "program", "run_id"])
    op.create_index("ix_scores_run", "scores", ["run_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(APPEND_ONLY_PG_FUNCTION)
    for statement in ("UPDATE", "DELETE"):
        if dialect == "sqlite":
            op.execute(APPEND_ONLY_SQLITE.format(op=statement))
        elif dialect == "postgresql":
            op.execute(APPEND_ONLY_PG.format(op=statement))


def downgrade() -> None:
    for table in (
        "scores",
        "score_runs",
        "policies",
        "relations",
        "records",
        "registry",
        "subjects",
        "furnishers",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS records_append_only()")
