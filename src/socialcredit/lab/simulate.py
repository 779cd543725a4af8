"""Simulate a synthetic population month by month under one or more programs.

Each program gets its own world: the same starting city, its own ledger on one shared DuckDB
backend, and its own behaviour, because subjects respond to the incentives of the program that
scores them. Every month the worlds draw new records, pay and repair, maybe cut contacts, and
are re-scored by the engine's scoring definition. After the last month each world's list
entries are derived for month 0 and the last month (`lab.listed`).
"""

from __future__ import annotations

import calendar
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
from ibis.backends import BaseBackend

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.engines.run import connect
from socialcredit.lab.attacks import AttackResult, Attacks, run_attacks
from socialcredit.lab.baseline import DISTRICT, districts, generated, prepared
from socialcredit.lab.behaviour import (
    ADVERSE_KINDS,
    JUDGMENT_KIND,
    MERIT_KINDS,
    PERFORMED_KIND,
    REPAIRABLE_KINDS,
    Behaviour,
    Habits,
    cut_contacts,
    draw_records,
    incentive,
    pay_probability,
    thresholds,
)
from socialcredit.lab.cutoffs import Cutoff, Unaudited, cutoffs_for, unaudited_for
from socialcredit.lab.listed import ListMeasure, case_kinds, list_measures, touched_by
from socialcredit.lab.population import (
    Population,
    Records,
    chains_naming,
    day_of,
    moment_of,
    note_first_days,
    out_of_force,
)
from socialcredit.lab.scoring import LabLedger, MonthScores, score_month
from socialcredit.policy.compile import CompiledProgram
from socialcredit.policy.measures import MeasuresCatalogue

__all__ = ["DEFAULT_START", "LabConfig", "LabResult", "World", "add_months", "simulate"]

DEFAULT_START = date(2026, 1, 1)
# The lab holds its population, habits and scores beside DuckDB (about 0.8 GiB per million
# residents), so DuckDB gets less of the machine than a scoring run's 40%.
LAB_DUCKDB_SHARE = 0.25
Progress = Callable[[str], None]
_CASE = np.int64(1 << 32)  # an open judgment's key: subject * _CASE + evidence code + 1


def add_months(day: date, months: int) -> date:
    """The same day of the month, `months` later (or the month's last day, if shorter)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class LabConfig:
    """What to simulate."""

    population: int = 100_000
    organisations: int | None = None
    months: int = 24
    seed: int = 7
    start: date = DEFAULT_START
    history_years: int = 2
    district: int = DISTRICT
    behaviour: Behaviour = field(default_factory=Behaviour)
    attacks: Attacks = field(default_factory=Attacks)
    mount_attacks: bool = True
    min_group: int = 30
    four_fifths: float = 0.8
    sybil_limit: int = 5

    def __post_init__(self) -> None:
        if self.months < 0:
            raise ValueError("months must be zero or more")


@dataclass
class MonthStats:
    """What the behaviour model did in one month of one world."""

    month: int
    new_records: int = 0
    adverse: int = 0
    merits: int = 0
    payers: int = 0
    repaired: int = 0
    judgments_performed: int = 0
    cutters: int = 0
    pairs_cut: int = 0


class World:
    """One program's simulated population."""

    def __init__(
        self,
        backend: BaseBackend,
        index: int,
        compiled: CompiledProgram,
        catalogue: MeasuresCatalogue,
        base: Population,
        habits: Habits,
        ledger: Path,
        config: LabConfig,
    ) -> None:
        self.compiled = compiled
        self.program = compiled.program
        self.cutoffs: list[Cutoff] = cutoffs_for(catalogue, self.program)
        self.unaudited: list[Unaudited] = unaudited_for(catalogue, self.program)
        self.list_measures: list[ListMeasure] = list_measures(catalogue)
        self.lists = list(catalogue.lists.values())
        self.catalogue_version = catalogue.version
        self.config = config
        self.behaviour = config.behaviour
        self.population = replace(
            base, relations=base.relations.copy(), first_day=base.first_day.copy()
        )
        self.start_relations = base.relations
        self.ledger = LabLedger(backend, f"lab_world{index}", ledger)
        self.habits = habits
        self.n = base.n
        self.coef = habits.coefficients(base, self.program, self.behaviour)
        self.marks = thresholds(self.program, [m for c in self.cutoffs for m in c.marks])
        self.window = self.behaviour.window(self.program)
        kinds = self.population.kinds
        self.retraction = kinds.code(RETRACTION_KIND)
        self.performed = kinds.code(PERFORMED_KIND)
        self.judgment = kinds.code(JUDGMENT_KIND)
        self.case_codes = np.array(sorted(kinds.code(k) for k in case_kinds(self.lists)), np.int64)
        self.display = np.full(len(kinds.names) + 64, -1, np.int64)
        self.repair_rules: list[str] = []
        for rule in self.program.rules:
            for kind in rule.kinds:
                if kind in REPAIRABLE_KINDS:
                    self.display[kinds.code(kind)] = rule.display_days
                    if rule.id not in self.repair_rules:
                        self.repair_rules.append(rule.id)
        self.adverse_codes = np.array([kinds.code(k) for k in ADVERSE_KINDS])
        self.merit_codes = np.array([kinds.code(k) for k in MERIT_KINDS])
        records = self.population.records
        self.repairable = np.flatnonzero(self.display[records.kind] >= 0)
        gone = out_of_force(records)
        self.withdrawn = gone[self.repairable]
        self.open_judgments = self._open_judgments(records, ~gone)
        self.first_day = self.population.first_day  # updated in place as records arrive
        self.next_id = self.population.next_record_id()
        self.months: list[MonthScores] = []
        self.stats: list[MonthStats] = []
        self.attacks: list[AttackResult] = []
        self.cut_subjects: list[np.ndarray] = [np.empty(0, np.int64)]
        self.sizes: list[int] = []
        self.listed: dict[int, dict[str, np.ndarray]] = {}
        self.seconds = 0.0
        self.list_seconds = 0.0

    def _judgment_keys(self, records: Records, rows: np.ndarray) -> np.ndarray:
        """The distinct (subject, case) keys of these rows."""
        return np.unique(records.subject[rows] * _CASE + records.evidence[rows] + 1)

    def _open_judgments(self, records: Records, live: np.ndarray) -> np.ndarray:
        """Judgments in force (among the `live` records) not yet performed, one key per
        (subject, case): a fulfilment performs the judgment of its own case, as the judgment
        defaulters' list matches them."""
        live = live & (records.kind != self.retraction)
        given = self._judgment_keys(records, np.flatnonzero(live & (records.kind == self.judgment)))
        done = self._judgment_keys(records, np.flatnonzero(live & (records.kind == self.performed)))
        return np.setdiff1d(given, done)

    def _new_cases(self, new: Records) -> None:
        """Give each new judgment drawn from habit a case number of its own."""
        rows = np.flatnonzero(np.isin(new.kind, self.case_codes))
        vocabulary = self.population.evidence
        for row in rows.tolist():
            new.evidence[row] = vocabulary.code(f"lab-case:{int(new.id[row])}")

    def score(self, as_of: date) -> MonthScores:
        started = time.perf_counter()
        result = score_month(self.compiled, self.ledger.ledger, as_of, self.n, self.repair_rules)
        self.seconds += time.perf_counter() - started
        if len(self.months) > 1:  # month 0 and the latest stay whole; the rest are slimmed
            self.months[-1] = self.months[-1].slim()
        self.months.append(result)
        self.sizes.append(len(self.population.records))
        return result

    def start(self) -> None:
        self.score(self.config.start)
        self.stats.append(MonthStats(0))

    def step(self, month: int) -> None:
        """Simulate month `month` (1-based) and score its end."""
        prev = self.months[-1]
        as_of = add_months(self.config.start, month)
        d0, d1 = day_of(prev.as_of), day_of(as_of)
        rng = np.random.default_rng([self.config.seed, month])
        b = self.behaviour
        stats = MonthStats(month)
        pop = self.population

        # habits, nudged by the incentive of nearby cutoffs
        inc = incentive(prev.score, prev.scored, self.marks, self.window)
        new = draw_records(rng, self.habits, inc, self.coef, d0, d1, self.next_id, self.n)
        self._new_cases(new)
        self.next_id += len(new)
        stats.new_records = len(new)
        stats.adverse = int(np.isin(new.kind, self.adverse_codes).sum())
        stats.merits = int(np.isin(new.kind, self.merit_codes).sum())

        # paying: repair what costs points, perform outstanding judgments
        stake = -sum((prev.rules[r] for r in self.repair_rules), np.zeros(self.n, np.int64))
        stake = np.maximum(stake, 0)
        p = pay_probability(stake, prev.score, prev.scored, self.marks, self.window, b)
        owing = self.open_judgments // _CASE
        outstanding = np.bincount(owing, minlength=self.n)[: self.n]
        p = np.maximum(p, np.where(outstanding > 0, b.pay_base, 0.0))
        pays = rng.random(self.n) < p
        stats.payers = int(pays.sum())
        records = pop.records
        open_rows = self.repairable[~self.withdrawn]
        age = d0 - records.day[open_rows]
        kind = records.kind[open_rows]
        due = (
            pays[records.subject[open_rows]]
            & (age >= b.repair_min_days)
            & (age < self.display[kind])
        )
        fixed = open_rows[due]
        self.withdrawn[~self.withdrawn] = due
        m = len(fixed)
        repair_ids = np.arange(self.next_id, self.next_id + m)
        repairs = Records.build(
            repair_ids,
            records.subject[fixed],
            np.full(m, self.retraction),
            records.furnisher[fixed],
            moment_of(d0 + (rng.random(m) * max(1, d1 - d0)).astype(np.int64)),
            np.full(m, np.nan),
            records.id[fixed],
            chain=chains_naming(records, fixed, repair_ids),
        )
        self.next_id += m
        stats.repaired = m
        # each outstanding judgment is performed under its own case number
        performing = pays[owing] if len(owing) else np.zeros(0, bool)
        keys = self.open_judgments[performing]
        self.open_judgments = self.open_judgments[~performing]
        k = len(keys)
        court = records.furnisher[records.kind == self.judgment]
        court_code = int(np.bincount(court).argmax()) if len(court) else 0
        performed = Records.build(
            np.arange(self.next_id, self.next_id + k),
            keys // _CASE,
            np.full(k, self.performed),
            np.full(k, court_code),
            moment_of(d0 + (rng.random(k) * max(1, d1 - d0)).astype(np.int64)),
            np.full(k, np.nan),
            np.full(k, -1),
            keys % _CASE - 1,
        )
        self.next_id += k
        stats.judgments_performed = k

        # cutting low-scored contacts, where the program has a relationship factor
        factor = self.program.relationship_factor
        cutters = np.empty(0, np.int64)
        if factor is not None and factor.propagation is not None:
            established = prev.scored & (
                d0 - self.first_day >= factor.propagation.seed_history_days
            )
            cut = cut_contacts(
                rng, pop, self.program, prev.scored, prev.pre, established, d0, b.cut_rate
            )
            cutters = cut.cutters
            stats.cutters, stats.pairs_cut = len(cut.cutters), cut.pairs
            if cut.pairs:
                pop.relations = cut.relations
                self.ledger.set_relations(pop)

        self.cut_subjects.append(cutters)
        batch = new.append(repairs).append(performed)
        start = len(records)
        pop.records = records.append(batch)
        fresh = self.display[new.kind] >= 0
        self.repairable = np.concatenate([self.repairable, start + np.flatnonzero(fresh)])
        self.withdrawn = np.concatenate([self.withdrawn, np.zeros(int(fresh.sum()), bool)])
        fresh_judgments = self._judgment_keys(new, np.flatnonzero(new.kind == self.judgment))
        self.open_judgments = np.union1d(self.open_judgments, fresh_judgments)
        note_first_days(self.first_day, new, self.retraction)
        self.ledger.add_records(batch, pop)
        self.stats.append(stats)
        self.score(as_of)

    def audit_lists(self) -> None:
        """Who the measures keyed on records touch in month 0 and the last month, each from the
        ledger as it stood at that month's end (`lab.listed`)."""
        started = time.perf_counter()
        for index in sorted({0, len(self.months) - 1}):
            records = self.population.records.head(self.sizes[index])
            self.listed[index] = touched_by(
                self.list_measures, self.population, records, self.n, self.months[index].as_of
            )
        self.list_seconds += time.perf_counter() - started

    def mount_attacks(self) -> None:
        started = time.perf_counter()
        self.attacks = run_attacks(
            self.compiled,
            self.population,
            self.ledger,
            self.months[-1],
            self.config.attacks,
            self.config.seed,
            self.lists,
        )
        self.seconds += time.perf_counter() - started


@dataclass
class LabResult:
    """Everything a lab run produced, for the metrics and the report."""

    config: LabConfig
    population: Population
    worlds: list[World]
    timings: dict[str, float]


def steps_for(config: LabConfig, programs: int) -> int:
    """How many progress steps `simulate` reports (one per district generated)."""
    generating = len(districts(config.population, config.organisations, config.district))
    return generating + programs * (config.months + 3)


def simulate(
    programs: list[CompiledProgram],
    catalogue: MeasuresCatalogue,
    config: LabConfig,
    progress: Progress | None = None,
    population: Population | None = None,
) -> LabResult:
    """Run the lab: one world per program, `config.months` months, then the attacks.

    The decision cutoffs are the catalogue's measures each program's score decides.
    `population` replaces the generated city (for hand-built tests). The engine's ledger is
    kept in a temporary folder for the run's length.
    """
    tell = progress or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="socialcredit-lab-") as folder:
        return _simulate(programs, catalogue, config, tell, population, Path(folder))


def _simulate(
    programs: list[CompiledProgram],
    catalogue: MeasuresCatalogue,
    config: LabConfig,
    tell: Progress,
    population: Population | None,
    folder: Path,
) -> LabResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if population is None:
        baseline = generated(
            config.population,
            config.organisations,
            config.seed,
            config.start,
            config.history_years,
            catalogue,
            config.behaviour,
            folder,
            config.district,
            tell,
        )
    else:
        baseline = prepared(population, catalogue, config.behaviour, folder)
        tell(f"prepared {population.n:,} subjects")
    population, habits = baseline.population, baseline.habits
    timings["generate"] = time.perf_counter() - started
    backend = connect("duckdb", folder / "lab.duckdb", LAB_DUCKDB_SHARE)
    worlds = [
        World(backend, i, c, catalogue, population, habits, baseline.ledger, config)
        for i, c in enumerate(programs)
    ]
    for world in worlds:
        world.start()
        tell(f"{world.program.id}: scored month 0")
    for month in range(1, config.months + 1):
        for world in worlds:
            world.step(month)
            tell(f"{world.program.id}: month {month} of {config.months}")
    habits.release()  # the lists, the attacks and the figures do not read habits
    for world in worlds:
        world.audit_lists()
        tell(f"{world.program.id}: lists")
    for world in worlds:
        if config.mount_attacks:
            world.mount_attacks()
        tell(f"{world.program.id}: attacks")
    for world in worlds:
        timings[f"score:{world.program.id}"] = world.seconds
        timings[f"lists:{world.program.id}"] = world.list_seconds
    timings["total"] = time.perf_counter() - started
    return LabResult(config, population, worlds, timings)
