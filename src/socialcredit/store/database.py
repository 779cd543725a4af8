"""Open the store: a SQLite file by default, PostgreSQL by URL; migrate it with Alembic."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

DEFAULT_URL = "sqlite:///socialcredit.db"
URL_VARIABLE = "SOCIALCREDIT_DB"
BACKENDS = ("sqlite", "postgresql")
"""The databases a store may live in."""
CONNECT_SECONDS = 10
"""How long to wait for a PostgreSQL server before saying it cannot be reached."""


class StoreError(RuntimeError):
    """A store that cannot be used; the message is one line a user can act on."""


class StoreUrlError(StoreError):
    """A store URL that names no usable store: not a URL, another database, a missing folder."""


class StoreUnreachable(StoreError):
    """A store whose database does not answer (a server down, a file that is no database)."""


class StoreNotReady(StoreError):
    """The store has not been created or is behind the code's schema."""


def shown(url: sa.URL | sa.Engine) -> str:
    """A store URL as a user would write it: no password, no driver name."""
    if isinstance(url, sa.Engine):
        url = url.url
    plain = url.set(drivername=url.get_backend_name())
    return plain.render_as_string(hide_password=True)


def _parse(url: str) -> sa.URL:
    """The URL, refusing a plain path and a database other than SQLite or PostgreSQL."""
    if "://" not in url:
        raise StoreUrlError(
            f"{url!r} is not a store URL; did you mean sqlite:///{url} (a SQLite file) or "
            "postgresql://HOST/DATABASE?"
        )
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreUrlError(
            f"{url!r} is not a store URL: use sqlite:///FILE or postgresql://HOST/DATABASE"
        ) from None
    if parsed.get_backend_name() not in BACKENDS:
        raise StoreUrlError(
            f"unsupported store {shown(parsed)}: use sqlite:///FILE or postgresql://HOST/DATABASE"
        )
    return parsed


def resolve_url(url: str | None) -> str:
    """The store URL: the argument, else $SOCIALCREDIT_DB, else a SQLite file here."""
    url = url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def sqlite_file(url: sa.URL | sa.Engine) -> Path | None:
    """The file of a SQLite store, or None for one in memory or on a server."""
    if isinstance(url, sa.Engine):
        url = url.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):  # a SQLite URI filename names no plain path
        return None
    return Path(url.database)


def _check_folder(url: sa.URL) -> None:
    """Refuse a SQLite file whose folder does not exist (SQLite's own error says only that it
    cannot open the file)."""
    file = sqlite_file(url)
    if file is not None and not file.parent.is_dir():
        raise StoreUrlError(
            f"the folder {file.parent} does not exist (store {shown(url)}): create it first"
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache for bulk loads
    cursor.close()


def connect(url: str | None = None) -> sa.Engine:
    """An engine on the store at `url` (see resolve_url); raises StoreUrlError for a URL that
    names no usable store. Nothing is opened yet, so no SQLite file is created here."""
    parsed = _parse(resolve_url(url))
    _check_folder(parsed)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        options["connect_args"] = {"connect_timeout": CONNECT_SECONDS}
    try:
        engine = sa.create_engine(parsed, **options)
    except (ImportError, sa.exc.ArgumentError) as exc:
        raise StoreUrlError(f"cannot use the store {shown(parsed)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def reach(engine: sa.Engine) -> None:
    """Open one connection, raising StoreUnreachable with the database's own reason."""
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "no answer"
        raise StoreUnreachable(f"cannot open the store at {shown(engine)}: {reason}") from exc


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


def _missing_file(engine: sa.Engine) -> bool:
    file = sqlite_file(engine)
    return file is not None and not file.exists()


def check_ready(engine: sa.Engine) -> None:
    """Raise StoreNotReady unless the schema is at the code's head revision; a missing SQLite
    file is reported without connecting, which would create it."""
    if _missing_file(engine):
        raise StoreNotReady(f"no store at {shown(engine)}: run `socialcredit init` first")
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    if current is None:
        raise StoreNotReady(f"no store at {shown(engine)}: run `socialcredit init` first")
    if current != head:
        raise StoreNotReady(
            f"the store is at schema {current}, the code needs {head}: run `socialcredit init`"
        )


def open_store(url: str | None, *, create: bool = False) -> sa.Engine:
    """The store at `url`, created or migrated when `create`, else refused unless ready.

    Raises StoreUrlError, StoreUnreachable or StoreNotReady; a read never creates a file.
    """
    engine = connect(url)
    if create:
        reach(engine)
        migrate(engine)
        return engine
    if not _missing_file(engine):
        reach(engine)
    check_ready(engine)
    return engine
