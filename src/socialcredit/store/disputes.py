"""Disputes, reviews and the due-process log: the rows where each case stands, and the
append-only log of who did what to it.

A case changes state only from open, in one conditional UPDATE (`WHERE status = 'open'`), so two
callers closing the same case at once cannot both succeed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.disputes import WITHDRAWING, Dispute, Outcome, Status
from socialcredit.domain.records import superseded
from socialcredit.store import tables

_CHUNK = 5_000


def _dispute(row: sa.Row[Any]) -> Dispute:
    return Dispute(
        id=row.id,
        record=row.record,
        furnisher=row.furnisher,
        external_id=row.external_id,
        subject=row.subject,
        kind=row.kind,
        occurred_at=row.occurred_at,
        reason=row.reason,
        evidence=row.evidence,
        statement=row.statement,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        deadline=row.deadline,
        status=Status(row.status),
        outcome=None if row.outcome is None else Outcome(row.outcome),
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        closing_reason=row.closing_reason,
        closing_evidence=row.closing_evidence,
        retraction=row.retraction,
        reinserted=row.reinserted,
    )


# ---------------------------------------------------------------------------- records


def record_by_id(connection: sa.Connection, record_id: int) -> dict[str, Any] | None:
    """A ledger record by its id, or None."""
    r = tables.records
    row = connection.execute(sa.select(r).where(r.c.id == record_id)).first()
    return None if row is None else dict(row._mapping)


def replaced_by(connection: sa.Connection, furnisher: str, external_id: str) -> str | None:
    """The external id of a record that put this one out of force (domain.records.superseded):
    the first that names it in `replaces`, else the record in force of its chain (or the
    retraction that withdrew the chain) when that is another; None while it is in force."""
    r = tables.records
    found: str | None = connection.execute(
        sa.select(r.c.external_id)
        .where(r.c.furnisher == furnisher, r.c.replaces == external_id)
        .order_by(r.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return found
    own = connection.execute(
        sa.select(r.c.replaces, r.c.chain).where(
            r.c.furnisher == furnisher, r.c.external_id == external_id
        )
    ).first()
    if own is None or own.replaces is None:
        return None  # an original that no record names
    chain = own.replaces if own.chain is None else own.chain
    columns = (r.c.id, r.c.furnisher, r.c.external_id, r.c.replaces, r.c.chain, r.c.kind)
    members: list[Any] = list(
        connection.execute(
            sa.select(*columns).where(r.c.furnisher == furnisher, r.c.chain == chain)
        )
    )
    gone = superseded(members)
    if (furnisher, external_id) not in gone:
        return None
    ends = [m for m in members if (m.furnisher, m.external_id) not in gone]
    return str(max(ends, key=lambda m: m.id).external_id) if ends else None


def record_id(connection: sa.Connection, furnisher: str, external_id: str) -> int | None:
    """The id of a furnisher's record with this external id, or None."""
    r = tables.records
    found: int | None = connection.execute(
        sa.select(r.c.id).where(r.c.furnisher == furnisher, r.c.external_id == external_id)
    ).scalar_one_or_none()
    return found


# ---------------------------------------------------------------------------- disputes


def add_dispute(connection: sa.Connection, values: Mapping[str, Any]) -> int:
    """Store a new open dispute; returns its id (IntegrityError when one is open already)."""
    result = connection.execute(tables.disputes.insert().values(**values, status=Status.OPEN))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def dispute_by_id(connection: sa.Connection, dispute_id: int) -> Dispute | None:
    """A dispute by id, or None."""
    d = tables.disputes
    row = connection.execute(sa.select(d).where(d.c.id == dispute_id)).first()
    return None if row is None else _dispute(row)


def open_dispute_of(connection: sa.Connection, record: int) -> Dispute | None:
    """The open dispute of a record, or None."""
    d = tables.disputes
    row = connection.execute(
        sa.select(d).where(d.c.record == record, d.c.status == Status.OPEN)
    ).first()
    return None if row is None else _dispute(row)


def close_dispute(
    connection: sa.Connection,
    dispute_id: int,
    *,
    outcome: Outcome,
    at: datetime,
    by: str,
    reason: str | None,
    evidence: str | None,
    retraction: str | None,
) -> bool:
    """Close an open dispute with its outcome; False when it was not open (any more)."""
    d = tables.disputes
    result = connection.execute(
        d.update()
        .where(d.c.id == dispute_id, d.c.status == Status.OPEN)
        .values(
            status=Status.CLOSED,
            outcome=outcome.value,
            closed_at=at,
            closed_by=by,
            closing_reason=reason,
            closing_evidence=evidence,
            retraction=retraction,
        )
    )
    return result.rowcount == 1


def mark_reinserted(connection: sa.Connection, dispute_id: int, record: int) -> bool:
    """Note the record that put a withdrawn one back; False when one was noted already."""
    d = tables.disputes
    result = connection.execute(
        d.update().where(d.c.id == dispute_id, d.c.reinserted.is_(None)).values(reinserted=record)
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class DisputeFilter:
    """Which disputes a list shows (None: any)."""

    subject: str | None = None
    furnisher: str | None = None
    status: Status | None = None
    record: int | None = None


def list_disputes(
    connection: sa.Connection, where: DisputeFilter, after: int | None, limit: int
) -> list[Dispute]:
    """Disputes matching the filter in id order, after the id `after`."""
    d = tables.disputes
    query = sa.select(d).order_by(d.c.id).limit(limit)
    if where.subject is not None:
        query = query.where(d.c.subject == where.subject)
    if where.furnisher is not None:
        query = query.where(d.c.furnisher == where.furnisher)
    if where.status is not None:
        query = query.where(d.c.status == where.status.value)
    if where.record is not None:
        query = query.where(d.c.record == where.record)
    if after is not None:
        query = query.where(d.c.id > after)
    return [_dispute(row) for row in connection.execute(query)]


def overdue_ids(connection: sa.Connection, now: datetime) -> list[int]:
    """Open disputes whose deadline has passed, oldest first."""
    d = tables.disputes
    query = (
        sa.select(d.c.id)
        .where(d.c.status == Status.OPEN, d.c.deadline < now)
        .order_by(d.c.deadline, d.c.id)
    )
    return list(connection.execute(query).scalars())


def disputes_of_records(connection: sa.Connection, records: Iterable[int]) -> list[Dispute]:
    """Every dispute of these records, or whose withdrawn record they put back, in id order."""
    d = tables.disputes
    ids = sorted(set(records))
    found: dict[int, Dispute] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        rows = connection.execute(
            sa.select(d).where(sa.or_(d.c.record.in_(part), d.c.reinserted.in_(part)))
        )
        for row in rows:
            found[row.id] = _dispute(row)
    return [found[k] for k in sorted(found)]


def retracted(connection: sa.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (furnisher, external id) records a retraction record withdraws."""
    r = tables.records
    wanted = set(keys)
    if not wanted:
        return set()
    found: set[tuple[str, str]] = set()
    external = sorted({e for _, e in wanted})
    for start in range(0, len(external), _CHUNK):
        part = external[start : start + _CHUNK]
        rows = connection.execute(
            sa.select(r.c.furnisher, r.c.replaces).where(
                r.c.kind == RETRACTION_KIND, r.c.replaces.in_(part)
            )
        )
        found.update((row.furnisher, row.replaces) for row in rows)
    return found & wanted


def withdrawn_disputes(connection: sa.Connection) -> list[Dispute]:
    """Closed disputes whose outcome withdrew the record (what re-insertion is checked
    against)."""
    d = tables.disputes
    outcomes = sorted(o.value for o in WITHDRAWING)
    query = sa.select(d).where(d.c.status == Status.CLOSED, d.c.outcome.in_(outcomes))
    return [_dispute(row) for row in connection.execute(query.order_by(d.c.id))]


def record_contents(
    connection: sa.Connection, records: Iterable[int]
) -> dict[int, tuple[float | None, str | None, dict[str, Any]]]:
    """Value, evidence and attributes of these records, by record id."""
    r = tables.records
    ids = sorted(set(records))
    found: dict[int, tuple[float | None, str | None, dict[str, Any]]] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        rows = connection.execute(
            sa.select(r.c.id, r.c.value, r.c.evidence, r.c.attributes).where(r.c.id.in_(part))
        )
        for row in rows:
            found[row.id] = (row.value, row.evidence, json.loads(row.attributes or "{}"))
    return found


# ---------------------------------------------------------------------------- the log


def log_action(connection: sa.Connection, entry: Mapping[str, Any]) -> None:
    """Append one entry to the due-process log (`detail` is a JSON-able object)."""
    values = dict(entry)
    values["detail"] = json.dumps(values.get("detail") or {}, sort_keys=True)
    connection.execute(tables.due_process_log.insert().values(**values))


def case_log(
    connection: sa.Connection, *, dispute: int | None = None, review: int | None = None
) -> list[dict[str, Any]]:
    """The log of one dispute or review, oldest first."""
    log = tables.due_process_log
    query = sa.select(log).order_by(log.c.id)
    if dispute is not None:
        query = query.where(log.c.dispute == dispute)
    if review is not None:
        query = query.where(log.c.review == review)
    out = []
    for row in connection.execute(query):
        entry = dict(row._mapping)
        entry["detail"] = json.loads(entry["detail"])
        out.append(entry)
    return out


# ---------------------------------------------------------------------------- reviews


def add_review(connection: sa.Connection, values: Mapping[str, Any]) -> int:
    """Store a new open review; returns its id (IntegrityError when one is open already)."""
    result = connection.execute(tables.reviews.insert().values(**values, status=Status.OPEN))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def review_by_id(connection: sa.Connection, review_id: int) -> dict[str, Any] | None:
    """A review by id, or None."""
    v = tables.reviews
    row = connection.execute(sa.select(v).where(v.c.id == review_id)).first()
    return None if row is None else dict(row._mapping)


def open_review_of(connection: sa.Connection, decision: int) -> dict[str, Any] | None:
    """The open review of a decision, or None."""
    v = tables.reviews
    row = connection.execute(
        sa.select(v).where(v.c.decision == decision, v.c.status == Status.OPEN)
    ).first()
    return None if row is None else dict(row._mapping)


def close_review(connection: sa.Connection, review_id: int, values: Mapping[str, Any]) -> bool:
    """Close an open review; False when it was not open (any more)."""
    v = tables.reviews
    result = connection.execute(
        v.update()
        .where(v.c.id == review_id, v.c.status == Status.OPEN)
        .values(**values, status=Status.CLOSED)
    )
    return result.rowcount == 1


def list_reviews(
    connection: sa.Connection,
    subject: str | None,
    status: Status | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Reviews (of one subject, in one status, or all) in id order, after the id `after`."""
    v = tables.reviews
    query = sa.select(v).order_by(v.c.id).limit(limit)
    if subject is not None:
        query = query.where(v.c.subject == subject)
    if status is not None:
        query = query.where(v.c.status == status.value)
    if after is not None:
        query = query.where(v.c.id > after)
    return [dict(row._mapping) for row in connection.execute(query)]


def decision_by_id(connection: sa.Connection, decision_id: int) -> dict[str, Any] | None:
    """A logged decision by id, or None."""
    t = tables.decisions
    row = connection.execute(sa.select(t).where(t.c.id == decision_id)).first()
    return None if row is None else dict(row._mapping)
