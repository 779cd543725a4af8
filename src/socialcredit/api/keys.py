"""How a subject gets its key over HTTP: an admin issues an enrolment code, the subject redeems
it (with no key yet), and a subject with a key makes more. Handlers parse, call a service,
render; the services decide who may and log every key issued where the subject sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit.api import models
from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import (
    AUTH_ERRORS,
    Caller,
    MaybeCaller,
    api_of,
    count_failure,
    errors,
    refuse_failing_address,
    utc,
)
from socialcredit.domain.principals import Principal
from socialcredit.services import enrolments as service

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["principals"])


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="The resident ID or USCC the key will read as.")
    name: str = Field(min_length=1, max_length=200, description="The name the key will carry.")
    hours: int = Field(
        service.DEFAULT_HOURS,
        ge=1,
        le=service.MAX_HOURS,
        description="How long the code may be redeemed.",
    )


class EnrolmentCreated(BaseModel):
    id: str
    subject: str
    name: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    code: str = Field(description="Give it to the subject only; it is shown only now.")
    redeem: str = Field(description="Where the subject redeems it: POST, no key needed.")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, min_length=1, max_length=200, description="Default: the name of the key used."
    )


def principal_out(p: Principal) -> dict[str, Any]:
    """A principal as the API shows it (never its key)."""
    return {
        "id": p.id,
        "role": p.role.value,
        "name": p.name,
        "subject": p.subject,
        "furnisher": p.furnisher,
        "kinds": list(p.kinds),
        "created_at": utc(p.created_at),
        "revoked_at": utc(p.revoked_at),
    }


@router.post(
    "/enrolments",
    response_model=EnrolmentCreated,
    status_code=201,
    responses=AUTH_ERRORS,
)
def post_enrolment(request: Request, principal: Caller, new: EnrolmentIn) -> dict[str, Any]:
    """Issue an enrolment code for a subject (admin): the subject redeems it once, before it
    expires, for a key of its own. The subject's access log and notices show who issued it."""
    made = service.issue_enrolment(
        api_of(request).engine, principal, new.subject, new.name, hours=new.hours
    )
    e = made.enrolment
    return {
        "id": e.id,
        "subject": e.subject,
        "name": e.name,
        "issued_by": e.issued_by,
        "issued_at": utc(e.issued_at),
        "expires_at": utc(e.expires_at),
        "code": made.code,
        "redeem": f"/v1/enrolments/{made.code}",
    }


CodePath = Annotated[str, Path(max_length=200, description="The enrolment code (sce_...).")]


@router.post(
    "/enrolments/{code}",
    response_model=models.PrincipalCreated,
    status_code=201,
    responses=errors(404),
)
async def redeem_enrolment(request: Request, holder: MaybeCaller, code: CodePath) -> dict[str, Any]:
    """The subject redeems its enrolment code for a key: with no key, or with a key of its
    own. A code works once; unknown, used and expired codes are all 404, and count as failed
    authentications from the caller's address."""
    refuse_failing_address(request)
    try:
        made = await run_in_threadpool(
            service.redeem_enrolment, api_of(request).engine, code, holder
        )
    except service.CodeRefused:
        count_failure(request)
        raise
    return {**principal_out(made.principal), "key": made.key}


@router.post(
    "/me/keys",
    response_model=models.PrincipalCreated,
    status_code=201,
    responses=AUTH_ERRORS,
)
def post_key(request: Request, principal: Caller, new: KeyIn | None = None) -> dict[str, Any]:
    """A subject makes another key to its own file with the key it holds (a phone, a second
    device); the subject's access log and notices show it."""
    name = None if new is None else new.name
    made = service.mint_key(api_of(request).engine, principal, name)
    return {**principal_out(made.principal), "key": made.key}
