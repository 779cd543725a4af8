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
    unique key is already stored; returns how many were new.

    Goes straight to the driver's executemany: several times quicker than Core's per-row
    parameter handling, which matters for files of millions of records.
    """
    if not rows:
        return 0
    dialect = connection.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"the store does not support {dialect.name}")
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(marker for _ in names)}) ON CONFLICT DO NOTHING"
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
