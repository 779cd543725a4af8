"""The migrations and `store/tables.py` describe one schema: a store brought to the Alembic head
has exactly the tables, columns, indexes and constraints the code declares, on every backend."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from factories import new_store
from socialcredit.store import tables


def test_the_migrated_store_matches_the_tables_the_code_declares(
    tmp_path: Path, store_backend: str
) -> None:
    engine = new_store(tmp_path)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, tables.metadata)
    engine.dispose()
    assert differences == [], "\n".join(map(str, differences))
