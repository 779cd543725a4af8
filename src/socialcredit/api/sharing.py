"""Sharing and the social side over HTTP: badge links for one relying party, a subject's
opt-ins, the public percentile and leaderboard (no key needed), and "higher or lower"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import PUBLIC_ERRORS, Caller, Cursor, Limit, Public, api_of, errors, utc
from socialcredit.domain.shares import Guess, Settings
from socialcredit.services import shares as share_service
from socialcredit.services import social
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest
from socialcredit.services.principals import utc_now

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["sharing"])

# ------------------------------------------------------------------------------ documents


class ShareIn(BaseModel):
    """Share the badge under `program` with one relying party (its principal id)."""

    model_config = ConfigDict(extra="forbid")

    program: str
    relying_party: str = Field(description="The relying party's principal id (GET /v1/me).")
    expires_at: datetime | None = Field(
        default=None, description="When the link stops working; none: when revoked."
    )


class ShareOut(BaseModel):
    id: str
    subject: str
    program: str
    relying_party: str
    relying_party_name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str = Field(description="active, expired or revoked.")


class ShareCreated(ShareOut):
    url: str = Field(description="The badge link for the relying party; shown only now.")
    token: str = Field(description="The link's token; shown only now, stored as a hash.")


class Shares(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None


class Badge(BaseModel):
    """A subject's band under a program and the day of the score: never the score itself,
    the records or the explanation."""

    program: str
    program_name: str
    status: str = Field(description="scored, insufficient_data, or not_scored.")
    band: str | None = Field(description="The program's grade band (e.g. good, AA).")
    band_low: int | None
    band_high: int | None
    as_of: date | None
    shared_at: datetime


class SettingsIn(BaseModel):
    """A subject's opt-ins, all replaced at once; a field left out is off."""

    model_config = ConfigDict(extra="forbid")

    public_percentile: bool = False
    leaderboard: bool = False
    game: bool = False


class SettingsOut(BaseModel):
    subject: str
    public_percentile: bool
    leaderboard: bool
    game: bool


class PublicPercentile(BaseModel):
    subject: str
    program: str
    percentile: float
    as_of: date


class LeaderboardLine(BaseModel):
    rank: int = Field(description="Equal scores share a rank.")
    name: str | None = Field(description="The registry's name, when it has one.")
    kind: str
    subject: str | None = Field(description="An organisation's USCC; never a resident ID.")
    score: int
    grade: str | None
    as_of: date


class Leaderboard(BaseModel):
    program: str
    kind: str | None
    items: list[LeaderboardLine]


class GuessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other: str = Field(description="A confirmed relation's subject id.")
    program: str
    guess: Guess = Field(description="higher: my score is above the other's; lower: below.")


class GuessOut(BaseModel):
    correct: bool


# ------------------------------------------------------------------------------ helpers


def _share_out(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **item,
        "created_at": utc(item["created_at"]),
        "expires_at": utc(item["expires_at"]),
        "revoked_at": utc(item["revoked_at"]),
    }


# ------------------------------------------------------------------------------ shares


@router.post("/shares", response_model=ShareCreated, status_code=201, responses=errors())
def post_share(request: Request, principal: Caller, body: ShareIn) -> dict[str, Any]:
    """A subject shares its badge under a program (band and day, never records or the score)
    with one named relying party. The answer carries the link and its token, shown only now:
    hand the link to the relying party, which reads it with its own key."""
    created = share_service.create_share(
        api_of(request).engine,
        principal,
        program=body.program,
        relying_party=body.relying_party,
        expires_at=body.expires_at,
    )
    out = share_service.share_json(created.share, created.share.created_at, created.party_name)
    return {**_share_out(out), "url": created.url, "token": created.token}


@router.get("/shares", response_model=Shares, responses=errors())
def get_shares(
    request: Request, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """The subject's own shares, with their status (never the tokens)."""
    items, next_cursor = share_service.list_shares(
        api_of(request).engine, principal, PageRequest(cursor, limit)
    )
    return {"items": [_share_out(i) for i in items], "next_cursor": next_cursor}


@router.delete("/shares/{id}", response_model=ShareOut, responses=errors(404))
def delete_share(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """The subject revokes one of its shares: the link stops working at once."""
    share = share_service.revoke_own_share(api_of(request).engine, principal, id)
    return _share_out(share_service.share_json(share, utc_now()))


@router.get("/badges/{token}", response_model=Badge, responses=errors(404))
def get_badge(request: Request, principal: Caller, token: str) -> dict[str, Any]:
    """The badge behind a link, for the relying party it was shared with only (with its own
    key: the link alone is not enough). Another party's, a revoked or an expired link is 404.
    The read goes into the subject's access log."""
    badge = share_service.read_badge(api_of(request).engine, principal, token)
    return {**badge, "shared_at": utc(badge["shared_at"])}


# ------------------------------------------------------------------------------ opt-ins


@router.get("/subjects/{id}/settings", response_model=SettingsOut, responses=errors())
def get_settings(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """The subject's own opt-ins (all off until it turns them on)."""
    return social.get_settings(api_of(request).engine, principal, id)


@router.put("/subjects/{id}/settings", response_model=SettingsOut, responses=errors())
def put_settings(request: Request, principal: Caller, id: str, body: SettingsIn) -> dict[str, Any]:
    """The subject turns its opt-ins on or off: a public percentile, a place on the public
    leaderboard, and the "higher or lower" game with confirmed relations."""
    chosen = Settings(body.public_percentile, body.leaderboard, body.game)
    return social.put_settings(api_of(request).engine, principal, id, chosen)


# ------------------------------------------------------------------------------ public

ProgramQuery = Annotated[str, Query(description="A program id, e.g. sesame or rongcheng.")]


@router.get(
    "/public/subjects/{id}/percentile",
    response_model=PublicPercentile,
    responses=PUBLIC_ERRORS,
    dependencies=[Public],
)
def public_percentile(request: Request, id: str, program: ProgramQuery) -> dict[str, Any]:
    """No key needed. A subject's latest percentile under a program, only if it opted in;
    otherwise 404, exactly as for an unknown subject. The read is logged for the subject."""
    return social.public_percentile(api_of(request).engine, id, program)


@router.get(
    "/public/leaderboard",
    response_model=Leaderboard,
    responses=PUBLIC_ERRORS,
    dependencies=[Public],
)
def public_leaderboard(
    request: Request,
    program: ProgramQuery,
    kind: Annotated[
        str | None, Query(pattern="^(person|organisation)$", description="person or organisation.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=social.LEADERBOARD_MAX)] = 10,
) -> dict[str, Any]:
    """No key needed. The best latest scores under a program among subjects who opted in,
    with registry names (a resident ID is never shown). Each listing is logged for the
    subjects on it."""
    return social.public_leaderboard(api_of(request).engine, program, kind=kind, limit=limit)


# ------------------------------------------------------------------------------ the game


@router.post("/games/higher-or-lower", response_model=GuessOut, responses=errors())
def higher_or_lower(request: Request, principal: Caller, body: GuessIn) -> dict[str, Any]:
    """A subject guesses whether its latest score under a program is higher or lower than a
    confirmed relation's; both must have opted in to the game. Only whether the guess is right
    is answered, never the other's score or the difference; equal scores make both guesses
    wrong. The play goes into the other's access log."""
    correct = social.higher_or_lower(
        api_of(request).engine,
        principal,
        other=body.other,
        program=body.program,
        guess=body.guess,
    )
    return {"correct": correct}
