"""Export the ledger as Parquet: one folder per table, the layout Spark and DuckDB read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from socialcredit.engines.backends import write_parquet_ledger
from socialcredit.store.ledger import read_ledger


def export_ledger(
    engine: sa.Engine,
    folder: Path,
    rows_per_file: int = 5_000_000,
    step: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write subjects, records and relations under `folder`; returns the rows per table."""
    report = step or (lambda _message: None)
    report("reading the ledger")
    with engine.connect() as connection:
        tables = read_ledger(connection)
    report("writing Parquet")
    write_parquet_ledger(tables, folder, rows_per_file)
    return {name: table.num_rows for name, table in tables.items()}
