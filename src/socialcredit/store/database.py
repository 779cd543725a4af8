"""Open the store: a SQLite file by default, PostgreSQL by URL; migrate it with Alembic."""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from socialcredit.engines.address import StoreAddress

DEFAULT_URL = "sqlite:///socialcredit.db"
URL_VARIABLE = "SOCIALCREDIT_DB"
BACKENDS = ("sqlite", "postgresql")
"""The databases a store may live in."""
CONNECT_SECONDS = 10
"""How long to wait for a PostgreSQL server before saying it cannot be reached."""
BUSY_VARIABLE = "SOCIALCREDIT_BUSY_TIMEOUT"
BUSY_SECONDS = 30.0
"""How long a statement waits for a store another process is writing (SQLite's lock; on
PostgreSQL, a row or table lock) before giving up as busy, unless $SOCIALCREDIT_BUSY_TIMEOUT
says otherwise."""
_SQLITE_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_PG_LOCK_NOT_AVAILABLE = "55P03"
_busy: weakref.WeakKeyDictionary[sa.Engine, float] = weakref.WeakKeyDictionary()


class StoreError(RuntimeError):
    """A store that cannot be used; the message is one line a user can act on."""


class StoreUrlError(StoreError):
    """A store URL that names no usable store: not a URL, another database, a missing folder."""


class StoreUnreachable(StoreError):
    """A store whose database does not answer (a server down, a file that is no database)."""


class StoreNotReady(StoreError):
    """The store has not been created or is behind the code's schema."""


class StoreBusy(StoreError):
    """Another process kept the store busy for longer than the wait allowed: try again later."""


def busy_seconds(value: str | None = None) -> float:
    """The wait for a busy store: `value` or else $SOCIALCREDIT_BUSY_TIMEOUT (seconds), by
    default BUSY_SECONDS."""
    text = os.environ.get(BUSY_VARIABLE, "") if value is None else value
    if not text.strip():
        return BUSY_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 86_400 * 365:
        raise StoreError(f"{BUSY_VARIABLE} must be a number of seconds, got {text!r}")
    return seconds


def busy_timeout(engine: sa.Engine) -> float:
    """How long the engine's statements wait for a busy store (see `connect`)."""
    return _busy.get(engine, BUSY_SECONDS)


def is_busy(exc: BaseException) -> bool:
    """Whether an error means that another process kept the store busy past the wait: SQLite's
    "database is locked", PostgreSQL's lock timeout, or StoreBusy."""
    if isinstance(exc, StoreBusy):
        return True
    error = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_BUSY
        return "is locked" in str(error)
    return getattr(error, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE


def busy_message(seconds: float) -> str:
    """What to tell a user whose command met a busy store."""
    return (
        f"the store is busy: another process kept it locked for more than {seconds:g} s; "
        f"run the command again when that one is done (or wait longer: {BUSY_VARIABLE}=SECONDS)"
    )


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


def _sqlite_pragmas(busy: float) -> Any:
    """The connect hook of a SQLite engine: the busy wait first, since even switching to WAL
    may meet another process's lock."""

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={round(busy * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache for bulk loads
        cursor.close()

    return pragmas


def _write_lock_first(engine: sa.Engine) -> None:
    """SQLite: `engine.begin()` takes the write lock before its first statement (BEGIN
    IMMEDIATE), waiting for another writer in the busy handler. Otherwise its reads ran before
    the lock, and a row another process wrote meanwhile went unseen (a re-sent record taken
    for new). `engine.connect()` stays for reads, which never wait for a writer."""

    @contextmanager
    def begin() -> Iterator[sa.Connection]:
        with engine.connect() as connection, connection.begin():
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection

    engine.begin = begin  # type: ignore[method-assign]


def _options(parsed: sa.URL, busy: float) -> dict[str, Any]:
    if parsed.get_backend_name() != "postgresql":
        return {}
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_SECONDS
    if "options" not in parsed.query:
        connect_args["options"] = f"-c lock_timeout={round(busy * 1000)}"
    return {"connect_args": connect_args}


def connect(url: str | None = None, *, busy: float | None = None) -> sa.Engine:
    """An engine on the store at `url` (see resolve_url) whose statements wait `busy` seconds
    (default: busy_seconds()) for a store another process is writing; raises StoreUrlError for
    a URL that names no usable store. Nothing is opened yet, so no SQLite file is created."""
    parsed = _parse(resolve_url(url))
    _check_folder(parsed)
    busy = busy_seconds() if busy is None else busy
    try:
        engine = sa.create_engine(parsed, **_options(parsed, busy))
    except (ImportError, sa.exc.ArgumentError) as exc:
        raise StoreUrlError(f"cannot use the store {shown(parsed)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy))
        _write_lock_first(engine)
    _busy[engine] = busy
    return engine


def reach(engine: sa.Engine) -> None:
    """Open one connection, raising StoreUnreachable with the database's own reason (StoreBusy
    when another process kept it locked)."""
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        if is_busy(exc):
            raise StoreBusy(busy_message(busy_timeout(engine))) from exc
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


def open_store(url: str | None, *, create: bool = False, busy: float | None = None) -> sa.Engine:
    """The store at `url`, created or migrated when `create`, else refused unless ready; its
    statements wait `busy` seconds for another writer (see `connect`).

    Raises StoreUrlError, StoreUnreachable, StoreBusy or StoreNotReady; a read never creates a
    file.
    """
    engine = connect(url, busy=busy)
    if create:
        reach(engine)
        migrate(engine)
        return engine
    if not _missing_file(engine):
        reach(engine)
    check_ready(engine)
    return engine


def address(engine: sa.Engine) -> StoreAddress:
    """Where the store's database is, for the engine that scores inside it."""
    url = engine.url
    return StoreAddress(
        dialect=url.get_backend_name(),
        database=url.database,
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
    )
