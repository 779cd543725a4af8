"""Retention over HTTP: the purge log (admins), a subject's purges as part of its file, and
the schedule on which the server runs `maintain` in the background."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import AUTH_ERRORS, Caller, Cursor, Limit, api_of, errors
from socialcredit.services import maintenance as service
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["retention"])
log = logging.getLogger("socialcredit.maintenance")


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


class MaintenanceSchedule:
    """Runs `maintain` at start and then every `seconds`, on a thread of its own, until
    stopped. A failed run is logged and the next one runs on time."""

    def __init__(self, engine: sa.Engine, seconds: float) -> None:
        self.engine = engine
        self.seconds = seconds
        self.runs = 0
        self.last: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(wait)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = service.maintain(self.engine)
            except service.MaintenanceBusy as exc:
                log.info("maintenance skipped: %s", exc)
            except Exception:
                log.exception("maintenance failed")
            else:
                self.runs += 1
                self.last = report.as_json()
                log.info("maintenance done", extra={"maintenance": self.last})
            self._stop.wait(self.seconds)


@contextmanager
def scheduled(engine: sa.Engine, seconds: float) -> Iterator[MaintenanceSchedule | None]:
    """Maintenance on a schedule while the app runs (seconds 0: none)."""
    if seconds <= 0:
        yield None
        return
    schedule = MaintenanceSchedule(engine, seconds)
    schedule.start()
    try:
        yield schedule
    finally:
        schedule.stop()
