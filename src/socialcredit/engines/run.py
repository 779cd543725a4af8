"""Run the scoring definition on a backend and bring the results back as Arrow tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from socialcredit.engines.definition import Ledger, score_program
from socialcredit.policy.compile import CompiledProgram

ENGINES = ("duckdb",)


@dataclass(frozen=True)
class ProgramResult:
    """One program's scores, contributions, the records behind them, and reasons."""

    program: CompiledProgram
    as_of: date
    scores: pa.Table
    contributions: pa.Table
    contribution_records: pa.Table
    reasons: pa.Table


def connect(engine: str = "duckdb") -> BaseBackend:
    """A fresh in-process backend for a scoring run."""
    if engine == "duckdb":
        return ibis.duckdb.connect()
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
