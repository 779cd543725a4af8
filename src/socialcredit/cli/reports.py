"""`socialcredit reports ...`: operators list reports of others' breaches with their flags and
decide them."""

from __future__ import annotations

import getpass
import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.cli.wording import plural

reports_app = typer.Typer(
    help="Reports of other subjects' breaches: list them with their flags, decide them.",
    no_args_is_help=True,
)


class Status(StrEnum):
    """Where a report stands."""

    pending = "pending"
    upheld = "upheld"
    rejected = "rejected"
    malicious = "malicious"


class Verdict(StrEnum):
    """What an adjudicator may decide."""

    upheld = "upheld"
    rejected = "rejected"
    malicious = "malicious"


def _line(report: dict[str, Any]) -> str:
    flags = ", ".join(f["code"] for f in report["flags"] or []) or "-"
    return (
        f"{report['id']:>6}  {report['filed_at'][:10]}  {report['status']:<9}  "
        f"{report['kind']:<28} {report['reporter']} -> {report['target']}  flags: {flags}"
    )


@reports_app.command("list")
def reports_list(
    status: Annotated[Status | None, typer.Option(help="Only reports in this state.")] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """List reports in the order filed, with their flags and decisions."""
    from socialcredit.services.reports import operator_reports

    found = operator_reports(ready_store(db), None if status is None else status.value)
    if as_json:
        print(json.dumps(found))
        return
    if not found:
        console.print("no reports")
        return
    for report in found:
        console.print(_line(report), highlight=False, soft_wrap=True)
        for flag in report["flags"] or []:
            console.print(f"        {flag['code']}: {flag['detail']}", highlight=False)


@reports_app.command("decide")
def reports_decide(
    report_id: Annotated[int, typer.Argument(help="The report's id.", min=1)],
    outcome: Annotated[Verdict, typer.Option(help="upheld, rejected or malicious.")],
    reason: Annotated[str, typer.Option(help="Why; logged with the decision.")],
    by: Annotated[
        str | None,
        typer.Option(help="Who decides, as logged (default: the operator's user name)."),
    ] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Decide a pending report. Upheld: a record for the target (rescored) and a reward for the
    reporter if a program rewards it; malicious: a penalty record for the reporter."""
    from socialcredit.services.errors import InvalidRequest, NotFound
    from socialcredit.services.reports import Decider, decide_report

    name = (by or getpass.getuser()).strip()
    if not name:
        raise fail("--by must name who decides")
    try:
        result = decide_report(
            ready_store(db), Decider("operator", name), report_id, outcome.value, reason
        )
    except (InvalidRequest, NotFound) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result))
        return
    report = result["report"]
    console.print(f"report {report['id']}: {report['status']} (by {name})", highlight=False)
    for record in result["records"]:
        console.print(
            f"  wrote {record['kind']} for {record['subject']} ({record['external_id']})",
            highlight=False,
        )
    rescored = result["rescored"]
    if rescored["subjects"]:
        console.print(
            f"  rescored {plural(rescored['subjects'], 'subject')} under "
            f"{', '.join(rescored['programs'])}"
        )
