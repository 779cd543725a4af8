"""How simulated subjects respond to a program's incentives, month by month (all vectorised).

The model (docs/lab.md has the why):

- Habits. Each subject keeps producing records of every kind at the monthly rate of its own
  history, shrunk a little towards its kind of subject's average (a Gamma-Poisson posterior
  mean with `prior_months` of prior weight). A new record takes its furnisher and value from
  a random one of the subject's own historical records of its kind (a heavy volunteer keeps
  logging long hours), or, where it has none, from a random record of the kind.
- Incentive. A scored subject within `window_share` of the program's range of a decision
  cutoff or grade boundary (either side) feels an incentive from 0 (at the window's edge) to 1
  (on the cutoff). Conduct it controls responds: adverse kinds happen less often
  (x (1 - deterrence * incentive)), and merits the program rewards happen more often
  (x (1 + merit_boost * incentive)). Kinds a program does not score do not respond.
- Paying and repair. A subject whose repairable records (arrears, overdue cards, unpaid tax,
  fines and late utility bills) cost it points pays them with probability
  pay_base + pay_slope * stake / window (+ cross_bonus when paying would lift it over a cutoff
  it now fails), at most pay_max. Paying repairs every such record older than
  `repair_min_days` (the minimum display period): the furnisher withdraws it with a retraction
  record. A payer also performs its outstanding court judgments: a court.judgment_fulfilled
  record each, carrying the judgment's case number (its evidence), as the court files it.
  New judgments drawn from habit get case numbers of their own.
- Cutting contacts. Where a program has a relationship factor, a scored subject with more
  established neighbours than `min_degree` follows the tip to drop low-scored contacts with
  probability `cut_rate` a month: it ends its confirmed contact relations with established
  neighbours whose standing is zero (score before the factor at or below the base), as many
  as still raise its factor (down to `min_degree` neighbours). Nothing else changes relations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.programs import Program
from socialcredit.lab.population import (
    DAY_US,
    NO_DAY,
    Population,
    Records,
    Relations,
    day_of,
    moment_of,
    out_of_force,
)

__all__ = [
    "ADVERSE_KINDS",
    "MERIT_KINDS",
    "REPAIRABLE_KINDS",
    "Behaviour",
    "CutResult",
    "Habits",
    "cut_contacts",
    "draw_records",
    "incentive",
    "pay_probability",
]

REPAIRABLE_KINDS = (
    "loan.arrears_cycle",
    "card.overdue",
    "tax.arrears",
    "traffic.fine_unpaid",
    "utility.payment_late",
)
JUDGMENT_KIND = "court.judgment_unfulfilled"
PERFORMED_KIND = "court.judgment_fulfilled"
ADVERSE_KINDS = (
    *REPAIRABLE_KINDS,
    JUDGMENT_KIND,
    "contract.breached",
    "contract.lawsuit_lost",
    "loan.private_lending_breach",
    "guarantee.breached",
    "traffic.drunk_driving",
    "utility.theft",
    "utility.equipment_destroyed",
    "commerce.counterfeit_goods",
    "finance.illegal_fundraising",
)
MERIT_KINDS = ("volunteer.hours", "blood.donation", "commerce.order_completed")
# Records that are responses, not habits: they are written by the behaviour model itself.
NOT_HABITS = (RETRACTION_KIND, PERFORMED_KIND)
CONTACT = "contact"


@dataclass(frozen=True)
class Behaviour:
    """Parameters of the behaviour model (see the module's docstring)."""

    window_share: float = 0.05
    deterrence: float = 0.3
    merit_boost: float = 0.5
    pay_base: float = 0.02
    pay_slope: float = 0.1
    cross_bonus: float = 0.3
    pay_max: float = 0.6
    repair_min_days: int = 90
    cut_rate: float = 0.1
    prior_months: float = 2.0

    def window(self, program: Program) -> float:
        """The distance from a cutoff, in points, within which a subject feels an incentive."""
        return max(1.0, self.window_share * (program.max_score - program.min_score))


def thresholds(program: Program, cutoffs: list[int]) -> np.ndarray:
    """Scores that matter to a subject: decision cutoffs and grade boundaries."""
    bands = [b.min for b in program.bands if b.min > program.min_score]
    return np.array(sorted(set(cutoffs) | set(bands)), np.int64)


def incentive(
    score: np.ndarray, scored: np.ndarray, marks: np.ndarray, window: float
) -> np.ndarray:
    """From 0 to 1: how close each scored subject stands to the nearest mark (either side)."""
    if len(marks) == 0:
        return np.zeros(len(score))
    gap = np.abs(score[:, None] - marks[None, :]).min(axis=1)
    return np.where(scored, np.clip(1.0 - gap / window, 0.0, 1.0), 0.0)


def pay_probability(
    stake: np.ndarray,
    score: np.ndarray,
    scored: np.ndarray,
    marks: np.ndarray,
    window: float,
    behaviour: Behaviour,
) -> np.ndarray:
    """The chance a subject pays its repairable records this month; grows with the stake."""
    if len(marks):
        crosses = (
            (score[:, None] < marks[None, :]) & (score[:, None] + stake[:, None] >= marks)
        ).any(axis=1)
    else:
        crosses = np.zeros(len(score), bool)
    p = behaviour.pay_base + behaviour.pay_slope * stake / window + behaviour.cross_bonus * crosses
    return np.where(scored & (stake > 0), np.clip(p, 0.0, behaviour.pay_max), 0.0)


@dataclass
class History:
    """What habits are learnt from, for subjects first..first+n-1: each one's count of
    records per kind code, and the furnisher and value of each historical record in (subject,
    kind) order, with where each kind's records fall in that order, in ledger order."""

    first: int
    counts: np.ndarray
    subject: np.ndarray
    kind: np.ndarray
    furnisher: np.ndarray
    value: np.ndarray
    pool_kind: np.ndarray
    pool_at: np.ndarray
    first_day: int

    @staticmethod
    def of(population: Population, first: int = 0) -> History:
        """The history of a population whose subject 0 is subject `first` of the city."""
        records = population.records
        n = population.n
        skip = [population.kinds.get(k) for k in NOT_HABITS]
        keep = ~np.isin(records.kind, [c for c in skip if c is not None]) & ~out_of_force(records)
        rows = np.flatnonzero(keep)
        width = max(len(population.kinds.names), 1)
        subject = records.subject[rows]
        kind = records.kind[rows].astype(np.int64)
        cell = subject * width + kind
        counts = np.bincount(cell, minlength=n * width).reshape(n, width)
        order = np.argsort(cell, kind="stable")
        position = np.empty(len(rows), np.int64)
        position[order] = np.arange(len(rows))
        by_kind = np.argsort(kind, kind="stable")
        days = records.day[rows]
        return History(
            first=first,
            counts=counts.astype(np.int32),
            subject=(subject[order] + first).astype(np.int32),
            kind=kind[order].astype(np.int16),
            furnisher=records.furnisher[rows][order],
            value=records.value[rows][order],
            pool_kind=kind[by_kind].astype(np.int16),
            pool_at=position[by_kind].astype(np.int32),
            first_day=int(days.min()) if len(days) else NO_DAY,
        )

    def release(self) -> None:
        """Let go of the records' arrays once habits have copied them."""
        empty = np.empty(0, np.int32)
        self.subject = self.kind = self.furnisher = self.pool_kind = self.pool_at = empty
        self.value = np.empty(0, np.float64)


def _index_type(largest: int) -> type[np.signedinteger]:
    """The narrowest of int32 and int64 that holds numbers up to `largest`."""
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


class Habits:
    """Each subject's monthly rate of each kind, from its own history."""

    def __init__(
        self,
        population: Population,
        behaviour: Behaviour,
        histories: list[History] | None = None,
    ) -> None:
        """Habits from the population's records, or from the `histories` of its districts
        (in order, released as they are read) when the population keeps only some records."""
        parts = histories if histories is not None else [History.of(population)]
        n = population.n
        codes_total = len(population.kinds.names)
        total = np.zeros(max(codes_total, 1), np.int64)
        for part in parts:
            total[: part.counts.shape[1]] += part.counts.sum(axis=0)
        codes = np.flatnonzero(total)
        self.kinds = codes.astype(np.int16)
        column = np.full(max(codes_total, 1), -1, np.int64)
        column[codes] = np.arange(len(codes))
        width = len(codes)
        end = day_of(population.as_of)
        first = min(p.first_day for p in parts)
        first = end - 30 if first == NO_DAY else first
        self.months = max(1.0, (end - first) / 30.4375)

        def counted(part: History) -> np.ndarray:
            have = codes[codes < part.counts.shape[1]]
            counts = np.zeros((len(part.counts), width), np.float64)
            counts[:, column[have]] = part.counts[:, have]
            return counts

        # each kind of subject's mean count (persons, organisations), district by district
        groups = (population.person, ~population.person)
        sums = np.zeros((2, width))
        for part in parts:
            counts = counted(part)
            rows = slice(part.first, part.first + len(part.counts))
            for g, group in enumerate(groups):
                sums[g] += counts[group[rows]].sum(axis=0)
        sizes = np.array([g.sum() for g in groups], np.float64)
        means = sums / np.maximum(sizes, 1)[:, None] / self.months
        prior = behaviour.prior_months
        self.rates = np.empty((n, width), np.float32)
        for part in parts:
            counts = counted(part)
            rows = slice(part.first, part.first + len(part.counts))
            mean = means[np.where(population.person[rows], 0, 1)]
            self.rates[rows] = (counts + prior * mean) / (self.months + prior)
            part.counts = np.empty((0, 0), np.int32)
        # historical records to draw furnishers and values from: each subject's own of each
        # kind (in (subject, kind) order), and a pool per kind for subjects with none, in
        # ledger order; filled district by district, each district's history released as it
        # is copied
        self.width = width
        size = sum(len(p.subject) for p in parts)
        self.furnisher = np.empty(size, np.int16)
        self.value = np.empty(size, np.float64)
        self.own_cell = np.empty(size, _index_type(n * width))
        per_kind = sum(
            (np.bincount(column[p.pool_kind], minlength=width) for p in parts),
            np.zeros(width, np.int64),
        )
        self.pool_start = np.concatenate([[0], np.cumsum(per_kind)]).astype(np.int64)
        self.pool = np.empty(size, _index_type(size))
        filled = self.pool_start[:-1].copy()
        at = 0
        for part in parts:
            m = len(part.subject)
            self.furnisher[at : at + m] = part.furnisher
            self.value[at : at + m] = part.value
            self.own_cell[at : at + m] = part.subject.astype(np.int64) * width + column[part.kind]
            bounds = np.searchsorted(column[part.pool_kind], np.arange(width + 1))
            for c in range(width):
                segment = part.pool_at[bounds[c] : bounds[c + 1]]
                self.pool[filled[c] : filled[c] + len(segment)] = segment + at
                filled[c] += len(segment)
            at += m
            part.release()

    def release(self) -> None:
        """Let go of the habits' arrays once no month is left to draw (a city of 10 million
        residents holds 4.5 GiB of them)."""
        self.rates = np.empty((0, self.width), np.float32)
        self.furnisher = np.empty(0, np.int16)
        self.value = np.empty(0, np.float64)
        self.own_cell = np.empty(0, self.own_cell.dtype)
        self.pool = np.empty(0, self.pool.dtype)

    def coefficients(
        self, population: Population, program: Program, behaviour: Behaviour
    ) -> np.ndarray:
        """Per kind: how its rate responds to incentive under this program."""
        gives = {k for r in program.rules if r.gives for k in r.kinds}
        scored = {k for r in program.rules for k in r.kinds}
        coef = np.zeros(len(self.kinds))
        for i, code in enumerate(self.kinds):
            name = population.kinds.names[code]
            if name in ADVERSE_KINDS and name in scored:
                coef[i] = -behaviour.deterrence
            elif name in MERIT_KINDS and name in gives:
                coef[i] = behaviour.merit_boost
        return coef


_BLOCK = 1 << 20  # subjects drawn at once, so that no month needs a subjects x kinds copy


def draw_records(
    rng: np.random.Generator,
    habits: Habits,
    nudge: np.ndarray,
    coef: np.ndarray,
    first_day: int,
    stop_day: int,
    next_id: int,
    subjects: int,
) -> Records:
    """A month of new records: Poisson counts per subject and kind at the habit's rate times
    (1 + nudge * coef), on days in [first, stop), without evidence (the world gives new
    judgments their case numbers). Drawn in blocks of subjects, in subject order."""
    rows_parts, cols_parts, counts_parts = [], [], []
    for start in range(0, subjects, _BLOCK):
        stop = min(subjects, start + _BLOCK)
        multiplier = (1.0 + nudge[start:stop, None] * coef[None, :]).astype(np.float32)
        counts = rng.poisson(habits.rates[start:stop] * multiplier)
        rows, cols = np.nonzero(counts)
        rows_parts.append(rows + start)
        cols_parts.append(cols)
        counts_parts.append(counts[rows, cols])
    rows = np.concatenate(rows_parts) if rows_parts else np.empty(0, np.int64)
    cols = np.concatenate(cols_parts) if cols_parts else np.empty(0, np.int64)
    times = np.concatenate(counts_parts) if counts_parts else np.empty(0, np.int64)
    subject = np.repeat(rows, times)
    column = np.repeat(cols, times)
    m = len(subject)
    pick = _historical(rng, habits, subject, column)
    day = first_day + (rng.random(m) * max(1, stop_day - first_day)).astype(np.int64)
    return Records.build(
        np.arange(next_id, next_id + m),
        subject,
        habits.kinds[column],
        habits.furnisher[pick],
        moment_of(day),
        habits.value[pick],
        np.full(m, -1),
    )


def _historical(
    rng: np.random.Generator, habits: Habits, subject: np.ndarray, column: np.ndarray
) -> np.ndarray:
    """For each new record, a random historical record to copy: one of its subject's own of
    that kind, else one of the kind's pool."""
    draw = rng.random(len(subject))
    size = habits.pool_start[column + 1] - habits.pool_start[column]
    pick: np.ndarray = habits.pool[habits.pool_start[column] + (draw * size).astype(np.int64)]
    cell = (subject * habits.width + column).astype(habits.own_cell.dtype)
    lo = np.searchsorted(habits.own_cell, cell, "left")
    hi = np.searchsorted(habits.own_cell, cell, "right")
    own = hi > lo
    pick[own] = lo[own] + (draw[own] * (hi - lo)[own]).astype(np.int64)
    return pick


@dataclass(frozen=True)
class CutResult:
    """What one month's contact cutting did."""

    cutters: np.ndarray
    pairs: int
    relations: Relations


def neighbour_pairs(
    relations: Relations,
    day: int,
    kinds: np.ndarray,
    members: np.ndarray,
    relays: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs the engine's relationship factor sees on a day, and whether every
    link between them is a contact ('contact' has code `kinds[0]`)."""
    act = (
        relations.active(day)
        & relations.confirmed
        & np.isin(relations.relation, kinds)
        & (relations.subject != relations.other)
    )
    s, o, r = relations.subject[act], relations.other[act], relations.relation[act]
    a = np.concatenate([s, o])
    b = np.concatenate([o, s])
    contact = np.concatenate([r == kinds[0], r == kinds[0]])
    keep = members[a] & relays[b]
    a, b, contact = a[keep], b[keep], contact[keep]
    n = np.int64(len(members))
    key = a * n + b
    unique, inverse = np.unique(key, return_inverse=True)
    only_contact = np.ones(len(unique), bool)
    np.logical_and.at(only_contact, inverse, contact)
    return unique // n, unique % n, only_contact


def cut_contacts(
    rng: np.random.Generator,
    population: Population,
    program: Program,
    scored: np.ndarray,
    pre: np.ndarray,
    established: np.ndarray,
    day: int,
    cut_rate: float,
) -> CutResult:
    """Subjects following the tip end confirmed contacts with zero-standing neighbours."""
    factor = program.relationship_factor
    relations = population.relations
    contact = population.relation_kinds.get(CONTACT)
    if factor is None or factor.propagation is None or cut_rate <= 0 or contact is None:
        return CutResult(np.empty(0, np.int64), 0, relations)
    prop = factor.propagation
    codes = [contact] + [
        c
        for k in prop.relations
        if k != CONTACT and (c := population.relation_kinds.get(k)) is not None
    ]
    if CONTACT not in prop.relations:
        return CutResult(np.empty(0, np.int64), 0, relations)
    n = population.n
    relays = scored[:n] & established[:n]
    a, b, only_contact = neighbour_pairs(relations, day, np.array(codes), scored[:n], relays)
    degree = np.bincount(a, minlength=n)
    low = relays & (pre[:n] <= program.base)
    candidate = low[b] & only_contact
    room = degree - prop.min_degree
    follows = scored[:n] & (room > 0) & (rng.random(n) < cut_rate)
    candidate &= follows[a]
    ca, cb = a[candidate], b[candidate]
    order = np.lexsort((rng.random(len(ca)), ca))
    ca, cb = ca[order], cb[order]
    starts = np.searchsorted(ca, ca, side="left")
    rank = np.arange(len(ca)) - starts
    chosen = rank < room[ca]
    ca, cb = ca[chosen], cb[chosen]
    if len(ca) == 0:
        return CutResult(np.empty(0, np.int64), 0, relations)
    pair = np.unique(np.minimum(ca, cb) * np.int64(n) + np.maximum(ca, cb))
    rel_key = np.minimum(relations.subject, relations.other) * np.int64(n) + np.maximum(
        relations.subject, relations.other
    )
    end_rows = (
        np.isin(rel_key, pair)
        & (relations.relation == contact)
        & relations.confirmed
        & relations.active(day)
    )
    updated = relations.copy()
    updated.end[end_rows] = (day + 1) * DAY_US
    return CutResult(np.unique(ca), len(pair), updated)
