"""Figures about the population for operators and the portal: the programs in use (range,
bands, factors), each program's score distribution and grade counts in its latest full run,
list sizes over time, and each furnisher's dispute and overturn rates.

Aggregates only: no subject's file is shown, so nothing goes to an access log.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.disputes import WITHDRAWING
from socialcredit.domain.lists import ListDefinition, entry_of, kinds_read
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.domain.programs import Program
from socialcredit.domain.tiers import add_months
from socialcredit.policy.loader import load_program_text
from socialcredit.policy.measures import MeasuresCatalogue, shipped_measures
from socialcredit.services.errors import InvalidRequest
from socialcredit.services.lists import population_entries
from socialcredit.services.principals import utc_now
from socialcredit.store import lists as list_store
from socialcredit.store import tables

OPERATORS = (Role.ADMIN, Role.ADJUDICATOR)
MAX_BINS = 200
MAX_MONTHS = 60


@lru_cache(maxsize=64)
def _program(text: str) -> Program:
    return load_program_text(text).program


def _program_of_version(connection: sa.Connection, version: str) -> Program | None:
    text = connection.execute(
        sa.select(tables.policies.c.text).where(tables.policies.c.version == version)
    ).scalar_one_or_none()
    return None if text is None else _program(text)


def _bands(program: Program) -> list[dict[str, Any]]:
    """Grade bands from the lowest up, each with the highest score it covers."""
    ordered = sorted(program.bands, key=lambda b: b.min)
    out = []
    for n, band in enumerate(ordered):
        top = ordered[n + 1].min - 1 if n + 1 < len(ordered) else program.max_score
        out.append({"grade": band.grade, "min": band.min, "max": top})
    return out


def _describe(program: Program, version: str) -> dict[str, Any]:
    return {
        "program": program.id,
        "name": program.name,
        "description": program.description,
        "policy_version": version,
        "min_score": program.min_score,
        "max_score": program.max_score,
        "base": program.base,
        "subjects": list(program.subjects),
        "factors": [{"id": f.id, "name": f.name} for f in program.factors],
        "bands": _bands(program),
    }


def _latest_runs(connection: sa.Connection, full_only: bool) -> list[sa.Row[Any]]:
    """The newest run of each program (the newest full run with `full_only`), by program."""
    runs = tables.score_runs
    newest = sa.select(sa.func.max(runs.c.id))
    if full_only:
        newest = newest.where(runs.c.scope == "full")
    newest = newest.group_by(runs.c.program)
    query = sa.select(runs).where(runs.c.id.in_(newest.scalar_subquery())).order_by(runs.c.program)
    return list(connection.execute(query).all())


def programs_in_use(engine: sa.Engine) -> list[dict[str, Any]]:
    """Each program that has scored anyone, as its newest run used it: range, base, grade
    bands (lowest first, each with its top score), factors."""
    with engine.connect() as connection:
        out = []
        for run in _latest_runs(connection, full_only=False):
            program = _program_of_version(connection, run.policy_version)
            if program is not None:
                out.append(_describe(program, run.policy_version))
        return out


def _round_width(at_least: int) -> int:
    """The smallest round bin width (1, 2, 2.5 or 5 times a power of ten) of `at_least`."""
    scale = 1
    while True:
        for step in (scale, 2 * scale, 5 * scale // 2, 5 * scale):
            if step >= at_least and step == int(step):
                return int(step)
        scale *= 10


def _histogram(
    counts: list[tuple[int, int]], low: int, high: int, bins: int
) -> list[dict[str, int]]:
    """Counts of scores per bin over [low, high]: at most `bins` bins of a round width (1, 2,
    2.5 or 5 times a power of ten); the last bin also holds `high` itself."""
    span = max(high - low, 1)
    width = _round_width(-(-span // bins))
    edges = list(range(low, low + span, width))
    tally = [0] * len(edges)
    for score, count in counts:
        index = min(max((score - low) // width, 0), len(edges) - 1)
        tally[index] += count
    last = len(edges) - 1
    return [
        {"from": start, "to": high if n == last else start + width - 1, "count": tally[n]}
        for n, start in enumerate(edges)
    ]


def _counts(connection: sa.Connection, query: sa.Select[Any]) -> dict[str, int]:
    """A (key, count) query as a dict."""
    return {str(key): int(count) for key, count in connection.execute(query)}


def _run_distribution(connection: sa.Connection, run: sa.Row[Any], bins: int) -> dict[str, Any]:
    s = tables.scores
    program = _program_of_version(connection, run.policy_version)
    statuses = _counts(
        connection,
        sa.select(s.c.status, sa.func.count()).where(s.c.run_id == run.id).group_by(s.c.status),
    )
    grade_rows = _counts(
        connection,
        sa.select(s.c.grade, sa.func.count())
        .where(s.c.run_id == run.id, s.c.grade.is_not(None))
        .group_by(s.c.grade),
    )
    by_score = [
        (int(score), int(count))
        for score, count in connection.execute(
            sa.select(s.c.score, sa.func.count())
            .where(s.c.run_id == run.id, s.c.score.is_not(None))
            .group_by(s.c.score)
        ).all()
    ]
    if program is not None:
        low, high = program.min_score, program.max_score
        order = [b["grade"] for b in reversed(_bands(program))]
    else:
        low = min((sc for sc, _ in by_score), default=0)
        high = max((sc for sc, _ in by_score), default=0)
        order = sorted(grade_rows)
    order += sorted(g for g in grade_rows if g not in order)
    scored = sum(c for _, c in by_score)
    return {
        "program": run.program,
        "policy_version": run.policy_version,
        "run_id": run.id,
        "as_of": run.as_of.date().isoformat(),
        "computed_at": run.computed_at.isoformat() + "Z",
        "subjects": sum(statuses.values()),
        "scored": scored,
        "statuses": dict(sorted(statuses.items())),
        "min_score": low,
        "max_score": high,
        "mean": round(sum(sc * c for sc, c in by_score) / scored, 1) if scored else None,
        "bins": _histogram(by_score, low, high, bins),
        "grades": [{"grade": g, "count": grade_rows.get(g, 0)} for g in order],
    }


def score_distribution(engine: sa.Engine, principal: Principal, bins: int = 30) -> dict[str, Any]:
    """Per program, its latest full run: how many were scored, the histogram of scores over the
    program's range, and how many got each grade (highest grade first). Operators only."""
    require_role(principal, *OPERATORS)
    if not 1 <= bins <= MAX_BINS:
        raise InvalidRequest(f"bins must be from 1 to {MAX_BINS}, got {bins}")
    with engine.connect() as connection:
        return {
            "programs": [
                _run_distribution(connection, run, bins)
                for run in _latest_runs(connection, full_only=True)
            ]
        }


# ---------------------------------------------------------------------------- lists


def _record_list_sizes(
    connection: sa.Connection, definition: ListDefinition, moments: list[datetime]
) -> list[int]:
    """How many subjects were on a record-entered list at each moment, as the ledger now tells
    it (a record withdrawn later is not counted then either; a repair counts from its grant)."""
    by_subject = list_store.records_by_subject(connection, kinds_read([definition]), moments[-1])
    repairs = list_store.granted_repairs(connection)
    sizes = []
    for moment in moments:
        size = 0
        for subject, records in by_subject.items():
            repaired = repairs.get((subject, definition.name))
            if repaired is not None and repaired > moment:
                repaired = None
            if entry_of(definition, subject, records, moment, repaired_at=repaired) is not None:
                size += 1
        sizes.append(size)
    return sizes


def _score_list_sizes(
    connection: sa.Connection, definition: ListDefinition, moments: list[datetime]
) -> list[int | None]:
    """How many subjects met a score-entered list's criterion in the program's latest full
    run as of each moment (None before its first run)."""
    criterion = definition.score
    assert criterion is not None
    runs = tables.score_runs
    full = connection.execute(
        sa.select(runs.c.id, runs.c.as_of)
        .where(runs.c.program == criterion.program, runs.c.scope == "full")
        .order_by(runs.c.id)
    ).all()
    counted: dict[int, int] = {}
    sizes: list[int | None] = []
    for moment in moments:
        run_ids = [r.id for r in full if r.as_of <= moment]
        if not run_ids:
            sizes.append(None)
            continue
        run_id = run_ids[-1]
        if run_id not in counted:
            s = tables.scores
            rows = connection.execute(
                sa.select(s.c.score, s.c.grade, sa.func.count())
                .where(s.c.run_id == run_id, s.c.score.is_not(None))
                .group_by(s.c.score, s.c.grade)
            )
            counted[run_id] = sum(int(n) for sc, g, n in rows if criterion.holds(sc, g))
        sizes.append(counted[run_id])
    return sizes


def list_sizes(
    engine: sa.Engine,
    principal: Principal,
    months: int = 12,
    *,
    now: datetime | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> dict[str, Any]:
    """Each list's size at the same day of each of the last `months` months and now (admin or
    adjudicator). The last point is the list as it stands; earlier points of a score-entered
    list count its criterion in the full run current then."""
    require_role(principal, *OPERATORS)
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidRequest(f"months must be from 1 to {MAX_MONTHS}, got {months}")
    catalogue = catalogue or shipped_measures()
    now = now or utc_now()
    moments = [add_months(now, -back) for back in range(months, 0, -1)] + [now]
    out = []
    with engine.connect() as connection:
        for definition in catalogue.lists.values():
            sizes: list[int | None]
            if definition.score is not None:
                sizes = _score_list_sizes(connection, definition, moments)
                sizes[-1] = len(population_entries(connection, [definition], now))
            else:
                sizes = list(_record_list_sizes(connection, definition, moments))
            out.append(
                {
                    "list": definition.name,
                    "title": definition.title,
                    "kind": definition.kind.value,
                    "public": definition.public,
                    "points": [
                        {"at": m.isoformat() + "Z", "size": size}
                        for m, size in zip(moments, sizes, strict=True)
                        if size is not None
                    ],
                }
            )
    return {"at": now.isoformat() + "Z", "lists": out}


# ---------------------------------------------------------------------------- furnishers


def furnisher_rates(
    engine: sa.Engine, principal: Principal, *, now: datetime | None = None
) -> dict[str, Any]:
    """Per furnisher: records sent, disputes opened, open and overdue, closed, and how many
    closed disputes withdrew the record (retracted, not verified in time, or overturned by an
    adjudicator); the dispute rate (disputes per record) and the overturn rate (withdrawn per
    closed dispute). Admin or adjudicator."""
    require_role(principal, *OPERATORS)
    now = now or utc_now()
    r, d, f = tables.records, tables.disputes, tables.furnishers
    withdrawing = sorted(o.value for o in WITHDRAWING)
    with engine.connect() as connection:
        sent = _counts(
            connection,
            sa.select(r.c.furnisher, sa.func.count())
            .where(r.c.kind != RETRACTION_KIND)
            .group_by(r.c.furnisher),
        )
        names = {row.id: row.name for row in connection.execute(sa.select(f.c.id, f.c.name))}
        rows = connection.execute(
            sa.select(
                d.c.furnisher,
                sa.func.count().label("disputes"),
                sa.func.sum(sa.case((d.c.status == "open", 1), else_=0)).label("open"),
                sa.func.sum(
                    sa.case(((d.c.status == "open") & (d.c.deadline < now), 1), else_=0)
                ).label("overdue"),
                sa.func.sum(sa.case((d.c.status != "open", 1), else_=0)).label("closed"),
                sa.func.sum(sa.case((d.c.outcome.in_(withdrawing), 1), else_=0)).label(
                    "overturned"
                ),
            ).group_by(d.c.furnisher)
        ).all()
    items = []
    for row in rows:
        records = int(sent.get(row.furnisher, 0))
        disputes, closed = int(row.disputes), int(row.closed or 0)
        overturned = int(row.overturned or 0)
        items.append(
            {
                "furnisher": row.furnisher,
                "name": names.get(row.furnisher),
                "records": records,
                "disputes": disputes,
                "open": int(row.open or 0),
                "overdue": int(row.overdue or 0),
                "closed": closed,
                "overturned": overturned,
                "dispute_rate": round(disputes / records, 4) if records else None,
                "overturn_rate": round(overturned / closed, 4) if closed else None,
            }
        )
    items.sort(key=lambda i: (-(i["overturn_rate"] or 0), -i["disputes"], i["furnisher"]))
    return {"items": items}
