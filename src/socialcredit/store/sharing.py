"""Shares, subjects' opt-ins, and the reads the social side needs: a subject's latest snapshot
under a program, relations between two subjects, and opted-in subjects' standings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.shares import Settings, Share, Tie
from socialcredit.store import tables


def _share(row: sa.Row[Any]) -> Share:
    return Share(
        id=row.id,
        subject=row.subject,
        program=row.program,
        relying_party=row.relying_party,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def add_share(connection: sa.Connection, share: Share, token_hash: str) -> None:
    """Store a new share with the hash of its token."""
    connection.execute(
        tables.shares.insert().values(
            id=share.id,
            subject=share.subject,
            program=share.program,
            relying_party=share.relying_party,
            token_hash=token_hash,
            created_at=share.created_at,
            expires_at=share.expires_at,
            revoked_at=None,
        )
    )


def share_by_id(connection: sa.Connection, share_id: str) -> Share | None:
    """The share with this id, or None."""
    s = tables.shares
    row = connection.execute(sa.select(s).where(s.c.id == share_id)).first()
    return None if row is None else _share(row)


def share_by_token_hash(connection: sa.Connection, token_hash: str) -> Share | None:
    """The share whose token has this hash, or None."""
    s = tables.shares
    row = connection.execute(sa.select(s).where(s.c.token_hash == token_hash)).first()
    return None if row is None else _share(row)


def list_shares(
    connection: sa.Connection, subject: str, after: str | None, limit: int
) -> list[Share]:
    """A subject's shares in id order, after the id `after`."""
    s = tables.shares
    query = sa.select(s).where(s.c.subject == subject).order_by(s.c.id).limit(limit)
    if after is not None:
        query = query.where(s.c.id > after)
    return [_share(row) for row in connection.execute(query)]


def revoke_share(connection: sa.Connection, share_id: str, at: datetime) -> None:
    """Mark a share revoked at `at` (kept once set)."""
    s = tables.shares
    connection.execute(
        s.update().where(s.c.id == share_id, s.c.revoked_at.is_(None)).values(revoked_at=at)
    )


def settings_of(connection: sa.Connection, subject: str) -> Settings:
    """A subject's opt-ins (all off when it never set them)."""
    t = tables.subject_settings
    row = connection.execute(sa.select(t).where(t.c.subject == subject)).first()
    if row is None:
        return Settings()
    return Settings(
        public_percentile=bool(row.public_percentile),
        leaderboard=bool(row.leaderboard),
        game=bool(row.game),
    )


def put_settings(connection: sa.Connection, subject: str, settings: Settings, at: datetime) -> None:
    """Replace a subject's opt-ins."""
    t = tables.subject_settings
    values = {
        "public_percentile": settings.public_percentile,
        "leaderboard": settings.leaderboard,
        "game": settings.game,
        "updated_at": at,
    }
    updated = connection.execute(t.update().where(t.c.subject == subject).values(**values))
    if not updated.rowcount:
        connection.execute(t.insert().values(subject=subject, **values))


def latest_snapshot(connection: sa.Connection, subject: str, program: str) -> dict[str, Any] | None:
    """The subject's newest score snapshot under a program, or None."""
    s = tables.scores
    newest = (
        sa.select(sa.func.max(s.c.run_id))
        .where(s.c.subject == subject, s.c.program == program)
        .scalar_subquery()
    )
    row = connection.execute(
        sa.select(
            s.c.program,
            s.c.policy_version,
            s.c.as_of,
            s.c.status,
            s.c.score,
            s.c.grade,
            s.c.percentile,
        ).where(s.c.subject == subject, s.c.program == program, s.c.run_id == newest)
    ).first()
    return None if row is None else dict(row._mapping)


def policy_text(connection: sa.Connection, version: str) -> str | None:
    """The text of a program version a snapshot was computed with."""
    p = tables.policies
    text: str | None = connection.execute(
        sa.select(p.c.text).where(p.c.version == version)
    ).scalar_one_or_none()
    return text


def ties_between(connection: sa.Connection, a: str, b: str) -> list[Tie]:
    """Every relation between two subjects, in either direction."""
    r = tables.relations
    rows = connection.execute(
        sa.select(r.c.subject, r.c.other, r.c.confirmed, r.c.start, r.c.end).where(
            sa.or_(
                sa.and_(r.c.subject == a, r.c.other == b),
                sa.and_(r.c.subject == b, r.c.other == a),
            )
        )
    )
    return [Tie(row.subject, row.other, bool(row.confirmed), row.start, row.end) for row in rows]


def opted_in_standings(
    connection: sa.Connection, program: str, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """The best `limit` latest scored snapshots under a program of subjects who opted in to
    the leaderboard, highest first (ties in subject order), with kind and registry name."""
    s, t, subj, reg = tables.scores, tables.subject_settings, tables.subjects, tables.registry
    latest = (
        sa.select(s.c.subject, sa.func.max(s.c.run_id).label("run_id"))
        .join(t, t.c.subject == s.c.subject)
        .where(t.c.leaderboard.is_(True), s.c.program == program)
        .group_by(s.c.subject)
        .subquery()
    )
    query = (
        sa.select(s.c.subject, s.c.score, s.c.grade, s.c.as_of, subj.c.kind, reg.c.name)
        .join(latest, sa.and_(latest.c.subject == s.c.subject, latest.c.run_id == s.c.run_id))
        .join(subj, subj.c.id == s.c.subject)
        .outerjoin(reg, reg.c.subject == s.c.subject)
        .where(s.c.program == program, s.c.score.is_not(None))
        .order_by(s.c.score.desc(), s.c.subject)
        .limit(limit)
    )
    if kind is not None:
        query = query.where(subj.c.kind == kind)
    return [dict(row._mapping) for row in connection.execute(query)]


def evidence_of(connection: sa.Connection, subject: str) -> dict[int, str | None]:
    """The evidence of each of a subject's records, by record id."""
    r = tables.records
    rows = connection.execute(sa.select(r.c.id, r.c.evidence).where(r.c.subject == subject))
    return {row.id: row.evidence for row in rows}
