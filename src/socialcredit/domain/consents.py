"""Consent: a subject lets one relying party read parts of its file, for one declared purpose,
until an expiry. Nothing a relying party reads is served without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Purpose(StrEnum):
    """Why a relying party reads a subject's file; a consent names exactly one."""

    CREDIT_APPLICATION = "credit_application"
    TENANCY = "tenancy"
    EMPLOYMENT = "employment"
    INSURANCE = "insurance"
    TRAVEL_BOOKING = "travel_booking"
    MATCHMAKING = "matchmaking"
    DEPOSIT_WAIVER = "deposit_waiver"
    ACCOUNT_OPENING = "account_opening"
    PURCHASE = "purchase"
    LEISURE = "leisure"
    EDUCATION = "education"
    COMPANY_REGISTRATION = "company_registration"
    PUBLIC_SERVICE = "public_service"


PURPOSES = tuple(p.value for p in Purpose)


class Scope(StrEnum):
    """A part of a subject's file that a consent may open."""

    SCORES = "scores"
    HISTORY = "history"
    RECORDS = "records"
    RELATIONS = "relations"
    LISTS = "lists"
    DECISIONS = "decisions"  # ask for decisions on services; not a part of the file to read


SCOPES = tuple(s.value for s in Scope)


class ConsentRefused(PermissionError):
    """A relying party's read without a valid consent; the message says which check failed."""


@dataclass(frozen=True)
class Consent:
    """A grant by a subject to a relying party. Its token is never kept, only the hash."""

    id: str
    subject: str
    relying_party: str
    purpose: Purpose
    scopes: tuple[Scope, ...]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"


def consent_refusal(
    consent: Consent | None,
    *,
    relying_party: str,
    subject: str,
    purpose: str | None,
    scope: str,
    now: datetime,
) -> str | None:
    """Why `consent` does not let this relying party read `scope` of `subject` for `purpose`
    at `now`, or None when it does. Each failed check has its own reason."""
    if purpose is None:
        return f"declare a purpose (?purpose=...), one of: {', '.join(PURPOSES)}"
    if consent is None:
        return "no valid consent token: send the subject's consent token in the X-Consent header"
    if consent.relying_party != relying_party:
        return "this consent was granted to another relying party"
    if consent.subject != subject:
        return "this consent is for another subject"
    if consent.revoked_at is not None:
        return f"this consent was revoked at {consent.revoked_at.isoformat()}Z"
    if consent.expires_at <= now:
        return f"this consent expired at {consent.expires_at.isoformat()}Z"
    if consent.purpose != purpose:
        return f"this consent is for the purpose {consent.purpose.value}, not {purpose}"
    if scope not in consent.scopes:
        granted = ", ".join(s.value for s in consent.scopes)
        return f"this consent does not cover {scope} (it covers: {granted})"
    return None
