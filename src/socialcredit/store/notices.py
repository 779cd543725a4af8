"""Notices: what a subject was told and when (append-only; triggers refuse UPDATE and DELETE)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.store import tables


def append_notice(
    connection: sa.Connection,
    subject: str,
    at: datetime,
    kind: str,
    text: str,
    refs: Mapping[str, Any],
) -> int:
    """Append a notice; returns its id."""
    result = connection.execute(
        tables.notices.insert().values(
            subject=subject,
            at=at,
            kind=kind,
            text=text,
            refs=json.dumps(dict(refs), sort_keys=True, separators=(",", ":")),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def notices_of(
    connection: sa.Connection, subject: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """A subject's notices, newest first, older than the id `before`."""
    n = tables.notices
    query = sa.select(n).where(n.c.subject == subject).order_by(n.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(n.c.id < before)
    out = []
    for row in connection.execute(query):
        entry = dict(row._mapping)
        entry["refs"] = json.loads(entry["refs"])
        out.append(entry)
    return out
