"""Measures keyed on lists entered by records, and on recent records: whom they touch.

Judgment defaulters lose flights because a court listed them, not because of a score. For each
audited month the lab takes a world's ledger as it stood at the month's end, keeps the records
in force (`domain.records.in_force`), derives each subject's entries with the platform's own
`domain.lists.entry_of`, and asks the platform's decision (`domain.measures.decide`, the service
alone with the one measure) whether the measure applies. Only subjects with a record of the
kinds a measure reads are asked about one by one; everyone else has the same facts (no such
record, so no entry), and one decision answers for all of them.

These measures read no program's score, so each world reports every one of them, whatever
program its service names: the counts differ between worlds only because behaviour does.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import NamedTuple

import numpy as np

from socialcredit.domain.lists import (
    LedgerRecord,
    ListDefinition,
    ListEntry,
    ListKind,
    entry_of,
    kinds_read,
)
from socialcredit.domain.measures import Effect, Measure, Service, SubjectFacts, decide
from socialcredit.domain.records import in_force
from socialcredit.lab.population import DAY_US, Population, Records, datetimes, day_of
from socialcredit.policy.measures import MeasuresCatalogue

__all__ = [
    "ListMeasure",
    "audit_effect",
    "blacklisted",
    "case_kinds",
    "end_of_day",
    "from_records",
    "list_measures",
    "touched_by",
]


def audit_effect(effect: Effect) -> str:
    """What the audit calls a measure: a grant is a reward, a deny or condition a restriction."""
    return "reward" if effect is Effect.GRANT else "restriction"


@dataclass(frozen=True, eq=False)
class ListMeasure:
    """A measure decided by records: a list entered by records, or a test of recent records.

    `alone` is its service with this one measure, as the lab asks the decision; `definition` is
    the list it is keyed on (None for a records test)."""

    alone: Service
    measure: Measure
    definition: ListDefinition | None
    rule: str

    @property
    def service(self) -> str:
        """The service's name."""
        return self.alone.name

    @property
    def name(self) -> str:
        """`service:measure`, as decision traces name the rule."""
        return f"{self.alone.name}:{self.measure.id}"

    @property
    def effect(self) -> str:
        """What the audit calls it (`audit_effect`)."""
        return audit_effect(self.measure.effect)

    @property
    def basis(self) -> str:
        """`list` for a list entered by records, `records` for a test of recent records."""
        return "records" if self.definition is None else "list"

    @property
    def kinds(self) -> set[str]:
        """The record kinds that can put a subject under the measure."""
        if self.definition is not None:
            assert self.definition.records is not None
            return set(self.definition.records.kinds)
        assert self.measure.when.records is not None
        return set(self.measure.when.records.kinds)


def from_records(measure: Measure, lists: dict[str, ListDefinition]) -> bool:
    """Whether records decide the measure: a list entered by records, or a records test."""
    name = measure.when.on_list
    if name is not None:
        definition = lists.get(name)
        return definition is not None and definition.records is not None
    return measure.when.records is not None


def _rule(measure: Measure, definition: ListDefinition | None) -> str:
    """The test in words; a list adds the record kinds that enter it."""
    if definition is None or definition.records is None:
        return measure.when.describe()
    return f"{measure.when.describe()} (entered by {', '.join(definition.records.kinds)})"


def list_measures(catalogue: MeasuresCatalogue) -> list[ListMeasure]:
    """Every measure of the catalogue that records decide, in catalogue order."""
    found = []
    for service in catalogue.services.values():
        for measure in service.measures:
            if not from_records(measure, catalogue.lists):
                continue
            name = measure.when.on_list
            definition = catalogue.lists[name] if name is not None else None
            alone = replace(service, measures=[measure])
            found.append(ListMeasure(alone, measure, definition, _rule(measure, definition)))
    return found


def case_kinds(definitions: Iterable[ListDefinition]) -> set[str]:
    """Kinds whose every record opens its own case, matched by its evidence (a court judgment):
    a new record of such a kind needs a new case number."""
    return {
        kind
        for d in definitions
        if d.records is not None and d.records.within_days is None and d.match == "evidence"
        for kind in d.records.kinds
    }


BLOCK = 500_000  # subjects whose records are read into objects at once


def end_of_day(day: date) -> datetime:
    """The last moment of a day: lists see what the engine scores as of it (records up to and
    including that day)."""
    return datetime.combine(day, time.max)


class _Row(NamedTuple):
    """A record as `in_force` reads it (external ids are record ids in the lab)."""

    id: int
    subject: int
    furnisher: str
    external_id: str
    replaces: str | None
    chain: str | None
    kind: str
    occurred_at: datetime
    value: float | None
    evidence: str | None


def _rows(population: Population, records: Records, rows: np.ndarray) -> list[_Row]:
    kinds = population.kinds.names
    furnishers = population.furnishers.names
    cases = population.evidence.names
    columns = zip(
        records.id[rows].tolist(),
        records.subject[rows].tolist(),
        records.furnisher[rows].tolist(),
        records.replaces[rows].tolist(),
        records.chain[rows].tolist(),
        records.kind[rows].tolist(),
        datetimes(records.time[rows]),
        records.value[rows].tolist(),
        records.evidence[rows].tolist(),
        strict=True,
    )
    return [
        _Row(
            i,
            subject,
            furnishers[furnisher],
            str(i),
            None if replaces < 0 else str(replaces),
            None if chain < 0 else str(chain),
            kinds[kind],
            at,
            None if math.isnan(value) else value,
            None if evidence < 0 else cases[evidence],
        )
        for i, subject, furnisher, replaces, chain, kind, at, value, evidence in columns
    ]


def _applies(measure: ListMeasure, facts: SubjectFacts, now: datetime) -> bool:
    decision = decide(measure.alone, facts, now)
    return decision.applied(measure.measure.id)


def _facts(
    measure: ListMeasure,
    subject: str,
    entry: ListEntry | None,
    records: Sequence[LedgerRecord],
) -> SubjectFacts:
    """What the measure's decision reads about one subject: its entry on the measure's list, or
    its records of the kinds the records test names."""
    entries = {entry.list: entry} if entry is not None else {}
    recent: dict[str, list[tuple[int, datetime]]] = {}
    test = measure.measure.when.records
    if test is not None:
        for r in records:
            if r.kind in test.kinds:
                recent.setdefault(r.kind, []).append((r.id, r.occurred_at))
    return SubjectFacts(subject, entries, None, {}, recent)


def _no_entry(measure: ListMeasure, now: datetime) -> ListEntry | None:
    """The entry of a subject without records (none, but entry_of says so)."""
    if measure.definition is None:
        return None
    return entry_of(measure.definition, "", [], now)


def _read_rows(
    entering: set[str],
    definitions: Sequence[ListDefinition],
    population: Population,
    records: Records,
    n: int,
    now: datetime,
) -> np.ndarray:
    """Rows, in ledger order, of the records of the kinds the lists and tests read, of each
    subject below n with a record by `now` of a kind that can put it under one of them
    (`entering`), and of the corrections and retractions of their chains."""
    read = kinds_read(definitions) | entering

    def codes(kinds: Iterable[str]) -> np.ndarray:
        found = [population.kinds.get(k) for k in kinds]
        return np.array([c for c in found if c is not None], np.int64)

    until = (day_of(now.date()) + 1) * DAY_US
    known = (records.time < until) & (records.subject < n)
    candidate = np.zeros(max(n, int(records.subject.max(initial=-1)) + 1), bool)
    candidate[records.subject[known & np.isin(records.kind, codes(entering))]] = True
    wanted = np.flatnonzero(candidate[records.subject] & np.isin(records.kind, codes(read)))
    # and the corrections of their chains (a chain is named by its first record's id),
    # whenever filed
    chain = records.chain
    size = max(int(records.id.max(initial=-1)), int(chain.max(initial=-1))) + 1
    touched = np.zeros(size, bool)
    touched[np.where(chain[wanted] >= 0, chain[wanted], records.id[wanted])] = True
    members = np.flatnonzero((chain >= 0) & touched[np.maximum(chain, 0)])
    return np.union1d(wanted, members)


def _held(
    population: Population, records: Records, rows: np.ndarray, now: datetime
) -> dict[int, list[LedgerRecord]]:
    """Each subject's records in force at `now`, among these rows (in ledger order)."""
    held: dict[int, list[LedgerRecord]] = defaultdict(list)
    for r in in_force(_rows(population, records, rows), lambda r: r.occurred_at <= now):
        held[r.subject].append(LedgerRecord(r.id, r.kind, r.occurred_at, r.value, r.evidence))
    return held


def _blocks(records: Records, rows: np.ndarray, n: int, block: int) -> Iterator[np.ndarray]:
    """The rows of each block of `block` subjects, each block's in ledger order."""
    by_subject = rows[np.argsort(records.subject[rows], kind="stable")]
    bounds = np.searchsorted(records.subject[by_subject], np.arange(0, n + block, block))
    for lo, hi in itertools.pairwise(bounds.tolist()):
        if hi > lo:
            yield np.sort(by_subject[lo:hi])


def _having(held: dict[int, list[LedgerRecord]], kinds: set[str]) -> list[int]:
    """The subjects holding a record of one of these kinds."""
    return [s for s, records in held.items() if any(r.kind in kinds for r in records)]


def _entries(
    definition: ListDefinition,
    population: Population,
    held: dict[int, list[LedgerRecord]],
    now: datetime,
) -> dict[int, ListEntry]:
    """Each subject's entry on a list entered by records, for those that have one."""
    assert definition.records is not None
    found = {}
    for subject in _having(held, set(definition.records.kinds)):
        entry = entry_of(definition, population.ids[subject], held[subject], now)
        if entry is not None:
            found[subject] = entry
    return found


def touched_by(
    measures: Sequence[ListMeasure],
    population: Population,
    records: Records,
    n: int,
    as_of: date,
    block: int = BLOCK,
) -> dict[str, np.ndarray]:
    """Per measure (by name), whether it applies to each of subjects 0..n-1 at the end of
    `as_of`, from `records` (the ledger as it stood then); `block` subjects at a time."""
    now = end_of_day(as_of)
    definitions = {m.definition.name: m.definition for m in measures if m.definition is not None}
    entering = {k for m in measures for k in m.kinds}
    out: dict[str, np.ndarray] = {}
    for measure in measures:
        nobody = _facts(measure, "", _no_entry(measure, now), [])
        out[measure.name] = np.full(n, _applies(measure, nobody, now), bool)
    rows = _read_rows(entering, list(definitions.values()), population, records, n, now)
    # a block of subjects at a time: each subject's records become objects only in its block
    for block_rows in _blocks(records, rows, n, block):
        held = _held(population, records, block_rows, now)
        entries = {name: _entries(d, population, held, now) for name, d in definitions.items()}
        for measure in measures:
            touched = out[measure.name]
            if measure.definition is not None:
                for subject, entry in entries[measure.definition.name].items():
                    facts = _facts(measure, population.ids[subject], entry, [])
                    touched[subject] = _applies(measure, facts, now)
            else:
                for subject in _having(held, measure.kinds):
                    facts = _facts(measure, population.ids[subject], None, held[subject])
                    touched[subject] = _applies(measure, facts, now)
    return out


def blacklisted(
    definitions: Iterable[ListDefinition],
    population: Population,
    records: Records,
    n: int,
    as_of: date,
) -> dict[int, ListEntry]:
    """Subjects (below n) on a blacklist entered by records at the end of `as_of`, each with
    its entry on the first such list that holds it, as the phoenix flag reads them."""
    lists = [d for d in definitions if d.kind is ListKind.BLACKLIST and d.records is not None]
    entering = {k for d in lists if d.records is not None for k in d.records.kinds}
    now = end_of_day(as_of)
    held = _held(population, records, _read_rows(entering, lists, population, records, n, now), now)
    found: dict[int, ListEntry] = {}
    for definition in lists:
        for subject, entry in _entries(definition, population, held, now).items():
            found.setdefault(subject, entry)
    return found
