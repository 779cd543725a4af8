"""Bulk appends straight to the database driver, shared by every repository."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

_BATCH = 5_000


def time_writer(connection: sa.Connection) -> Callable[[datetime], Any]:
    """How a datetime is handed to the driver: on SQLite, SQLAlchemy's own storage format
    (YYYY-MM-DD HH:MM:SS.ffffff) written by the C isoformat; elsewhere the datetime itself."""
    if connection.dialect.name == "sqlite":
        return lambda value: value.isoformat(" ", "microseconds")
    return lambda value: value


def append_rows(
    connection: sa.Connection, table: sa.Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert rows (values in the order of `names`, ready for the driver), skipping any whose
    unique key is already stored (or repeats an earlier row); returns how many were new.

    SQLite: straight to the driver's executemany, several times quicker than Core's per-row
    parameter handling. PostgreSQL: COPY into a temporary staging table, then one
    `INSERT ... SELECT ... ON CONFLICT DO NOTHING` in the rows' order.
    """
    if not rows:
        return 0
    if connection.dialect.name == "postgresql":
        return _copy_rows(connection, table, names, rows)[0]
    return _sqlite_rows(connection, table, names, rows)


def append_new(
    connection: sa.Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
) -> list[int]:
    """Insert rows as append_rows does, into a table with an integer `id` that grows with each
    row; returns the positions of the rows skipped because their `key` columns name a row
    stored before (or an earlier row's). Finding them costs a read only when some were."""
    if not rows:
        return []
    if connection.dialect.name == "postgresql":
        inserted, keys = _copy_rows(connection, table, names, rows, key)
    else:
        inserted, keys = _sqlite_new_keys(connection, table, names, rows, key)
    if inserted == len(rows):
        return []
    at = [names.index(k) for k in key]
    new = {tuple(k) for k in keys}
    skipped = []
    for position, row in enumerate(rows):
        found = tuple(row[i] for i in at)
        if found in new:
            new.discard(found)  # the first row with this key went in; any other is skipped
        else:
            skipped.append(position)
    return skipped


def _sqlite_new_keys(
    connection: sa.Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
) -> tuple[int, list[Any]]:
    """SQLite: insert the rows; returns how many went in and, when some did not, the `key`
    columns of those that did (the ids past the largest before, in this write transaction)."""
    quote = connection.dialect.identifier_preparer.quote
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SELECT max(id) FROM {quote(table.name)}")
        before = cursor.fetchone()[0] or 0
        inserted = _sqlite_rows(connection, table, names, rows)
        if inserted == len(rows):
            return inserted, []
        columns = ", ".join(quote(k) for k in key)
        cursor.execute(f"SELECT {columns} FROM {quote(table.name)} WHERE id > ?", (before,))
        return inserted, cursor.fetchall()
    finally:
        cursor.close()


def _sqlite_rows(
    connection: sa.Connection, table: sa.Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    dialect = connection.dialect
    if dialect.name != "sqlite":
        raise NotImplementedError(f"the store does not support {dialect.name}")
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' for _ in names)}) ON CONFLICT DO NOTHING"
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    inserted = 0
    try:
        for start in range(0, len(rows), _BATCH):
            cursor.executemany(sql, rows[start : start + _BATCH])
            inserted += max(cursor.rowcount, 0)
    finally:
        cursor.close()
    return inserted


_STAGE = "socialcredit_stage"


def _copy_rows(
    connection: sa.Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str] = (),
) -> tuple[int, list[Any]]:
    """PostgreSQL: COPY the rows into a staging table (typed like the target's columns, without
    its constraints), then insert them in order, skipping conflicts; returns how many went in
    and, for the `returning` columns, their values. Runs in the caller's transaction; the
    staging table is dropped before returning."""
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    target = quote(table.name)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    back = f" RETURNING {', '.join(quote(n) for n in returning)}" if returning else ""
    try:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_STAGE} AS SELECT {columns} FROM {target} WITH NO DATA"
        )
        cursor.execute(f"ALTER TABLE {_STAGE} ADD COLUMN socialcredit_row bigserial")
        with cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        cursor.execute(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {_STAGE} "
            f"ORDER BY socialcredit_row ON CONFLICT DO NOTHING{back}"
        )
        inserted = max(cursor.rowcount, 0)
        found = cursor.fetchall() if returning else []
        cursor.execute(f"DROP TABLE pg_temp.{_STAGE}")
    finally:
        cursor.close()
    return int(inserted), found
