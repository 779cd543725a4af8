"""The social side, each part off until the subject opts in: a public percentile, a public
leaderboard, and "higher or lower" between confirmed relations. Anonymous reads are logged in
the subject's access log like every other read of its file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import NotAllowed, Principal, Role, require_role
from socialcredit.domain.shares import (
    Guess,
    Settings,
    Standing,
    game_refusal,
    guess_correct,
    leaderboard,
)
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.principals import utc_now
from socialcredit.services.shares import active_program
from socialcredit.store import access
from socialcredit.store import sharing as store
from socialcredit.store.writers import one_writer

# How an anonymous caller of the public endpoints is named in the access log.
PUBLIC_PRINCIPAL = "public"
PUBLIC_NAME = "anyone (no key)"
PUBLIC_ROLE = "public"

LEADERBOARD_MAX = 100
NO_PERCENTILE = "no public percentile for this subject and program"


def settings_json(subject: str, settings: Settings) -> dict[str, Any]:
    return {
        "subject": subject,
        "public_percentile": settings.public_percentile,
        "leaderboard": settings.leaderboard,
        "game": settings.game,
    }


def _own(principal: Principal, subject: str) -> str:
    """The subject id, when `principal` is that subject (raises NotAllowed otherwise)."""
    require_role(principal, Role.SUBJECT)
    try:
        subject_id, _ = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    if principal.subject != subject_id:
        raise NotAllowed("a subject may read and change only its own settings")
    return subject_id


def get_settings(engine: sa.Engine, principal: Principal, subject: str) -> dict[str, Any]:
    """The subject's own opt-ins."""
    subject_id = _own(principal, subject)
    with engine.connect() as connection:
        return settings_json(subject_id, store.settings_of(connection, subject_id))


def set_settings(
    engine: sa.Engine, subject: str, settings: Settings, now: datetime | None = None
) -> dict[str, Any]:
    """Replace a subject's opt-ins (the subject's own call, or an operator withdrawing them)."""
    with one_writer(engine), engine.begin() as connection:
        store.put_settings(connection, subject, settings, now or utc_now())
    return settings_json(subject, settings)


def put_settings(
    engine: sa.Engine,
    principal: Principal,
    subject: str,
    settings: Settings,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The subject turns its opt-ins on or off; they take effect at once."""
    return set_settings(engine, _own(principal, subject), settings, now)


def public_read(
    subject: str, *, at: datetime, what: str, endpoint: str, returned: Any
) -> dict[str, Any]:
    """The access-log entry for a read of `subject`'s data by anyone, without a key."""
    return {
        "at": at,
        "subject": subject,
        "principal": PUBLIC_PRINCIPAL,
        "principal_name": PUBLIC_NAME,
        "role": PUBLIC_ROLE,
        "purpose": None,
        "what": what,
        "endpoint": endpoint,
        "consent": None,
        "returned": returned,
    }


def _log_public(
    connection: sa.Connection, subject: str, what: str, endpoint: str, returned: Any, now: datetime
) -> None:
    entry = public_read(subject, at=now, what=what, endpoint=endpoint, returned=returned)
    access.append_access(connection, entry)


def public_percentile(
    engine: sa.Engine,
    subject: str,
    program: str,
    *,
    endpoint: str = "GET /v1/public/subjects/{id}/percentile",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A subject's latest percentile under a program, for anyone, if the subject opted in.
    Otherwise NotFound, the same as for an unknown subject."""
    chosen = active_program(program)
    now = now or utc_now()
    try:
        subject_id, _ = identify(subject)
    except InvalidIdentifier:
        raise NotFound(NO_PERCENTILE) from None
    with engine.connect() as connection:
        if not store.settings_of(connection, subject_id).public_percentile:
            raise NotFound(NO_PERCENTILE)
        snapshot = store.latest_snapshot(connection, subject_id, chosen.id)
    if snapshot is None or snapshot["percentile"] is None:
        raise NotFound(NO_PERCENTILE)
    body = {
        "subject": subject_id,
        "program": chosen.id,
        "percentile": snapshot["percentile"],
        "as_of": snapshot["as_of"].date().isoformat(),
    }
    with one_writer(engine), engine.begin() as connection:
        returned = {"program": chosen.id, "percentile": snapshot["percentile"]}
        _log_public(connection, subject_id, "percentile", endpoint, returned, now)
    return body


def public_leaderboard(
    engine: sa.Engine,
    program: str,
    *,
    kind: str | None = None,
    limit: int = 10,
    endpoint: str = "GET /v1/public/leaderboard",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The best scores under a program among subjects who opted in, with their registry
    names. A person's resident ID is never shown (an organisation's USCC is public)."""
    chosen = active_program(program)
    if not 1 <= limit <= LEADERBOARD_MAX:
        raise InvalidRequest(f"limit must be from 1 to {LEADERBOARD_MAX}")
    if kind is not None and kind not in chosen.subjects:
        raise InvalidRequest(f"program {chosen.id} scores: {', '.join(chosen.subjects)}")
    now = now or utc_now()
    with engine.connect() as connection:
        rows = store.opted_in_standings(connection, chosen.id, kind, limit)
    standings = [Standing(r["subject"], r["kind"], r["name"], r["score"]) for r in rows]
    as_of = {r["subject"]: r["as_of"].date().isoformat() for r in rows}
    grades = {r["subject"]: r["grade"] for r in rows}
    places = leaderboard(standings, limit)
    items = [
        {
            "rank": p.rank,
            "name": p.standing.name,
            "kind": p.standing.kind,
            "subject": p.standing.subject if p.standing.kind == "organisation" else None,
            "score": p.standing.score,
            "grade": grades[p.standing.subject],
            "as_of": as_of[p.standing.subject],
        }
        for p in places
    ]
    if places:
        with one_writer(engine), engine.begin() as connection:
            for p in places:
                returned = {"program": chosen.id, "rank": p.rank, "score": p.standing.score}
                _log_public(connection, p.standing.subject, "leaderboard", endpoint, returned, now)
    return {"program": chosen.id, "kind": kind, "items": items}


def higher_or_lower(
    engine: sa.Engine,
    principal: Principal,
    *,
    other: str,
    program: str,
    guess: Guess,
    endpoint: str = "POST /v1/games/higher-or-lower",
    now: datetime | None = None,
) -> bool:
    """Whether the subject's guess (its score is higher, or lower, than the other's latest
    under `program`) is right. Only that answer leaves: never the other's score or the gap.
    The play is logged in the other's access log."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    chosen = active_program(program)
    try:
        other_id, _ = identify(other)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"other: {exc}") from None
    now = now or utc_now()
    me = principal.subject
    with engine.connect() as connection:
        # No relation, no game: an unknown subject is refused like any stranger, so the game
        # does not tell who is in the store.
        refusal = game_refusal(
            me,
            other_id,
            store.ties_between(connection, me, other_id),
            store.settings_of(connection, me),
            store.settings_of(connection, other_id),
            now,
        )
        if refusal:
            raise NotAllowed(refusal)
        mine = store.latest_snapshot(connection, me, chosen.id)
        theirs = store.latest_snapshot(connection, other_id, chosen.id)
    if mine is None or mine["score"] is None:
        raise InvalidRequest(f"you have no score under {chosen.id} to compare")
    if theirs is None or theirs["score"] is None:
        raise InvalidRequest(f"{other_id} has no score under {chosen.id} to compare")
    correct = guess_correct(mine["score"], theirs["score"], guess)
    with one_writer(engine), engine.begin() as connection:
        access.append_access(
            connection,
            access.read_by(
                principal,
                other_id,
                at=now,
                what="game",
                endpoint=endpoint,
                returned={"program": chosen.id, "guess": guess.value, "correct": correct},
            ),
        )
    return correct
