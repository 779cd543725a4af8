"""`socialcredit demo`: a whole city from synthesis to explained scores, on the embedded store."""

from __future__ import annotations

import resource
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from socialcredit.cli.ingesting import kind_lines, rejects_folder, report_rejects
from socialcredit.cli.lists import operator
from socialcredit.cli.progress import bar, steps
from socialcredit.cli.render import grade_counts, histogram
from socialcredit.domain.lists import ListKind
from socialcredit.engines.run import ProgramResult
from socialcredit.policy.measures import shipped_measures
from socialcredit.services.decisions import DecisionRequest, decide_one
from socialcredit.services.ingest import ingest_tables
from socialcredit.services.lists import list_entries
from socialcredit.services.scoring import RunSummary, score_all, today
from socialcredit.store import database, tables
from socialcredit.synth.city import generate_city

DEMO_FILE = "socialcredit-demo.db"


class DemoError(RuntimeError):
    """The demo cannot run on the store it was given."""


def _fresh_store(url: str | None) -> sa.Engine:
    """The default demo file, recreated; or the given store, which must hold no records."""
    if url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(DEMO_FILE + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{DEMO_FILE}"
    engine = database.open_store(url, create=True)
    with engine.connect() as connection:
        if connection.execute(sa.select(sa.func.count()).select_from(tables.records)).scalar_one():
            raise DemoError("the demo needs an empty store; this one already holds records")
    return engine


def _extremes(result: ProgramResult) -> Table:
    """The five highest and five lowest scored subjects with their top reasons."""
    program = result.program.program
    scores = pl.from_arrow(result.scores)
    reasons = pl.from_arrow(result.reasons)
    assert isinstance(scores, pl.DataFrame) and isinstance(reasons, pl.DataFrame)
    scored = scores.filter(pl.col("status") == "scored")
    texts = {r.id: r.reason for r in program.rules}
    top_reasons = (
        reasons.sort("subject", "rank")
        .group_by("subject", maintain_order=True)
        .agg(pl.col("rule").head(2))
    )
    table = Table(title=f"{program.name}: highest and lowest", box=None)
    for column in ("", "subject", "score", "grade", "top reasons (points lost)"):
        table.add_column(column)
    lost = {
        (row["subject"], row["rule"]): row["points_lost"] for row in reasons.iter_rows(named=True)
    }
    for label, frame in (
        ("top", scored.sort(["score", "subject"], descending=[True, False]).head(5)),
        ("bottom", scored.sort(["score", "subject"]).head(5)),
    ):
        frame = frame.join(top_reasons, on="subject", how="left")
        for row in frame.iter_rows(named=True):
            rules = row["rule"] or []
            why = "; ".join(f"{texts[r]} ({lost[(row['subject'], r)]})" for r in rules)
            table.add_row(label, row["subject"], str(row["score"]), row["grade"], why or "-")
            label = ""
    return table


def _summarise(console: Console, summary: RunSummary) -> None:
    result = summary.result
    program = result.program.program
    scores = pl.from_arrow(result.scores)
    assert isinstance(scores, pl.DataFrame)
    console.rule(f"{program.name} — {summary.policy_version}, as of {summary.as_of}")
    console.print(histogram(scores["score"].drop_nulls().to_list(), program))
    console.print(grade_counts(scores["grade"].to_list(), program))
    console.print(_extremes(result))


def _lists(engine: sa.Engine) -> tuple[Table, str | None]:
    """How many subjects each list holds now, and one defaulter's flight-booking decision."""
    entries = list_entries(engine)
    table = Table(title="lists now", box=None)
    for column in ("list", "kind", "tier", "public", "entries"):
        table.add_column(column)
    for name, definition in shipped_measures().lists.items():
        count = sum(1 for e in entries if e.list == name)
        tier = definition.tier.value if definition.kind is ListKind.BLACKLIST else "-"
        public = "yes" if definition.public else "no"
        table.add_row(name, definition.kind.value, tier, public, f"{count:,}")
    defaulter = next((e for e in entries if e.list == "judgment_defaulters"), None)
    if defaulter is None:
        return table, None
    body = decide_one(
        engine,
        operator(),
        DecisionRequest(defaulter.subject, "flight_booking"),
        endpoint="socialcredit demo",
    )
    measures = ", ".join(m["id"] for m in body["measures"]) or "none"
    return table, (
        f"decision: {defaulter.subject} / flight_booking: {body['decision']} (measures: "
        f"{measures}; court records {list(defaulter.record_ids)}; listed until "
        f"{defaulter.until.date().isoformat()}); try: socialcredit decide SUBJECT SERVICE"
    )


def run_demo(console: Console, *, subjects: int, seed: int, url: str | None) -> None:
    """Synthesise, ingest, score and summarise a city, timing each step."""
    as_of = today()
    with steps(console, spinner=False) as step:
        step("creating the store")  # first, so that a wrong --db costs no synthesis
        engine = _fresh_store(url)
        step(f"synthesising {subjects:,} residents")
        city = generate_city(subjects, seed=seed, as_of=as_of)
        record_count = sum(t.num_rows for t in city.records.values())
        step(
            f"ingesting {record_count:,} records, {city.relations.num_rows:,} relations, "
            f"{city.registry.num_rows:,} registry rows and {city.furnishers.num_rows:,} furnishers"
        )
        rows = (
            record_count
            + city.relations.num_rows
            + city.registry.num_rows
            + city.furnishers.num_rows
        )
        with bar(console, "ingesting", rows) as advance:
            ingested = ingest_tables(
                engine,
                furnishers=city.furnishers,
                registry=city.registry,
                relations=city.relations,
                records=list(city.records.values()),
                progress=advance,
                reject_dir=rejects_folder(engine),
            )
        step("scoring under every shipped program")
        summaries = score_all(engine, as_of)
        step("deriving the lists and a decision")
        list_table, decision = _lists(engine)
        step.finish()
    for line in kind_lines(ingested):
        console.print(f"ingested {line}", highlight=False)
    if ingested.rejected:
        report_rejects(ingested, console)
    else:
        console.print("no row was rejected, so no reject file was written")
    for summary in summaries:
        _summarise(console, summary)
    console.print(list_table)
    if decision:
        console.print(decision, highlight=False)
    timings = Table(title="time per step", box=None)
    timings.add_column("step")
    timings.add_column("seconds", justify="right")
    for name, seconds in step.timings:
        timings.add_row(name, f"{seconds:.1f}")
    timings.add_row("total", f"{sum(s for _, s in step.timings):.1f}")
    console.print(timings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(
        f"peak memory {peak:,.0f} MiB; store {engine.url.render_as_string(hide_password=True)}"
    )
    console.print(
        "try: socialcredit show SUBJECT --db " + engine.url.render_as_string(hide_password=True)
    )
