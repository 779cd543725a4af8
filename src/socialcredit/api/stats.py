"""Figures the portal draws. Public: the programs in use (a score's dial needs the range and the
grade bands; the leaderboard, which programs there are). Operators (admin or adjudicator): the
population's score distribution and grade counts, list sizes over time, and each furnisher's
dispute and overturn rates."""

from __future__ import annotations

import builtins
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import AUTH_ERRORS, PUBLIC_ERRORS, Caller, Public, api_of
from socialcredit.services import stats as stats_service

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["statistics"])


class FactorOut(BaseModel):
    id: str
    name: str


class BandOut(BaseModel):
    grade: str
    min: int
    max: int


class ProgramOut(BaseModel):
    """A program as its newest run used it."""

    program: str
    name: str
    description: str
    policy_version: str
    min_score: int
    max_score: int
    base: int
    subjects: list[str]
    factors: list[FactorOut]
    bands: list[BandOut] = Field(description="Lowest grade first.")


class Programs(BaseModel):
    items: list[ProgramOut]


class BinOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    count: int


class GradeCount(BaseModel):
    grade: str
    count: int


class Distribution(BaseModel):
    """One program's latest full run."""

    program: str
    policy_version: str
    run_id: int
    as_of: str
    computed_at: str
    subjects: int
    scored: int
    statuses: dict[str, int]
    min_score: int
    max_score: int
    mean: float | None
    bins: list[BinOut]
    grades: list[GradeCount] = Field(description="Highest grade first.")


class Distributions(BaseModel):
    programs: list[Distribution]


class SizeAt(BaseModel):
    at: str
    size: int


class ListSizes(BaseModel):
    list: str
    title: str
    kind: str
    public: bool
    points: builtins.list[SizeAt] = Field(description="Oldest first; the last is the list now.")


class ListSizesOut(BaseModel):
    at: str
    lists: list[ListSizes]


class FurnisherRate(BaseModel):
    furnisher: str
    name: str | None
    records: int = Field(description="Records sent (retractions not counted).")
    disputes: int
    open: int
    overdue: int = Field(description="Open past their deadline.")
    closed: int
    overturned: int = Field(
        description="Closed disputes that withdrew the record: retracted by the furnisher, "
        "not verified by the deadline, or overturned by an adjudicator."
    )
    dispute_rate: float | None = Field(description="disputes / records")
    overturn_rate: float | None = Field(description="overturned / closed")


class FurnisherRates(BaseModel):
    items: list[FurnisherRate]


@router.get(
    "/public/programs", response_model=Programs, responses=PUBLIC_ERRORS, dependencies=[Public]
)
def get_programs(request: Request) -> dict[str, Any]:
    """Every program that has scored anyone: its range, base, grade bands and factors. No key
    needed: programs are public policy."""
    return {"items": stats_service.programs_in_use(api_of(request).engine)}


@router.get("/stats/scores", response_model=Distributions, responses=AUTH_ERRORS)
def get_score_stats(
    request: Request,
    principal: Caller,
    bins: Annotated[
        int, Query(ge=1, le=stats_service.MAX_BINS, description="At most this many bins.")
    ] = 30,
) -> dict[str, Any]:
    """Per program, its latest full run: the histogram of scores over the program's range (bins
    of a round width) and the count of each grade (admin or adjudicator)."""
    return stats_service.score_distribution(api_of(request).engine, principal, bins)


@router.get("/stats/lists", response_model=ListSizesOut, responses=AUTH_ERRORS)
def get_list_stats(
    request: Request,
    principal: Caller,
    months: Annotated[int, Query(ge=1, le=stats_service.MAX_MONTHS)] = 12,
) -> dict[str, Any]:
    """Each list's size on the same day of each of the last `months` months, and now (admin or
    adjudicator)."""
    return stats_service.list_sizes(api_of(request).engine, principal, months)


@router.get("/stats/furnishers", response_model=FurnisherRates, responses=AUTH_ERRORS)
def get_furnisher_stats(request: Request, principal: Caller) -> dict[str, Any]:
    """Each furnisher whose records were disputed: records sent, disputes open, overdue and
    closed, how many withdrew the record, the dispute rate and the overturn rate (admin or
    adjudicator)."""
    return stats_service.furnisher_rates(api_of(request).engine, principal)
