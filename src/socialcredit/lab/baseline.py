"""The lab's starting point: the engine's ledger on disk, and in memory only what the lab reads.

A large city is generated district by district (`DISTRICT` residents at a time, each district
its own seeded city with its own organisations, no relation crossing districts), so that the
generator's working memory does not grow with the population. Each district's ledger is
written to Parquet for the engine as it is made; the lab keeps in memory the records its
behaviour model and list audits read (`lab_kinds`), the subjects' habits, and the facts it
needs of the rest (`Population.keep`). A population of up to `DISTRICT` residents is one
district, generated exactly as before.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.lists import kinds_read
from socialcredit.lab.behaviour import (
    JUDGMENT_KIND,
    PERFORMED_KIND,
    REPAIRABLE_KINDS,
    Behaviour,
    Habits,
    History,
)
from socialcredit.lab.listed import list_measures
from socialcredit.lab.population import (
    Audit,
    Codes,
    Population,
    Records,
    Relations,
    population_from_city,
    record_table,
    relation_table,
    subject_table,
)
from socialcredit.policy.measures import MeasuresCatalogue
from socialcredit.synth.city import generate_city

__all__ = [
    "DISTRICT",
    "Baseline",
    "district_seed",
    "districts",
    "generated",
    "lab_kinds",
    "prepared",
]

DISTRICT = 500_000
LEDGER_TABLES = ("subjects", "records", "relations")


@dataclass
class Baseline:
    """A population holding the records the lab reads, its habits, and the folder holding the
    engine's whole ledger (`subjects/`, `records/`, `relations/` as Parquet parts)."""

    population: Population
    habits: Habits
    ledger: Path


def lab_kinds(catalogue: MeasuresCatalogue) -> set[str]:
    """Kinds of record the lab reads itself: those paid and repaired, court judgments and
    their fulfilment, retractions, and every kind a list or a measure's test reads."""
    kinds = {*REPAIRABLE_KINDS, JUDGMENT_KIND, PERFORMED_KIND, RETRACTION_KIND}
    kinds |= kinds_read(catalogue.lists.values())
    for measure in list_measures(catalogue):
        kinds |= measure.kinds
    return kinds


def districts(
    persons: int, organisations: int | None, district: int = DISTRICT
) -> list[tuple[int, int | None]]:
    """Residents and organisations (None: the generator's default share) of each district of
    at most `district` residents."""
    count = max(1, -(-persons // district))
    people = [persons // count + (i < persons % count) for i in range(count)]
    if organisations is None:
        return [(p, None) for p in people]
    orgs = [organisations // count + (i < organisations % count) for i in range(count)]
    return list(zip(people, orgs, strict=True))


def district_seed(seed: int, index: int) -> int:
    """District 0 keeps the run's seed (a one-district city is the city of that seed)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def generated(
    persons: int,
    organisations: int | None,
    seed: int,
    as_of: date,
    years: int,
    catalogue: MeasuresCatalogue,
    behaviour: Behaviour,
    folder: Path,
    district: int = DISTRICT,
    tell: Callable[[str], None] = lambda _: None,
) -> Baseline:
    """Generate the city `district` residents at a time into a baseline (the engine's ledger
    written under folder), telling when each district is done. The generator's fixed example
    subjects are left out: they are no draw of the behaviour model and would repeat per district."""
    codes = Codes()
    evidence_kinds = kinds_read(catalogue.lists.values())
    sizes = districts(persons, organisations, district)

    def parts() -> Iterator[Population]:
        for index, (people, orgs) in enumerate(sizes):
            if index:
                tell(f"district {index} of {len(sizes)} generated")
            city = generate_city(
                people,
                orgs,
                seed=district_seed(seed, index),
                as_of=as_of,
                years=years,
                examples=False,
            )
            part = population_from_city(city, evidence_kinds, codes)
            del city
            _give_back_memory()
            yield part

    baseline = _baseline(parts(), lab_kinds(catalogue), behaviour, folder)
    tell(f"district {len(sizes)} of {len(sizes)} generated; habits learnt")
    return baseline


def prepared(
    population: Population, catalogue: MeasuresCatalogue, behaviour: Behaviour, folder: Path
) -> Baseline:
    """A given population (a hand-built test city) as a one-district baseline."""
    return _baseline([population], lab_kinds(catalogue), behaviour, folder)


def _give_back_memory() -> None:
    """Return freed memory to the system between districts: Arrow's pool keeps it, and so does
    glibc's heap, whose threshold for mapping large blocks grows as big arrays are freed, so
    that a district's medium arrays stay in the heap after it is done."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(AttributeError, OSError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def _shifted(part: Population, subjects: int, ids: int) -> Population:
    """A district's population with its subjects and record ids numbered after the ones
    before it."""
    if subjects == 0 and ids == 0:
        return part
    r = part.records
    records = replace(
        r,
        id=r.id + ids,
        subject=r.subject + subjects,
        replaces=np.where(r.replaces >= 0, r.replaces + ids, -1),
        chain=np.where(r.chain >= 0, r.chain + ids, -1),
    )
    rel = part.relations
    relations = replace(rel, subject=rel.subject + subjects, other=rel.other + subjects)
    return replace(part, records=records, relations=relations, last_id=part.last_id + ids)


def _write(table: pa.Table, folder: Path, name: str, index: int) -> None:
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target / f"part-{index:05d}.parquet")


def _baseline(
    parts: Iterable[Population], keep: set[str], behaviour: Behaviour, folder: Path
) -> Baseline:
    kept: list[Population] = []
    histories: list[History] = []
    subjects = ids = 0
    for index, part in enumerate(parts):
        histories.append(History.of(part, subjects))
        shifted = _shifted(part, subjects, ids)
        _write(record_table(shifted.records, shifted), folder, "records", index)
        _write(relation_table(shifted.relations, shifted), folder, "relations", index)
        kept.append(shifted.keep(keep))
        subjects += part.n
        ids = shifted.last_id
        del part, shifted
    population = _merged(kept)
    del kept
    _write(subject_table(population, 0, population.n), folder, "subjects", 0)
    habits = Habits(population, behaviour, histories)
    del histories
    _give_back_memory()
    return Baseline(population, habits, folder)


def _merged(parts: list[Population]) -> Population:
    """Districts (numbered one after another, sharing vocabularies) as one population."""
    if len(parts) == 1:
        return parts[0]
    last = parts[-1]
    records = Records(
        *(
            np.concatenate([getattr(p.records, name) for p in parts])
            for name in Records.__dataclass_fields__
        )
    )
    relations = Relations(
        *(
            np.concatenate([getattr(p.relations, name) for p in parts])
            for name in Relations.__dataclass_fields__
        )
    )
    audit = Audit(
        region=np.concatenate([p.audit.region for p in parts]),
        regions=last.audit.regions,
        urban=np.concatenate([p.audit.urban for p in parts]),
        birth_year=np.concatenate([p.audit.birth_year for p in parts]),
        sex=np.concatenate([p.audit.sex for p in parts]),
        sexes=last.audit.sexes,
    )
    shape = (max(p.sent.shape[0] for p in parts), max(p.sent.shape[1] for p in parts))
    sent = np.zeros(shape, np.int64)
    for p in parts:
        sent[: p.sent.shape[0], : p.sent.shape[1]] += p.sent
    return replace(
        last,
        ids=[i for p in parts for i in p.ids],
        person=np.concatenate([p.person for p in parts]),
        records=records,
        relations=relations,
        audit=audit,
        first_day=np.concatenate([p.first_day for p in parts]),
        sent=sent,
        last_id=last.last_id,
        ledger_records=sum(p.ledger_records for p in parts),
    )
