"""What every route shares: the app's state, the caller's principal (key and rate limit),
paging parameters and the documented error answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from socialcredit.api import problems
from socialcredit.api.metrics import Metrics
from socialcredit.api.problems import Problem
from socialcredit.api.ratelimit import TokenBucket, retry_after
from socialcredit.domain.consents import Purpose
from socialcredit.domain.principals import Principal
from socialcredit.services import principals as principal_service
from socialcredit.services.pages import MAX_LIMIT


@dataclass(frozen=True)
class ApiSettings:
    """How the service runs: rate limits per principal (requests a second, and the burst a
    key may spend at once; rate 0 turns limiting off), the largest request body, how many
    requests may use the store at once (keep it below the store's connection pool), and how
    long a checked key is trusted without asking the store again (a key revoked through this
    server stops at once; one revoked elsewhere, within this time). `maintain_every`: seconds
    between the background runs of `maintain` (the first at start; 0, the default here, runs
    none; `socialcredit serve` runs it daily). `work_every`: seconds between the worker's
    drains of the outbox (0, the default here, runs none; `socialcredit serve` drains every
    second). `failed_auth_rate` and `failed_auth_burst`: failed keys (and enrolment codes) a
    client address may send, at once and a second after that, before it is answered 429
    without a look-up (rate 0 turns this off)."""

    rate: float = 100.0
    burst: int = 200
    max_body: int = 256 * 1024 * 1024
    threads: int = 4
    key_cache_seconds: float = 5.0
    maintain_every: float = 0.0
    work_every: float = 0.0
    failed_auth_rate: float = 1.0
    failed_auth_burst: int = 20
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
    """What every handler needs: the store, the settings, the limiters (per principal, and of
    failed authentications per client address), the metrics and the keys checked lately."""

    engine: sa.Engine
    settings: ApiSettings
    limiter: TokenBucket
    metrics: Metrics
    keys: KeyCache
    failures: TokenBucket


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------ auth

bearer = HTTPBearer(auto_error=False, description="A key from `socialcredit principal add`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="socialcredit"'}


def client_address(request: Request) -> str:
    """The caller's address: the socket's peer (a proxy's forwarded address only where `serve
    --forwarded-allow-ips` trusts that proxy)."""
    return request.client.host if request.client else "unknown"


def refuse_failing_address(request: Request) -> None:
    """Answer 429 to an address past its budget of failed authentications, before any key or
    code it sends is looked up."""
    api = api_of(request)
    _refuse_failures(api, api.failures.wait(client_address(request)))


def count_failure(request: Request) -> None:
    """Spend one failed authentication from the caller's address (429 when none was left)."""
    api = api_of(request)
    _refuse_failures(api, api.failures.take(client_address(request)))


def _refuse_failures(api: Api, wait: float) -> None:
    if wait:
        raise Problem(
            429,
            "rate-limited",
            f"too many failed keys from this address: at most {api.failures.burst} at once and "
            f"{api.failures.rate:g} a second after that; retry in {wait:.2f} s",
            {"Retry-After": retry_after(wait)},
        )


async def _checked_key(request: Request, key: str) -> Principal:
    """The principal holding `key`, looked up only while the caller's address has failed
    authentications to spare (401 for a key unknown or revoked)."""
    api = api_of(request)
    key_hash = principal_service.secret_hash(key)
    principal = api.keys.get(key_hash)
    if principal is None:
        refuse_failing_address(request)
        principal = await run_in_threadpool(principal_service.authenticate, api.engine, key)
        if principal is None:
            count_failure(request)
            raise Problem(401, "unauthorized", "unknown or revoked key", CHALLENGE)
        api.keys.put(key_hash, principal)
    return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The principal whose key the call carries (401 without one), within its rate limit
    (429 past it)."""
    api = api_of(request)
    if credentials is None:
        detail = (
            "no key: send `Authorization: Bearer KEY`"
            if "authorization" not in request.headers
            else "the Authorization header must be `Bearer KEY`"
        )
        raise Problem(401, "unauthorized", detail, CHALLENGE)
    principal = await _checked_key(request, credentials.credentials.strip())
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


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal | None:
    """The caller's principal when it sends a key (checked as every key is), else None: an
    anonymous call, rate-limited by address."""
    if credentials is None and "authorization" not in request.headers:
        public_caller(request)
        return None
    return await current_principal(request, credentials)


MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` from the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]


def problem_doc(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {problems.MEDIA_TYPE: {"schema": schema}}}


def retry_header() -> dict[str, Any]:
    return {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: problem_doc("The request cannot be read (a malformed body, or a cursor not handed out)."),
    401: {
        **problem_doc("No key, or an unknown or revoked one."),
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    },
    403: problem_doc("The key's role may not do this (or it lacks the subject's consent)."),
    422: problem_doc("A parameter is missing or malformed."),
    429: {**problem_doc("Rate limit reached."), "headers": retry_header()},
}


def errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    described = {
        404: "Not in the store.",
        413: "The body is too large.",
        415: "The body is neither JSON nor NDJSON.",
    }
    out = dict(AUTH_ERRORS)
    for status in extra:
        out[status] = problem_doc(described[status])
    return out


PurposeQuery = Annotated[
    Purpose | None,
    Query(description="Why a relying party reads: required for relying parties."),
]
ConsentHeader = Annotated[
    str | None,
    Header(alias="X-Consent", description="The subject's consent token (relying parties)."),
]


def public_caller(request: Request) -> None:
    """Anonymous calls (the /v1/public routes) are rate-limited by the caller's address, as
    keys are by principal."""
    api = api_of(request)
    wait = api.limiter.take(f"public:{client_address(request)}")
    if wait:
        raise Problem(
            429,
            "rate-limited",
            f"anonymous callers may make {api.limiter.rate:g} requests a second; "
            f"retry in {wait:.2f} s",
            {"Retry-After": retry_after(wait)},
        )


Public = Depends(public_caller)
# No key, so never a 401 or 403.
PUBLIC_ERRORS = {status: doc for status, doc in errors(404).items() if status not in (401, 403)}
