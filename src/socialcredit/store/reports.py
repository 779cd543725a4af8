"""Reports and their decisions: append, and read back with what the flags need (who reported
whom lately, and the relations between reporters and targets)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.reports import PENDING, Decision, Filing, Flag, Outcome, Report, Tie
from socialcredit.store import tables

_r = tables.reports
_d = tables.report_decisions


def add_report(connection: sa.Connection, values: dict[str, Any]) -> int:
    """Store a new report; returns its id."""
    result = connection.execute(_r.insert().values(**values).returning(_r.c.id))
    return int(result.scalar_one())


def serialize_reporter(connection: sa.Connection, reporter: str) -> None:
    """On PostgreSQL, make concurrent filings by one reporter take turns until the transaction
    ends, so that the rate limit counts every one of them (SQLite writers take turns anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(reporter))))


def filed_since(connection: sa.Connection, reporter: str, since: datetime) -> list[datetime]:
    """When `reporter` filed each of its reports after `since`."""
    query = sa.select(_r.c.filed_at).where(_r.c.reporter == reporter, _r.c.filed_at > since)
    return [row.filed_at for row in connection.execute(query)]


def _flags(text: str) -> tuple[Flag, ...]:
    return tuple(Flag(f["code"], f["detail"], tuple(f["reports"])) for f in json.loads(text))


def _report(row: sa.Row[Any]) -> Report:
    decision = None
    if row.outcome is not None:
        decision = Decision(
            outcome=Outcome(row.outcome),
            reason=row.reason,
            decided_by=row.decided_by,
            decided_by_name=row.decided_by_name,
            decided_at=row.decided_at,
            flags=_flags(row.flags),
            records=tuple(json.loads(row.records)),
        )
    return Report(
        id=row.id,
        reporter=row.reporter,
        target=row.target,
        kind=row.kind,
        occurred_at=row.occurred_at,
        description=row.description,
        evidence=row.evidence,
        filed_at=row.filed_at,
        decision=decision,
    )


_WITH_DECISIONS = sa.select(
    _r,
    _d.c.outcome,
    _d.c.reason,
    _d.c.decided_by,
    _d.c.decided_by_name,
    _d.c.decided_at,
    _d.c.flags,
    _d.c.records,
).select_from(_r.outerjoin(_d, _d.c.report == _r.c.id))


def get_report(connection: sa.Connection, report_id: int) -> Report | None:
    """One report with its decision, or None."""
    row = connection.execute(_WITH_DECISIONS.where(_r.c.id == report_id)).one_or_none()
    return None if row is None else _report(row)


def list_reports(
    connection: sa.Connection,
    *,
    reporter: str | None,
    status: str | None,
    after: int | None,
    limit: int,
) -> list[Report]:
    """Reports in the order they were filed (of one reporter, or all), with their decisions."""
    query = _WITH_DECISIONS.order_by(_r.c.id).limit(limit)
    if reporter is not None:
        query = query.where(_r.c.reporter == reporter)
    if status == PENDING:
        query = query.where(_d.c.id.is_(None))
    elif status is not None:
        query = query.where(_d.c.outcome == status)
    if after is not None:
        query = query.where(_r.c.id > after)
    return [_report(row) for row in connection.execute(query)]


def filings_between(connection: sa.Connection, start: datetime, end: datetime) -> list[Filing]:
    """Who reported whom, for every report filed from `start` to `end`."""
    query = sa.select(_r.c.id, _r.c.reporter, _r.c.target, _r.c.filed_at).where(
        _r.c.filed_at >= start, _r.c.filed_at <= end
    )
    return [Filing(r.id, r.reporter, r.target, r.filed_at) for r in connection.execute(query)]


def ties_among(connection: sa.Connection, subjects: Iterable[str]) -> list[Tie]:
    """Every relation (any type, any time, either direction) between two of `subjects`."""
    wanted = sorted(set(subjects))
    if not wanted:
        return []
    rel = tables.relations
    query = sa.select(rel.c.subject, rel.c.other, rel.c.relation).where(
        rel.c.subject.in_(wanted), rel.c.other.in_(wanted)
    )
    return [Tie(r.subject, r.other, r.relation) for r in connection.execute(query)]


def add_decision(connection: sa.Connection, report_id: int, decision: Decision) -> None:
    """Store the decision on a report (the unique key refuses a second one)."""
    connection.execute(
        _d.insert().values(
            report=report_id,
            outcome=decision.outcome.value,
            reason=decision.reason,
            decided_by=decision.decided_by,
            decided_by_name=decision.decided_by_name,
            decided_at=decision.decided_at,
            flags=json.dumps([f.as_json() for f in decision.flags]),
            records=json.dumps(list(decision.records)),
        )
    )
