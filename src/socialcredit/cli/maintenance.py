"""`socialcredit maintain` and `socialcredit purges`: run the store's maintenance by hand, and
read the purge log."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Annotated

import typer

from socialcredit.cli.common import Db, Json, console, fail, ready_store
from socialcredit.cli.progress import bar
from socialcredit.cli.wording import plural


def parse_moment(value: str | None) -> datetime | None:
    """An ISO date (its midnight, UTC) or date and time from the command line, as naive UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"--now must be a date like 2026-01-31 or 2026-01-31T12:00, got {value!r}"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class _Stages:
    """A progress bar for each stage of the run, one after another."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stack = ExitStack()

    def __call__(self, stage: str, total: int) -> Callable[[int], None]:
        self.stack.close()
        self.stack = ExitStack()
        return self.stack.enter_context(bar(console, stage, total, self.enabled))

    def close(self) -> None:
        self.stack.close()


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counts.items())


def maintain(
    now: Annotated[
        str | None,
        typer.Option(
            help="Maintain the store as of this moment: a date (its midnight, UTC) or an ISO "
            "date and time. Default: now."
        ),
    ] = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Close overdue disputes, purge records past their retention period (each purge logged),
    and rescore the subjects whose scores still count a record past its display period.
    Running it twice for the same moment changes nothing the second time."""
    from socialcredit.services.maintenance import MaintenanceBusy
    from socialcredit.services.maintenance import maintain as run

    moment = parse_moment(now)
    engine = ready_store(db)
    stages = _Stages(enabled=not as_json)
    try:
        report = run(engine, moment, progress=stages)
    except MaintenanceBusy as exc:
        raise fail(str(exc)) from None
    finally:
        stages.close()
    if as_json:
        print(json.dumps(report.as_json()))
        return
    since = "never before" if report.since is None else f"last {report.since.isoformat()}"
    console.print(
        f"maintained the store as of {report.as_of.isoformat()} (run {report.run_id}; {since})",
        highlight=False,
    )
    expired = f"{report.expired:,}"
    if report.expired_by_tier:
        expired += f" ({_counts(report.expired_by_tier)})"
    purged = f"{report.purged:,}"
    if report.purged:
        purged += (
            f" in {plural(report.purged_chains, 'chain')}, of "
            f"{plural(report.purged_subjects, 'subject')} ({_counts(report.purged_by_kind)})"
        )
    rescored = f"{len(report.rescored):,}"
    if report.programs:
        rescored += f" ({', '.join(report.programs)})"
    for label, value in (
        ("overdue disputes closed", f"{len(report.disputes_closed):,}"),
        ("records past their display period", expired),
        ("records purged past retention", purged),
        ("subjects rescored", rescored),
    ):
        console.print(f"  {label}: {value}", highlight=False)


def purges(
    subject: Annotated[
        str | None, typer.Option(help="Only this subject's purges (resident ID or USCC).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 100,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """The purge log: each record the retention purge deleted (never its content), oldest
    first."""
    from socialcredit.domain.identifiers import InvalidIdentifier, identify
    from socialcredit.store import purges as store

    subject_id = None
    if subject is not None:
        try:
            subject_id = identify(subject)[0]
        except InvalidIdentifier as exc:
            raise fail(f"--subject: {exc}") from None
    engine = ready_store(db)
    with engine.connect() as connection:
        rows = store.purge_page(connection, subject_id, None, limit)
    if as_json:
        print(json.dumps(rows, default=lambda v: v.isoformat() + "Z"))
        return
    if not rows:
        console.print("no purges")
        return
    for row in rows:
        console.print(
            f"{row['id']}  {row['purged_at']:%Y-%m-%d}  {row['subject']}  {row['furnisher']}/"
            f"{row['external_id']}  {row['kind']} of {row['occurred_at']:%Y-%m-%d}: "
            f"{row['reason']}",
            highlight=False,
            soft_wrap=True,
        )
