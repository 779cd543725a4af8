"""Cursor pagination: a page of items and an opaque cursor to the next one.

A cursor names the list it belongs to and the key of the last item served; lists are keyed by
row id, so a page never repeats or skips a row when rows are appended meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from socialcredit.services.errors import InvalidRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ROW_ID = 2**63 - 1
"""The largest row id any store holds (SQLite and PostgreSQL integers are 64-bit, signed)."""
MAX_KEY_CHARS = 200
"""The longest text id a list is keyed by."""


class InvalidCursor(InvalidRequest):
    """A cursor that this list did not hand out."""


@dataclass(frozen=True)
class PageRequest:
    """Where a page starts (None: the first page) and how many items it holds at most."""

    cursor: str | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be from 1 to {MAX_LIMIT}, got {self.limit}")


def encode_cursor(list_name: str, key: int | str) -> str:
    """The opaque cursor after `key` in the list `list_name`."""
    raw = json.dumps({"l": list_name, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(list_name: str, cursor: str | None) -> Any:
    """The key a cursor of `list_name` points after, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor("the cursor is not one this list handed out") from None
    if not isinstance(data, dict) or data.get("l") != list_name:
        raise InvalidCursor("the cursor is not one this list handed out")
    key = data.get("k")
    if not _storable(key):
        raise InvalidCursor("the cursor is not one this list handed out")
    return key


def _storable(key: Any) -> bool:
    """Whether a cursor's key is one a list could have handed out: a row id the store can
    hold (a signed 64-bit integer, never negative) or a printable id of bounded length. A
    forged key outside these bounds would overflow or break the store's comparison."""
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return 0 <= key <= MAX_ROW_ID
    return isinstance(key, str) and len(key) <= MAX_KEY_CHARS and key.isprintable()


def int_cursor(list_name: str, cursor: str | None) -> int | None:
    """The row id a cursor of `list_name` points after (lists keyed by row id), or None."""
    key = decode_cursor(list_name, cursor)
    if key is not None and not isinstance(key, int):
        raise InvalidCursor("the cursor is not one this list handed out")
    return key


def next_cursor(list_name: str, rows: list[Any], limit: int, key: str) -> str | None:
    """Given up to limit + 1 rows fetched, the cursor to the next page (None on the last page);
    trims the extra row off `rows`."""
    if len(rows) <= limit:
        return None
    del rows[limit:]
    last = rows[-1]
    value = last[key] if isinstance(last, dict) else getattr(last, key)
    return encode_cursor(list_name, value)
