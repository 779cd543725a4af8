"""What every command shares: the consoles, the store option, and how to fail."""

from __future__ import annotations

import os
import traceback
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from socialcredit.store import database
from socialcredit.store.database import StoreBusy, StoreError, StoreNotReady

console = Console()
errors = Console(stderr=True)

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=database.URL_VARIABLE,
        help="Store URL (sqlite:///FILE or postgresql://...). Default: socialcredit.db here.",
        show_envvar=True,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]

EXIT_BUSY = 4
"""The exit status of a command that met a store another process kept busy past the wait."""

DEBUG_VARIABLE = "SOCIALCREDIT_DEBUG"
"""Set to 1 for a traceback with every error, as --debug gives."""


class _Flags:
    """Options of the whole command line, set by the app's callback."""

    debug = False


def set_debug(on: bool) -> None:
    """Remember --debug for the error handlers."""
    _Flags.debug = on


def debug_on() -> bool:
    """Whether errors should come with their traceback (--debug or SOCIALCREDIT_DEBUG=1)."""
    return _Flags.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and give the exit to raise."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def store_failure(exc: StoreError) -> typer.Exit:
    """One line for a store that cannot be used: exit 2 when --db names no usable store,
    1 when the store is there but not initialised, 4 when another process kept it busy (the
    traceback too with --debug)."""
    if debug_on():
        traceback.print_exception(exc)
    if isinstance(exc, StoreBusy):
        return fail(str(exc), EXIT_BUSY)
    return fail(str(exc), 1 if isinstance(exc, StoreNotReady) else 2)


def ready_store(url: str | None, busy: float | None = None) -> Engine:
    """The store at `url`, refusing one that has not been initialised; never creates a file.
    Its statements wait `busy` seconds for another writer (default: SOCIALCREDIT_BUSY_TIMEOUT)."""
    try:
        return database.open_store(url, busy=busy)
    except StoreError as exc:
        raise store_failure(exc) from None


def new_store(url: str | None) -> Engine:
    """The store at `url`, created or brought up to the code's schema."""
    try:
        return database.open_store(url, create=True)
    except StoreError as exc:
        raise store_failure(exc) from None


def parse_day(value: str | None) -> date | None:
    """An ISO date from the command line, or None."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of must be a date like 2026-01-31, got {value!r}") from None
