"""Triggers that make a table append-only (UPDATE and DELETE refused), on SQLite and
PostgreSQL, for migrations to add and drop. Names: <table>_append_only_<op> for the triggers,
<table>_append_only() for PostgreSQL's function."""

from __future__ import annotations

from alembic import op

_SQLITE = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
"""
_PG_FUNCTION = """
CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {op} ON {table}
FOR EACH ROW EXECUTE FUNCTION {table}_append_only()
"""


def make_append_only(*tables: str) -> None:
    """Refuse UPDATE and DELETE on each table from now on."""
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "postgresql":
            op.execute(_PG_FUNCTION.format(table=table))
        for statement in ("UPDATE", "DELETE"):
            if dialect == "sqlite":
                op.execute(_SQLITE.format(table=table, op=statement))
            elif dialect == "postgresql":
                op.execute(_PG_TRIGGER.format(table=table, op=statement))


def drop_append_only_functions(*tables: str) -> None:
    """After the tables are dropped (their triggers with them): PostgreSQL's functions."""
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
