"""The outbox: domain events written in the same transaction as the change that caused them,
one row per subject, deleted once the worker has handled them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from socialcredit.domain.events import Event
from socialcredit.store import tables
from socialcredit.store.bulk import append_rows, time_writer

COLUMNS = ("kind", "subject", "ledger_position", "created_at")


def ledger_position(connection: sa.Connection) -> int:
    """The last ledger id this connection can see (0 for an empty ledger)."""
    return int(connection.execute(sa.select(sa.func.max(tables.records.c.id))).scalar() or 0)


def add_events(connection: sa.Connection, kind: str, subjects: Iterable[str], now: datetime) -> int:
    """Write one event of `kind` per subject, at the ledger position this transaction sees."""
    wanted = sorted(set(subjects))
    if not wanted:
        return 0
    position = ledger_position(connection)
    moment = time_writer(connection)(now)
    return append_rows(
        connection,
        tables.outbox,
        COLUMNS,
        [(kind, subject, position, moment) for subject in wanted],
    )


def pending(connection: sa.Connection, limit: int) -> list[Event]:
    """The oldest pending events, at most `limit`."""
    o = tables.outbox
    rows = connection.execute(sa.select(o).order_by(o.c.id).limit(limit)).all()
    return [Event(r.id, r.kind, r.subject, r.ledger_position, r.created_at) for r in rows]


def acknowledge(connection: sa.Connection, ids: Sequence[int]) -> int:
    """Delete handled events; an id already gone (handled twice) is no error."""
    o = tables.outbox
    removed = 0
    for start in range(0, len(ids), 10_000):
        part = list(ids[start : start + 10_000])
        removed += connection.execute(o.delete().where(o.c.id.in_(part))).rowcount or 0
    return removed


def last_id(connection: sa.Connection) -> int:
    """The newest event's id (0 when none is pending)."""
    return int(connection.execute(sa.select(sa.func.max(tables.outbox.c.id))).scalar() or 0)


def acknowledge_through(connection: sa.Connection, last: int, kinds: Iterable[str]) -> int:
    """Delete the events of these kinds up to id `last`: a full run that read the ledger after
    they were written has done what they ask."""
    o = tables.outbox
    query = o.delete().where(o.c.id <= last, o.c.kind.in_(sorted(kinds)))
    return connection.execute(query).rowcount or 0


def pending_subjects(
    connection: sa.Connection, subjects: Iterable[str], kinds: Iterable[str]
) -> set[str]:
    """Which of these subjects have an event of one of these kinds still pending."""
    o = tables.outbox
    wanted, chosen = list(set(subjects)), sorted(kinds)
    found: set[str] = set()
    for start in range(0, len(wanted), 10_000):
        part = wanted[start : start + 10_000]
        query = sa.select(o.c.subject).where(o.c.subject.in_(part), o.c.kind.in_(chosen)).distinct()
        found.update(connection.execute(query).scalars())
    return found


def backlog(connection: sa.Connection) -> list[tuple[str, int, datetime]]:
    """Pending events by kind: (kind, how many, when the oldest was written)."""
    o = tables.outbox
    query = (
        sa.select(o.c.kind, sa.func.count(), sa.func.min(o.c.created_at))
        .group_by(o.c.kind)
        .order_by(o.c.kind)
    )
    return [(kind, int(n), oldest) for kind, n, oldest in connection.execute(query)]
