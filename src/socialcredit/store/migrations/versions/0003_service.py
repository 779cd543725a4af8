"""The HTTP service: principals (keys kept as hashes), consents, and the append-only access log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")

APPEND_ONLY_SQLITE = """
CREATE TRIGGER access_log_append_only_{op} BEFORE {op} ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END
"""
APPEND_ONLY_PG_FUNCTION = """
CREATE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the access log is append-only'; END $$ LANGUAGE plpgsql
"""
APPEND_ONLY_PG = """
CREATE TRIGGER access_log_append_only_{op} BEFORE {op} ON access_log
FOR EACH ROW EXECUTE FUNCTION access_log_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(32)),
        sa.Column("furnisher", sa.String(64)),
        sa.Column("kinds", sa.Text),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.UniqueConstraint("key_hash", name="uq_principals_key_hash"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("relying_party", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.UniqueConstraint("token_hash", name="uq_consents_token_hash"),
    )
    op.create_index("ix_consents_subject", "consents", ["subject"])
    op.create_index("ix_consents_relying_party", "consents", ["relying_party"])
    op.create_table(
        "access_log",
        sa.Column("id", BIGINT, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(40), nullable=False),
        sa.Column("principal_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(32)),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("consent", sa.String(40)),
        sa.Column("returned", sa.Text, nullable=False),
    )
    op.create_index("ix_access_log_subject", "access_log", ["subject", "id"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(APPEND_ONLY_PG_FUNCTION)
    for statement in ("UPDATE", "DELETE"):
        if dialect == "sqlite":
            op.execute(APPEND_ONLY_SQLITE.format(op=statement))
        elif dialect == "postgresql":
            op.execute(APPEND_ONLY_PG.format(op=statement))


def downgrade() -> None:
    for table in ("access_log", "consents", "principals"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS access_log_append_only()")
