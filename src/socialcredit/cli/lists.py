"""`socialcredit lists`, `decide` and `flags`: lists, decisions and phoenix flags for operators."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.domain.principals import Principal, Role
from socialcredit.services.decisions import DecisionRequest, decide_one
from socialcredit.services.errors import ConsentRefused, InvalidRequest, NotAllowed, NotFound
from socialcredit.services.lists import apply_for_repair, entry_json, list_entries, phoenix_flags
from socialcredit.services.principals import utc_now

# Reads made at the command line are logged under this principal in the subject's access log.
OPERATOR = "operator"


def operator() -> Principal:
    """The principal an operator at the command line acts as."""
    return Principal(OPERATOR, Role.ADMIN, "operator at the command line", utc_now())


def lists(
    name: Annotated[str | None, typer.Argument(help="A list (default: every list).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most N entries.")] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Who is on the lists now: since, until, the records that put them there."""
    engine = ready_store(db)
    try:
        entries = list_entries(engine, name, limit=limit)
    except NotFound as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps([entry_json(e) for e in entries]))
        return
    table = Table(title=f"{name or 'all lists'}: {len(entries):,} entries")
    for column in ("subject", "list", "since", "until", "records"):
        table.add_column(column)
    for e in entries:
        ids = ", ".join(map(str, e.record_ids[:5])) + (" ..." if len(e.record_ids) > 5 else "")
        since, until = e.since.date().isoformat(), e.until.date().isoformat()
        table.add_row(e.subject, e.list, since, until, ids)
    console.print(table)


def decide(
    subject: Annotated[str, typer.Argument(help="Resident ID or USCC.")],
    service: Annotated[str, typer.Argument(help="A service of the measures catalogue.")],
    purpose: Annotated[str | None, typer.Option(help="Why the decision is asked.")] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """May SUBJECT have SERVICE? The decision, the measures applied and the trace of every rule
    evaluated; the decision is logged in the subject's access log."""
    engine = ready_store(db)
    try:
        body = decide_one(
            engine,
            operator(),
            DecisionRequest(subject, service, purpose),
            endpoint="socialcredit decide",
        )
    except (NotFound, InvalidRequest, NotAllowed, ConsentRefused) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(body))
        return
    colour = {"allow": "green", "deny": "red"}.get(body["decision"], "yellow")
    console.print(
        f"{body['subject']} / {body['service']}: [{colour}]{body['decision']}[/{colour}] "
        f"(program {body['program']}, policy {body['policy_version']}, "
        f"catalogue {body['catalogue_version']}, decision {body['id']})"
    )
    for m in body["measures"]:
        console.print(f"  measure {m['id']}: {m['title']} ({m['effect']})", highlight=False)
    table = Table(title="trace")
    for column in ("rule", "test", "inputs", "outcome"):
        table.add_column(column, overflow="fold")
    for step in body["trace"]:
        table.add_row(
            step["rule"], step.get("test", ""), json.dumps(step["inputs"]), step["outcome"]
        )
    console.print(table)


def flags(as_json: Json = False, db: Db = None) -> None:
    """Organisations flagged for review as possible phoenixes of blacklisted ones."""
    engine = ready_store(db)
    with engine.connect() as connection:
        found = phoenix_flags(connection, utc_now())
    if as_json:
        print(json.dumps([{"subject": s, "why": w} for s, w in sorted(found.items())]))
        return
    if not found:
        console.print("no organisation is flagged")
    for subject, why in sorted(found.items()):
        console.print(f"{subject}: {why}", highlight=False)


def repair(
    subject: Annotated[str, typer.Argument(help="Resident ID or USCC of the listed subject.")],
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="The list to be repaired.")],
    commitment: Annotated[str, typer.Option(help="The subject's credit commitment, in its words.")],
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Apply for credit repair on a subject's behalf (a counter clerk's job): decided at once by
    the rules and recorded; exit 1 when refused, saying why."""
    engine = ready_store(db)
    try:
        outcome = apply_for_repair(engine, operator(), list_name, commitment, subject=subject)
    except (NotFound, InvalidRequest, NotAllowed) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(outcome.as_json()))
    else:
        console.print(f"repair {outcome.id}: {outcome.status}: {outcome.reason}", highlight=False)
    if outcome.status != "granted":
        raise typer.Exit(1)
