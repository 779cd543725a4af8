"""Run the scoring definition on a backend and bring the results back as Arrow tables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from socialcredit.engines.definition import Ledger, Scoring, score_program
from socialcredit.policy.compile import CompiledProgram

ENGINES = ("duckdb",)

# What explains a score: written beside the scores when a run streams its results to Parquet.
DETAILS = ("contributions", "contribution_records", "reasons")


@dataclass(frozen=True)
class ProgramResult:
    """One program's scores, contributions, the records behind them, and reasons."""

    program: CompiledProgram
    as_of: date
    scores: pa.Table
    contributions: pa.Table
    contribution_records: pa.Table
    reasons: pa.Table
    subjects: frozenset[str] | None = None

    def only(self, subjects: Iterable[str]) -> ProgramResult:
        """The results for some subjects only (a partial run)."""
        keep = frozenset(subjects)
        wanted = pa.array(sorted(keep), type=pa.string())

        def pick(table: pa.Table) -> pa.Table:
            return table.filter(pc.is_in(table.column("subject"), value_set=wanted))

        return replace(
            self,
            scores=pick(self.scores),
            contributions=pick(self.contributions),
            contribution_records=pick(self.contribution_records),
            reasons=pick(self.reasons),
            subjects=keep,
        )


# DuckDB may hold this share of the machine's memory; past it, it spills to disk. Its process
# takes about 1 GiB beyond the limit (allocations the limit does not count), and results
# brought back as Arrow and the store they are written to need the rest.
DUCKDB_MEMORY_SHARE = 0.4


def duckdb_memory_limit(share: float = DUCKDB_MEMORY_SHARE) -> str:
    """DuckDB's memory limit: SOCIALCREDIT_DUCKDB_MEMORY (e.g. `12GB`), else `share` of RAM."""
    limit = os.environ.get("SOCIALCREDIT_DUCKDB_MEMORY")
    if limit:
        return limit
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(physical * share) // 2**20}MiB"


def connect(
    engine: str = "duckdb",
    database: Path | None = None,
    memory_share: float = DUCKDB_MEMORY_SHARE,
) -> BaseBackend:
    """A fresh in-process backend for a scoring run, bounded in memory (`memory_share` of RAM)
    and spilling to the system's temporary folder (not the working directory, DuckDB's own
    default). DuckDB keeps its tables in `database` when given (compressed on disk), else in
    memory."""
    if engine == "duckdb":
        return ibis.duckdb.connect(
            ":memory:" if database is None else str(database),
            memory_limit=duckdb_memory_limit(memory_share),
            temp_directory=str(Path(tempfile.gettempdir()) / "socialcredit-duckdb"),
        )
    raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def load_ledger(backend: BaseBackend, tables: dict[str, pa.Table]) -> Ledger:
    """Put the ledger's Arrow tables on the backend."""
    bound = {
        name: backend.create_table(f"ledger_{name}", table, overwrite=True)
        for name, table in tables.items()
    }
    return Ledger(
        subjects=bound["subjects"], records=bound["records"], relations=bound["relations"]
    )


def run_program(compiled: CompiledProgram, ledger: Ledger, as_of: date) -> ProgramResult:
    """Score every subject in scope under one program, as of a day."""
    scoring = score_program(compiled, ledger, as_of)
    return ProgramResult(
        program=compiled,
        as_of=as_of,
        scores=scoring.scores.to_pyarrow(),
        contributions=scoring.contributions.to_pyarrow(),
        contribution_records=scoring.contribution_records.to_pyarrow(),
        reasons=scoring.reasons.to_pyarrow(),
    )


def write_details(scoring: Scoring, ledger: Ledger, folder: Path) -> None:
    """Stream what explains the scores (contributions, the records behind them, reasons) to
    folder/<output>/, written by the backend where it computes them."""
    for name in DETAILS:
        ledger.write(getattr(scoring, name), folder / name)
