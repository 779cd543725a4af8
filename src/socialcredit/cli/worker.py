"""`socialcredit work` and `outbox`: drain the outbox by hand, and see what waits in it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from socialcredit.api.worker import drained_json
from socialcredit.cli.common import Db, Json, console, ready_store
from socialcredit.services import worker as service


def work(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once no event is pending.")
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.1, help="Without --until-idle: seconds between drains.")
    ] = 1.0,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Drain the outbox: rescore the subjects that pending events name, then acknowledge the
    events. Without --until-idle it keeps draining until interrupted (as `serve` does)."""
    engine = ready_store(db)
    total = service.Drained()
    try:
        while True:
            drained = service.drain(engine)
            _add(total, drained)
            if drained.handled and not as_json:
                console.print(
                    f"handled {drained.handled:,} events: {drained.subjects:,} subjects "
                    f"rescored in {drained.seconds:.1f} s",
                    highlight=False,
                )
            if until_idle:
                break
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    if as_json:
        print(json.dumps(drained_json(total)))
    elif not total.handled:
        console.print("no events were pending")


def _add(total: service.Drained, drained: service.Drained) -> None:
    total.events.update(drained.events)
    total.subjects += drained.subjects
    total.passes += drained.passes
    total.full_runs.extend(p for p in drained.full_runs if p not in total.full_runs)
    total.seconds += drained.seconds


def outbox(as_json: Json = False, db: Db = None) -> None:
    """Pending events by kind and the age of the oldest; 0 pending means every score is fresh."""
    backlog = service.backlog(ready_store(db))
    now = datetime.now(UTC).replace(tzinfo=None)
    age = None if backlog.oldest is None else (now - backlog.oldest).total_seconds()
    if as_json:
        kinds = {kind: {"pending": n, "oldest": oldest.isoformat() + "Z"}
                 for kind, n, oldest in backlog.kinds}  # fmt: skip
        print(json.dumps({"pending": backlog.pending, "oldest_age_seconds": age, "kinds": kinds}))
        return
    if not backlog.pending:
        console.print("0 pending: every score reflects the ledger")
        return
    console.print(f"{backlog.pending:,} pending, the oldest {age:,.0f} s old", highlight=False)
    for kind, n, oldest in backlog.kinds:
        console.print(f"  {kind}: {n:,} (oldest {oldest.isoformat(' ', 'seconds')})")
