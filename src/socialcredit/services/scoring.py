"""Score every subject under every active program and keep the results as snapshots."""

from __future__ import annotations

import bisect
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.events import RESCORING
from socialcredit.engines import backends
from socialcredit.engines.definition import Ledger, score_program
from socialcredit.engines.explain import explanations
from socialcredit.engines.run import ProgramResult, run_program, write_details
from socialcredit.policy.compile import CompiledProgram, compile_program
from socialcredit.policy.loader import LoadedProgram, shipped_catalogue, shipped_programs
from socialcredit.services.failpoints import failpoint
from socialcredit.store import database, outbox, snapshots, tables
from socialcredit.store import ledger as ledger_store
from socialcredit.store.writers import one_writer


@dataclass(frozen=True)
class RunSummary:
    """What one program's run produced."""

    run_id: int
    program: str
    policy_version: str
    as_of: date
    subjects: int
    scored: int
    result: ProgramResult


def active_programs(
    programs: Sequence[LoadedProgram] | None = None, catalogue: Catalogue | None = None
) -> list[CompiledProgram]:
    """The programs to score with, guarded and compiled (the shipped ones by default)."""
    catalogue = catalogue or shipped_catalogue()
    return [compile_program(p, catalogue) for p in (programs or shipped_programs())]


def today() -> date:
    """Today's date in UTC, the default as-of day."""
    return datetime.now(UTC).date()


def score_ledger(
    ledger: Ledger,
    as_of: date,
    programs: Sequence[CompiledProgram],
    step: Callable[[str], None] | None = None,
) -> list[ProgramResult]:
    """Run each program over a ledger on whatever backend holds it."""
    report = step or (lambda _message: None)
    results = []
    for program in programs:
        report(f"scoring {program.id}")
        results.append(run_program(program, ledger, as_of))
    return results


def _store_ledger(
    engine: sa.Engine,
    backend: str,
    scratch: ExitStack,
    report: Callable[[str], None],
    verbose: bool = False,
) -> Ledger:
    """The store's ledger on the chosen engine (Spark's own log too when `verbose`)."""
    if backend == "db":
        return backends.store_ledger(database.address(engine))
    report("reading the ledger")
    with engine.connect() as connection:
        tables_ = ledger_store.read_ledger(connection)
    if backend == "duckdb":
        return backends.duckdb_ledger(tables_)
    if backend == "spark":
        folder = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="ledger-")))
        backends.write_parquet_ledger(tables_, folder, EXPORT_ROWS_PER_FILE)
        report("starting Spark")
        return backends.spark_ledger(backends.spark_session(verbose=verbose), folder)
    raise ValueError(f"unknown engine {backend!r}; choose one of {', '.join(backends.ENGINES)}")


def score_all(
    engine: sa.Engine,
    as_of: date | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    *,
    backend: str = "duckdb",
    step: Callable[[str], None] | None = None,
    output: Path | None = None,
    verbose: bool = False,
) -> list[RunSummary]:
    """Full rescoring on the chosen engine; snapshots go to the store (and to Parquet).

    A ledger without records has nothing to score: no run is recorded and the list is empty.
    """
    as_of = as_of or today()
    compiled = list(programs) if programs is not None else active_programs()
    report = step or (lambda _message: None)
    with engine.connect() as connection:
        if not ledger_store.has_records(connection):
            return []
        position = outbox.ledger_position(connection)  # read before the ledger: a lower bound
        events = outbox.last_id(connection)
    with ExitStack() as scratch:
        ledger = _store_ledger(engine, backend, scratch, report, verbose)
        results = score_ledger(ledger, as_of, compiled, report)
    report("storing the snapshots")
    summaries = [store_result(engine, result, backend, position) for result in results]
    if {p.id for p in compiled} >= {p.program.id for p in shipped_programs()}:
        with one_writer(engine), engine.begin() as connection:
            outbox.acknowledge_through(connection, events, RESCORING)
    if output is not None:
        write_results(results, output)
    return summaries


@dataclass(frozen=True)
class LakeRun:
    """What one program's run over a ledger folder wrote."""

    program: CompiledProgram
    as_of: date
    subjects: int


def score_lake(
    folder: Path,
    output: Path,
    as_of: date | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    *,
    backend: str = "spark",
    step: Callable[[str], None] | None = None,
    details: Path | None = None,
    verbose: bool = False,
) -> list[LakeRun]:
    """Score a Parquet ledger folder (an export, or a lake in its layout) without the store."""
    as_of = as_of or today()
    compiled = list(programs) if programs is not None else active_programs()
    report = step or (lambda _message: None)
    missing = [n for n in backends.LEDGER_TABLES if not (folder / n).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a ledger folder: it has no {', '.join(missing)} sub-folder"
        )
    if backend == "spark":
        report("starting Spark")
        ledger = backends.spark_ledger(backends.spark_session(verbose=verbose), folder)
    elif backend == "duckdb":
        ledger = backends.duckdb_parquet_ledger(folder)
    else:
        raise ValueError("a ledger folder is scored with --engine spark or --engine duckdb")
    return write_scoring(ledger, output, as_of, compiled, details=details, step=report)


def write_scoring(
    ledger: Ledger,
    output: Path,
    as_of: date,
    programs: Sequence[CompiledProgram],
    *,
    details: Path | None = None,
    step: Callable[[str], None] | None = None,
) -> list[LakeRun]:
    """Score a ledger and write the results to Parquet without ever holding them whole: every
    program's scores to one file, and with `details`, what explains them to
    details/<program>/<output>/. The backend writes each result where it computes it; the
    scores are then gathered into the one file batch by batch. Nothing is replaced until every
    program is written."""
    report = step or (lambda _message: None)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for program in programs:
            report(f"scoring {program.id}")
            scoring = score_program(program, ledger, as_of)
            ledger.write(scoring.scores, staging / "scores" / program.id)
            if details is not None:
                report(f"writing what explains {program.id}")
                write_details(scoring, ledger, staging / "details" / program.id)
        runs = []
        with _scores_file(output) as writer:
            for program in programs:
                subjects = 0
                for batch in _batches(staging / "scores" / program.id):
                    writer.write_table(_published(batch, program, as_of))
                    subjects += batch.num_rows
                runs.append(LakeRun(program, as_of, subjects))
        if details is not None:
            _replace_details(staging / "details", details)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return runs


def _batches(folder: Path) -> Iterator[pa.RecordBatch]:
    """The rows of a folder of Parquet parts, a batch at a time (the engines' marker and
    checksum files skipped)."""
    for part in sorted(folder.glob("*.parquet")):
        yield from pq.ParquetFile(part).iter_batches()


def _replace_details(staged: Path, details: Path) -> None:
    """Move freshly written details in place of the last run's, replacing only the folders a
    run writes (details/<program>/<output>), never anything else the folder holds."""
    for written in sorted(staged.glob("*/*")):
        target = details / written.parent.name / written.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(written, target)


RESULT_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("program", pa.string()),
        ("policy_version", pa.string()),
        ("as_of", pa.date32()),
        ("subject_kind", pa.string()),
        ("status", pa.string()),
        ("score", pa.int64()),
        ("clamp", pa.int64()),
        ("grade", pa.string()),
        ("percentile", pa.float64()),
    ]
)


def _published(
    scores: pa.Table | pa.RecordBatch, program: CompiledProgram, as_of: date
) -> pa.Table:
    """Scores as published in Parquet: each row names its program, policy version and day."""
    n = scores.num_rows
    constants = {
        "program": pa.repeat(pa.scalar(program.id, pa.string()), n),
        "policy_version": pa.repeat(pa.scalar(program.version, pa.string()), n),
        "as_of": pa.repeat(pa.scalar(as_of, pa.date32()), n),
    }
    columns = [
        constants[f.name] if f.name in constants else scores.column(f.name).cast(f.type)
        for f in RESULT_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=RESULT_SCHEMA)


def write_results(results: Sequence[ProgramResult], output: Path) -> None:
    """Every program's scores in one Parquet file, written whole or not at all."""
    with _scores_file(output) as writer:
        for result in results:
            writer.write_table(_published(result.scores, result.program, result.as_of))


@contextmanager
def _scores_file(output: Path) -> Iterator[pq.ParquetWriter]:
    """A writer of published scores that replaces `output` only once every row is in."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        with pq.ParquetWriter(partial, RESULT_SCHEMA) as writer:
            yield writer
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output)


EXPORT_ROWS_PER_FILE = 5_000_000

# Above this share of the population, rescoring some subjects is no cheaper than everyone.
FULL_RUN_SHARE = 0.2


def rescore_subjects(
    engine: sa.Engine,
    subjects: Iterable[str],
    as_of: date | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    *,
    backend: str = "duckdb",
) -> list[RunSummary]:
    """Rescore a few subjects right after their records arrive (read-your-writes).

    Every rule, cap and clamp is computed exactly as in a full run, over the subjects and their
    related subjects; the relationship factor sees that neighbourhood only, and percentiles are
    placed in the latest full run's distribution. A full run re-equilibrates both. When the
    subjects are a large share of the population, this is a full run.
    """
    as_of = as_of or today()
    compiled = list(programs) if programs is not None else active_programs()
    wanted = sorted(set(subjects))
    if not wanted:
        return []
    with engine.connect() as connection:
        population = connection.execute(
            sa.select(sa.func.count()).select_from(tables.subjects)
        ).scalar_one()
        everyone = len(wanted) > FULL_RUN_SHARE * population
        position = outbox.ledger_position(connection)
        if not everyone:
            members = set(wanted) | ledger_store.neighbours(connection, wanted)
            ledger_tables = ledger_store.read_ledger_of(connection, members)
    if everyone:
        return score_all(engine, as_of, compiled, backend=backend)
    ledger = backends.duckdb_ledger(ledger_tables)
    return [
        store_result(engine, run_program(program, ledger, as_of).only(wanted), backend, position)
        for program in compiled
    ]


def _insufficient_explanation(program: CompiledProgram) -> str:
    return json.dumps(
        {
            "base": program.program.base,
            "factors": {f.id: 0 for f in program.program.factors},
            "contributions": [],
            "clamp": 0,
            "reasons": [],
        }
    )


def _place_in_last_full_run(
    connection: sa.Connection, program: str, frame: pl.DataFrame
) -> pl.DataFrame:
    """Percentiles of a partial run, against the latest full run's scores of the same kind."""
    distribution = snapshots.last_full_distribution(connection, program)
    percentiles = []
    for row in frame.iter_rows(named=True):
        scores = distribution.get(row["subject_kind"], [])
        if row["score"] is None or not scores:
            percentiles.append(None if row["score"] is None else 0.0)
            continue
        below = bisect.bisect_left(scores, row["score"])
        percentiles.append(math.floor(below * 1000 / len(scores)) / 10)
    return frame.with_columns(pl.Series("percentile", percentiles, dtype=pl.Float64))


def store_result(
    engine: sa.Engine, result: ProgramResult, backend: str, ledger_position: int | None = None
) -> RunSummary:
    """Write one program's results as a new snapshot, in one transaction; `ledger_position` is
    the last ledger id the run is known to reflect."""
    program = result.program
    as_of = datetime(result.as_of.year, result.as_of.month, result.as_of.day)
    now = datetime.now(UTC).replace(tzinfo=None)
    scores = pl.from_arrow(result.scores)
    assert isinstance(scores, pl.DataFrame)
    frame = scores.join(explanations(result), on="subject", how="left").with_columns(
        pl.col("explanation").fill_null(_insufficient_explanation(program))
    )
    scope = "full" if result.subjects is None else "subjects"
    with engine.begin() as connection:
        if scope == "subjects":
            frame = _place_in_last_full_run(connection, program.id, frame)
        rows = frame.select("subject", "status", "score", "grade", "percentile", "explanation")
        snapshots.keep_policy(connection, program.id, program.version, program.program_text, now)
        run_id = snapshots.start_run(
            connection, program.id, program.version, as_of, backend, now, frame.height, scope,
            ledger_position,
        )  # fmt: skip
        snapshots.add_scores(
            connection, run_id, program.id, program.version, as_of, rows.iter_rows()
        )
        failpoint("score.before_snapshot_commit")
    return RunSummary(
        run_id=run_id,
        program=program.id,
        policy_version=program.version,
        as_of=result.as_of,
        subjects=frame.height,
        scored=frame.filter(pl.col("status") == "scored").height,
        result=result,
    )
