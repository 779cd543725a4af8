"""The HTTP API over the store: furnishers send records, subjects read their file and grant
consent, relying parties read with consent, admins manage principals.

Every /v1 call carries `Authorization: Bearer KEY`. Handlers parse, call a service, render;
the services decide who may do what and log every read of a subject's file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from socialcredit import __version__
from socialcredit.api import (
    disputes,
    lists,
    maintenance,
    models,
    problems,
    reports,
    stats,
    worker,
)
from socialcredit.api import keys as keys_api
from socialcredit.api import sharing as sharing_api
from socialcredit.api import tips as tips_api
from socialcredit.api.bodies import JsonRoute
from socialcredit.api.deps import (
    AUTH_ERRORS,
    Api,
    ApiSettings,
    Caller,
    ConsentHeader,
    Cursor,
    KeyCache,
    Limit,
    PurposeQuery,
    api_of,
    errors,
    problem_doc,
    utc,
)
from socialcredit.api.headers import SecurityHeaders
from socialcredit.api.keys import principal_out as _principal_out
from socialcredit.api.metrics import Metrics, RequestMetrics
from socialcredit.api.problems import Problem
from socialcredit.api.ratelimit import TokenBucket
from socialcredit.domain.consents import Consent, Purpose
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.services import consents as consent_service
from socialcredit.services import principals as principal_service
from socialcredit.services.health import store_problem
from socialcredit.services.pages import DEFAULT_LIMIT, PageRequest
from socialcredit.services.reads import read_subject
from socialcredit.services.submissions import (
    JSON_TYPES,
    NDJSON_TYPES,
    list_submissions,
    parse_body,
    submit_records,
)
from socialcredit.web import install as install_portal

# ------------------------------------------------------------------------------ renderers


def _consent_out(c: Consent, now: datetime) -> dict[str, Any]:
    return {
        "id": c.id,
        "subject": c.subject,
        "relying_party": c.relying_party,
        "purpose": c.purpose.value,
        "scope": [s.value for s in c.scopes],
        "granted_at": utc(c.granted_at),
        "expires_at": utc(c.expires_at),
        "revoked_at": utc(c.revoked_at),
        "status": c.status(now),
    }


# ------------------------------------------------------------------------------ routes

ops = APIRouter(route_class=JsonRoute, tags=["operations"])
v1 = APIRouter(route_class=JsonRoute, prefix="/v1")


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
    problem = store_problem(api_of(request).engine)
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
    body = generate_latest(api_of(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@ops.get(
    "/problems/{slug}",
    response_model=models.ProblemType,
    responses={404: problem_doc("No such problem type.")},
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
    responses=errors(413, 415),
)
async def post_records(request: Request, principal: Caller) -> Response:
    """Send one record (application/json) or many (application/x-ndjson, up to 100,000) in the
    interchange format, for the kinds this key may send. Re-sent records (same furnisher and
    external id) count as duplicates and change nothing. Bad rows are rejected with their line
    and reason; a body that cannot be read at all changes nothing. The subjects of new records
    are rescored before the answer, so the next read shows their new scores."""
    api = api_of(request)
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
        api_of(request).engine, principal, furnisher, PageRequest(cursor, limit)
    )
    return JSONResponse({"items": items, "next_cursor": next_cursor})


# ---- subjects


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
        api_of(request).engine,
        principal,
        subject,
        part,
        endpoint=f"GET /v1/subjects/{{id}}/{part}",
        purpose=None if purpose is None else purpose.value,
        consent_token=consent,
        page=PageRequest(cursor, limit),
    )
    return JSONResponse(body)


SUBJECT_ERRORS = errors(404)


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
        api_of(request).engine,
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
        api_of(request).engine, principal, PageRequest(cursor, limit)
    )
    now = principal_service.utc_now()
    return {"items": [_consent_out(c, now) for c in items], "next_cursor": next_cursor}


@v1.delete(
    "/consents/{id}",
    response_model=models.ConsentOut,
    tags=["consents"],
    responses=errors(404),
)
def delete_consent(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """The subject revokes a consent: its token stops working at once."""
    consent = consent_service.revoke_consent(api_of(request).engine, principal, id)
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
    """Create a principal (admin). The answer carries its key, shown only now. Not for
    subjects: a subject claims its own key with an enrolment code (POST /v1/enrolments)."""
    require_role(principal, Role.ADMIN)
    created = principal_service.create_principal(
        api_of(request).engine, new.role.value, new.name, subject=new.subject, kinds=new.kinds
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
        api_of(request).engine, PageRequest(cursor, limit)
    )
    return {"items": [_principal_out(p) for p in items], "next_cursor": next_cursor}


@v1.delete(
    "/principals/{id}",
    response_model=models.PrincipalOut,
    tags=["principals"],
    responses=errors(404),
)
def delete_principal(request: Request, principal: Caller, id: str) -> dict[str, Any]:
    """Revoke a principal (admin): its key stops working at once."""
    require_role(principal, Role.ADMIN)
    api = api_of(request)
    revoked = principal_service.revoke_principal(api.engine, id)
    api.keys.forget(revoked.id)
    return _principal_out(revoked)


# ------------------------------------------------------------------------------ the app


def create_app(
    engine: sa.Engine, settings: ApiSettings | None = None, background: sa.Engine | None = None
) -> FastAPI:
    """The API over the store behind `engine`; the background work (maintenance, the worker)
    uses `background` if given, an engine on the same store that may wait longer for a lock
    than a request should."""
    settings = settings or ApiSettings()
    behind = background or engine

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        with (
            maintenance.scheduled(behind, settings.maintain_every) as schedule,
            worker.scheduled(behind, settings.work_every) as draining,
        ):
            app.state.maintenance = schedule
            app.state.worker = draining
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
        # No documentation pages: FastAPI's load their scripts from a CDN. /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = Api(
        engine=engine,
        settings=settings,
        limiter=TokenBucket(settings.rate, settings.burst),
        metrics=Metrics(),
        keys=KeyCache(settings.key_cache_seconds),
        failures=TokenBucket(settings.failed_auth_rate, settings.failed_auth_burst),
    )
    problems.install(app)
    app.include_router(ops)
    app.include_router(v1)
    app.include_router(keys_api.router)
    app.include_router(lists.router)
    app.include_router(lists.public)
    app.include_router(reports.router)
    app.include_router(stats.router)
    app.include_router(disputes.router)
    app.include_router(sharing_api.router)
    app.include_router(tips_api.router)
    app.include_router(maintenance.router)
    install_portal(app)  # the portal, after every API route
    app.add_middleware(SecurityHeaders)
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
