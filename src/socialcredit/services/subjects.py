"""Read a subject's file: its latest score per program with the full explanation."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.events import RESCORING
from socialcredit.domain.identifiers import normalise
from socialcredit.store import files, outbox, tables


class SubjectNotFound(LookupError):
    """No subject with this identifier is in the store."""


def subject_known(engine: sa.Engine, subject: str) -> bool:
    """Whether the store holds the subject, so a key bound to an unknown one can be flagged."""
    with engine.connect() as connection:
        return files.subject_kind(connection, normalise(subject)) is not None


def list_subjects(engine: sa.Engine, limit: int | None = None) -> list[dict[str, str]]:
    """Subject ids with their kind, in id order."""
    query = sa.select(tables.subjects.c.id, tables.subjects.c.kind).order_by(tables.subjects.c.id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [{"subject": row.id, "kind": row.kind} for row in connection.execute(query)]


def latest_scores(connection: sa.Connection, subject: str) -> list[dict[str, Any]]:
    """The newest snapshot of each program for a subject, as `show --json` prints them: `fresh`
    is false while an event that touches the subject waits in the outbox, and
    `ledger_position` is the last ledger id the score reflects."""
    s, runs = tables.scores, tables.score_runs
    newest = (
        sa.select(sa.func.max(s.c.run_id))
        .where(s.c.subject == subject)
        .group_by(s.c.program)
        .scalar_subquery()
    )
    rows = connection.execute(
        sa.select(s, runs.c.ledger_position)
        .join(runs, runs.c.id == s.c.run_id)
        .where(s.c.subject == subject, s.c.run_id.in_(newest))
        .order_by(s.c.program)
    ).all()
    fresh = not outbox.pending_subjects(connection, [subject], RESCORING)
    return [
        {
            "program": row.program,
            "policy_version": row.policy_version,
            "as_of": row.as_of.date().isoformat(),
            "status": row.status,
            "score": row.score,
            "grade": row.grade,
            "percentile": row.percentile,
            "fresh": fresh,
            "ledger_position": row.ledger_position,
            **json.loads(row.explanation),
        }
        for row in rows
    ]


def subject_view(engine: sa.Engine, subject: str) -> dict[str, Any]:
    """The subject's kind and latest scores (raises SubjectNotFound)."""
    subject_id = normalise(subject)
    with engine.connect() as connection:
        kind = connection.execute(
            sa.select(tables.subjects.c.kind).where(tables.subjects.c.id == subject_id)
        ).scalar_one_or_none()
        if kind is None:
            raise SubjectNotFound(f"no subject {subject_id} in the store")
        return {
            "subject": subject_id,
            "kind": kind,
            "scores": latest_scores(connection, subject_id),
        }
