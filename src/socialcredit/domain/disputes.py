"""Disputes (objections) of records and human reviews of adverse decisions: the plain rules.

A subject disputes one of its own records; the record is flagged at once and its furnisher has
until the deadline to verify it with evidence or retract it. What is not verified in time is
withdrawn. An adjudicator may decide any open dispute. A record withdrawn after a dispute goes
back only with the furnisher's certification. A subject may ask for a human review of any
adverse decision about it. No I/O here: the service layer asks these rules and acts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.principals import Principal, Role

DEADLINE_DAYS = 20
"""Days a furnisher has to verify a disputed record (China's credit reporting regulation)."""

STATEMENT_MAX_WORDS = 100
"""Words a subject's statement may hold."""

STATEMENT_MAX_CHARS = 2_000
REASON_MAX_CHARS = 2_000
EVIDENCE_MAX_CHARS = 500  # the ledger's evidence column


class Status(StrEnum):
    """Where a dispute or a review stands."""

    OPEN = "open"
    CLOSED = "closed"


class Outcome(StrEnum):
    """How a dispute ended."""

    VERIFIED = "verified"  # the furnisher verified the record with evidence: it stands
    RETRACTED = "retracted"  # the furnisher withdrew it
    NOT_VERIFIED = "not_verified"  # not verified by the deadline: withdrawn automatically
    UPHELD = "upheld"  # an adjudicator let the record stand
    OVERTURNED = "overturned"  # an adjudicator withdrew it


WITHDRAWING = frozenset({Outcome.RETRACTED, Outcome.NOT_VERIFIED, Outcome.OVERTURNED})
"""Outcomes that withdraw the record (a retraction record is appended)."""

ADJUDICATOR_OUTCOMES = (Outcome.UPHELD, Outcome.OVERTURNED)


class ReviewOutcome(StrEnum):
    """How a human review of a decision ended."""

    CONFIRMED = "confirmed"
    OVERRIDDEN = "overridden"


DECISIONS = ("allow", "deny", "allow_with_conditions")
ADVERSE_DECISIONS = frozenset({"deny", "allow_with_conditions"})


@dataclass(frozen=True)
class DisputeRules:
    """The settings of the dispute procedure (policy/data/disputes.toml)."""

    deadline_days: int = DEADLINE_DAYS
    statement_max_words: int = STATEMENT_MAX_WORDS

    def __post_init__(self) -> None:
        if not 1 <= self.deadline_days <= 365:
            raise ValueError(f"deadline_days must be from 1 to 365, got {self.deadline_days}")
        if not 1 <= self.statement_max_words <= 1_000:
            raise ValueError(
                f"statement_max_words must be from 1 to 1000, got {self.statement_max_words}"
            )


@dataclass(frozen=True)
class Dispute:
    """One dispute of one record, as it stands."""

    id: int
    record: int
    furnisher: str
    external_id: str
    subject: str
    kind: str
    occurred_at: datetime
    reason: str
    evidence: str | None
    statement: str | None
    opened_at: datetime
    opened_by: str
    deadline: datetime
    status: Status
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    closing_reason: str | None = None
    closing_evidence: str | None = None
    retraction: str | None = None
    reinserted: int | None = None

    @property
    def withdrawn(self) -> bool:
        """The record was withdrawn as the dispute's outcome."""
        return self.outcome in WITHDRAWING


# ---------------------------------------------------------------------------- texts

# One word: a run of non-space characters, except that each CJK ideograph counts as a word
# (Chinese is written without spaces and counted by characters).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def word_count(text: str) -> int:
    """How many words `text` holds (each CJK ideograph counting as one)."""
    return len(_WORD.findall(text))


def clean_text(value: str | None) -> str | None:
    """Text with surrounding white space removed; None when nothing is left."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def statement_refusal(statement: str | None, rules: DisputeRules) -> str | None:
    """Why a subject's statement cannot be attached, or None."""
    if statement is None:
        return None
    words = word_count(statement)
    if words > rules.statement_max_words:
        return f"the statement has {words} words; it may have at most {rules.statement_max_words}"
    return text_refusal("the statement", statement, STATEMENT_MAX_CHARS, required=False)


def text_refusal(name: str, value: str | None, limit: int, required: bool) -> str | None:
    """Why a free-text field cannot be taken (missing when required, too long, or holding a
    NUL character, which no database stores in text), or None."""
    if value is None:
        return f"{name} is required" if required else None
    if len(value) > limit:
        return f"{name} has {len(value)} characters; at most {limit}"
    if "\x00" in value:
        return f"{name} must not contain NUL characters"
    return None


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def valid_id(value: int, largest: int = INT32_MAX) -> bool:
    """An id the store can hold (ids outside this range name nothing)."""
    return 1 <= value <= largest


# ---------------------------------------------------------------------------- the deadline


def deadline(opened_at: datetime, rules: DisputeRules) -> datetime:
    """When the furnisher's time to verify a record disputed at `opened_at` runs out."""
    return opened_at + timedelta(days=rules.deadline_days)


def is_overdue(dispute: Dispute, now: datetime) -> bool:
    """The dispute is open and its furnisher's time has run out."""
    return dispute.status is Status.OPEN and now > dispute.deadline


# ---------------------------------------------------------------------------- who may act


def opening_refusal(principal: Principal, record_subject: str) -> str | None:
    """Why `principal` may not dispute a record of `record_subject`, or None."""
    if principal.role is not Role.SUBJECT:
        return f"only a subject disputes its records; this key has {principal.role.value}"
    if principal.subject != record_subject:
        return "a subject may dispute only records in its own file"
    return None


def disputable_refusal(record_kind: str, withdrawn_by: str | None) -> str | None:
    """Why a record (of `record_kind`, replaced or withdrawn by the record `withdrawn_by` if
    any) cannot be disputed, or None."""
    if record_kind == RETRACTION_KIND:
        return "a retraction withdraws a record; it cannot itself be disputed"
    if withdrawn_by is not None:
        return f"the record is no longer in force: record {withdrawn_by} replaced or withdrew it"
    return None


CASE_ROLES = (Role.SUBJECT, Role.FURNISHER, Role.ADJUDICATOR, Role.ADMIN)
"""The roles that see some disputes: a subject its own, a furnisher those of its records."""


def role_refusal(principal: Principal) -> str | None:
    """Why `principal`'s role never sees a dispute, or None. Checked before any dispute is
    looked up: a refusal that depends on the dispute is answered as if it did not exist."""
    if principal.role in CASE_ROLES:
        return None
    return f"a principal with role {principal.role.value} may not see disputes"


def furnisher_role_refusal(principal: Principal) -> str | None:
    """Why `principal`'s role never verifies or retracts a disputed record, or None."""
    if principal.role is Role.FURNISHER:
        return None
    return f"only the record's furnisher verifies or retracts; this key has {principal.role.value}"


def reading_refusal(principal: Principal, dispute: Dispute) -> str | None:
    """Why `principal` may not see a dispute, or None."""
    role = principal.role
    if role in (Role.ADJUDICATOR, Role.ADMIN):
        return None
    if role is Role.SUBJECT:
        return None if principal.subject == dispute.subject else "not a dispute of yours"
    if role is Role.FURNISHER:
        if principal.furnisher == dispute.furnisher:
            return None
        return "a furnisher sees only disputes of its own records"
    return f"a principal with role {role.value} may not see disputes"


def furnisher_refusal(principal: Principal, dispute: Dispute) -> str | None:
    """Why `principal` may not verify or retract a dispute (not its furnisher), or None."""
    refusal = furnisher_role_refusal(principal)
    if refusal:
        return refusal
    if principal.furnisher != dispute.furnisher:
        return "a furnisher acts only on disputes of its own records"
    return None


def state_refusal(dispute: Dispute, outcome: Outcome, now: datetime) -> str | None:
    """Why a dispute cannot end with `outcome` now (closed already, or verified too late)."""
    if dispute.status is not Status.OPEN:
        return f"the dispute is closed already ({dispute.outcome})"
    if outcome is Outcome.VERIFIED and now > dispute.deadline:
        return (
            f"the dispute's deadline passed at {dispute.deadline.isoformat()}Z: a record not "
            "verified in time is withdrawn"
        )
    return None


def adjudicator_refusal(principal: Principal) -> str | None:
    """Why `principal` may not decide disputes and reviews, or None."""
    if principal.role is not Role.ADJUDICATOR:
        return f"only an adjudicator decides; this key has {principal.role.value}"
    return None


# ---------------------------------------------------------------------------- re-insertion


CERTIFICATION_FIELD = "certification"


@dataclass(frozen=True)
class Certification:
    """The furnisher's certification that a withdrawn record is accurate: who and why."""

    by: str
    reason: str


def certification_of(attributes: Mapping[str, Any]) -> Certification | str:
    """The certification in a record's attributes, or the reason there is no valid one."""
    value = attributes.get(CERTIFICATION_FIELD)
    how = (
        f'attributes.{CERTIFICATION_FIELD} = {{"by": "who certifies", "reason": "why the '
        'record is accurate"}}'
    )
    if value is None:
        return f"it needs the furnisher's certification: {how}"
    if not isinstance(value, Mapping):
        return f"attributes.{CERTIFICATION_FIELD} must be an object: {how}"
    by, reason = value.get("by"), value.get("reason")
    if not isinstance(by, str) or not by.strip():
        return f"attributes.{CERTIFICATION_FIELD}.by must name who certifies"
    if not isinstance(reason, str) or not reason.strip():
        return f"attributes.{CERTIFICATION_FIELD}.reason must say why the record is accurate"
    return Certification(by.strip(), reason.strip())


# ---------------------------------------------------------------------------- reviews


def review_permission_refusal(principal: Principal, subject: str) -> str | None:
    """Why `principal` may not ask for a review of a decision about `subject`, or None."""
    if principal.role is not Role.SUBJECT:
        return f"only the subject asks for a review; this key has {principal.role.value}"
    if principal.subject != subject:
        return "a subject may ask for reviews only of decisions about itself"
    return None


def reviewable_refusal(decision: str) -> str | None:
    """Why a decision with this outcome is not reviewed, or None (adverse ones are)."""
    if decision not in ADVERSE_DECISIONS:
        return f"only an adverse decision (deny, allow_with_conditions) is reviewed, not {decision}"
    return None


def override_refusal(original: str, outcome: ReviewOutcome, new_decision: str | None) -> str | None:
    """Why a review of a decision `original` cannot end with `outcome` and `new_decision`."""
    if outcome is ReviewOutcome.CONFIRMED:
        if new_decision not in (None, original):
            return "a confirmed decision keeps its outcome: leave new_decision out"
        return None
    if new_decision is None:
        return "an override needs new_decision (allow, deny or allow_with_conditions)"
    if new_decision not in DECISIONS:
        return f"new_decision must be one of {', '.join(DECISIONS)}, not {new_decision!r}"
    if new_decision == original:
        return f"an override must change the decision; it was {original} already"
    return None
