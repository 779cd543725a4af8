"""Reports of other subjects' breaches over HTTP: subjects file and follow their reports,
adjudicators and admins read them all with their flags, adjudicators decide."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import Caller, Cursor, Limit, api_of, errors
from socialcredit.api.problems import Problem
from socialcredit.api.ratelimit import retry_after
from socialcredit.domain import reports as rules
from socialcredit.domain.principals import Role, require_role
from socialcredit.domain.reports import Outcome
from socialcredit.services import reports as service
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest
from socialcredit.services.principals import utc_now

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["reports"])

ReportId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The report's id.")]


class ReportStatus(StrEnum):
    """Where a report stands: pending until an adjudicator decides."""

    pending = "pending"
    upheld = "upheld"
    rejected = "rejected"
    malicious = "malicious"


class ReportIn(BaseModel):
    """A report of another subject's breach of trust."""

    model_config = ConfigDict(extra="forbid", title="ReportIn")

    target: str = Field(
        min_length=1, max_length=64, description="The reported subject: resident ID or USCC."
    )
    kind: str = Field(
        min_length=1,
        max_length=64,
        description="A record kind the catalogue marks reportable, e.g. contract.breached.",
    )
    occurred_at: str = Field(
        min_length=1, max_length=64, description="ISO 8601 date or time; not in the future."
    )
    description: str = Field(min_length=1, max_length=rules.DESCRIPTION_MAX)
    evidence: str = Field(
        min_length=1,
        max_length=rules.EVIDENCE_MAX,
        description="What proves the breach (documents, references); required.",
    )


class DecisionIn(BaseModel):
    """An adjudicator's decision on a report."""

    model_config = ConfigDict(extra="forbid", title="ReportDecisionIn")

    outcome: Outcome
    reason: str = Field(min_length=1, max_length=rules.REASON_MAX)


class FlagOut(BaseModel):
    code: str = Field(description="related or ring")
    detail: str
    reports: list[int] = Field(description="For a ring: the reports that form it.")


class DecisionOut(BaseModel):
    """A decision. The reporter sees the outcome and when; the reason only for a finding of
    malice. The rest is for officials (null for the reporter)."""

    outcome: Outcome
    decided_at: datetime
    reason: str | None
    decided_by: str | None
    decided_by_name: str | None
    flags: list[FlagOut] | None = Field(description="The flags the adjudicator saw.")
    records: list[str] | None = Field(description="External ids of the records written.")


class ReportOut(BaseModel):
    id: int
    reporter: str
    target: str
    kind: str
    occurred_at: datetime
    description: str
    evidence: str
    filed_at: datetime
    status: ReportStatus
    flags: list[FlagOut] | None = Field(
        description="Officials only (null for the reporter): flags as things stand now."
    )
    decision: DecisionOut | None


class Reports(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


class WrittenRecord(BaseModel):
    subject: str
    kind: str
    external_id: str


class RescoredSubjects(BaseModel):
    subjects: int
    programs: list[str]


class DecisionResult(BaseModel):
    report: ReportOut
    records: list[WrittenRecord]
    rescored: RescoredSubjects


@router.post("/reports", response_model=ReportOut, status_code=201, responses=errors())
def post_report(request: Request, principal: Caller, report: ReportIn) -> dict[str, Any]:
    """A subject reports another subject's breach of trust, with evidence. Nothing changes for
    the reported subject unless an adjudicator upholds the report, and it is never told who
    reported. Any well-formed target id is taken alike, so the answer never says who is in
    the store. A subject may file a limited number of reports in a window of days (429, with
    `next_report_at` and Retry-After, past it)."""
    require_role(principal, Role.SUBJECT)
    try:
        return service.file_report(
            api_of(request).engine,
            principal,
            target=report.target,
            kind=report.kind,
            occurred_at=report.occurred_at,
            description=report.description,
            evidence=report.evidence,
        )
    except service.ReportLimitReached as exc:
        wait = (exc.next_report_at - utc_now()).total_seconds()
        raise Problem(
            429,
            "report-limit",
            str(exc),
            {"Retry-After": retry_after(wait)},
            next_report_at=exc.next_report_at.isoformat() + "Z",
        ) from None


@router.get("/reports", response_model=Reports, responses=errors())
def get_reports(
    request: Request,
    principal: Caller,
    status: Annotated[ReportStatus | None, Query(description="Only reports in this state.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Reports in the order filed. A subject: its own (without flags, and without the
    adjudicator's notes about the target). Adjudicators and admins: all, with their flags;
    such a read shows in the reporter's and the target's access logs."""
    items, next_cursor = service.list_reports(
        api_of(request).engine,
        principal,
        status=None if status is None else status.value,
        page=PageRequest(cursor, limit),
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/reports/{id}", response_model=ReportOut, responses=errors(404))
def get_report(request: Request, principal: Caller, id: ReportId) -> dict[str, Any]:
    """One report: a subject's own, or any for adjudicators and admins (404 for anyone else's)."""
    return service.read_report(api_of(request).engine, principal, id)


@router.post("/reports/{id}/decision", response_model=DecisionResult, responses=errors(404))
def post_decision(
    request: Request, principal: Caller, id: ReportId, decision: DecisionIn
) -> dict[str, Any]:
    """An adjudicator decides a pending report, giving a reason; the decision is logged with
    who decided. Upheld: a record from the verified_report furnisher for the target (its
    subjects are rescored) and, if a program rewards it, a reward record for the reporter.
    Malicious: a penalty record for the reporter. Rejected: nothing for anyone."""
    api = api_of(request)
    return service.decide_report(
        api.engine,
        service.Decider.of(principal),
        id,
        decision.outcome,
        decision.reason,
        rescore=api.settings.rescore,
    )
