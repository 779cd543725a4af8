"""Open the store: a SQLite file by default, PostgreSQL by URL; migrate it with Alembic."""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

DEFAULT_URL = "sqlite:///socialcredit.db"
URL_VARIABLE = "SOCIALCREDIT_DB"


class StoreNotReady(RuntimeError):
    """The store has not been created or is behind the code's schema."""


def resolve_url(url: str | None) -> str:
    """The store URL: the argument, else $SOCIALCREDIT_DB, else a SQLite file here."""
    url = url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache for bulk loads
    cursor.close()


def connect(url: str | None = None) -> sa.Engine:
    """An engine on the store at `url` (see resolve_url)."""
    engine = sa.create_engine(resolve_url(url))
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("socialcredit.store") / "migrations")
    )
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine) -> None:
    """Bring the store's schema up to date (creates it when new)."""
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")


def check_ready(engine: sa.Engine) -> None:
    """Raise StoreNotReady unless the schema is at the code's head revision."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    if current is None:
        raise StoreNotReady(
            f"no store at {engine.url.render_as_string(hide_password=True)}: "
            "run `socialcredit init` first"
        )
    if current != head:
        raise StoreNotReady(
            f"the store is at schema {current}, the code needs {head}: run `socialcredit init`"
        )
