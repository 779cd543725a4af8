"""Due process over HTTP: disputes of records, human reviews of adverse decisions, and the
notices that tell a subject what came of them. Handlers parse, call a service, render; the
services decide who may do what."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import Caller, Cursor, Limit, api_of, errors, problem_doc
from socialcredit.domain.disputes import Outcome, ReviewOutcome, Status
from socialcredit.services import disputes as service
from socialcredit.services import reviews as review_service
from socialcredit.services.notices import list_notices
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest
from socialcredit.services.principals import utc_now

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["due process"])

CASE_ERRORS = {**errors(404), 409: problem_doc("The case is closed, or one is open already.")}

# ---------------------------------------------------------------- documents


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: int = Field(description="The record's id, as /v1/subjects/{id}/records shows it.")
    reason: str = Field(description="Why the record is wrong.")
    evidence: str | None = Field(None, description="What supports the dispute (a reference).")
    statement: str | None = Field(
        None,
        description="The subject's statement, at most 100 words: from now on it travels with "
        "the record wherever the record is shown.",
    )


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(description="What shows the record is accurate (a reference).")
    reason: str | None = None


class RetractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = None


class DisputeDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["upheld", "overturned"] = Field(
        description="upheld: the record stands; overturned: the record is withdrawn."
    )
    reason: str


class LogEntry(BaseModel):
    at: datetime
    principal: str
    principal_name: str
    role: str
    action: str
    reason: str | None
    detail: dict[str, Any]


class DisputeOut(BaseModel):
    """A dispute of a record: who must act by when, and how it ended."""

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
    deadline: datetime = Field(description="The furnisher verifies or retracts by then.")
    overdue: bool = Field(description="Open past the deadline: the record is being withdrawn.")
    status: str = Field(description="open or closed")
    outcome: str | None = Field(
        description="verified, retracted, not_verified (withdrawn at the deadline), upheld or "
        "overturned"
    )
    closed_at: datetime | None
    closed_by: str | None
    closing_reason: str | None
    closing_evidence: str | None
    retraction: str | None = Field(description="External id of the withdrawing record.")
    reinserted: int | None = Field(description="The record that put it back (certified).")
    log: list[LogEntry] | None = Field(None, description="Who did what, when and why.")


class Disputes(BaseModel):
    items: list[DisputeOut]
    next_cursor: str | None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why the decision should be looked at again.")


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: ReviewOutcome
    new_decision: Literal["allow", "deny", "allow_with_conditions"] | None = Field(
        None, description="The decision that replaces the original (overridden only)."
    )
    reason: str


class ReviewOut(BaseModel):
    id: int
    decision: int
    subject: str
    service: str
    original: str = Field(description="The decision under review.")
    reason: str
    requested_at: datetime
    status: str
    outcome: str | None
    new_decision: str | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None


class Reviews(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class NoticeOut(BaseModel):
    id: int
    subject: str
    at: datetime
    kind: str
    text: str
    refs: dict[str, Any]


class Notices(BaseModel):
    items: list[NoticeOut]
    next_cursor: str | None


# ---------------------------------------------------------------- disputes


def _rescore(request: Request) -> service.Rescore | None:
    return api_of(request).settings.rescore


@router.post("/disputes", response_model=DisputeOut, status_code=201, responses=CASE_ERRORS)
def post_dispute(request: Request, principal: Caller, body: DisputeIn) -> dict[str, Any]:
    """A subject disputes one of its records (reason, optional evidence and statement of at
    most 100 words). The record is flagged as disputed at once everywhere it is shown; its
    furnisher must verify or retract it by the deadline."""
    dispute = service.open_dispute(
        api_of(request).engine,
        principal,
        body.record,
        body.reason,
        body.evidence,
        body.statement,
    )
    return service.dispute_json(dispute, utc_now())


@router.get("/disputes", response_model=Disputes, responses=errors())
def get_disputes(
    request: Request,
    principal: Caller,
    furnisher: Annotated[
        str | None, Query(max_length=64, description="`me` for a furnisher's queue.")
    ] = None,
    subject: Annotated[str | None, Query(max_length=32)] = None,
    status: Status | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Disputes, oldest first, each with its deadline: a subject's own; a furnisher's queue
    (disputes of its own records, `furnisher=me`); all for adjudicators and admins."""
    found, next_cursor = service.list_disputes(
        api_of(request).engine,
        principal,
        PageRequest(cursor, limit),
        furnisher=furnisher,
        subject=subject,
        status=status,
    )
    now = utc_now()
    return {"items": [service.dispute_json(d, now) for d in found], "next_cursor": next_cursor}


@router.get("/disputes/{id}", response_model=DisputeOut, responses=errors(404))
def get_dispute(request: Request, principal: Caller, id: int) -> dict[str, Any]:
    """One dispute with its log (who did what, when and why)."""
    dispute, log = service.get_dispute(api_of(request).engine, principal, id)
    return service.dispute_json(dispute, utc_now(), log)


@router.post("/disputes/{id}/verify", response_model=DisputeOut, responses=CASE_ERRORS)
def verify(request: Request, principal: Caller, id: int, body: VerifyIn) -> dict[str, Any]:
    """The record's furnisher verifies it with evidence, before the deadline: it stands."""
    dispute = service.verify_dispute(
        api_of(request).engine, principal, id, body.evidence, body.reason
    )
    return service.dispute_json(dispute, utc_now())


@router.post("/disputes/{id}/retract", response_model=DisputeOut, responses=CASE_ERRORS)
def retract(
    request: Request, principal: Caller, id: int, body: RetractIn | None = None
) -> dict[str, Any]:
    """The record's furnisher withdraws it: a retraction record is appended to the ledger and
    the subject is rescored before the answer."""
    dispute = service.retract_disputed(
        api_of(request).engine,
        principal,
        id,
        None if body is None else body.reason,
        rescore=_rescore(request),
    )
    return service.dispute_json(dispute, utc_now())


@router.post("/disputes/{id}/decision", response_model=DisputeOut, responses=CASE_ERRORS)
def decide(request: Request, principal: Caller, id: int, body: DisputeDecisionIn) -> dict[str, Any]:
    """An adjudicator decides an open dispute: upheld (the record stands) or overturned (it is
    withdrawn and the subject rescored). Who decided, when and why is logged."""
    dispute = service.decide_dispute(
        api_of(request).engine,
        principal,
        id,
        Outcome(body.outcome),
        body.reason,
        rescore=_rescore(request),
    )
    return service.dispute_json(dispute, utc_now())


# ---------------------------------------------------------------- reviews


@router.post(
    "/decisions/{id}/reviews", response_model=ReviewOut, status_code=201, responses=CASE_ERRORS
)
def post_review(request: Request, principal: Caller, id: int, body: ReviewIn) -> dict[str, Any]:
    """The subject asks for a human review of an adverse decision about it (deny, or allow
    with conditions)."""
    row = review_service.request_review(api_of(request).engine, principal, id, body.reason)
    return review_service.review_json(row)


@router.post("/reviews/{id}/decision", response_model=ReviewOut, responses=CASE_ERRORS)
def decide_review(
    request: Request, principal: Caller, id: int, body: ReviewDecisionIn
) -> dict[str, Any]:
    """An adjudicator confirms the decision or overrides it (`new_decision`), saying why; the
    override and its reason are logged and the subject is told."""
    row = review_service.decide_review(
        api_of(request).engine, principal, id, body.outcome, body.reason, body.new_decision
    )
    return review_service.review_json(row)


@router.get("/reviews", response_model=Reviews, responses=errors())
def get_reviews(
    request: Request,
    principal: Caller,
    status: Status | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Reviews, oldest first: a subject's own; all for adjudicators and admins."""
    rows, next_cursor = review_service.list_reviews(
        api_of(request).engine, principal, PageRequest(cursor, limit), status=status
    )
    return {"items": [review_service.review_json(r) for r in rows], "next_cursor": next_cursor}


# ---------------------------------------------------------------- notices


@router.get("/subjects/{id}/notices", response_model=Notices, tags=["subjects"], responses=errors())
def get_notices(
    request: Request,
    principal: Caller,
    id: str,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """What the subject was told, newest first: dispute outcomes, records put back, reviews
    and more. The subject's own only."""
    items, next_cursor = list_notices(
        api_of(request).engine, principal, id, PageRequest(cursor, limit)
    )
    return {"items": items, "next_cursor": next_cursor}
