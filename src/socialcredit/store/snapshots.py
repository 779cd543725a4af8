"""Score snapshots: each run of a program is kept, never overwritten, with its policy text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.store import tables
from socialcredit.store.bulk import append_rows, time_writer

SCORE_COLUMNS = (
    "run_id", "subject", "program", "policy_version", "as_of", "status", "score", "grade",
    "percentile", "explanation",
)  # fmt: skip


def keep_policy(
    connection: sa.Connection, program: str, version: str, text: str, now: datetime
) -> None:
    """Store a policy's text under its version the first time that version is used."""
    append_rows(
        connection,
        tables.policies,
        ("version", "program", "text", "first_used_at"),
        [(version, program, text, time_writer(connection)(now))],
    )


def start_run(
    connection: sa.Connection,
    program: str,
    version: str,
    as_of: datetime,
    engine: str,
    now: datetime,
    subjects: int,
    scope: str = "full",
    ledger_position: int | None = None,
) -> int:
    """Record a scoring run ("full", or "subjects" for a partial one) and return its id;
    `ledger_position` is the last ledger id it reflects."""
    return int(
        connection.execute(
            tables.score_runs.insert().returning(tables.score_runs.c.id),
            {
                "program": program,
                "policy_version": version,
                "as_of": as_of,
                "engine": engine,
                "computed_at": now,
                "subjects": subjects,
                "scope": scope,
                "ledger_position": ledger_position,
            },
        ).scalar_one()
    )


def add_scores(
    connection: sa.Connection,
    run_id: int,
    program: str,
    version: str,
    as_of: datetime,
    rows: Iterable[Sequence[Any]],
) -> int:
    """Append a run's scores: rows of (subject, status, score, grade, percentile, explanation)."""
    day = time_writer(connection)(as_of)
    values = [(run_id, row[0], program, version, day, *row[1:]) for row in rows]
    return append_rows(connection, tables.scores, SCORE_COLUMNS, values)


def last_full_distribution(connection: sa.Connection, program: str) -> dict[str, list[int]]:
    """The sorted scores of a program's latest full run, by subject kind."""
    runs = tables.score_runs
    run_id = connection.execute(
        sa.select(sa.func.max(runs.c.id)).where(runs.c.program == program, runs.c.scope == "full")
    ).scalar_one_or_none()
    if run_id is None:
        return {}
    s, subjects = tables.scores, tables.subjects
    rows = connection.execute(
        sa.select(subjects.c.kind, s.c.score)
        .join(subjects, subjects.c.id == s.c.subject)
        .where(s.c.run_id == run_id, s.c.score.is_not(None))
        .order_by(s.c.score)
    )
    out: dict[str, list[int]] = {}
    for kind, score in rows:
        out.setdefault(kind, []).append(score)
    return out
