"""What every command shares: the consoles, the store option, and how to fail."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from socialcredit.store import database
from socialcredit.store.database import StoreNotReady

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


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and give the exit to raise."""
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def ready_store(url: str | None) -> Engine:
    """The store at `url`, refusing one that has not been initialised."""
    engine = database.connect(url)
    try:
        database.check_ready(engine)
    except StoreNotReady as exc:
        raise fail(str(exc)) from None
    return engine


def parse_day(value: str | None) -> date | None:
    """An ISO date from the command line, or None."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of must be a date like 2026-01-31, got {value!r}") from None
