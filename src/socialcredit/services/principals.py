"""Principals of the HTTP service: create one (its key is shown once), authenticate a key,
list and revoke. Keys are random; only their SHA-256 is stored. A subject's key is never made
here: the subject claims it (services/enrolments.py)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import ROLES, NotAllowed, Principal, Role
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.pages import PageRequest, decode_cursor, next_cursor
from socialcredit.store import access
from socialcredit.store.ledger import furnisher_types

KEY_PREFIX = "sck_"
TOKEN_PREFIX = "scc_"


def utc_now() -> datetime:
    """The current time as naive UTC, as the store keeps times."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_secret(prefix: str) -> str:
    """A random secret (256 bits), with a prefix that tells what it is."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """How a key or token is stored and looked up: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def new_principal_id() -> str:
    """A fresh principal id."""
    return _new_id("p_")


def store_with_key(connection: sa.Connection, principal: Principal) -> str:
    """Store `principal` with a new key, in the caller's transaction; returns the key."""
    key = new_secret(KEY_PREFIX)
    access.add_principal(connection, principal, secret_hash(key))
    return key


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidRequest(f"unknown role {value!r}; roles: {', '.join(ROLES)}") from None


def _kinds(
    kinds: Sequence[str], furnisher: str, ftype: str, catalogue: Catalogue
) -> tuple[str, ...]:
    chosen: list[str] = []
    for kind in kinds:
        kind = kind.strip()
        if not kind:
            continue
        refusal = catalogue.may_send(ftype, kind)
        if refusal:
            raise InvalidRequest(f"--kinds: {refusal} (furnisher {furnisher} is a {ftype})")
        if kind not in chosen:
            chosen.append(kind)
    return tuple(chosen)


def principal_name(name: str | None) -> str:
    """A principal's name, stripped (raises InvalidRequest unless 1 to 200 characters)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidRequest("a principal needs a name of 1 to 200 characters")
    return name


def subject_id(subject: str | None) -> str:
    """The subject a key is for, checked (raises InvalidRequest naming what is wrong)."""
    if not subject:
        raise InvalidRequest("a subject principal needs --subject: its resident ID or USCC")
    try:
        return identify(subject)[0]
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"--subject: {exc}") from None


@dataclass(frozen=True)
class NewPrincipal:
    """A principal just created, with its key: the only time the key is seen."""

    principal: Principal
    key: str


def create_principal(
    engine: sa.Engine,
    role: str,
    name: str,
    *,
    subject: str | None = None,
    kinds: Sequence[str] | None = None,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> NewPrincipal:
    """Create a principal and its key (raises InvalidRequest naming what is wrong).

    Not for subjects (NotAllowed): a subject claims its own key with an enrolment code, so
    whoever reads as a subject is the subject. A `furnisher` principal's name is the id of a
    registered furnisher; `kinds` narrows the record kinds it may send (a subset of what its
    furnisher's type may send; default all of them).
    """
    chosen = _role(role)
    if chosen is Role.SUBJECT:
        raise NotAllowed(
            "a subject's key is claimed by the subject: issue an enrolment code (POST "
            "/v1/enrolments, or socialcredit principal add --role subject) for it to redeem"
        )
    name = principal_name(name)
    furnisher: str | None = None
    allowed: tuple[str, ...] = ()
    if subject:
        raise InvalidRequest("--subject is only for principals with the role subject")
    if kinds and chosen is not Role.FURNISHER:
        raise InvalidRequest("--kinds is only for principals with the role furnisher")
    with engine.begin() as connection:
        if chosen is Role.FURNISHER:
            ftype = furnisher_types(connection).get(name)
            if ftype is None:
                raise InvalidRequest(
                    f"no registered furnisher {name!r}: a furnisher principal's name is the id "
                    "of a registered furnisher (socialcredit furnisher add ID --type TYPE)"
                )
            furnisher = name
            allowed = _kinds(kinds or (), name, ftype, catalogue or shipped_catalogue())
        principal = Principal(
            id=new_principal_id(),
            role=chosen,
            name=name,
            created_at=now or utc_now(),
            furnisher=furnisher,
            kinds=allowed,
        )
        key = store_with_key(connection, principal)
    return NewPrincipal(principal, key)


def authenticate(engine: sa.Engine, key: str) -> Principal | None:
    """The active principal holding `key`, or None (unknown or revoked)."""
    if not key.startswith(KEY_PREFIX):
        return None
    with engine.connect() as connection:
        principal = access.principal_by_key_hash(connection, secret_hash(key))
    if principal is None or not principal.active:
        return None
    return principal


def list_principals(engine: sa.Engine, page: PageRequest) -> tuple[list[Principal], str | None]:
    """A page of principals in id order, and the cursor to the next page."""
    after = decode_cursor("principals", page.cursor)
    with engine.connect() as connection:
        rows = access.list_principals(
            connection, None if after is None else str(after), page.limit + 1
        )
    return rows, next_cursor("principals", rows, page.limit, "id")


def revoke_principal(
    engine: sa.Engine, principal_id: str, now: datetime | None = None
) -> Principal:
    """Revoke a principal: its key stops working at once. Revoking twice changes nothing."""
    with engine.begin() as connection:
        if access.principal_by_id(connection, principal_id) is None:
            raise NotFound(f"no principal {principal_id}")
        access.revoke_principal(connection, principal_id, now or utc_now())
        found = access.principal_by_id(connection, principal_id)
    assert found is not None
    return found
