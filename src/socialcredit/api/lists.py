"""Lists, decisions and credit repair over HTTP.

Relying parties ask for decisions with a purpose and the subject's consent (scope
`decisions`); subjects see their entries, their decisions and apply for repair; operators read
whole lists and phoenix flags; anyone may search a public list.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import (
    AUTH_ERRORS,
    PUBLIC_ERRORS,
    Caller,
    ConsentHeader,
    Cursor,
    Limit,
    Public,
    PurposeQuery,
    api_of,
    errors,
)
from socialcredit.api.problems import Problem
from socialcredit.domain.principals import Role, require_role
from socialcredit.services import decisions as decision_service
from socialcredit.services import lists as list_service
from socialcredit.services.decisions import DecisionRequest
from socialcredit.services.errors import NotFound
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest
from socialcredit.services.reads import read_subject
from socialcredit.store import lists as list_store

router = APIRouter(route_class=JsonRoute, prefix="/v1")


class DecisionOut(BaseModel):
    """A decision with the measures applied and every rule evaluated."""

    id: int
    subject: str
    service: str
    purpose: str | None
    decision: str = Field(description="allow, deny or allow_with_conditions")
    measures: list[dict[str, Any]]
    program: str
    policy_version: str | None
    catalogue_version: str
    at: str
    trace: list[dict[str, Any]]


class DecisionAsk(BaseModel):
    """One question in a batch: the subject, the service, the subject's consent token."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=32)
    service: str = Field(max_length=64)
    consent: str | None = Field(default=None, max_length=200)


class DecisionBatch(BaseModel):
    """Up to 1,000 questions asked for one purpose (an airline checking a passenger list)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str | None = None
    items: list[DecisionAsk] = Field(min_length=1, max_length=1000)


class Decisions(BaseModel):
    items: list[DecisionOut]
    next_cursor: str | None = None


class RepairIn(BaseModel):
    """A repair application: the list and the subject's credit commitment."""

    model_config = ConfigDict(extra="forbid")

    list: str = Field(max_length=64)
    commitment: str = Field(min_length=1, max_length=2000)


class RepairOut(BaseModel):
    id: str
    subject: str
    list: str
    status: str
    reason: str
    applied_at: str


class PublicEntry(BaseModel):
    cases: list[str] = Field(description="Case numbers behind the entry.")
    subject: str
    name: str | None
    list: str
    since: str
    until: str


class PublicEntries(BaseModel):
    items: list[PublicEntry]
    list: str


class PublicList(BaseModel):
    name: str
    title: str
    kind: str
    tier: str
    how_to_leave: str
    source: str


# ---- decisions


@router.get(
    "/subjects/{id}/decisions/{service}",
    response_model=DecisionOut,
    tags=["decisions"],
    responses=errors(404),
)
async def get_decision(
    request: Request,
    principal: Caller,
    id: str,
    service: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
) -> Response:
    """May this subject have this service? `decision` (allow, deny, allow_with_conditions), the
    measures applied, the program and policy version used, and a trace of every rule evaluated
    with its inputs. Relying parties: with a purpose the service serves and the subject's
    consent (scope `decisions`). Every decision is logged and shows in the subject's access
    log."""
    engine = api_of(request).engine
    ask = DecisionRequest(id, service, None if purpose is None else purpose.value, x_consent)

    def work() -> dict[str, Any]:
        return decision_service.decide_one(
            engine, principal, ask, endpoint="GET /v1/subjects/{id}/decisions/{service}"
        )

    # Always a worker thread: even an embedded store may wait (for another process's write
    # lock), and the event loop must keep answering every other request meanwhile.
    return JSONResponse(await run_in_threadpool(work))


@router.post("/decisions", response_model=Decisions, tags=["decisions"], responses=errors(404))
async def post_decisions(request: Request, principal: Caller, batch: DecisionBatch) -> Response:
    """Many decisions in one call, each with its subject's consent token; all are logged in one
    transaction, or none when any question may not be asked."""
    api = api_of(request)
    asks = [DecisionRequest(i.subject, i.service, batch.purpose, i.consent) for i in batch.items]

    def work() -> list[dict[str, Any]]:
        return decision_service.decide_many(
            api.engine, principal, asks, endpoint="POST /v1/decisions"
        )

    return JSONResponse({"items": await run_in_threadpool(work), "next_cursor": None})


@router.get(
    "/subjects/{id}/decisions",
    response_model=Decisions,
    tags=["decisions"],
    responses=AUTH_ERRORS,
)
def subject_decisions(
    request: Request,
    principal: Caller,
    id: str,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Every decision taken about the subject, newest first, with its trace: the subject's own,
    or any for adjudicators and admins (who review them); their read shows in the subject's
    access log."""
    items, following = decision_service.decision_log(
        api_of(request).engine, principal, id, PageRequest(cursor, limit)
    )
    return JSONResponse({"items": items, "next_cursor": following})


# ---- lists


@router.get(
    "/subjects/{id}/lists",
    response_model=dict[str, Any],
    tags=["lists"],
    responses=errors(404),
)
def subject_lists(
    request: Request,
    principal: Caller,
    id: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
) -> Response:
    """The lists the subject is on now: since, until, the records that put it there, the way
    off and when repair becomes possible (relying parties: consent scope `lists`)."""
    body = read_subject(
        api_of(request).engine,
        principal,
        id,
        "lists",
        endpoint="GET /v1/subjects/{id}/lists",
        purpose=None if purpose is None else purpose.value,
        consent_token=x_consent,
    )
    return JSONResponse(body)


@router.get("/lists/{name}", response_model=dict[str, Any], tags=["lists"], responses=errors(404))
def whole_list(
    request: Request,
    principal: Caller,
    name: str,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Response:
    """Everyone on a list now (adjudicators and admins); each subject shown sees the read in
    its access log."""
    page = list_service.official_list(api_of(request).engine, principal, name, limit=limit)
    return JSONResponse({"list": name, "items": page.as_json()})


@router.get("/flags/phoenix", response_model=dict[str, Any], tags=["lists"], responses=AUTH_ERRORS)
def phoenix(request: Request, principal: Caller) -> Response:
    """Organisations flagged for review: they share a legal representative and an address with
    a blacklisted organisation (adjudicators and admins); each sees the read in its access
    log."""
    flags = list_service.official_phoenix_flags(api_of(request).engine, principal)
    return JSONResponse({"items": [{"subject": s, "why": w} for s, w in sorted(flags.items())]})


# ---- repair


@router.post(
    "/repairs", response_model=RepairOut, status_code=201, tags=["repairs"], responses=errors(404)
)
def post_repair(request: Request, principal: Caller, application: RepairIn) -> Response:
    """A listed subject applies for credit repair with a credit commitment. Decided at once by
    the rules (the tier's minimum display period passed, the obligation met) and recorded;
    granted, the entry stops being published and every later decision changes."""
    require_role(principal, Role.SUBJECT)
    outcome = list_service.apply_for_repair(
        api_of(request).engine, principal, application.list, application.commitment
    )
    return JSONResponse(outcome.as_json(), status_code=201)


@router.get("/repairs", response_model=dict[str, Any], tags=["repairs"], responses=AUTH_ERRORS)
def get_repairs(request: Request, principal: Caller) -> Response:
    """The subject's repair applications and their outcome."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    with api_of(request).engine.connect() as connection:
        rows = list_store.repairs_of(connection, principal.subject)
    items = [
        {
            "id": r["id"],
            "subject": r["subject"],
            "list": r["list"],
            "status": r["status"],
            "reason": r["reason"],
            "applied_at": r["applied_at"].isoformat(),
            "commitment": r["commitment"],
        }
        for r in rows
    ]
    return JSONResponse({"items": items})


# ---- public (no key)

public = APIRouter(
    route_class=JsonRoute, prefix="/v1/public", tags=["public"], dependencies=[Public]
)


@public.get("/lists", response_model=list[PublicList], responses=PUBLIC_ERRORS)
def get_public_lists(request: Request) -> Response:
    """The lists anyone may search, with how to get off each."""
    return JSONResponse(list_service.public_lists())


@public.get("/lists/{name}", response_model=PublicEntries, responses=PUBLIC_ERRORS)
def search_public_list(
    request: Request,
    name: str,
    q: Annotated[str | None, Query(max_length=100, description="An id or part of a name.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Search a public list by id or name, without a key, as the court's public site allows:
    only the public fields (who, which list, since, until, case numbers). A person's resident
    ID shows with its birth date hidden (110105********002X). Each subject shown sees the read
    in its access log."""
    try:
        items = list_service.search_public(api_of(request).engine, name, q, limit=limit)
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    return JSONResponse({"list": name, "items": items})
