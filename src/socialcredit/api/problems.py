"""Errors as RFC 9457 problem details (application/problem+json): type, title, status, detail.

Each problem type this API defines is a relative URI, /problems/<slug>, that the service itself
answers with a description; generic HTTP errors use about:blank.
"""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from socialcredit.api.logs import redacted_path
from socialcredit.services.errors import (
    Conflict,
    ConsentRefused,
    InvalidRequest,
    NotAllowed,
    NotFound,
    clipped,
)
from socialcredit.services.health import StoreBusy, store_busy
from socialcredit.services.pages import InvalidCursor
from socialcredit.services.subjects import SubjectNotFound
from socialcredit.services.submissions import TooManyRecords, UnreadableBody, UnsupportedMediaType

MEDIA_TYPE = "application/problem+json"

# slug: (title, what it means and what to do)
TYPES: dict[str, tuple[str, str]] = {
    "unauthorized": (
        "Authentication required",
        "Send `Authorization: Bearer KEY` with a key that has not been revoked: one that "
        "`socialcredit principal add` created, or a subject's own, claimed with an enrolment "
        "code.",
    ),
    "forbidden": (
        "Not allowed",
        "The key's role may not make this call, or a subject asked about another subject.",
    ),
    "consent-required": (
        "Consent required",
        "A relying party reads a subject's file only with a declared purpose and a valid consent "
        "token from that subject (header X-Consent) for this relying party, purpose and scope; "
        "the detail says which check failed (missing, expired, revoked, another party's, ...).",
    ),
    "not-found": ("Not found", "Nothing with this identifier is in the store."),
    "invalid-request": (
        "Invalid request",
        "A parameter or field is missing or malformed; the detail (and `errors`) say which.",
    ),
    "conflict": (
        "Conflict",
        "The request conflicts with the current state: e.g. the dispute or review is closed "
        "already, or one is open already; the detail says which.",
    ),
    "invalid-cursor": (
        "Invalid cursor",
        "Pass back only a `next_cursor` that the same list handed out.",
    ),
    "unreadable-body": (
        "Unreadable body",
        "The body cannot be read as records at all (not JSON, not UTF-8, no JSON object); "
        "nothing from it was stored.",
    ),
    "too-many-records": (
        "Too many records",
        "One request carries at most 100,000 records (and 256 MiB); split the upload. "
        "Nothing from it was stored.",
    ),
    "unsupported-media-type": (
        "Unsupported media type",
        "Send one record as application/json or many as application/x-ndjson.",
    ),
    "rate-limited": (
        "Too many requests",
        "This key, or this address (for calls without a key, and for failed keys and "
        "enrolment codes), has used up its budget for now; retry after the number of seconds "
        "in the Retry-After header.",
    ),
    "report-limit": (
        "Report limit reached",
        "A subject may file only so many reports of others' breaches in a window of days; "
        "`next_report_at` (and Retry-After, in seconds) says when the next one is possible.",
    ),
    "store-busy": (
        "Store busy",
        "Another process (a bulk ingest, say) kept the store locked for longer than a request "
        "waits; nothing was changed. Retry after the number of seconds in the Retry-After header.",
    ),
    "internal-error": ("Internal error", "The server failed; the request may be retried."),
}
BUSY_RETRY_SECONDS = 2
"""What a 503 for a busy store asks the client to wait before retrying."""

log = logging.getLogger("socialcredit.api")


def type_uri(slug: str) -> str:
    return f"/problems/{slug}"


class Problem(Exception):
    """An error answered as a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


DETAIL_LIMIT = 1_000
"""The longest detail a problem document carries (each quote of input in it is shorter)."""
MAX_ERRORS = 20
"""The most entries a problem document's `errors` lists."""


def problem_response(
    status: int,
    slug: str | None,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem document: `slug` names one of TYPES, None means about:blank. Whatever input
    the detail and the extra members quote is cut short, so an answer never grows with the
    request."""
    if slug is None:
        body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase}
    else:
        body = {"type": type_uri(slug), "title": TYPES[slug][0]}
    body.update(status=status, detail=clipped(detail, DETAIL_LIMIT), **_bounded(extra))
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _bounded(value: Any) -> Any:
    """A problem document's member with every text cut to ECHO_LIMIT characters and every
    list to MAX_ERRORS items."""
    if isinstance(value, str):
        return clipped(value)
    if isinstance(value, list | tuple):
        return [_bounded(item) for item in value[:MAX_ERRORS]]
    if isinstance(value, dict):
        return {clipped(str(key)): _bounded(item) for key, item in value.items()}
    return value


# Service errors, most specific first: (class, status, slug).
SERVICE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ConsentRefused, 403, "consent-required"),
    (NotAllowed, 403, "forbidden"),
    (SubjectNotFound, 404, "not-found"),
    (NotFound, 404, "not-found"),
    (InvalidCursor, 400, "invalid-cursor"),
    (UnreadableBody, 400, "unreadable-body"),
    (TooManyRecords, 413, "too-many-records"),
    (UnsupportedMediaType, 415, "unsupported-media-type"),
    (Conflict, 409, "conflict"),
    (InvalidRequest, 422, "invalid-request"),
)


def _validation_detail(errors: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The detail and the `errors` entries of a validation failure: at most MAX_ERRORS of
    them, each quoting no more than ECHO_LIMIT characters of the input."""
    items = []
    for error in errors[:MAX_ERRORS]:
        where = clipped(".".join(str(p) for p in error.get("loc", ())))
        message = str(error.get("msg", "invalid"))
        reason = (error.get("ctx") or {}).get("error")
        if error.get("type") == "json_invalid" and reason:
            message = f"{message}: {reason}"
        items.append({"where": where, "message": clipped(message)})
    detail = "; ".join(f"{i['where']}: {i['message']}" for i in items) or "invalid request"
    if len(errors) > MAX_ERRORS:
        detail += f"; and {len(errors) - MAX_ERRORS:,} more"
    return detail, items


def install(app: FastAPI) -> None:
    """Answer every error as a problem document."""

    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.slug, exc.detail, exc.headers, **exc.extra)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, None, detail, dict(exc.headers or {}))

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail, items = _validation_detail(list(exc.errors()))
        return problem_response(422, "invalid-request", detail, errors=items)

    async def on_service(_request: Request, exc: Exception) -> JSONResponse:
        for cls, status, slug in SERVICE_ERRORS:
            if isinstance(exc, cls):
                return problem_response(status, slug, str(exc))
        raise exc  # pragma: no cover - registered only for the classes above

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        if store_busy(exc):
            log.warning("store busy on %s %s", request.method, request.url.path)
            detail = "the store is busy (another process is writing to it); retry shortly"
            retry = {"Retry-After": str(BUSY_RETRY_SECONDS)}
            return problem_response(503, "store-busy", detail, retry)
        return await on_crash(request, exc)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        if store_busy(exc):  # a driver's own error class, raised past SQLAlchemy
            return await on_store_error(request, exc)
        log.error(
            "unhandled error on %s %s",
            request.method,
            redacted_path(request.url.path, request.path_params),
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return problem_response(500, "internal-error", "the server failed to answer")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for cls, _status, _slug in SERVICE_ERRORS:
        app.add_exception_handler(cls, on_service)
    for store_error in (StoreBusy, sa.exc.OperationalError, sqlite3.OperationalError):
        app.add_exception_handler(store_error, on_store_error)
    app.add_exception_handler(Exception, on_crash)
