"""The `socialcredit` command: thin commands that parse, call a service and render."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from socialcredit.cli.common import (
    EXIT_BUSY,
    Db,
    Json,
    console,
    debug_on,
    errors,
    fail,
    new_store,
    parse_day,
    ready_store,
    set_debug,
    store_failure,
)
from socialcredit.cli.disputes import disputes_app, disputes_report
from socialcredit.cli.lab import lab_app
from socialcredit.cli.lists import decide, flags, lists, repair
from socialcredit.cli.maintenance import maintain, purges
from socialcredit.cli.progress import bar, steps
from socialcredit.cli.render import subject_report
from socialcredit.cli.reports import reports_app
from socialcredit.cli.service import principal_app, serve
from socialcredit.cli.sharing import sharing_app, tips_report
from socialcredit.cli.wording import plural
from socialcredit.cli.worker import outbox, work
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.records import Furnisher
from socialcredit.policy.guard import check as guard_check
from socialcredit.policy.loader import PolicyError, load_catalogue, load_program
from socialcredit.store.database import (
    BUSY_SECONDS,
    StoreError,
    busy_message,
    busy_seconds,
    is_busy,
    shown,
)


class WorkflowOrder(TyperGroup):
    """Lists the commands a newcomer runs first in the order they are run, then the others in
    the order they were registered (Click would sort them all alphabetically)."""

    FIRST = ("init", "generate", "ingest", "score", "show", "subjects", "lists", "decide")

    def list_commands(self, ctx: Any) -> list[str]:
        """The command names in the order `--help` shows them."""
        later = [name for name in self.commands if name not in self.FIRST]
        return [name for name in self.FIRST if name in self.commands] + later


app = typer.Typer(
    cls=WorkflowOrder,
    # Markdown joins the lines of a docstring's paragraph; Rich markup would keep its breaks.
    rich_markup_mode="markdown",
    help="A social-credit platform: ledger, scoring programs, exact explanations.\n\n"
    "Exit status: 0 done; 1 an error, said in one line on stderr; 2 a wrong option or a --db "
    "that names no usable store; 3 ingest stored the good rows but rejected some; 4 the store "
    "stayed busy (another process writing) past SOCIALCREDIT_BUSY_TIMEOUT seconds (30).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(help="Check scoring programs.", no_args_is_help=True)
furnisher_app = typer.Typer(help="Register data furnishers.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(furnisher_app, name="furnisher")
app.add_typer(lab_app, name="lab")
app.add_typer(principal_app, name="principal")
app.add_typer(reports_app, name="reports")
app.add_typer(disputes_app, name="disputes")
app.add_typer(sharing_app, name="sharing")
app.command()(lists)
app.command()(decide)
app.command()(flags)
app.command()(repair)
app.command()(maintain)
app.command()(purges)


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="SOCIALCREDIT_DEBUG",
            help="Show the traceback of an error instead of its one line.",
        ),
    ] = False,
) -> None:
    """Options of every command; --debug keeps an error's traceback for a bug report."""
    set_debug(debug)


@app.command()
def init(
    app_role: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL: the role the server and commands then connect as; it may read "
            "and append, never UPDATE, DELETE or TRUNCATE an append-only table (run init as "
            "the schema's owner, again after every upgrade; docs/store.md).",
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Create the store (or bring its schema up to date)."""
    from socialcredit.store.roles import RoleError, grant_app_role

    engine = new_store(db)
    console.print(f"store ready: {shown(engine)}")
    if app_role is None:
        return
    try:
        with engine.begin() as connection:
            grants = grant_app_role(connection, app_role)
    except RoleError as exc:
        raise fail(str(exc), 2) from None
    console.print(
        f"role {grants.role}: reads every table; appends to {len(grants.append_only)} "
        f"append-only tables ({', '.join(grants.append_only)}), which it may not UPDATE, "
        "DELETE or TRUNCATE; purges only through purge_records",
        highlight=False,
    )


@furnisher_app.command("add")
def furnisher_add(
    furnisher_id: Annotated[
        str, typer.Argument(help="The furnisher's id, as its records name it.")
    ],
    type_: Annotated[str, typer.Option("--type", help="Furnisher type from the catalogue.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    db: Db = None,
) -> None:
    """Register a furnisher so that its records are accepted."""
    from socialcredit.services.furnishers import register_furnisher

    engine = ready_store(db)
    try:
        added = register_furnisher(engine, Furnisher(furnisher_id, type_, name or furnisher_id))
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"furnisher {furnisher_id} " + ("registered" if added else "was already registered")
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the files to.")],
    subjects: Annotated[int, typer.Option(min=10, help="Number of residents.")] = 100_000,
    organisations: Annotated[
        int | None, typer.Option(help="Number of organisations (default: residents / 20).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same city.")] = 7,
    format_: Annotated[
        str, typer.Option("--format", help="csv, ndjson, parquet, or mixed (all three).")
    ] = "mixed",
) -> None:
    """Synthesise a city: registry, relations and one record file per furnisher."""
    from socialcredit.synth.city import generate_city, write_city

    if format_ not in ("csv", "ndjson", "parquet", "mixed"):
        raise fail("--format must be csv, ndjson, parquet or mixed")
    with steps(console) as step:
        step("synthesising the city")
        city = generate_city(subjects, organisations, seed=seed)
        step("writing files")
        paths = write_city(city, out, format_)
    for path in paths:
        console.print(f"  {path}")
    console.print(
        f"wrote {len(paths)} files to {out}; load them with `socialcredit ingest {out}/*`"
    )


@app.command()
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="Record, relation, furnisher or registry files.")
    ],
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the reject file (NDJSON, one per run). Default: rejects/ beside "
            "the SQLite store's file, or ./rejects/ for PostgreSQL.",
        ),
    ] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """Load files (CSV, NDJSON, Parquet) into the ledger; bad rows go to a reject file.

    Every file is checked first (it opens, its columns say what it holds and include those
    every row needs), so a missing or wrong file stores nothing. Exit status: 0 every row was
    accepted or a duplicate; 3 the good rows were stored and some were rejected (the first 5
    are shown, all are in the reject file); 1 a file could not be read."""
    from socialcredit.cli.ingesting import (
        EXIT_REJECTED,
        rejects_folder,
        report_ingest,
        unreadable_note,
    )
    from socialcredit.services.ingest import UnreadableFile, count_rows, ingest_files

    if rejects is not None and rejects.exists() and not rejects.is_dir():
        raise fail(f"--rejects names a folder for reject files; {rejects} is a file", 2)
    engine = ready_store(db)
    folder = rejects_folder(engine, rejects)
    try:
        total = sum(count_rows(p) for p in files)
        with bar(console, "ingesting", total, enabled=not as_json) as advance:
            summary = ingest_files(engine, files, reject_dir=folder, progress=advance)
    except UnreadableFile as exc:
        raise fail(f"{exc} ({unreadable_note(exc)})") from None
    if as_json:
        print(json.dumps(summary.as_json()))
    else:
        report_ingest(summary, console)
    if summary.rejected:
        raise typer.Exit(EXIT_REJECTED)


class ScoringEngine(StrEnum):
    """Where a full rescoring runs."""

    db = "db"
    duckdb = "duckdb"
    spark = "spark"


@app.command()
def score(
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this date (default today).")
    ] = None,
    engine_: Annotated[
        ScoringEngine,
        typer.Option(
            "--engine",
            help="duckdb: in process (default); db: in the store's own database, the slow "
            "path (about 12 times DuckDB's time at 8,000 residents on SQLite), for small stores, "
            "a PostgreSQL server, or checking that engines agree; spark: Apache Spark (local "
            "mode, or SPARK_MASTER / SPARK_REMOTE).",
        ),
    ] = ScoringEngine.duckdb,
    output: Annotated[
        Path | None,
        typer.Option(help="Also write the scores to this Parquet file."),
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="Score this Parquet ledger folder (from `export`, or a lake in its layout) "
            "instead of the store; needs --output."
        ),
    ] = None,
    details: Annotated[
        Path | None,
        typer.Option(
            help="With --ledger, also write what explains the scores (contributions, the "
            "records behind them, reasons) into this folder: a sub-folder per program, "
            "each output as Parquet parts."
        ),
    ] = None,
    program: Annotated[
        list[Path] | None, typer.Option(help="Program file to score with (repeatable).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also show Spark's own log and stage progress.")
    ] = False,
    db: Db = None,
) -> None:
    """Score every subject under every active program and store the snapshots.

    A store without records has nothing to score: it says so, records no run and exits 0."""
    from socialcredit.engines.backends import EngineUnavailable
    from socialcredit.services.scoring import active_programs, score_all, score_lake

    try:
        compiled = active_programs([load_program(p) for p in program] if program else None)
    except PolicyError as exc:
        raise fail(str(exc)) from None
    day = parse_day(as_of)
    if ledger is not None:
        if output is None:
            raise fail("--ledger needs --output: the scores of a ledger folder go to Parquet")
        try:
            with steps(console) as step:
                runs = score_lake(
                    ledger, output, day, compiled, backend=engine_.value, step=step,
                    details=details, verbose=verbose,
                )  # fmt: skip
        except (FileNotFoundError, ValueError, EngineUnavailable) as exc:
            raise fail(str(exc)) from None
        for r in runs:
            console.print(
                f"{r.program.id} ({r.program.version}) as of {r.as_of}: {r.subjects:,} subjects"
            )
        console.print(f"scores written to {output}")
        if details is not None:
            console.print(f"what explains them written to {details}")
        return
    if details is not None:
        raise fail("--details goes with --ledger: the store keeps each score's explanation")
    store = ready_store(db)
    try:
        with steps(console) as step:
            summaries = score_all(
                store, day, compiled, backend=engine_.value, step=step, output=output,
                verbose=verbose,
            )  # fmt: skip
    except EngineUnavailable as exc:
        raise fail(str(exc)) from None
    if not summaries:
        console.print(
            "nothing to score: the store holds no records yet (load some with "
            "`socialcredit ingest FILES`); no run was recorded",
            soft_wrap=True,
        )
        return
    for s in summaries:
        console.print(
            f"{s.program} ({s.policy_version}) as of {s.as_of}: {s.scored:,} of "
            f"{plural(s.subjects, 'subject')} scored, run {s.run_id}",
            soft_wrap=True,  # one line each, also when piped
        )
    if output is not None:
        console.print(f"scores also written to {output}")


class ExportFormat(StrEnum):
    """Formats the ledger can be exported in."""

    parquet = "parquet"


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="Folder to write the ledger to.")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="Only parquet, the form Spark reads.")
    ] = ExportFormat.parquet,
    rows_per_file: Annotated[
        int, typer.Option(min=1, help="At most this many rows in one Parquet file.")
    ] = 5_000_000,
    db: Db = None,
) -> None:
    """Export the ledger (subjects, records, relations) as Parquet, one folder per table."""
    from socialcredit.services.export import export_ledger

    with steps(console) as step:
        counts = export_ledger(ready_store(db), folder, rows_per_file, step=step)
    for name, n in counts.items():
        console.print(f"{name}: {n:,} rows in {folder / name}")


@app.command("subjects")
def subjects_(
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many.")] = None,
    as_json: Json = False,
    db: Db = None,
) -> None:
    """List subject ids with their kind."""
    from socialcredit.services.subjects import list_subjects

    rows = list_subjects(ready_store(db), limit)
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        console.print(f"{row['subject']}  {row['kind']}", highlight=False)


@app.command()
def show(
    subject: Annotated[str, typer.Argument(help="Resident ID or USCC.")],
    as_json: Json = False,
    db: Db = None,
) -> None:
    """A subject's latest score per program, with every contribution and reason, and tips:
    up to three actions per program with their exact effect."""
    from socialcredit.services.disputes import marked_records
    from socialcredit.services.subjects import SubjectNotFound, subject_view
    from socialcredit.services.tips import subject_tips

    try:
        identify(subject)
    except InvalidIdentifier as exc:
        raise fail(str(exc)) from None
    store = ready_store(db)
    try:
        view = subject_view(store, subject)
    except SubjectNotFound as exc:
        raise fail(str(exc)) from None
    view["tips"] = subject_tips(store, view["subject"])
    view["disputes"] = marked_records(store, view["subject"])
    if as_json:
        print(json.dumps(view))
        return
    subject_report(view, console)
    tips_report(view["tips"], console, view["scores"])
    disputes_report(view["disputes"], console)


@policy_app.command("check")
def policy_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="Program file (TOML). Without it: the lists and measures catalogue."),
    ] = None,
    catalogue: Annotated[
        Path | None, typer.Option(help="Record catalogue (default: the shipped one).")
    ] = None,
    lists: Annotated[
        Path | None, typer.Option("--lists", help="Lists file (default: the shipped one).")
    ] = None,
    measures: Annotated[
        Path | None, typer.Option("--measures", help="Measures catalogue (default: shipped).")
    ] = None,
) -> None:
    """Validate a program and run the guard, or (without FILE) the lists and the measures
    catalogue, warning where a list from an unrelated context restricts a service or a measure
    is heavier than its list's tier; exit 1 naming each problem."""
    if file is None:
        _check_measures(lists, measures)
        return
    try:
        loaded = load_program(file)
        problems = guard_check(loaded, load_catalogue(catalogue))
    except PolicyError as exc:
        problems = exc.problems
    if problems:
        for problem in problems:
            errors.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    from socialcredit.policy.display import display_warnings

    for warning in display_warnings(loaded, load_catalogue(catalogue)):
        errors.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"{file}: program {loaded.program.id} is valid, version {loaded.version}", soft_wrap=True
    )


def _check_measures(lists: Path | None, measures: Path | None) -> None:
    from socialcredit.policy.measures import load_measures

    try:
        loaded = load_measures(lists, measures)
    except PolicyError as exc:
        for problem in exc.problems:
            errors.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for warning in loaded.warnings:
        errors.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"{len(loaded.lists)} lists and {len(loaded.services)} services are valid, "
        f"version {loaded.version} ({plural(len(loaded.warnings), 'warning')})",
        soft_wrap=True,
    )


@app.command()
def demo(
    subjects: Annotated[int, typer.Option(min=10, help="Number of residents.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Store URL. Default: a fresh socialcredit-demo.db here."),
    ] = None,
) -> None:
    """Synthesise a city, ingest it, score it under every shipped program, and summarise."""
    from socialcredit.cli.demo import DemoError, run_demo

    try:
        run_demo(console, subjects=subjects, seed=seed, url=db)
    except StoreError as exc:
        raise store_failure(exc) from None
    except DemoError as exc:
        raise fail(str(exc)) from None


app.command()(serve)
app.command()(work)
app.command()(outbox)


def main() -> None:
    """Entry point: an unexpected error is one line and exit 1, a store another process kept
    busy past the wait one line and exit 4; tracebacks only with --debug (or
    SOCIALCREDIT_DEBUG=1)."""
    try:
        app(prog_name="socialcredit")
    except Exception as exc:
        if debug_on():
            raise
        if is_busy(exc):
            fail(str(exc) if isinstance(exc, StoreError) else busy_message(_busy_wait()))
            sys.exit(EXIT_BUSY)
        detail = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
        fail(f"{text} (run with --debug for the traceback)")
        sys.exit(1)


def _busy_wait() -> float:
    try:
        return busy_seconds()
    except StoreError:
        return BUSY_SECONDS


if __name__ == "__main__":
    main()
