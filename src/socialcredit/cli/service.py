"""`socialcredit serve` and `socialcredit principal ...`: run the HTTP API and manage who may
call it."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from socialcredit.cli.common import Db, console, errors, fail, ready_store
from socialcredit.domain.principals import ROLES

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from socialcredit.services.principals import NewPrincipal

principal_app = typer.Typer(
    help="Manage the principals (API keys) of the HTTP service.", no_args_is_help=True
)
REQUEST_BUSY_SECONDS = 2.0
"""How long a request waits for a store another process writes to, unless serve is told."""


@principal_app.command("add")
def principal_add(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[
        str,
        typer.Option(
            help="Display name; for a furnisher, the id of a registered furnisher "
            "(socialcredit furnisher add)."
        ),
    ],
    subject: Annotated[
        str | None,
        typer.Option(
            help="For role subject: the resident ID or USCC. A subject's key is claimed by the "
            "subject: this prints an enrolment code for it to redeem (socialcredit principal "
            "enrol CODE), not a key."
        ),
    ] = None,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="For role furnisher: comma-separated record kinds the key may send "
            "(default: all its furnisher type may send)."
        ),
    ] = None,
    hours: Annotated[
        int, typer.Option(min=1, max=720, help="For role subject: hours the code may be redeemed.")
    ] = 72,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: id, role, key (for a subject: enrolment, subject, code, "
            "expires_at).",
        ),
    ] = False,
    db: Db = None,
) -> None:
    """Create a principal and print its key, or for a subject an enrolment code that the
    subject redeems for its own key. A key or code is shown only this once; only its hash is
    stored. A subject not in the store yet is warned of."""
    from socialcredit.services.errors import InvalidRequest
    from socialcredit.services.principals import create_principal

    engine = ready_store(db)
    if role == "subject":
        if kinds:
            raise fail("--kinds is only for principals with the role furnisher")
        _enrolment_code(engine, subject, name, hours, as_json)
        return
    try:
        created = create_principal(
            engine,
            role,
            name,
            subject=subject,
            kinds=kinds.split(",") if kinds else None,
        )
    except InvalidRequest as exc:
        raise fail(str(exc)) from None
    _print_key(created, as_json)


def _print_key(created: NewPrincipal, as_json: bool) -> None:
    """Show a new principal and its key, the only time the key is seen."""
    p = created.principal
    if as_json:
        print(json.dumps({"id": p.id, "role": p.role.value, "key": created.key}))
        return
    bound = f", subject {p.subject}" if p.subject else ""
    if p.kinds:
        bound += f", kinds {', '.join(p.kinds)}"
    console.print(f"principal {p.id} ({p.role.value}, {p.name}{bound}) created", highlight=False)
    console.print(f"key: {created.key}", highlight=False, soft_wrap=True)
    console.print("Store the key now: it is shown only once.")


def _enrolment_code(
    engine: Engine, subject: str | None, name: str, hours: int, as_json: bool
) -> None:
    """Issue an enrolment code as the operator and print it with the ways to redeem it."""
    from socialcredit.services.enrolments import issue_enrolment, operator
    from socialcredit.services.errors import InvalidRequest
    from socialcredit.services.subjects import subject_known

    try:
        made = issue_enrolment(
            engine,
            operator(),
            subject or "",
            name,
            hours=hours,
            endpoint="socialcredit principal add",
        )
    except InvalidRequest as exc:
        raise fail(str(exc)) from None
    e = made.enrolment
    if not subject_known(engine, e.subject):
        errors.print(
            f"warning: no subject {e.subject} in the store yet: its key reads nothing until its "
            "records are ingested",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    until = e.expires_at.replace(microsecond=0).isoformat() + "Z"
    if as_json:
        out = {"enrolment": e.id, "subject": e.subject, "code": made.code, "expires_at": until}
        print(json.dumps(out))
        return
    _say(f"enrolment {e.id} for subject {e.subject} ({e.name}), valid until {until}")
    _say(f"code: {made.code}")
    _say("Give the code to the subject only: it works once. The subject redeems it for its")
    _say(f"own key with: socialcredit principal enrol {made.code}")
    _say(f"or over HTTP: POST /v1/enrolments/{made.code} (no key needed)")


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@principal_app.command("enrol")
def principal_enrol(
    code: Annotated[
        str, typer.Argument(help="The enrolment code (sce_...) the subject was given.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: id, role, key.")
    ] = False,
    db: Db = None,
) -> None:
    """Redeem an enrolment code for the subject's own key and print the key (shown only this
    once). A code works once, before it expires; the subject's access log shows it."""
    from socialcredit.services.enrolments import redeem_enrolment
    from socialcredit.services.errors import NotFound

    try:
        created = redeem_enrolment(
            ready_store(db), code.strip(), endpoint="socialcredit principal enrol"
        )
    except NotFound as exc:
        raise fail(str(exc)) from None
    _print_key(created, as_json)


@principal_app.command("list")
def principal_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    db: Db = None,
) -> None:
    """List principals (never their keys)."""
    from socialcredit.services.pages import MAX_LIMIT, PageRequest
    from socialcredit.services.principals import list_principals

    engine = ready_store(db)
    everyone = []
    cursor: str | None = None
    while True:
        page, cursor = list_principals(engine, PageRequest(cursor, MAX_LIMIT))
        everyone.extend(page)
        if cursor is None:
            break
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": p.id,
                        "role": p.role.value,
                        "name": p.name,
                        "subject": p.subject,
                        "furnisher": p.furnisher,
                        "kinds": list(p.kinds),
                        "created_at": p.created_at.isoformat() + "Z",
                        "revoked_at": None
                        if p.revoked_at is None
                        else p.revoked_at.isoformat() + "Z",
                    }
                    for p in everyone
                ]
            )
        )
        return
    for p in everyone:
        extra = p.subject or ", ".join(p.kinds) or ""
        state = "revoked" if p.revoked_at else "active"
        console.print(f"{p.id}  {p.role.value:<13} {state:<8} {p.name}  {extra}", highlight=False)


@principal_app.command("revoke")
def principal_revoke(
    principal_id: Annotated[str, typer.Argument(help="The principal's id (p_...).")],
    db: Db = None,
) -> None:
    """Revoke a principal: its key stops working at once."""
    from socialcredit.services.errors import NotFound
    from socialcredit.services.principals import revoke_principal

    try:
        revoke_principal(ready_store(db), principal_id)
    except NotFound as exc:
        raise fail(str(exc)) from None
    console.print(f"principal {principal_id} revoked", highlight=False)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    rate_limit: Annotated[
        float,
        typer.Option(min=0, help="Requests a second each key may make (0: no limit)."),
    ] = 100.0,
    burst: Annotated[
        int, typer.Option(min=1, help="Requests a key may make at once before the rate applies.")
    ] = 200,
    threads: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Requests that may use the store at once (each holds a connection)."
        ),
    ] = 4,
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error. Logs are JSON lines on stderr.")
    ] = "info",
    maintain_every: Annotated[
        float,
        typer.Option(
            min=0,
            help="Run `socialcredit maintain` at start and then every this many hours, in the "
            "background (0: never).",
        ),
    ] = 24.0,
    work_every: Annotated[
        float,
        typer.Option(
            min=0,
            help="Drain the outbox (rescore what changed) every this many seconds, in the "
            "background (0: never; then run `socialcredit work`).",
        ),
    ] = 1.0,
    failed_auth_rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Failed keys (or enrolment codes) a second one client address may send after "
            "its burst; past that it gets 429 and nothing it sends is looked up (0: no limit).",
        ),
    ] = 1.0,
    failed_auth_burst: Annotated[
        int, typer.Option(min=1, help="Failed keys an address may send at once.")
    ] = 20,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses of the proxies in front of the server whose "
            "X-Forwarded-For names the client. Without it those headers are ignored and the "
            "client's address is the connection's.",
        ),
    ] = None,
    busy_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            max=60,
            help="Seconds a request waits for the store while another process writes to it (a "
            "bulk ingest, say) before answering 503 with Retry-After. Background work waits "
            "SOCIALCREDIT_BUSY_TIMEOUT seconds (30).",
        ),
    ] = REQUEST_BUSY_SECONDS,
    db: Db = None,
) -> None:
    """Serve the HTTP API (docs/api.md) over the store until interrupted."""

    level = log_level.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise fail("--log-level must be debug, info, warning or error")
    engine = ready_store(db, busy=busy_timeout)
    background = ready_store(db)

    import uvicorn

    from socialcredit.api import ApiSettings, create_app
    from socialcredit.api.logs import configure

    configure(level)
    # Hand the interpreter lock over sooner than every 5 ms: the event loop answers between
    # store calls instead of queueing behind a busy worker thread.
    sys.setswitchinterval(0.0005)
    settings = ApiSettings(
        rate=rate_limit,
        burst=burst,
        threads=threads,
        maintain_every=maintain_every * 3600,
        work_every=work_every,
        failed_auth_rate=failed_auth_rate,
        failed_auth_burst=failed_auth_burst,
    )
    app = create_app(engine, settings, background)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=level,
        access_log=False,
        server_header=False,
        # The per-address limits see the connection's address unless a named proxy forwards it.
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
    )
