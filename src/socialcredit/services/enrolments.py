"""How a subject gets a key: an admin issues an enrolment code (single use, expiring, only its
hash stored) and the subject redeems it for a key of its own; a subject with a key may make
more. Nobody else can make a key that reads as a subject, and every issuance is written to the
subject's access log, naming who did it, and told to the subject in a notice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.principals import Enrolment, NotAllowed, Principal, Role, require_role
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.notices import add_notice
from socialcredit.services.principals import (
    NewPrincipal,
    new_principal_id,
    new_secret,
    principal_name,
    secret_hash,
    store_with_key,
    subject_id,
    utc_now,
)
from socialcredit.store import access
from socialcredit.store.writers import one_writer

CODE_PREFIX = "sce_"
DEFAULT_HOURS = 72
MAX_HOURS = 720
REFUSED = "no such enrolment code, or it was used or has expired: ask for a new one"


class CodeRefused(NotFound):
    """The enrolment code is unknown, used or expired (which one is not said)."""


@dataclass(frozen=True)
class NewEnrolment:
    """An enrolment just issued, with its code: the only time the code is seen."""

    enrolment: Enrolment
    code: str


def operator(now: datetime | None = None) -> Principal:
    """The admin at the command line, as the access log names it."""
    return Principal(
        id="operator",
        role=Role.ADMIN,
        name="operator at the command line",
        created_at=now or utc_now(),
    )


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def _log(
    connection: sa.Connection,
    who: Principal,
    subject: str,
    what: str,
    at: datetime,
    endpoint: str,
    returned: dict[str, Any],
) -> None:
    """Append what `who` did to `subject`'s access log."""
    entry = access.read_by(who, subject, at=at, what=what, endpoint=endpoint, returned=returned)
    access.append_access(connection, entry)


def issue_enrolment(
    engine: sa.Engine,
    issuer: Principal,
    subject: str,
    name: str,
    *,
    hours: int = DEFAULT_HOURS,
    endpoint: str = "POST /v1/enrolments",
    now: datetime | None = None,
) -> NewEnrolment:
    """An admin issues a code that `subject` redeems for a key named `name`, within `hours`."""
    require_role(issuer, Role.ADMIN)
    bound, name = subject_id(subject), principal_name(name)
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidRequest(f"an enrolment code lasts 1 to {MAX_HOURS} hours, not {hours}")
    now = now or utc_now()
    code = new_secret(CODE_PREFIX)
    enrolment = Enrolment(
        id="en_" + secrets.token_hex(8),
        subject=bound,
        name=name,
        issued_by=issuer.id,
        issued_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    until = _stamp(enrolment.expires_at)
    with one_writer(engine), engine.begin() as connection:
        access.add_enrolment(connection, enrolment, secret_hash(code))
        returned = {"enrolment": enrolment.id, "expires_at": until}
        _log(connection, issuer, bound, "enrolment-code", now, endpoint, returned)
        add_notice(
            connection,
            bound,
            "key.enrolment",
            f"{issuer.name} ({issuer.role.value} {issuer.id}) issued an enrolment code for a key "
            f"to your file, valid until {until}. Whoever redeems it reads your file as you: if "
            "you did not ask for it, have the key it made revoked.",
            {"enrolment": enrolment.id, "issued_by": issuer.id},
            now,
        )
    return NewEnrolment(enrolment, code)


def _claim(
    connection: sa.Connection, code: str, holder: Principal | None, now: datetime
) -> tuple[Enrolment, Principal]:
    found = access.enrolment_by_code_hash(connection, secret_hash(code))
    if found is None or not found.open_at(now):
        raise CodeRefused(REFUSED)
    if holder is not None and holder.subject != found.subject:
        raise NotAllowed("this enrolment code is for another subject")
    principal = Principal(
        id=new_principal_id(),
        role=Role.SUBJECT,
        name=found.name,
        created_at=now,
        subject=found.subject,
    )
    if not access.redeem_enrolment(connection, found.id, principal.id, now):
        raise CodeRefused(REFUSED)  # redeemed by another call a moment ago
    return found, principal


def redeem_enrolment(
    engine: sa.Engine,
    code: str,
    holder: Principal | None = None,
    *,
    endpoint: str = "POST /v1/enrolments/{code}",
    now: datetime | None = None,
) -> NewPrincipal:
    """The subject redeems its code for a key (with no key yet, or with one of its own);
    raises CodeRefused for a code unknown, used or expired."""
    if holder is not None:
        require_role(holder, Role.SUBJECT)
    if not code.startswith(CODE_PREFIX):
        raise CodeRefused(REFUSED)
    now = now or utc_now()
    with one_writer(engine), engine.begin() as connection:
        enrolment, principal = _claim(connection, code, holder, now)
        key = store_with_key(connection, principal)
        how = f"with the enrolment code {enrolment.id} that {enrolment.issued_by} issued"
        refs = {"enrolment": enrolment.id, "issued_by": enrolment.issued_by}
        _issued(connection, holder or principal, principal, now, endpoint, how, refs)
    return NewPrincipal(principal, key)


def mint_key(
    engine: sa.Engine,
    holder: Principal,
    name: str | None = None,
    *,
    endpoint: str = "POST /v1/me/keys",
    now: datetime | None = None,
) -> NewPrincipal:
    """A subject makes another key to its own file with the key it holds."""
    require_role(holder, Role.SUBJECT)
    assert holder.subject is not None
    now = now or utc_now()
    principal = Principal(
        id=new_principal_id(),
        role=Role.SUBJECT,
        name=holder.name if name is None else principal_name(name),
        created_at=now,
        subject=holder.subject,
    )
    with one_writer(engine), engine.begin() as connection:
        key = store_with_key(connection, principal)
        how = f"with your key {holder.id}"
        _issued(connection, holder, principal, now, endpoint, how, {"made_with": holder.id})
    return NewPrincipal(principal, key)


def _issued(
    connection: sa.Connection,
    who: Principal,
    made: Principal,
    now: datetime,
    endpoint: str,
    how: str,
    refs: dict[str, Any],
) -> None:
    """Log the new key `made` in its subject's access log (done by `who`) and tell the subject."""
    assert made.subject is not None
    returned = {"principal": made.id, **refs}
    _log(connection, who, made.subject, "key-issued", now, endpoint, returned)
    add_notice(
        connection,
        made.subject,
        "key.issued",
        f"A new key to your file, {made.id} ({made.name}), was made {how}. If it was not you, "
        "have it revoked.",
        returned,
        now,
    )
