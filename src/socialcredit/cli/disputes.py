"""`socialcredit disputes ...`: operators list disputes, decide one as an adjudicator, and
withdraw the records whose disputes were not verified by the deadline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.cli.wording import plural

disputes_app = typer.Typer(
    help="Disputes (objections) of records: list, decide, close the overdue.",
    no_args_is_help=True,
)

OPERATOR = "the command line"


class StatusChoice(StrEnum):
    open = "open"
    closed = "closed"


class DecisionChoice(StrEnum):
    upheld = "upheld"
    overturned = "overturned"


def parse_moment(value: str | None, option: str = "--now") -> datetime | None:
    """An ISO date or time (UTC) from the command line, or None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date or time like 2026-01-31, got {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _table(items: list[dict[str, Any]]) -> Table:
    table = Table(box=None)
    for column in ("id", "record", "subject", "furnisher", "kind", "status", "deadline", "note"):
        table.add_column(column)
    for d in items:
        note = "overdue" if d["overdue"] else (d["outcome"] or "")
        table.add_row(
            str(d["id"]),
            str(d["record"]),
            d["subject"],
            d["furnisher"],
            d["kind"],
            d["status"],
            d["deadline"][:16].replace("T", " "),
            note,
        )
    return table


@disputes_app.command("list")
def disputes_list(
    status: Annotated[StatusChoice | None, typer.Option(help="Only open or closed.")] = None,
    furnisher: Annotated[str | None, typer.Option(help="Only this furnisher's.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject's.")] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """List disputes, oldest first, with their deadlines (each subject's access log notes the
    read)."""
    from socialcredit.domain.disputes import Status
    from socialcredit.services import disputes as service
    from socialcredit.services.errors import InvalidRequest
    from socialcredit.services.pages import MAX_LIMIT, PageRequest
    from socialcredit.services.principals import utc_now

    engine = ready_store(db)
    reader = service.operator(OPERATOR)
    now = utc_now()
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        while True:
            found, cursor = service.list_disputes(
                engine,
                reader,
                PageRequest(cursor, MAX_LIMIT),
                furnisher=furnisher,
                subject=subject,
                status=None if status is None else Status(status.value),
                endpoint="socialcredit disputes list",
                now=now,
            )
            items.extend(service.dispute_json(d, now) for d in found)
            if cursor is None:
                break
    except InvalidRequest as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(items))
        return
    if not items:
        console.print("no disputes")
        return
    console.print(_table(items))


@disputes_app.command("decide")
def disputes_decide(
    dispute: Annotated[int, typer.Argument(help="The dispute's id.")],
    outcome: Annotated[
        DecisionChoice,
        typer.Option(help="upheld: the record stands; overturned: it is withdrawn."),
    ],
    reason: Annotated[str, typer.Option(help="Why; the subject is told.")],
    by: Annotated[str, typer.Option(help="Who decides, as the log keeps it.")],
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Decide an open dispute as an adjudicator; an overturned record is withdrawn and its
    subject rescored."""
    from socialcredit.domain.disputes import Outcome
    from socialcredit.services import disputes as service
    from socialcredit.services.errors import InvalidRequest, NotFound
    from socialcredit.services.principals import utc_now

    engine = ready_store(db)
    try:
        decided = service.decide_dispute(
            engine, service.operator(by), dispute, Outcome(outcome.value), reason
        )
    except (InvalidRequest, NotFound) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(service.dispute_json(decided, utc_now())))
        return
    console.print(
        f"dispute {decided.id}: {decided.outcome} (record {decided.record} of {decided.subject})",
        highlight=False,
    )


@disputes_app.command("close-overdue")
def disputes_close_overdue(
    now: Annotated[
        str | None,
        typer.Option(help="Take this as the current time (UTC), e.g. 2026-07-21."),
    ] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Withdraw each record whose dispute was not verified by its deadline, rescore and tell
    its subject."""
    from socialcredit.services import disputes as service
    from socialcredit.services.principals import utc_now

    engine = ready_store(db)
    moment = parse_moment(now) or utc_now()
    closed = service.close_overdue_disputes(engine, moment)
    if as_json:
        print(json.dumps([service.dispute_json(d, moment) for d in closed]))
        return
    for d in closed:
        console.print(
            f"dispute {d.id}: record {d.record} of {d.subject} withdrawn (deadline {d.deadline})",
            highlight=False,
        )
    console.print(f"{plural(len(closed), 'overdue dispute')} closed")


def disputes_report(marked: list[dict[str, Any]], out: Console) -> None:
    """The subject's disputed records and its statements, under `show`."""
    if not marked:
        return
    table = Table(title="disputed records and your statements", box=None)
    for column in ("record", "dispute", "status", "statement"):
        table.add_column(column)
    for m in marked:
        dispute = m["dispute"]
        status = (
            f"open until {dispute['deadline'][:10]}" if m["disputed"] else str(dispute["outcome"])
        )
        table.add_row(str(m["record"]), str(dispute["id"]), status, m["statement"] or "")
    out.print(table)
