"""Retention over HTTP: the purge log (admins), a subject's purges as part of its file, and
the schedule on which the server runs `maintain` in the background."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from socialcredit.api.background import Periodic, running
from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import AUTH_ERRORS, Caller, Cursor, Limit, api_of, errors
from socialcredit.services import maintenance as service
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["retention"])


class PurgeOut(BaseModel):
    """A record the retention purge deleted: what it was, never its content."""

    id: int
    purged_at: datetime
    record_id: int = Field(description="The id the record had in the ledger.")
    furnisher: str
    external_id: str
    subject: str
    kind: str
    occurred_at: datetime
    reason: str = Field(description="Why it was purged: its retention period, or its chain.")


class Purges(BaseModel):
    items: list[PurgeOut]
    next_cursor: str | None


class SubjectPurges(BaseModel):
    subject: str
    kind: str
    items: list[PurgeOut]
    next_cursor: str | None


@router.get("/purges", response_model=Purges, responses=AUTH_ERRORS)
def get_purges(
    request: Request, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Response:
    """The purge log, oldest first (admins): every record the retention purge deleted, with
    why. Each subject named is told in its access log."""
    items, next_cursor = service.list_purges(
        api_of(request).engine, principal, PageRequest(cursor, limit)
    )
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@router.get("/subjects/{id}/purges", response_model=SubjectPurges, responses=errors(404))
def get_subject_purges(
    request: Request,
    principal: Caller,
    id: str,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """The subject's records that the retention purge deleted, oldest first. The subject's
    own; admins too (the read is logged where the subject sees it)."""
    body = service.subject_purges(api_of(request).engine, principal, id, PageRequest(cursor, limit))
    return JSONResponse(body)


# ------------------------------------------------------------------------------ the schedule


def _maintain(engine: sa.Engine) -> dict[str, Any]:
    return service.maintain(engine).as_json()


def scheduled(engine: sa.Engine, seconds: float) -> AbstractContextManager[Periodic | None]:
    """Maintenance at start and then every `seconds` while the app runs (0: none); a run that
    finds another under way is skipped."""
    return running("maintenance", seconds, lambda: _maintain(engine), (service.MaintenanceBusy,))
