"""Scoring in the lab: the engine's own definition, run on a DuckDB ledger keyed by integers.

The lab calls `score_program`, the one scoring definition every engine runs, and brings back
only what the simulation reads (scores, clamps, grades and a few rules' contributions) instead
of every contribution record and reason, which `run_program` also materialises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from socialcredit.engines.definition import (
    RELATIONSHIPS_RULE,
    SCORED,
    Ledger,
    score_program,
)
from socialcredit.lab.population import (
    Population,
    Records,
    engine_tables,
    record_table,
    relation_table,
    subject_table,
)
from socialcredit.policy.compile import CompiledProgram

__all__ = ["LabLedger", "MonthScores", "score_month"]


class LabLedger:
    """One world's ledger tables on a shared DuckDB backend (names prefixed per world)."""

    def __init__(self, backend: BaseBackend, prefix: str, ledger: Path | Population) -> None:
        """The tables from a folder of Parquet parts (`lab.baseline`), or a population's."""
        self.backend = backend
        self.names = {n: f"{prefix}_{n}" for n in ("subjects", "records", "relations")}
        tables: Mapping[str, ir.Table | pa.Table] = (
            engine_tables(ledger)
            if isinstance(ledger, Population)
            else {n: backend.read_parquet(str(ledger / n / "*.parquet")) for n in self.names}
        )
        bound = {
            n: backend.create_table(self.names[n], tables[n], overwrite=True) for n in self.names
        }
        self.ledger = Ledger(
            subjects=bound["subjects"], records=bound["records"], relations=bound["relations"]
        )

    def add_subjects(self, population: Population, first: int) -> None:
        """Add subjects first..n-1 of the population."""
        if first < population.n:
            table = subject_table(population, first, population.n)
            self.backend.insert(self.names["subjects"], table)

    def add_records(self, records: Records, population: Population) -> None:
        """Append records (their codes read with the population's vocabularies)."""
        if len(records):
            self.backend.insert(self.names["records"], record_table(records, population))

    def set_relations(self, population: Population) -> None:
        """Replace the relations with the population's current ones."""
        table = relation_table(population.relations, population)
        relations = self.backend.create_table(self.names["relations"], table, overwrite=True)
        self.ledger = Ledger(self.ledger.subjects, self.ledger.records, relations)


@dataclass
class MonthScores:
    """One program's scores for every subject, indexed by subject number.

    `score` is -1 where a subject is out of the program's scope or has insufficient data;
    `pre` is the total before the relationship factor and the clamp; `rules` holds the points
    of the rules that were asked for (0 where a subject has none).
    """

    as_of: date
    in_scope: np.ndarray
    scored: np.ndarray
    score: np.ndarray
    pre: np.ndarray
    relationship: np.ndarray
    rules: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.score)

    def slim(self) -> MonthScores:
        """The same month without what only the next month's behaviour reads (`pre` and
        `rules`), with scores as 32-bit integers: what a long run keeps for its metrics."""
        return MonthScores(
            as_of=self.as_of,
            in_scope=self.in_scope,
            scored=self.scored,
            score=self.score.astype(np.int32),
            pre=np.empty(0, np.int32),
            relationship=self.relationship.astype(np.int32),
            rules={},
        )


def _ints(column: pa.ChunkedArray, fill: int = 0) -> np.ndarray:
    return np.asarray(pc.fill_null(column, fill).to_numpy(), np.int64)


def score_month(
    compiled: CompiledProgram,
    ledger: Ledger,
    as_of: date,
    n: int,
    rules: Sequence[str] = (),
) -> MonthScores:
    """Score every subject as of a day and gather the results by subject number."""
    scoring = score_program(compiled, ledger, as_of)
    scores = scoring.scores.select("subject", "status", "score", "clamp").to_pyarrow()
    wanted = [*rules, RELATIONSHIPS_RULE]
    contributions = scoring.contributions
    picked = contributions.filter(contributions.rule.isin(wanted)).to_pyarrow()

    subject = _ints(scores.column("subject"))
    in_scope = np.zeros(n, bool)
    in_scope[subject] = True
    is_scored = np.asarray(pc.equal(scores.column("status"), SCORED).to_numpy(), bool)
    scored = np.zeros(n, bool)
    scored[subject[is_scored]] = True
    score = np.full(n, -1, np.int64)
    score[subject[is_scored]] = _ints(scores.column("score"))[is_scored]
    total = np.zeros(n, np.int64)
    total[subject] = _ints(scores.column("score")) + _ints(scores.column("clamp"))

    by_rule: dict[str, np.ndarray] = {}
    rule_column = picked.column("rule").to_numpy(zero_copy_only=False)
    who = _ints(picked.column("subject"))
    points = _ints(picked.column("points"))
    for rule in wanted:
        here = rule_column == rule
        column = np.zeros(n, np.int64)
        np.add.at(column, who[here], points[here])
        by_rule[rule] = column
    relationship = by_rule.pop(RELATIONSHIPS_RULE)
    return MonthScores(
        as_of=as_of,
        in_scope=in_scope,
        scored=scored,
        score=score,
        pre=np.where(scored, total - relationship, -1),
        relationship=relationship,
        rules=by_rule,
    )
