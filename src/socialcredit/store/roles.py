"""PostgreSQL privileges of the application's role: the server and the CLI connect as a role
that may read every table and append to the append-only ones, but never UPDATE, DELETE or
TRUNCATE them. The schema's owner (who runs the migrations) grants them; see docs/store.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

VERSION_TABLE = "alembic_version"
PURGE_FUNCTION = "purge_records(integer)"
"""Deletes the records a purge run logged; runs as the owner, so the role needs no DELETE."""


class RoleError(ValueError):
    """A role that cannot be given the application's privileges; the message says why."""


@dataclass(frozen=True)
class AppGrants:
    """What `grant_app_role` gave: the role, and the tables it may only read and append to."""

    role: str
    schema: str
    append_only: tuple[str, ...]
    mutable: tuple[str, ...]


def _tables(connection: sa.Connection, schema: str) -> list[str]:
    rows = connection.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
        {"schema": schema},
    )
    return [name for (name,) in rows]


def append_only_tables(connection: sa.Connection, schema: str) -> list[str]:
    """The tables whose UPDATE trigger makes them append-only (named <table>_append_only_update
    by every migration that made one)."""
    rows = connection.execute(
        sa.text(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema "
            "AND lower(t.tgname) = c.relname || '_append_only_update' ORDER BY c.relname"
        ),
        {"schema": schema},
    )
    return [name for (name,) in rows]


def _check_role(connection: sa.Connection, role: str) -> None:
    found = connection.execute(
        sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise RoleError(f"no role {role!r} on this server: create it first (CREATE ROLE ... LOGIN)")
    owner = connection.execute(sa.text("SELECT current_user")).scalar_one()
    if found.rolsuper or role == owner:
        raise RoleError(
            f"role {role!r} is a superuser or owns the schema: no grant can restrict it; "
            "create a separate role for the application"
        )


def grant_app_role(connection: sa.Connection, role: str) -> AppGrants:
    """Give `role` exactly the application's privileges on the current schema, replacing any
    it had there: SELECT on every table; INSERT on all but the schema version; UPDATE and
    DELETE only on tables that are not append-only; no TRUNCATE; the sequences; the purge."""
    if connection.dialect.name != "postgresql":
        raise RoleError("an application role is for a PostgreSQL store: a SQLite file has none")
    _check_role(connection, role)
    quote = connection.dialect.identifier_preparer.quote
    schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    tables = _tables(connection, schema)
    append_only = append_only_tables(connection, schema)
    mutable = [t for t in tables if t not in append_only and t != VERSION_TABLE]
    who, where = quote(role), quote(schema)

    def names(chosen: list[str]) -> str:
        return ", ".join(f"{where}.{quote(t)}" for t in chosen)

    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"GRANT INSERT ON {names([t for t in tables if t != VERSION_TABLE])} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
        f"GRANT EXECUTE ON FUNCTION {where}.{PURGE_FUNCTION} TO {who}",
    ]
    if mutable:
        statements.append(f"GRANT UPDATE, DELETE ON {names(mutable)} TO {who}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    return AppGrants(role, schema, tuple(append_only), tuple(mutable))
