"""Where the store's database is, for the engine that scores inside it: the store fills it in,
so the engines need no database library of the store's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreAddress:
    """Where the store's database is, for the engine that scores inside it (the store tells)."""

    dialect: str
    database: str | None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
