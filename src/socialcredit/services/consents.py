"""Consents: a subject grants a relying party access to parts of its file for one purpose until
an expiry, and may revoke it. The token is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from socialcredit.domain.consents import (
    PURPOSES,
    SCOPES,
    Consent,
    ConsentRefused,
    Purpose,
    Scope,
    consent_refusal,
)
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.pages import PageRequest, decode_cursor, next_cursor
from socialcredit.services.principals import TOKEN_PREFIX, new_secret, secret_hash, utc_now
from socialcredit.store import access


@dataclass(frozen=True)
class NewConsent:
    """A consent just granted, with its token: the only time the token is seen."""

    consent: Consent
    token: str


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def grant_consent(
    engine: sa.Engine,
    principal: Principal,
    *,
    relying_party: str,
    purpose: str,
    scopes: Sequence[str],
    expires_at: datetime,
    now: datetime | None = None,
) -> NewConsent:
    """The subject `principal` lets `relying_party` (a principal id) read `scopes` of its file
    for `purpose` until `expires_at` (naive times are UTC)."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    now = now or utc_now()
    try:
        chosen = Purpose(purpose)
    except ValueError:
        raise InvalidRequest(
            f"unknown purpose {purpose!r}; purposes: {', '.join(PURPOSES)}"
        ) from None
    parts: list[Scope] = []
    for scope in scopes:
        try:
            part = Scope(scope)
        except ValueError:
            raise InvalidRequest(f"unknown scope {scope!r}; scopes: {', '.join(SCOPES)}") from None
        if part not in parts:
            parts.append(part)
    if not parts:
        raise InvalidRequest(f"a consent needs at least one scope of: {', '.join(SCOPES)}")
    until = _naive_utc(expires_at)
    if until <= now:
        raise InvalidRequest("expires_at must be in the future")
    token = new_secret(TOKEN_PREFIX)
    with engine.begin() as connection:
        party = access.principal_by_id(connection, relying_party)
        if party is None or party.role is not Role.RELYING_PARTY or not party.active:
            raise InvalidRequest(f"no active relying party with id {relying_party!r}")
        consent = Consent(
            id="c_" + secrets.token_hex(8),
            subject=principal.subject,
            relying_party=party.id,
            purpose=chosen,
            scopes=tuple(sorted(parts, key=SCOPES.index)),
            granted_at=now,
            expires_at=until,
        )
        access.add_consent(connection, consent, secret_hash(token))
    return NewConsent(consent, token)


def revoke_consent(
    engine: sa.Engine, principal: Principal, consent_id: str, now: datetime | None = None
) -> Consent:
    """The subject revokes one of its consents; the token stops working at once. Revoking
    twice changes nothing."""
    require_role(principal, Role.SUBJECT)
    with engine.begin() as connection:
        consent = access.consent_by_id(connection, consent_id)
        # Another subject's consent is answered as one that does not exist.
        if consent is None or consent.subject != principal.subject:
            raise NotFound(f"no consent {consent_id}")
        access.revoke_consent(connection, consent_id, now or utc_now())
        found = access.consent_by_id(connection, consent_id)
    assert found is not None
    return found


def list_consents(
    engine: sa.Engine, principal: Principal, page: PageRequest
) -> tuple[list[Consent], str | None]:
    """A subject's own consents, or those granted to a relying party, in id order."""
    require_role(principal, Role.SUBJECT, Role.RELYING_PARTY)
    after = decode_cursor("consents", page.cursor)
    after_id = None if after is None else str(after)
    with engine.connect() as connection:
        if principal.role is Role.SUBJECT:
            rows = access.list_consents(
                connection, subject=principal.subject, after=after_id, limit=page.limit + 1
            )
        else:
            rows = access.list_consents(
                connection, relying_party=principal.id, after=after_id, limit=page.limit + 1
            )
    return rows, next_cursor("consents", rows, page.limit, "id")


def check_consent(
    connection: sa.Connection,
    principal: Principal,
    token: str | None,
    *,
    subject: str,
    purpose: str | None,
    scope: str,
    now: datetime,
) -> Consent:
    """The consent that lets this relying party read `scope` of `subject` for `purpose`;
    raises ConsentRefused with the reason otherwise."""
    consent = None
    if token:
        consent = access.consent_by_token_hash(connection, secret_hash(token))
    refusal = consent_refusal(
        consent,
        relying_party=principal.id,
        subject=subject,
        purpose=purpose,
        scope=scope,
        now=now,
    )
    if refusal is not None:
        raise ConsentRefused(refusal)
    assert consent is not None
    return consent
