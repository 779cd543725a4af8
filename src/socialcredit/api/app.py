"""The HTTP API over the store: furnishers send records, subjects read their file and grant
consent, relying parties read with consent, admins manage principals.

Every /v1 call carries `Authorization: Bearer KEY`. Handlers parse, call a service, render;
the services decide who may do what and log every read of a subject's file.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Security
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from socialcredit import __version__
from socialcredit.api import models, problems
from socialcredit.api.metrics import Metrics, RequestMetrics
from socialcredit.api.problems import Problem
from socialcredit.api.ratelimit import TokenBucket, retry_after
from socialcredit.domain.consents import Consent, Purpose
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.services import consents as consent_service
from socialcredit.services import principals as principal_service
from socialcredit.services.health import store_problem
from socialcredit.services.pages import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from socialcredit.services.reads import read_subject
from socialcredit.services.submissions import (
    JSON_TYPES,
    NDJSON_TYPES,
    list_submissions,
    parse_body,
    submit_records,
)


@dataclass(frozen=True)
class ApiSettings:
    """How the service runs: rate limits per principal (requests a second, and the burst a
    key may spend at once; rate 0 turns limiting off), the largest request body, how many
    requests may use the store at once (keep it below the store's connection pool), and how
    long a checked key is trusted without asking the store again (a key revoked through this
    server stops at once; one revoked elsewhere, within this time)."""

    rate: float = 100.0
    burst: int = 200
    max_body: int = 256 * 1024 * 1024
    threads: int = 4
    key_cache_seconds: float = 5.0
    rescore: Callable[[sa.Engine, list[str]], list[str]] | None = field(default=None, compare=False)


class KeyCache:
    """Principals whose keys were checked lately, by key hash, for a few seconds."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._known: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        found = self._known.get(key_hash)
        if found is None:
            return None
        if found[1] <= self._clock():
            self._known.pop(key_hash, None)
            return None
        return found[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.seconds > 0:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[key_hash] = (principal, self._clock() + self.seconds)

    def forget(self, principal_id: str) -> None:
        for key_hash, (principal, _) in list(self._known.items()):
            if principal.id == principal_id:
                self._known.pop(key_hash, None)


@dataclass
class Api:
    """What every handler needs: the store, the settings, the limiter, the metrics and the
    keys checked lately."""

    engine: sa.Engine
    settings: ApiSettings
    limiter: TokenBucket
    metrics: Metrics
    keys: KeyCache


def _api(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ auth

bearer = HTTPBearer(auto_error=False, description="A key from `socialcredit principal add`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="socialcredit"'}


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The principal whose key the call carries (401 without one), within its rate limit
    (429 past it)."""
    api = _api(request)
    if credentials is None:
        detail = (
            "no key: send `Authorization: Bearer KEY`"
            if "authorization" not in request.headers
            else "the Authorization header must be `Bearer KEY`"
        )
        raise Problem(401, "unauthorized", detail, CHALLENGE)
    key = credentials.credentials.strip()
    key_hash = principal_service.secret_hash(key)
    principal = api.keys.get(key_hash)
    if principal is None:
        principal = await run_in_threadpool(principal_service.authenticate, api.engine, key)
        if principal is None:
            raise Problem(401, "unauthorized", "unknown or revoked key", CHALLENGE)
        api.keys.put(key_hash, principal)
    request.state.principal = principal.id
    wait = api.limiter.take(principal.id)
    if wait:
        raise Problem(
            429,
            "rate-limited",
            f"this key may make {api.limiter.rate:g} requests a second "
            f"(bursts of {api.limiter.burst}); retry in {wait:.2f} s",
            {"Retry-After": retry_after(wait)},
        )
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` from the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {problems.MEDIA_TYPE: {"schema": schema}}}


def _retry_header() -> dict[str, Any]:
    return {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("The request cannot be read (a malformed body, or a cursor not handed out)."),
    401: {
        **_problem("No key, or an unknown or revoked one."),
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    },
    403: _problem("The key's role may not do this (or it lacks the subject's consent)."),
    422: _problem("A parameter is missing or malformed."),
    429: {**_problem("Rate limit reached."), "headers": _retry_header()},
}


def _errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    described = {
        404: "Not in the store.",
        413: "The body is too large.",
        415: "The body is neither JSON nor NDJSON.",
    }
    out = dict(AUTH_ERRORS)
    for status in extra:
        out[status] = _problem(described[status])
    return out


# ------------------------------------------------------------------------------ renderers


def _principal_out(p: Principal) -> dict[str, Any]:
    return {
        "id": p.id,
        "role": p.role.value,
        "name": p.name,
        "subject": p.subject,
        "furnisher": p.furnisher,
        "kinds": list(p.kinds),
        "created_at": _utc(p.created_at),
        "revoked_at": _utc(p.revoked_at),
    }


def _consent_out(c: Consent, now: datetime) -> dict[str, Any]:
    return {
        "id": c.id,
        "subject": c.subject,
        "relying_party": c.relying_party,
        "purpose": c.purpose.value,
        "scope": [s.value for s in c.scopes],
        "granted_at": _utc(c.granted_at),
        "expires_at": _utc(c.expires_at),
        "revoked_at": _utc(c.revoked_at),
        "status": c.status(now),
    }


# ------------------------------------------------------------------------------ routes

ops = APIRouter(tags=["operations"])
v1 = APIRouter(prefix="/v1")


@ops.get("/healthz", response_model=models.Health)
async def healthz() -> Response:
    """The process is up (no store access)."""
    return JSONResponse({"status": "ok"})


@ops.get(
    "/readyz",
    response_model=models.Ready,
    responses={503: {"model": models.Ready, "description": "The store is not ready."}},
)
def readyz(request: Request) -> Response:
    """The store answers and its schema is at the code's revision."""
    problem = store_problem(_api(request).engine)
    if problem:
        return JSONResponse({"status": "not ready", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ready", "detail": None})


@ops.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, records ingested, rescoring time."""
    body = generate_latest(_api(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@ops.get(
    "/problems/{slug}",
    response_model=models.ProblemType,
    responses={404: _problem("No such problem type.")},
)
async def problem_type(slug: str) -> Response:
    """What a problem type means and what to do about it."""
    if slug not in problems.TYPES:
        raise Problem(404, "not-found", f"no problem type {slug!r}")
    title, description = problems.TYPES[slug]
    return JSONResponse(
        {"type": problems.type_uri(slug), "title": title, "description": description}
    )


@v1.get("/me", response_model=models.PrincipalOut, tags=["principals"], responses=AUTH_ERRORS)
def me(principal: Caller) -> dict[str, Any]:
    """The principal this key belongs to."""
    return _principal_out(principal)


# ---- furnishers


RECORDS_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": models.RecordIn.model_json_schema()},
        "application/x-ndjson": {
            "schema": {
                "type": "string",
                "description": "One record (as application/json) per line; up to 100,000.",
            }
        },
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too-many-records", f"the body is larger than {limit:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too-many-records", f"the body is larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@v1.post(
    "/records",
    response_model=models.SubmissionResult,
    tags=["furnishers"],
    openapi_extra={"requestBody": RECORDS_BODY},
    responses=_errors(413, 415),
)
async def post_records(request: Request, principal: Caller) -> Response:
    """Send one record (application/json) or many (application/x-ndjson, up to 100,000) in the
    interchange format, for the kinds this key may send. Re-sent records (same furnisher and
    external id) count as duplicates and change nothing. Bad rows are rejected with their line
    and reason; a body that cannot be read at all changes nothing. The subjects of new records
    are rescored before the answer, so the next read shows their new scores."""
    api = _api(request)
    require_role(principal, Role.FURNISHER)
    media_type = request.headers.get("content-type", "")
    if media_type.split(";", 1)[0].strip().lower() not in (*JSON_TYPES, *NDJSON_TYPES):
        accepted = ", ".join((*JSON_TYPES, *NDJSON_TYPES))
        raise Problem(
            415,
            "unsupported-media-type",
            f"unsupported Content-Type {media_type!r}; use {accepted}",
        )
    body = await _read_body(request, api.settings.max_body)

    def work() -> dict[str, Any]:
        rows = parse_body(body, media_type)
        result = submit_records(api.engine, principal, rows, rescore=api.settings.rescore)
        api.metrics.records.labels("accepted").inc(result.accepted)
        api.metrics.records.labels("duplicate").inc(result.duplicates)
        api.metrics.records.labels("rejected").inc(result.rejected)
        if result.rescored_subjects:
            api.metrics.rescoring.observe(result.rescoring_seconds)
        return result.as_json()

    return JSONResponse(await run_in_threadpool(work))


@v1.get(
    "/records",
    response_model=models.Submissions,
    tags=["furnishers"],
    responses=AUTH_ERRORS,
)
def get_records(
    request: Request,
    principal: Caller,
    furnisher: Annotated[str, Query(description="`me` (or the key's own furnisher id).")] = "me",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Read back this furnisher's submissions, in the order they were stored."""
    items, next_cursor = list_submissions(
        _api(request).engine, principal, furnisher, PageRequest(cursor, limit)
    )
    return JSONResponse({"items": items, "next_cursor": next_cursor})


# ---- subjects


PurposeQuery = Annotated[
    Purpose | None,
    Query(description="Why a relying party reads: required for relying parties."),
]
ConsentHeader = Annotated[
    str | None,
    Header(alias="X-Consent", description="The subject's consent token (relying parties)."),
]


def _subject_read(
    request: Request,
    principal: Principal,
    subject: str,
    part: str,
    purpose: Purpose | None,
    consent: str | None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Response:
    body = read_subject(
        _api(request).engine,
        principal,
        subject,
        part,
        endpoint=f"GET /v1/subjects/{{id}}/{part}",
        purpose=None if purpose is None else purpose.value,
        consent_token=consent,
        page=PageRequest(cursor, limit),
    )
    return JSONResponse(body)


SUBJECT_ERRORS = _errors(404)


@v1.get(
    "/subjects/{id}/scores",
    response_model=models.SubjectScores,
    tags=["subjects"],
    responses=SUBJECT_ERRORS,
)
def subject_scores(
    request: Request,
    principal: Caller,
    id: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
) -> Response:
    """The subject's latest score under each program, with every contribution and reason
    (what `socialcredit show --json` prints). Subjects: their own id. Relying parties: with a
    purpose and the subject's consent (scope `scores`)."""
    return _subject_read(request, principal, id, "scores", purpose, x_consent)


@v1.get(
    "/subjects/{id}/history",
    response_model=models.SubjectHistory,
    tags=["subjects"],
    responses=SUBJECT_ERRORS,
)
def subject_history(
    request: Request,
    principal: Caller,
    id: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Every score snapshot of the subject, newest first (scope `history`)."""
    return _subject_read(request, principal, id, "history", purpose, x_consent, cursor, limit)


@v1.get(
    "/subjects/{id}/records",
    response_model=models.SubjectRecords,
    tags=["subjects"],
    responses=SUBJECT_ERRORS,
)
def subject_records(
    request: Request,
    principal: Caller,
    id: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """The subject's records in ledger order (scope `records`)."""
    return _subject_read(request, principal, id, "records", purpose, x_consent, cursor, limit)


@v1.get(
    "/subjects/{id}/relations",
    response_model=models.SubjectRelations,
    tags=["subjects"],
    responses=SUBJECT_ERRORS,
)
def subject_relations(
    request: Request,
    principal: Caller,
    id: str,
    purpose: PurposeQuery = None,
    x_consent: ConsentHeader = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Relations naming the subject on either side (scope `relations`)."""
    return _subject_read(request, principal, id, "relations", purpose, x_consent, cursor, limit)


@v1.get(
    "/subjects/{id}/access-log",
    response_model=models.SubjectAccessLog,
    tags=["subjects"],
    responses=AUTH_ERRORS,
)
def subject_access_log(
    request: Request,
    principal: Caller,
    id: str,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    """Every read of the subject's file, newest first: who, when, for what purpose, what was
    asked and a summary of what was returned. The subject's own only."""
    return _subject_read(request, principal, id, "access-log", None, None, cursor, limit)


# ---- consents


@v1.post(
    "/consents",
    response_model=models.ConsentCreated,
    status_code=201,
    tags=["consents"],
    responses=AUTH_ERRORS,
)
def post_consent(
    request: Request,
    principal: Caller,
    grant: models.ConsentIn,
) -> dict[str, Any]:
    """A subject lets a relying party read parts of its file (`scope`) for one purpose until
    an expiry. The answer carries the consent token, shown only now: hand it to the relying
    party, which sends it as X-Consent."""
    require_role(principal, Role.SUBJECT)
    created = consent_service.grant_consent(
        _api(request).engine,
        principal,
        relying_party=grant.relying_party,
        purpose=grant.purpose.value,
        scopes=[s.value for s in grant.scope],
        expires_at=grant.expires_at,
    )
    return {**_consent_out(created.consent, created.consent.granted_at), "token": created.token}


@v1.get("/consents", response_model=models.Consents, tags=["consents"], responses=AUTH_ERRORS)
def get_consents(
    request: Request,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A subject's consents, or those granted to a relying party (tokens are never shown
    again)."""
    items, next_cursor = consent_service.list_consents(
        _api(request).engine, principal, PageRequest(cursor, limit)
    )
    now = principal_service.utc_now()
    return {"items": [_consent_out(c, now) for c in items], "next_cursor": next_cursor}


@v1.delete(
    "/consents/{id}",
    response_model=models.ConsentOut,
    tags=["consents"],
    responses=_errors(404),
)
def delete_consent(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """The subject revokes a consent: its token stops working at once."""
    consent = consent_service.revoke_consent(_api(request).engine, principal, id)
    return _consent_out(consent, principal_service.utc_now())


# ---- principals (admin)


@v1.post(
    "/principals",
    response_model=models.PrincipalCreated,
    status_code=201,
    tags=["principals"],
    responses=AUTH_ERRORS,
)
def post_principal(request: Request, principal: Caller, new: models.PrincipalIn) -> dict[str, Any]:
    """Create a principal (admin). The answer carries its key, shown only now."""
    require_role(principal, Role.ADMIN)
    created = principal_service.create_principal(
        _api(request).engine, new.role.value, new.name, subject=new.subject, kinds=new.kinds
    )
    return {**_principal_out(created.principal), "key": created.key}


@v1.get("/principals", response_model=models.Principals, tags=["principals"], responses=AUTH_ERRORS)
def get_principals(
    request: Request,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Every principal (admin); keys are never shown again."""
    require_role(principal, Role.ADMIN)
    items, next_cursor = principal_service.list_principals(
        _api(request).engine, PageRequest(cursor, limit)
    )
    return {"items": [_principal_out(p) for p in items], "next_cursor": next_cursor}


@v1.delete(
    "/principals/{id}",
    response_model=models.PrincipalOut,
    tags=["principals"],
    responses=_errors(404),
)
def delete_principal(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """Revoke a principal (admin): its key stops working at once."""
    require_role(principal, Role.ADMIN)
    api = _api(request)
    revoked = principal_service.revoke_principal(api.engine, id)
    api.keys.forget(revoked.id)
    return _principal_out(revoked)


# ------------------------------------------------------------------------------ the app


def create_app(engine: sa.Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The API over the store behind `engine`."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        yield

    app = FastAPI(
        title="socialcredit",
        version=__version__,
        description=(
            "Furnishers send records; subjects read their file, see who read it and grant "
            "consent; relying parties read with a declared purpose and the subject's consent. "
            "Errors are RFC 9457 problem documents (application/problem+json)."
        ),
        lifespan=lifespan,
    )
    app.state.api = Api(
        engine=engine,
        settings=settings,
        limiter=TokenBucket(settings.rate, settings.burst),
        metrics=Metrics(),
        keys=KeyCache(settings.key_cache_seconds),
    )
    problems.install(app)
    app.include_router(ops)
    app.include_router(v1)
    app.add_middleware(RequestMetrics, metrics=app.state.api.metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = models.ProblemDoc.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
