"""The API's request and response documents (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from socialcredit.domain.consents import Purpose, Scope
from socialcredit.domain.principals import Role


class ProblemDoc(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(
        description="A URI naming the kind of problem; /problems/<slug> or about:blank."
    )
    title: str
    status: int
    detail: str


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    detail: str | None = None


class ProblemType(BaseModel):
    type: str
    title: str
    description: str


# ---------------------------------------------------------------- subjects


class Contribution(BaseModel):
    rule: str
    factor: str
    points: int
    record_ids: list[int]


class Reason(BaseModel):
    code: str
    factor: str
    points_lost: int
    record_ids: list[int]
    text: str


class ProgramScore(BaseModel):
    """One program's latest score for a subject, explained exactly:
    score = base + sum(contributions) - clamp."""

    program: str
    policy_version: str
    as_of: date
    status: str
    score: int | None
    grade: str | None
    percentile: float | None
    fresh: bool = Field(
        description="False while a change to the subject waits for the worker to rescore it."
    )
    ledger_position: int | None = Field(
        description="The last ledger id this score reflects (null for runs before it was kept)."
    )
    base: int
    factors: dict[str, int]
    contributions: list[Contribution]
    clamp: int
    reasons: list[Reason]


class SubjectScores(BaseModel):
    """What `socialcredit show --json` prints."""

    subject: str
    kind: str
    scores: list[ProgramScore]


class Snapshot(BaseModel):
    id: int
    run_id: int
    program: str
    policy_version: str
    as_of: date
    computed_at: datetime
    scope: str = Field(description="full: everyone was scored; subjects: a rescoring of a few.")
    status: str
    score: int | None
    grade: str | None
    percentile: float | None


class DisputeMark(BaseModel):
    """The latest dispute of a record (see /v1/disputes/{id})."""

    id: int
    status: str = Field(description="open or closed")
    outcome: str | None
    deadline: datetime


class StoredRecord(BaseModel):
    id: int
    furnisher: str
    external_id: str
    subject: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    value: float | None
    attributes: dict[str, Any]
    evidence: str | None
    replaces: str | None
    disputed: bool = Field(False, description="A dispute of the record is open.")
    dispute: DisputeMark | None = None
    statement: str | None = Field(
        None, description="The subject's statement: it travels with the record."
    )


class StoredRelation(BaseModel):
    id: int
    furnisher: str
    external_id: str
    subject: str
    other: str
    relation: str
    start: datetime
    end: datetime | None
    confirmed: bool
    received_at: datetime


class AccessEntry(BaseModel):
    """One read of the subject's file: who, when, why, what, and what was returned."""

    id: int
    at: datetime
    principal: str
    principal_name: str
    role: str
    purpose: str | None
    what: str
    endpoint: str
    consent: str | None
    returned: dict[str, Any]


class SubjectHistory(BaseModel):
    subject: str
    kind: str
    items: list[Snapshot]
    next_cursor: str | None


class SubjectRecords(BaseModel):
    subject: str
    kind: str
    items: list[StoredRecord]
    next_cursor: str | None


class SubjectRelations(BaseModel):
    subject: str
    kind: str
    items: list[StoredRelation]
    next_cursor: str | None


class SubjectAccessLog(BaseModel):
    subject: str
    kind: str
    items: list[AccessEntry]
    next_cursor: str | None


# ---------------------------------------------------------------- records


class RecordIn(BaseModel):
    """One record of the interchange format (furnisher: filled in from the key when absent)."""

    model_config = ConfigDict(extra="forbid", title="Record")

    subject: str
    furnisher: str | None = None
    kind: str
    occurred_at: str = Field(description="ISO 8601 date or time; not in the future.")
    external_id: str
    value: float | None = None
    attributes: dict[str, Any] | None = None
    evidence: str | None = None
    replaces: str | None = None


class Reject(BaseModel):
    line: int
    reason: str


class Rescored(BaseModel):
    subjects: int
    programs: list[str]


class SubmissionResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    rows: int
    rejects: list[Reject]
    rescored: Rescored


class Submissions(BaseModel):
    items: list[StoredRecord]
    next_cursor: str | None


# ---------------------------------------------------------------- consents


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relying_party: str = Field(description="The relying party's principal id.")
    purpose: Purpose
    scope: list[Scope] = Field(min_length=1)
    expires_at: datetime = Field(description="Until when; a time without offset is UTC.")


class ConsentOut(BaseModel):
    id: str
    subject: str
    relying_party: str
    purpose: Purpose
    scope: list[Scope]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: str = Field(description="active, expired or revoked")


class ConsentCreated(ConsentOut):
    token: str = Field(description="Give it to the relying party; it is shown only now.")


class Consents(BaseModel):
    items: list[ConsentOut]
    next_cursor: str | None


# ---------------------------------------------------------------- principals


class PrincipalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(min_length=1, max_length=200)
    subject: str | None = None
    kinds: list[str] | None = None


class PrincipalOut(BaseModel):
    id: str
    role: Role
    name: str
    subject: str | None
    furnisher: str | None
    kinds: list[str]
    created_at: datetime
    revoked_at: datetime | None


class PrincipalCreated(PrincipalOut):
    key: str = Field(description="The key for `Authorization: Bearer`; shown only now.")


class Principals(BaseModel):
    items: list[PrincipalOut]
    next_cursor: str | None
