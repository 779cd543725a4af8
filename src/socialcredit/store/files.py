"""Read parts of a subject's file, page by page: score history, records, relations; and a
furnisher's own submissions. Pages are keyed by row id, so they stay stable while rows are
appended."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from socialcredit.store import tables

_SUBJECT_KIND = sa.select(tables.subjects.c.kind).where(
    tables.subjects.c.id == sa.bindparam("subject")
)


def subject_kind(connection: sa.Connection, subject: str) -> str | None:
    """The subject's kind (person or organisation), or None when it is not in the store."""
    kind: str | None = connection.execute(_SUBJECT_KIND, {"subject": subject}).scalar_one_or_none()
    return kind


def score_history(
    connection: sa.Connection, subject: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Every snapshot of the subject's scores, newest first, older than the score id `before`."""
    s, runs = tables.scores, tables.score_runs
    query = (
        sa.select(
            s.c.id,
            s.c.run_id,
            s.c.program,
            s.c.policy_version,
            s.c.as_of,
            s.c.status,
            s.c.score,
            s.c.grade,
            s.c.percentile,
            runs.c.computed_at,
            runs.c.scope,
        )
        .join(runs, runs.c.id == s.c.run_id)
        .where(s.c.subject == subject)
        .order_by(s.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(s.c.id < before)
    return [dict(row._mapping) for row in connection.execute(query)]


def _record(row: sa.Row[Any]) -> dict[str, Any]:
    entry = dict(row._mapping)
    entry["attributes"] = json.loads(entry["attributes"]) if entry["attributes"] else {}
    return entry


_RECORD_COLUMNS = (
    "id", "furnisher", "external_id", "subject", "kind", "occurred_at", "received_at", "value",
    "attributes", "evidence", "replaces",
)  # fmt: skip


def _records_page(
    connection: sa.Connection, where: sa.ColumnElement[bool], after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Records matching `where` in ledger order, after the record id `after`."""
    r = tables.records
    query = sa.select(*(r.c[n] for n in _RECORD_COLUMNS)).where(where).order_by(r.c.id).limit(limit)
    if after is not None:
        query = query.where(r.c.id > after)
    return [_record(row) for row in connection.execute(query)]


def subject_records(
    connection: sa.Connection, subject: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """The subject's records in ledger order, after the record id `after`."""
    return _records_page(connection, tables.records.c.subject == subject, after, limit)


def furnisher_records(
    connection: sa.Connection, furnisher: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """A furnisher's records in ledger order, after the record id `after`."""
    return _records_page(connection, tables.records.c.furnisher == furnisher, after, limit)


def subject_relations(
    connection: sa.Connection, subject: str, after: int | None, limit: int
) -> list[dict[str, Any]]:
    """Relations naming the subject on either side, in ledger order, after the id `after`."""
    rel = tables.relations
    query = (
        sa.select(
            rel.c.id,
            rel.c.furnisher,
            rel.c.external_id,
            rel.c.subject,
            rel.c.other,
            rel.c.relation,
            rel.c.start,
            rel.c.end,
            rel.c.confirmed,
            rel.c.received_at,
        )
        .where(sa.or_(rel.c.subject == subject, rel.c.other == subject))
        .order_by(rel.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(rel.c.id > after)
    return [dict(row._mapping) for row in connection.execute(query)]
