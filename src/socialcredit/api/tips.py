"""Tips over HTTP: a subject's best actions per program, each with its exact effect."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import Caller, api_of, errors
from socialcredit.services.tips import tips_for

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["subjects"])


class Brings(BaseModel):
    """The record the action brings into the ledger, as its furnisher would send it."""

    kind: str
    furnisher: str | None = Field(description="None: any furnisher that sends this kind.")
    replaces: str | None
    value: float | None
    evidence: str | None


class TipOut(BaseModel):
    text: str = Field(description='e.g. "pay traffic fine 123 (200 yuan): +5 points, to 612".')
    action: str
    kind: str = Field(description="The record kind the action is about.")
    record: int | None = Field(description="The adverse record it resolves, if any.")
    points: int = Field(description="Points gained: rescoring with and without the record.")
    score: int = Field(description="The score the rescoring gives once the record arrives.")
    grade: str
    brings: Brings


class ProgramTips(BaseModel):
    program: str
    policy_version: str
    as_of: date
    status: str
    score: int | None = Field(description="The score a rescoring today gives, before any tip.")
    grade: str | None
    candidates: int = Field(description="How many actions were rescored.")
    tips: list[TipOut] = Field(description="At most 3, most points first.")


class SubjectTips(BaseModel):
    subject: str
    as_of: date
    programs: list[ProgramTips]


@router.get("/subjects/{id}/tips", response_model=SubjectTips, responses=errors(404))
def subject_tips(
    request: Request,
    principal: Caller,
    id: str,
    program: Annotated[str | None, Query(description="Only this program.")] = None,
) -> dict[str, Any]:
    """Up to three concrete actions per program with their exact effect, found by rescoring
    the subject's ledger with the record each action brings (a fine paid, a judgment
    performed, volunteer hours to the next tier, ...). The subject itself only; a relying
    party never."""
    return tips_for(api_of(request).engine, principal, id, program=program)
