"""What lists and decisions read from the store: records of the kinds lists look at, the latest
snapshot per program, granted repairs, organisations' representatives and addresses; and the
decision log and repairs they write."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.lists import LedgerRecord, ScoreFact
from socialcredit.domain.records import in_force
from socialcredit.store import tables

_R = tables.records
_RECORD_COLUMNS = (
    _R.c.id,
    _R.c.subject,
    _R.c.furnisher,
    _R.c.external_id,
    _R.c.kind,
    _R.c.occurred_at,
    _R.c.value,
    _R.c.evidence,
    _R.c.replaces,
    _R.c.chain,
)


def _in_force(rows: Iterable[Any], now: datetime) -> list[Any]:
    return in_force(rows, lambda r: r.occurred_at <= now)


def _ledger_record(row: Any) -> LedgerRecord:
    return LedgerRecord(row.id, row.kind, row.occurred_at, row.value, row.evidence)


def subject_records(
    connection: sa.Connection, subject: str, kinds: Iterable[str], now: datetime
) -> list[LedgerRecord]:
    """The subject's records in force of these kinds."""
    wanted = sorted(set(kinds))
    if not wanted:
        return []
    query = sa.select(*_RECORD_COLUMNS).where(
        _R.c.subject == subject, sa.or_(_R.c.kind.in_(wanted), _R.c.replaces.is_not(None))
    )
    live = _in_force(connection.execute(query), now)
    return [_ledger_record(r) for r in live if r.kind in wanted]


# With the corrections and retractions that may put them out of force.
_RECORDS_OF_KINDS = sa.select(*_RECORD_COLUMNS).where(
    sa.or_(_R.c.kind.in_(sa.bindparam("kinds", expanding=True)), _R.c.replaces.is_not(None))
)
_RECORDS_OF = _RECORDS_OF_KINDS.where(_R.c.subject.in_(sa.bindparam("subjects", expanding=True)))


def records_by_subject(
    connection: sa.Connection,
    kinds: Iterable[str],
    now: datetime,
    subjects: Sequence[str] | None = None,
) -> dict[str, list[LedgerRecord]]:
    """Records in force of these kinds for everyone (or for `subjects`), by subject."""
    wanted = sorted(set(kinds))
    if subjects is None:
        found = connection.execute(_RECORDS_OF_KINDS, {"kinds": wanted})
    else:
        found = connection.execute(_RECORDS_OF, {"kinds": wanted, "subjects": list(subjects)})
    by_subject: dict[str, list[Any]] = defaultdict(list)
    for row in found:
        by_subject[row.subject].append(row)
    out: dict[str, list[LedgerRecord]] = {}
    for subject, rows in by_subject.items():
        live = [_ledger_record(r) for r in _in_force(rows, now) if r.kind in wanted]
        if live:
            out[subject] = live
    return out


def score_fact(row: Any, blacklist: bool | None = None, text: str | None = None) -> ScoreFact:
    """A snapshot row as lists and decisions see it; with `blacklist` set, its record ids are
    those behind the points it lost (True) or gained (False), read from its explanation (the
    row's, or `text`)."""
    ids: tuple[int, ...] = ()
    if blacklist is not None:
        explanation = json.loads(text if text is not None else row.explanation)
        ids = tuple(
            sorted(
                i
                for c in explanation.get("contributions", [])
                if (c["points"] < 0 if blacklist else c["points"] > 0)
                for i in c.get("record_ids", [])
            )
        )
    return ScoreFact(row.program, row.policy_version, row.as_of, row.score, row.grade, ids)


_S = tables.scores
_SCORE_COLUMNS = (
    _S.c.subject, _S.c.program, _S.c.policy_version, _S.c.as_of, _S.c.score, _S.c.grade,
    _S.c.explanation,
)  # fmt: skip


def _latest_rows() -> sa.Select[Any]:
    newest = (
        sa.select(_S.c.subject, _S.c.program, sa.func.max(_S.c.run_id).label("run_id"))
        .where(
            _S.c.subject.in_(sa.bindparam("subjects", expanding=True)),
            _S.c.program.in_(sa.bindparam("programs", expanding=True)),
        )
        .group_by(_S.c.subject, _S.c.program)
        .subquery()
    )
    return sa.select(*_SCORE_COLUMNS).join(
        newest,
        sa.and_(
            _S.c.subject == newest.c.subject,
            _S.c.program == newest.c.program,
            _S.c.run_id == newest.c.run_id,
        ),
    )


_LATEST_ROWS = _latest_rows()


def latest_score_rows(
    connection: sa.Connection, subjects: Sequence[str], programs: Iterable[str]
) -> dict[tuple[str, str], Any]:
    """The newest snapshot row of each (subject, program) among these."""
    wanted = sorted(set(programs))
    if not subjects or not wanted:
        return {}
    rows = connection.execute(_LATEST_ROWS, {"subjects": list(subjects), "programs": wanted})
    return {(r.subject, r.program): r for r in rows}


def latest_rows_of_program(connection: sa.Connection, program: str) -> dict[str, Any]:
    """Every subject's newest snapshot row under a program, without its explanation: the latest
    full run's, overlaid by the partial runs since (both read through the run index)."""
    runs = tables.score_runs
    full = connection.execute(
        sa.select(sa.func.max(runs.c.id)).where(runs.c.program == program, runs.c.scope == "full")
    ).scalar_one_or_none()
    columns = [c for c in _SCORE_COLUMNS if c.name != "explanation"]
    rows = connection.execute(
        sa.select(_S.c.id, *columns)
        .where(_S.c.run_id >= (full or 0), _S.c.program == program)
        .order_by(_S.c.run_id)
    )
    return {r.subject: r for r in rows}


def explanations(connection: sa.Connection, ids: Sequence[int]) -> dict[int, str]:
    """Snapshots' explanations by snapshot id."""
    rows = connection.execute(sa.select(_S.c.id, _S.c.explanation).where(_S.c.id.in_(list(ids))))
    return {i: text for i, text in rows}


_KINDS_OF = sa.select(tables.subjects.c.id, tables.subjects.c.kind).where(
    tables.subjects.c.id.in_(sa.bindparam("subjects", expanding=True))
)


def subject_kinds(connection: sa.Connection, subjects: Sequence[str]) -> dict[str, str]:
    """The kind of each of these subjects that is in the store."""
    rows = connection.execute(_KINDS_OF, {"subjects": list(subjects)})
    return {i: k for i, k in rows}


_RP = tables.repairs
_GRANTED = (
    sa.select(_RP.c.subject, _RP.c.list, sa.func.max(_RP.c.applied_at))
    .where(_RP.c.status == "granted")
    .group_by(_RP.c.subject, _RP.c.list)
)
_GRANTED_OF = _GRANTED.where(_RP.c.subject.in_(sa.bindparam("subjects", expanding=True)))


def granted_repairs(
    connection: sa.Connection, subjects: Sequence[str] | None = None
) -> dict[tuple[str, str], datetime]:
    """When each (subject, list) repair was last granted."""
    if subjects is None:
        rows = connection.execute(_GRANTED)
    else:
        rows = connection.execute(_GRANTED_OF, {"subjects": list(subjects)})
    return {(s, name): at for s, name, at in rows}


def add_repair(connection: sa.Connection, row: dict[str, Any]) -> None:
    connection.execute(tables.repairs.insert(), row)


def repairs_of(connection: sa.Connection, subject: str) -> list[dict[str, Any]]:
    r = tables.repairs
    rows = connection.execute(
        sa.select(r).where(r.c.subject == subject).order_by(r.c.applied_at, r.c.id)
    )
    return [dict(row._mapping) for row in rows]


# Subjects bound in one IN list: well under SQLite's limit on a statement's parameters.
NAMES_AT_ONCE = 10_000


def names(connection: sa.Connection, subjects: Sequence[str]) -> dict[str, str | None]:
    """Display names from the registry, asked for a block of subjects at a time."""
    g = tables.registry
    found: dict[str, str | None] = {}
    for start in range(0, len(subjects), NAMES_AT_ONCE):
        block = list(subjects[start : start + NAMES_AT_ONCE])
        rows = connection.execute(sa.select(g.c.subject, g.c.name).where(g.c.subject.in_(block)))
        found.update({s: n for s, n in rows})
    return found


def subjects_named(connection: sa.Connection, text: str, limit: int) -> list[str]:
    """Subjects whose registry name contains `text` (case-insensitive)."""
    g = tables.registry
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = connection.execute(
        sa.select(g.c.subject)
        .where(g.c.name.ilike(pattern, escape="\\"))
        .order_by(g.c.subject)
        .limit(limit)
    )
    return [r.subject for r in rows]


def representatives(
    connection: sa.Connection, organisations: Sequence[str] | None = None
) -> list[tuple[str, str, datetime, datetime | None]]:
    """Legal representatives: (person, organisation, start, end), for some or all organisations."""
    rel = tables.relations
    query = sa.select(rel.c.subject, rel.c.other, rel.c.start, rel.c.end).where(
        rel.c.relation == "legal_representative_of"
    )
    if organisations is not None:
        query = query.where(rel.c.other.in_(list(organisations)))
    return [(p, o, s, e) for p, o, s, e in connection.execute(query)]


def represented_by(
    connection: sa.Connection, persons: Sequence[str]
) -> list[tuple[str, str, datetime, datetime | None]]:
    """Organisations these persons represent: (person, organisation, start, end)."""
    rel = tables.relations
    query = sa.select(rel.c.subject, rel.c.other, rel.c.start, rel.c.end).where(
        rel.c.relation == "legal_representative_of", rel.c.subject.in_(list(persons))
    )
    return [(p, o, s, e) for p, o, s, e in connection.execute(query)]


def addresses(connection: sa.Connection, subjects: Sequence[str] | None = None) -> dict[str, str]:
    """Registered addresses, where known."""
    g = tables.registry
    query = sa.select(g.c.subject, g.c.address).where(g.c.address.is_not(None))
    if subjects is not None:
        query = query.where(g.c.subject.in_(list(subjects)))
    return {s: a for s, a in connection.execute(query)}


DECISION_COLUMNS = (
    "at", "subject", "service", "purpose", "principal", "decision", "measures", "program",
    "policy_version", "catalogue_version", "trace",
)  # fmt: skip


def add_decisions(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Append decisions to the log in one statement; their ids, in order."""
    statement = tables.decisions.insert().returning(
        tables.decisions.c.id, sort_by_parameter_order=True
    )
    return [int(i) for i in connection.execute(statement, list(rows)).scalars()]


def decisions_of(
    connection: sa.Connection, subject: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """A subject's decisions, newest first."""
    d = tables.decisions
    query = sa.select(d).where(d.c.subject == subject).order_by(d.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(d.c.id < before)
    return [dict(row._mapping) for row in connection.execute(query)]
