"""The retention purge's repository: find records by age and chain, delete them only after
logging each one, read the purge log, and keep the log of maintenance runs.

The records table refuses every DELETE except of a record the purge log names for the
maintenance run under way (migrations 0008, 0013): a run is logged as started (`start_run`)
before `purge` writes the log rows and deletes, in one transaction, and as finished last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.store import tables

_CHUNK = 5_000


@dataclass(frozen=True)
class StoredRecord:
    """What the purge and the expiry count need of a record (never its content)."""

    id: int
    furnisher: str
    external_id: str
    subject: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    replaces: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.furnisher, self.external_id)


_COLUMNS = (
    tables.records.c.id,
    tables.records.c.furnisher,
    tables.records.c.external_id,
    tables.records.c.subject,
    tables.records.c.kind,
    tables.records.c.occurred_at,
    tables.records.c.received_at,
    tables.records.c.replaces,
)


def _stored(rows: Iterable[sa.Row[Any]]) -> list[StoredRecord]:
    return [
        StoredRecord(
            id=row.id,
            furnisher=row.furnisher,
            external_id=row.external_id,
            subject=row.subject,
            kind=row.kind,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            replaces=row.replaces,
        )
        for row in rows
    ]


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def occurred_between(
    connection: sa.Connection,
    kinds: Sequence[str],
    after: datetime | None,
    before: datetime,
) -> list[StoredRecord]:
    """Records of these kinds that occurred at or after `after` (None: any time) and before
    `before`."""
    r = tables.records
    query = sa.select(*_COLUMNS).where(r.c.occurred_at < before)
    if kinds:
        query = query.where(r.c.kind.in_(list(kinds)))
    if after is not None:
        query = query.where(r.c.occurred_at >= after)
    return _stored(connection.execute(query.order_by(r.c.id)))


def corrections(connection: sa.Connection) -> list[Any]:
    """Every correction and retraction in the ledger (id, furnisher, external id, the external
    id it replaces, its chain and kind): the edges that tie records into chains."""
    r = tables.records
    columns = (r.c.id, r.c.furnisher, r.c.external_id, r.c.replaces, r.c.chain, r.c.kind)
    return list(connection.execute(sa.select(*columns).where(r.c.replaces.is_not(None))))


def records_by_key(
    connection: sa.Connection, keys: Iterable[tuple[str, str]]
) -> list[StoredRecord]:
    """The records with these (furnisher, external id) keys that are in the ledger."""
    by_furnisher: dict[str, list[str]] = {}
    for furnisher, external_id in set(keys):
        by_furnisher.setdefault(furnisher, []).append(external_id)
    r = tables.records
    found: list[StoredRecord] = []
    for furnisher, ids in sorted(by_furnisher.items()):
        for part in _chunks(sorted(ids)):
            query = sa.select(*_COLUMNS).where(
                r.c.furnisher == furnisher, r.c.external_id.in_(list(part))
            )
            found.extend(_stored(connection.execute(query)))
    return found


@dataclass(frozen=True)
class PurgeEntry:
    """One record to purge and why."""

    record: StoredRecord
    reason: str


def purge(connection: sa.Connection, run: int, entries: Sequence[PurgeEntry], now: datetime) -> int:
    """Log each record still in the ledger under the run under way, then delete them, in the
    caller's transaction; returns how many went. Raises if a logged record could not be deleted
    (a purge running at the same time), so that the transaction rolls back and the log never
    names a record that stayed."""
    r = tables.records
    present: set[int] = set()
    for part in _chunks([e.record.id for e in entries]):
        present.update(connection.execute(sa.select(r.c.id).where(r.c.id.in_(part))).scalars())
    entries = [e for e in entries if e.record.id in present]
    if not entries:
        return 0
    connection.execute(
        tables.purges.insert(),
        [
            {
                "purged_at": now,
                "record_id": e.record.id,
                "furnisher": e.record.furnisher,
                "external_id": e.record.external_id,
                "subject": e.record.subject,
                "kind": e.record.kind,
                "occurred_at": e.record.occurred_at,
                "received_at": e.record.received_at,
                "reason": e.reason[:500],
                "run": run,
            }
            for e in entries
        ],
    )
    ids = [e.record.id for e in entries]
    deleted = _delete_purged(connection, run, ids)
    if deleted != len(ids):
        raise RuntimeError(f"purged {deleted} records of {len(ids)} logged; rolled back")
    return deleted


def _delete_purged(connection: sa.Connection, run: int, ids: Sequence[int]) -> int:
    """Delete the records just logged. PostgreSQL: every record the run's log names that is
    still stored, through purge_records, which runs as the schema's owner (the application's
    role may not DELETE records)."""
    if connection.dialect.name == "postgresql":
        gone = connection.execute(sa.text("SELECT purge_records(:run)"), {"run": run})
        return int(gone.scalar_one())
    deleted = 0
    for part in _chunks(ids):
        result = connection.execute(tables.records.delete().where(tables.records.c.id.in_(part)))
        deleted += result.rowcount
    return deleted


def purge_page(
    connection: sa.Connection, subject: str | None, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Purge log entries in log order (of one subject, or all), after the entry id `after`."""
    p = tables.purges
    query = sa.select(
        p.c.id,
        p.c.purged_at,
        p.c.record_id,
        p.c.furnisher,
        p.c.external_id,
        p.c.subject,
        p.c.kind,
        p.c.occurred_at,
        p.c.reason,
    )
    if subject is not None:
        query = query.where(p.c.subject == subject)
    if after is not None:
        query = query.where(p.c.id > after)
    return [dict(row._mapping) for row in connection.execute(query.order_by(p.c.id).limit(limit))]


def has_purges(connection: sa.Connection, subject: str) -> bool:
    """Whether any record of the subject was ever purged."""
    p = tables.purges
    return (
        connection.execute(sa.select(p.c.id).where(p.c.subject == subject).limit(1)).first()
        is not None
    )


def newest_snapshot_days(connection: sa.Connection, subjects: Sequence[str]) -> dict[str, datetime]:
    """For each subject with snapshots: the as-of of its least recent program's newest
    snapshot (the day from which all its current scores may be stale)."""
    s, runs = tables.scores, tables.score_runs
    as_of = dict(connection.execute(sa.select(runs.c.id, runs.c.as_of)).all())
    newest: dict[tuple[str, str], int] = {}
    for part in _chunks(sorted(set(subjects))):
        rows = connection.execute(
            sa.select(s.c.subject, s.c.program, sa.func.max(s.c.run_id))
            .where(s.c.subject.in_(list(part)))
            .group_by(s.c.subject, s.c.program)
        )
        for subject, program, run_id in rows:
            newest[(subject, program)] = run_id
    out: dict[str, datetime] = {}
    for (subject, _program), run_id in newest.items():
        day = as_of[run_id]
        out[subject] = min(out.get(subject, day), day)
    return out


def last_run(connection: sa.Connection) -> dict[str, Any] | None:
    """The latest maintenance run, or None."""
    m = tables.maintenance_runs
    row = connection.execute(sa.select(m).order_by(m.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    entry = dict(row._mapping)
    entry["details"] = json.loads(entry["details"])
    return entry


def start_run(connection: sa.Connection, as_of: datetime, started_at: datetime) -> int:
    """Log a maintenance run as started; returns its id (the only run that may purge until it
    finishes or another starts)."""
    m = tables.maintenance_starts
    values = {"as_of": as_of, "started_at": started_at}
    return int(connection.execute(m.insert().returning(m.c.id), values).scalar_one())


def finish_run(connection: sa.Connection, run: int, values: dict[str, Any]) -> None:
    """Log the started run `run` as finished, with what it did."""
    values = {**values, "id": run, "details": json.dumps(values["details"], sort_keys=True)}
    connection.execute(tables.maintenance_runs.insert(), values)


def latest_start(connection: sa.Connection) -> int | None:
    """The id of the run started last, or None."""
    m = tables.maintenance_starts
    latest = connection.execute(sa.select(sa.func.max(m.c.id))).scalar_one()
    return None if latest is None else int(latest)
