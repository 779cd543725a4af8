"""Score badges shared by link: a subject shares its band under one program with one named
relying party; only that relying party reads it (the token alone is not enough), every read
goes into the subject's access log, and the subject revokes the link at any time.

A badge holds the program, the band and the day of the score, never the score itself, the
records or the explanation, and not the subject's identifier either: the relying party got the
link from the subject, which is all the binding it needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.identifiers import subject_kind
from socialcredit.domain.principals import NotAllowed, Principal, Role, require_role
from socialcredit.domain.programs import Program
from socialcredit.domain.shares import BadgeRefusal, Share, badge_refusal, band_of
from socialcredit.policy.loader import load_program_text, shipped_programs
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.pages import PageRequest, decode_cursor, next_cursor
from socialcredit.services.principals import new_secret, secret_hash, utc_now
from socialcredit.store import access
from socialcredit.store import sharing as store
from socialcredit.store.writers import one_writer

BADGE_TOKEN_PREFIX = "scb_"
BADGE_PATH = "/v1/badges/"


def active_program(program_id: str, programs: Sequence[Program] | None = None) -> Program:
    """The active program with this id (raises InvalidRequest naming the known ones)."""
    known = list(programs) if programs is not None else [p.program for p in shipped_programs()]
    for program in known:
        if program.id == program_id:
            return program
    names = ", ".join(p.id for p in known)
    raise InvalidRequest(f"unknown program {program_id!r}; programs: {names}")


@lru_cache(maxsize=64)
def _program_of_text(text: str) -> Program:
    return load_program_text(text).program


def snapshot_program(connection: sa.Connection, program_id: str, version: str | None) -> Program:
    """The program as it was at the version a snapshot was computed with (its bands may
    differ from today's); the active one when there is no snapshot or its text is lost."""
    text = None if version is None else store.policy_text(connection, version)
    return active_program(program_id) if text is None else _program_of_text(text)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@dataclass(frozen=True)
class NewShare:
    """A share just made, with its token: the only time the token (and its link) is seen."""

    share: Share
    token: str
    party_name: str

    @property
    def url(self) -> str:
        return BADGE_PATH + self.token


def create_share(
    engine: sa.Engine,
    principal: Principal,
    *,
    program: str,
    relying_party: str,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> NewShare:
    """The subject `principal` shares its badge under `program` with `relying_party` (a
    principal id), until `expires_at` (None: until revoked)."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    now = now or utc_now()
    chosen = active_program(program)
    kind = subject_kind(principal.subject)
    if kind not in chosen.subjects:
        raise InvalidRequest(f"program {chosen.id} does not score a {kind}")
    until = None if expires_at is None else _naive_utc(expires_at)
    if until is not None and until <= now:
        raise InvalidRequest("expires_at must be in the future")
    token = new_secret(BADGE_TOKEN_PREFIX)
    with one_writer(engine), engine.begin() as connection:
        party = access.principal_by_id(connection, relying_party)
        if party is None or party.role is not Role.RELYING_PARTY or not party.active:
            raise InvalidRequest(f"no active relying party with id {relying_party!r}")
        share = Share(
            id="sh_" + secrets.token_hex(8),
            subject=principal.subject,
            program=chosen.id,
            relying_party=party.id,
            created_at=now,
            expires_at=until,
        )
        store.add_share(connection, share, secret_hash(token))
    return NewShare(share, token, party.name)


def share_json(share: Share, now: datetime, party_name: str | None = None) -> dict[str, Any]:
    """A share as the API and the CLI show it (never its token)."""
    return {
        "id": share.id,
        "subject": share.subject,
        "program": share.program,
        "relying_party": share.relying_party,
        "relying_party_name": party_name,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "revoked_at": share.revoked_at,
        "status": share.status(now),
    }


def shares_of(
    engine: sa.Engine, subject: str, page: PageRequest, now: datetime | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A subject's shares in id order, with each relying party's name."""
    now = now or utc_now()
    after = decode_cursor("shares", page.cursor)
    with engine.connect() as connection:
        rows = store.list_shares(
            connection, subject, None if after is None else str(after), page.limit + 1
        )
        cursor = next_cursor("shares", rows, page.limit, "id")
        names: dict[str, str | None] = {}
        for share in rows:
            if share.relying_party not in names:
                party = access.principal_by_id(connection, share.relying_party)
                names[share.relying_party] = None if party is None else party.name
    return [share_json(s, now, names[s.relying_party]) for s in rows], cursor


def list_shares(
    engine: sa.Engine, principal: Principal, page: PageRequest
) -> tuple[list[dict[str, Any]], str | None]:
    """The subject's own shares."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    return shares_of(engine, principal.subject, page)


def revoke_share(
    engine: sa.Engine, share_id: str, *, owner: str | None, now: datetime | None = None
) -> Share:
    """Revoke a share at once (`owner`: the subject that must own it; None for an operator).
    Revoking twice changes nothing."""
    with one_writer(engine), engine.begin() as connection:
        share = store.share_by_id(connection, share_id)
        # Another subject's share is answered as one that does not exist.
        if share is None or (owner is not None and share.subject != owner):
            raise NotFound(f"no share {share_id}")
        store.revoke_share(connection, share_id, now or utc_now())
        found = store.share_by_id(connection, share_id)
    assert found is not None
    return found


def revoke_own_share(
    engine: sa.Engine, principal: Principal, share_id: str, now: datetime | None = None
) -> Share:
    """The subject `principal` revokes one of its shares."""
    require_role(principal, Role.SUBJECT)
    return revoke_share(engine, share_id, owner=principal.subject, now=now)


def read_badge(
    engine: sa.Engine,
    principal: Principal,
    token: str,
    *,
    endpoint: str = "GET /v1/badges/{token}",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The badge behind a link, for the relying party it was shared with; the read is logged
    (and committed) in the subject's access log before it is returned."""
    now = now or utc_now()
    with engine.connect() as connection:
        share = store.share_by_token_hash(connection, secret_hash(token))
        refusal = badge_refusal(share, principal, now)
        if refusal is not None:
            kind, why = refusal
            raise NotAllowed(why) if kind is BadgeRefusal.FORBIDDEN else NotFound(why)
        assert share is not None
        snapshot = store.latest_snapshot(connection, share.subject, share.program)
        version = None if snapshot is None else snapshot["policy_version"]
        program = snapshot_program(connection, share.program, version)
    band = None if snapshot is None else band_of(program, snapshot["grade"])
    badge = {
        "program": program.id,
        "program_name": program.name,
        "status": "not_scored" if snapshot is None else snapshot["status"],
        "band": None if band is None else band.grade,
        "band_low": None if band is None else band.low,
        "band_high": None if band is None else band.high,
        "as_of": None if snapshot is None else snapshot["as_of"].date().isoformat(),
        "shared_at": share.created_at,
    }
    with one_writer(engine), engine.begin() as connection:
        access.append_access(
            connection,
            access.read_by(
                principal,
                share.subject,
                at=now,
                what="badge",
                endpoint=endpoint,
                returned={
                    "share": share.id,
                    "program": badge["program"],
                    "band": badge["band"],
                    "as_of": badge["as_of"],
                },
            ),
        )
    return badge
