"""Triggers that make a table append-only (UPDATE and DELETE refused), on SQLite and
PostgreSQL, for migrations to add and drop. Names: <table>_append_only_<op> for the triggers,
<table>_append_only() for PostgreSQL's function.

A new append-only table takes both `make_append_only` and `refuse_replacing`: SQLite's
INSERT OR REPLACE deletes a stored row without firing its DELETE trigger, and PostgreSQL's
TRUNCATE fires no row trigger.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
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


_SQLITE_INSERT = """
CREATE TRIGGER {table}_append_only_INSERT BEFORE INSERT ON {table}
WHEN {stored}
BEGIN SELECT {action}; END
"""
_PG_TRUNCATE = """
CREATE TRIGGER {table}_append_only_TRUNCATE BEFORE TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()
"""


def unique_keys(bind: sa.Connection, table: str) -> list[list[str]]:
    """The columns of each unique key of a table: its primary key, unique constraints and
    unique indexes (partial ones left out: they refuse only some rows)."""
    inspector = sa.inspect(bind)
    keys = [inspector.get_pk_constraint(table)["constrained_columns"]]
    keys += [u["column_names"] for u in inspector.get_unique_constraints(table)]
    for index in inspector.get_indexes(table):
        options = index.get("dialect_options", {})
        if index["unique"] and not any(k.endswith("_where") for k in options):
            keys.append([c for c in index["column_names"] if c is not None])
    found: list[list[str]] = []
    for key in keys:
        if key and key not in found:
            found.append(key)
    return found


def _stored(table: str, keys: list[list[str]]) -> str:
    """SQL true when a row with the new row's value of some unique key is stored already."""
    tests = (" AND ".join(f"{column} = NEW.{column}" for column in key) for key in keys)
    return " OR ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {test})" for test in tests)


def refuse_replacing(*tables: str, skipping: Collection[str] = ()) -> None:
    """SQLite: refuse a row whose unique key names a stored row (INSERT OR REPLACE would delete
    that row unseen by its DELETE trigger); for the tables in `skipping`, which bulk appends
    fill with ON CONFLICT DO NOTHING, skip the row instead, the stored one unchanged.
    PostgreSQL: refuse TRUNCATE (ON CONFLICT DO UPDATE meets the UPDATE trigger already)."""
    bind = op.get_bind()
    for table in tables:
        if bind.dialect.name == "sqlite":
            action = (
                "RAISE(IGNORE)"
                if table in skipping
                else f"RAISE(ABORT, '{table} is append-only: a row with this key is stored')"
            )
            stored = _stored(table, unique_keys(bind, table))
            op.execute(_SQLITE_INSERT.format(table=table, stored=stored, action=action))
        elif bind.dialect.name == "postgresql":
            op.execute(_PG_TRUNCATE.format(table=table))


def allow_replacing(*tables: str) -> None:
    """Undo `refuse_replacing`."""
    dialect = op.get_bind().dialect.name
    for table in tables:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_INSERT")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_TRUNCATE ON {table}")
