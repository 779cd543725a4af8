"""Fault: SQLite's `INSERT OR REPLACE` rewrote rows of the append-only tables (records,
access_log, decisions, ...): REPLACE deletes the row whose key conflicts without firing its
DELETE trigger. Every append-only table now checks each new row's keys before the insert: a
record with a stored key is skipped (ingest's duplicates still count as duplicates), a row of
any other log is refused. On PostgreSQL the application's role (`init --app-role`) may not
UPDATE, DELETE or TRUNCATE those tables at all, ON CONFLICT DO UPDATE meets the UPDATE trigger
and even the owner's TRUNCATE is refused. Checked with the raw sqlite3 module on the store's
file, psycopg as a separate role, and real `socialcredit` processes."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from factories import NOW, furnisher_rows, new_store, record_row, write_rows
from socialcredit.services.ingest import ingest_files

APP_ROLE = "socialcredit_app"
REFUSED = re.compile("append-only|maintenance run")


def sqlite_path(engine: sa.Engine) -> str:
    assert engine.url.database is not None
    return engine.url.database


def append_only(connection: sa.Connection) -> list[str]:
    """Tables with the append-only UPDATE trigger, found in the store itself."""
    if connection.dialect.name == "sqlite":
        query = "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?"
        rows = connection.exec_driver_sql(query, ("%_append_only_UPDATE",))
    else:
        rows = connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE '%\\_append\\_only\\_update'"
            )
        )
    return sorted({name for (name,) in rows})


def value(column: sa.Column[Any], n: int) -> Any:
    """A value of the column's type, different for each n."""
    python = column.type.python_type
    if python is datetime:
        return datetime(2026, 1, 1 + n % 28, 9)
    if python is bool:
        return n % 2 == 0
    if python in (int, float):
        return python(n)
    return f"v{n}"


def seed(connection: sa.Connection, name: str, n: int, **fixed: Any) -> None:
    """Store one row in a table, its values made from n (its id given by the store unless
    fixed); fixed values of columns the table lacks are left out."""
    table = sa.Table(name, sa.MetaData(), autoload_with=connection)
    row = {c.name: value(c, n) for c in table.columns if c.name != "id"}
    row.update((k, v) for k, v in fixed.items() if k in table.c)
    connection.execute(table.insert(), row)


def seed_all(engine: sa.Engine) -> list[str]:
    """One row in every append-only table; a maintenance run started first, as purges need."""
    with engine.begin() as connection:
        tables = append_only(connection)
        runs = [t for t in ("maintenance_starts", "maintenance_runs") if t in tables]
        if "maintenance_starts" in runs:
            seed(connection, "maintenance_starts", 1, id=1)
        for name in tables:
            if name not in runs:
                seed(connection, name, 1, run=1)
        if "maintenance_runs" in runs:
            seed(connection, "maintenance_runs", 1, id=1)
    return tables


def unique_keys(connection: sa.Connection, table: str) -> list[list[str]]:
    """The primary key and every unique constraint of a table."""
    inspector = sa.inspect(connection)
    keys = [inspector.get_pk_constraint(table)["constrained_columns"]]
    return keys + [u["column_names"] for u in inspector.get_unique_constraints(table)]


def rows(connection: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def rival(stored: tuple[Any, ...], columns: list[str], key: list[str]) -> tuple[Any, ...]:
    """A row with the stored row's values in `key` and different values everywhere else (a
    new id unless the id is the key)."""
    out = []
    for name, old in zip(columns, stored, strict=True):
        if name in key:
            out.append(old)
        elif name == "id":
            out.append(old + 1000)
        elif isinstance(old, int | float):
            out.append(old + 7)
        else:
            out.append(f"{old}-replaced")
    return tuple(out)


def test_insert_or_replace_cannot_change_or_remove_an_append_only_row(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    tables = seed_all(engine)
    assert {"records", "access_log", "decisions", "purges", "maintenance_runs"} <= set(tables)
    with engine.connect() as connection:
        keys = {t: unique_keys(connection, t) for t in tables}
    engine.dispose()
    raw = sqlite3.connect(sqlite_path(engine), isolation_level=None)
    raw.execute("PRAGMA recursive_triggers = OFF")  # as any new connection has it
    changed = []
    for table in tables:
        before = rows(raw, table)
        columns = [c[1] for c in raw.execute(f"PRAGMA table_info({table})")]
        for key in keys[table]:
            attempt = rival(before[0], columns, key)
            marks = ", ".join("?" for _ in columns)
            for verb in ("INSERT OR REPLACE INTO", "REPLACE INTO"):
                try:
                    raw.execute(f"{verb} {table} ({', '.join(columns)}) VALUES ({marks})", attempt)
                except sqlite3.IntegrityError as exc:
                    assert REFUSED.search(str(exc)), exc
                if rows(raw, table) != before:
                    changed.append(f"{verb} {table} on {key}")
    raw.close()
    assert changed == []


def test_every_append_only_table_checks_the_keys_of_new_rows(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with engine.connect() as connection:
        tables = append_only(connection)
        guarded = {
            name
            for (name,) in connection.exec_driver_sql(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE '%_append_only_INSERT'"
            )
        }
    engine.dispose()
    assert set(tables) <= guarded


def test_re_sent_records_still_count_as_duplicates_or_conflicts(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    first = [record_row(external_id=f"r-{n}") for n in range(3)]
    again = [*first[:2], record_row(external_id="r-2", kind="loan.arrears_cycle")]
    again.append(record_row(external_id="r-3"))
    ingest_files(engine, [furnishers, write_rows(tmp_path / "a.csv", first)], now=NOW)
    summary = ingest_files(engine, [write_rows(tmp_path / "b.csv", again)], now=NOW)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (1, 2, 1)
    assert summary.first_rejects[0].line == 4  # r-2 (after the header), with another kind
    with engine.connect() as connection:
        kinds = dict(connection.execute(sa.text("SELECT external_id, kind FROM records")).all())
    engine.dispose()
    assert kinds == {f"r-{n}": "loan.repaid_on_time" for n in range(4)}


# ---- PostgreSQL


@pytest.fixture
def postgres_store(postgres_server: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database (its owner: the server's superuser)."""
    database = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
        exists = connection.exec_driver_sql(
            f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}'"
        ).first()
        if exists is None:
            connection.exec_driver_sql(f"CREATE ROLE {APP_ROLE} LOGIN")
    admin.dispose()
    yield postgres_server.rsplit("/", 1)[0] + "/" + database


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "SOCIALCREDIT_DB": ""},
    )


def as_role(url: str, role: str) -> str:
    """The URL of the same database for another role, in psycopg's own form."""
    parsed = sa.make_url(url).set(drivername="postgresql", username=role)
    return parsed.render_as_string(hide_password=False)


def seeded_postgres(url: str) -> list[str]:
    engine = sa.create_engine(url)
    tables = seed_all(engine)
    engine.dispose()
    return tables


def test_postgres_upsert_and_truncate_cannot_rewrite_an_append_only_table(
    postgres_store: str,
) -> None:
    assert cli("init", "--db", postgres_store).returncode == 0
    tables = seeded_postgres(postgres_store)
    with psycopg.connect(as_role(postgres_store, "postgres"), autocommit=True) as connection:
        for table in tables:
            before = connection.execute(f"SELECT * FROM {table}").fetchall()
            with pytest.raises(psycopg.errors.RaiseException, match=REFUSED):
                connection.execute(
                    f"INSERT INTO {table} SELECT * FROM {table} "
                    "ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id"
                )
            with pytest.raises(psycopg.errors.RaiseException, match=REFUSED):
                connection.execute(f"TRUNCATE {table} CASCADE")
            assert connection.execute(f"SELECT * FROM {table}").fetchall() == before


def test_the_app_role_may_not_update_delete_or_truncate_append_only_tables(
    postgres_store: str, tmp_path: Path
) -> None:
    done = cli("init", "--db", postgres_store, "--app-role", APP_ROLE)
    assert done.returncode == 0, done.stderr
    assert f"role {APP_ROLE}" in done.stdout
    tables = seeded_postgres(postgres_store)
    app_url = as_role(postgres_store, APP_ROLE)
    refused = []
    with psycopg.connect(app_url, autocommit=True) as connection:
        for table in tables:
            for sql in (
                f"UPDATE {table} SET id = id",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
                f"INSERT INTO {table} SELECT * FROM {table} ON CONFLICT (id) DO UPDATE SET id = 1",
            ):
                try:
                    connection.execute(sql)
                except psycopg.errors.InsufficientPrivilege:
                    refused.append(sql)
            privileges = connection.execute(
                "SELECT has_table_privilege(%s, 'UPDATE'), has_table_privilege(%s, 'DELETE'), "
                "has_table_privilege(%s, 'TRUNCATE'), has_table_privilege(%s, 'INSERT')",
                (table,) * 4,
            ).fetchone()
            assert privileges == (False, False, False, True), table
    assert len(refused) == 4 * len(tables)
    # The role does the application's work: an ingest through the command line.
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    records = write_rows(tmp_path / "records.csv", [record_row(external_id="app-1")])
    ingest = cli("ingest", "--db", app_url, str(furnishers), str(records), cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    assert "1 accepted" in ingest.stdout


def test_app_role_is_refused_for_sqlite_in_one_line(tmp_path: Path) -> None:
    done = cli("init", "--db", f"sqlite:///{tmp_path}/s.db", "--app-role", APP_ROLE)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "PostgreSQL" in done.stderr
