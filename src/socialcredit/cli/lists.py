"""`socialcredit lists`, `decide` and `flags`: lists, decisions and phoenix flags for operators."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.cli.wording import plural
from socialcredit.domain.principals import Principal, Role
from socialcredit.services.decisions import DecisionRequest, decide_one
from socialcredit.services.errors import ConsentRefused, InvalidRequest, NotAllowed, NotFound
from socialcredit.services.lists import ListPage, apply_for_repair, list_page, phoenix_flags
from socialcredit.services.principals import utc_now

# Reads made at the command line are logged under this principal in the subject's access log.
OPERATOR = "operator"
# A resident ID or a USCC is 18 characters.
SUBJECT_WIDTH = 18


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
        page = list_page(engine, name, limit=limit)
    except NotFound as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(page.as_json()))
        return
    console.print(entries_table(page, name))


def entries_table(page: ListPage, name: str | None) -> Table:
    """The entries shown, one a row; ids, list names and dates are never cut, the record ids
    wrap (at 80 columns a cut id would name another subject)."""
    count = plural(page.total, "entry", "entries")
    shown = count if len(page.entries) == page.total else f"{len(page.entries):,} of {count}"
    table = Table(
        title=f"{name or 'all lists'}: {shown}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("subject", no_wrap=True, min_width=SUBJECT_WIDTH)
    for column in ("list", "since", "until"):
        table.add_column(column, no_wrap=True)
    table.add_column("records", overflow="fold")
    for e in page.entries:
        ids = ", ".join(map(str, e.record_ids[:5])) + (" ..." if len(e.record_ids) > 5 else "")
        since, until = e.since.date().isoformat(), e.until.date().isoformat()
        table.add_row(e.subject, e.list, since, until, ids)
    return table


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
    console.print(trace_tree(body["trace"]))


def trace_tree(trace: list[dict[str, Any]]) -> Tree:
    """Each rule evaluated, with its test and outcome, and its inputs beneath it one a line,
    each value as JSON: a narrow terminal wraps between values, never inside one."""
    tree = Tree(Text("trace", style="bold"))
    for step in trace:
        label = Text.assemble((step["rule"], "bold"), ": ", step["outcome"])
        if step.get("test"):
            label.append(f" (test: {step['test']})")
        node = tree.add(label)
        for key, value in step["inputs"].items():
            node.add(Text(f"{key}: {json.dumps(value)}"))
    return tree


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
