"""Principals, consents and the access log: the service's own tables.

Keys and consent tokens are looked up by their SHA-256 only. The access log is append-only
(triggers refuse UPDATE and DELETE); principals and consents are revoked, never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.consents import Consent, Purpose, Scope
from socialcredit.domain.principals import Enrolment, Principal, Role
from socialcredit.store import tables


def _principal(row: sa.Row[Any]) -> Principal:
    return Principal(
        id=row.id,
        role=Role(row.role),
        name=row.name,
        created_at=row.created_at,
        subject=row.subject,
        furnisher=row.furnisher,
        kinds=tuple(row.kinds.split(",")) if row.kinds else (),
        revoked_at=row.revoked_at,
    )


def add_principal(connection: sa.Connection, principal: Principal, key_hash: str) -> None:
    """Store a new principal with the hash of its key."""
    connection.execute(
        tables.principals.insert().values(
            id=principal.id,
            role=principal.role.value,
            name=principal.name,
            subject=principal.subject,
            furnisher=principal.furnisher,
            kinds=",".join(principal.kinds) or None,
            key_hash=key_hash,
            created_at=principal.created_at,
            revoked_at=None,
        )
    )


# Statements on the hot path of every request, built once (SQLAlchemy then reuses their
# compiled form instead of rebuilding and re-keying them per call).
_PRINCIPAL_BY_KEY = sa.select(tables.principals).where(
    tables.principals.c.key_hash == sa.bindparam("key_hash")
)
_CONSENT_BY_TOKEN = sa.select(tables.consents).where(
    tables.consents.c.token_hash == sa.bindparam("token_hash")
)
_APPEND_ACCESS = tables.access_log.insert()


def principal_by_key_hash(connection: sa.Connection, key_hash: str) -> Principal | None:
    """The principal holding the key with this hash, revoked or not, or None."""
    row = connection.execute(_PRINCIPAL_BY_KEY, {"key_hash": key_hash}).first()
    return None if row is None else _principal(row)


def principal_by_id(connection: sa.Connection, principal_id: str) -> Principal | None:
    """The principal with this id, or None."""
    p = tables.principals
    row = connection.execute(sa.select(p).where(p.c.id == principal_id)).first()
    return None if row is None else _principal(row)


def list_principals(connection: sa.Connection, after: str | None, limit: int) -> list[Principal]:
    """Principals in id order, after the id `after`."""
    p = tables.principals
    query = sa.select(p).order_by(p.c.id).limit(limit)
    if after is not None:
        query = query.where(p.c.id > after)
    return [_principal(row) for row in connection.execute(query)]


def revoke_principal(connection: sa.Connection, principal_id: str, at: datetime) -> None:
    """Mark a principal revoked at `at` (kept once set)."""
    p = tables.principals
    connection.execute(
        p.update().where(p.c.id == principal_id, p.c.revoked_at.is_(None)).values(revoked_at=at)
    )


def _enrolment(row: sa.Row[Any]) -> Enrolment:
    return Enrolment(
        id=row.id,
        subject=row.subject,
        name=row.name,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        redeemed_at=row.redeemed_at,
        redeemed_by=row.redeemed_by,
    )


def add_enrolment(connection: sa.Connection, enrolment: Enrolment, code_hash: str) -> None:
    """Store a new enrolment with the hash of its code."""
    connection.execute(
        tables.enrolments.insert().values(
            id=enrolment.id,
            subject=enrolment.subject,
            name=enrolment.name,
            code_hash=code_hash,
            issued_by=enrolment.issued_by,
            issued_at=enrolment.issued_at,
            expires_at=enrolment.expires_at,
        )
    )


def enrolment_by_code_hash(connection: sa.Connection, code_hash: str) -> Enrolment | None:
    """The enrolment whose code has this hash, used or not, or None."""
    e = tables.enrolments
    row = connection.execute(sa.select(e).where(e.c.code_hash == code_hash)).first()
    return None if row is None else _enrolment(row)


def redeem_enrolment(
    connection: sa.Connection, enrolment_id: str, principal_id: str, at: datetime
) -> bool:
    """Mark an open enrolment redeemed at `at` by the principal it made; False (and nothing
    changed) when it was redeemed already or has expired."""
    e = tables.enrolments
    done = connection.execute(
        e.update()
        .where(e.c.id == enrolment_id, e.c.redeemed_at.is_(None), e.c.expires_at > at)
        .values(redeemed_at=at, redeemed_by=principal_id)
    )
    return done.rowcount == 1


def _consent(row: sa.Row[Any]) -> Consent:
    return Consent(
        id=row.id,
        subject=row.subject,
        relying_party=row.relying_party,
        purpose=Purpose(row.purpose),
        scopes=tuple(Scope(s) for s in row.scopes.split(",")),
        granted_at=row.granted_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def add_consent(connection: sa.Connection, consent: Consent, token_hash: str) -> None:
    """Store a consent with the hash of its token."""
    connection.execute(
        tables.consents.insert().values(
            id=consent.id,
            subject=consent.subject,
            relying_party=consent.relying_party,
            purpose=consent.purpose.value,
            scopes=",".join(s.value for s in consent.scopes),
            token_hash=token_hash,
            granted_at=consent.granted_at,
            expires_at=consent.expires_at,
            revoked_at=None,
        )
    )


def consent_by_token_hash(connection: sa.Connection, token_hash: str) -> Consent | None:
    """The consent whose token has this hash, or None."""
    row = connection.execute(_CONSENT_BY_TOKEN, {"token_hash": token_hash}).first()
    return None if row is None else _consent(row)


def consent_by_id(connection: sa.Connection, consent_id: str) -> Consent | None:
    """The consent with this id, or None."""
    c = tables.consents
    row = connection.execute(sa.select(c).where(c.c.id == consent_id)).first()
    return None if row is None else _consent(row)


def list_consents(
    connection: sa.Connection,
    *,
    subject: str | None = None,
    relying_party: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Consent]:
    """Consents of a subject or to a relying party, in id order, after the id `after`."""
    c = tables.consents
    query = sa.select(c).order_by(c.c.id).limit(limit)
    if subject is not None:
        query = query.where(c.c.subject == subject)
    if relying_party is not None:
        query = query.where(c.c.relying_party == relying_party)
    if after is not None:
        query = query.where(c.c.id > after)
    return [_consent(row) for row in connection.execute(query)]


def revoke_consent(connection: sa.Connection, consent_id: str, at: datetime) -> None:
    """Mark a consent revoked at `at` (kept once set)."""
    c = tables.consents
    connection.execute(
        c.update().where(c.c.id == consent_id, c.c.revoked_at.is_(None)).values(revoked_at=at)
    )


def read_by(
    principal: Principal,
    subject: str,
    *,
    at: datetime,
    what: str,
    endpoint: str,
    returned: Mapping[str, Any],
    purpose: str | None = None,
    consent: str | None = None,
) -> dict[str, Any]:
    """The access-log entry for one read of `subject`'s file by `principal`."""
    return {
        "at": at,
        "subject": subject,
        "principal": principal.id,
        "principal_name": principal.name,
        "role": principal.role.value,
        "purpose": purpose,
        "what": what,
        "endpoint": endpoint,
        "consent": consent,
        "returned": returned,
    }


def append_access(connection: sa.Connection, entry: Mapping[str, Any]) -> None:
    """Append one entry to the access log (`returned` is a JSON-able summary)."""
    values = dict(entry)
    values["returned"] = json.dumps(values["returned"], sort_keys=True, separators=(",", ":"))
    connection.execute(_APPEND_ACCESS, values)


def append_accesses(connection: sa.Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append many entries to the access log in one statement."""
    rows = []
    for entry in entries:
        values = dict(entry)
        values["returned"] = json.dumps(values["returned"], sort_keys=True, separators=(",", ":"))
        rows.append(values)
    if rows:
        connection.execute(_APPEND_ACCESS, rows)


def access_entries(
    connection: sa.Connection, subject: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """A subject's access log, newest first, entries older than the id `before`."""
    log = tables.access_log
    query = sa.select(log).where(log.c.subject == subject).order_by(log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(log.c.id < before)
    out = []
    for row in connection.execute(query):
        entry = dict(row._mapping)
        entry["returned"] = json.loads(entry["returned"])
        out.append(entry)
    return out
