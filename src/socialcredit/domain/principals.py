"""Who may call the service: principals, their roles, and what each role may read or send.

Plain rules, no I/O: the service layer asks them and acts on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from socialcredit.domain.consents import Scope


class Role(StrEnum):
    """What a principal is, which decides what it may do."""

    FURNISHER = "furnisher"
    SUBJECT = "subject"
    RELYING_PARTY = "relying_party"
    ADJUDICATOR = "adjudicator"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)


class NotAllowed(PermissionError):
    """The principal may not do this; the message says why."""


@dataclass(frozen=True)
class Principal:
    """A caller of the service. Its key is never kept, only the key's hash."""

    id: str
    role: Role
    name: str
    created_at: datetime
    subject: str | None = None  # the subject a `subject` principal is bound to
    furnisher: str | None = None  # the furnisher a `furnisher` principal sends for
    kinds: tuple[str, ...] = field(default=())  # record kinds a furnisher key may send
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Enrolment:
    """A code an admin issued so that a subject can claim a key of its own; only the code's
    hash is kept. It works once, before it expires."""

    id: str
    subject: str
    name: str  # the name the key will carry
    issued_by: str  # the principal that issued it
    issued_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None = None
    redeemed_by: str | None = None  # the principal its key belongs to

    def open_at(self, now: datetime) -> bool:
        """Whether the code may still be redeemed at `now`."""
        return self.redeemed_at is None and now < self.expires_at


# Parts of a subject's file that a relying party may be let read, and the one it never may.
SUBJECT_PARTS: tuple[str, ...] = (
    *(s.value for s in Scope if s is not Scope.DECISIONS),
    "access-log",
)


def reading_refusal(principal: Principal, subject: str, part: str) -> str | None:
    """Why `principal` may not read `part` of `subject`'s file, or None when its role may
    (a relying party still needs the subject's consent, checked separately)."""
    if principal.role is Role.SUBJECT:
        if principal.subject != subject:
            return "a subject may read only its own file"
        return None
    if principal.role is Role.RELYING_PARTY:
        if part == "access-log":
            return "only the subject may read its access log"
        return None
    return f"a principal with role {principal.role.value} may not read subjects' files"


def require_role(principal: Principal, *roles: Role) -> None:
    """Raise NotAllowed unless the principal holds one of `roles`."""
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise NotAllowed(f"this needs the role {allowed}; this key has {principal.role.value}")


def kind_refusal(principal: Principal, kind: object) -> str | None:
    """Why a furnisher principal may not send a record of `kind`, or None."""
    if principal.kinds and isinstance(kind, str) and kind not in principal.kinds:
        allowed = ", ".join(principal.kinds)
        return f"this key may not send kind {kind!r}; it may send: {allowed}"
    return None
