"""A lab city generated district by district: one population, the engine's whole ledger on
disk, and habits exactly as if learnt from that whole ledger."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from socialcredit.lab import Behaviour, LabConfig, lab_catalogue, simulate, steps_for
from socialcredit.lab.baseline import Baseline, district_seed, districts, generated, lab_kinds
from socialcredit.lab.behaviour import Habits
from socialcredit.lab.figures import figures
from socialcredit.lab.population import Population, population_from_tables
from socialcredit.policy.compile import compile_program
from socialcredit.policy.loader import shipped_catalogue, shipped_program
from socialcredit.synth.city import City, generate_city

AS_OF = date(2026, 1, 1)
PERSONS, DISTRICT = 600, 200


@pytest.fixture(scope="module")
def cities() -> list[City]:
    return [
        generate_city(DISTRICT, seed=district_seed(7, i), as_of=AS_OF, years=2, examples=False)
        for i in range(3)
    ]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    folder = tmp_path_factory.mktemp("ledger")
    return generated(
        PERSONS, None, 7, AS_OF, 2, lab_catalogue(), Behaviour(), folder, district=DISTRICT
    )


def ledger(baseline: Baseline, name: str) -> pa.Table:
    return pq.read_table(baseline.ledger / name)


def test_districts_split_residents_and_organisations_evenly() -> None:
    assert districts(1_000_001, None, 500_000) == [
        (333_334, None),
        (333_334, None),
        (333_333, None),
    ]
    assert districts(100, 10, 40) == [(34, 4), (33, 3), (33, 3)]
    assert districts(100, None, 500_000) == [(100, None)]
    assert district_seed(7, 0) == 7 and district_seed(7, 1) != district_seed(7, 2)


def test_the_engine_ledger_holds_every_district_numbered_one_after_another(
    baseline: Baseline, cities: list[City]
) -> None:
    pop = baseline.population
    sizes = [c.registry.num_rows for c in cities]
    assert pop.n == sum(sizes) == ledger(baseline, "subjects").num_rows == len(pop.ids)
    # the second district's first resident is subject 210 (200 residents, 10 organisations)
    assert pop.ids[sizes[0]] == cities[1].registry.column("subject")[0].as_py()
    records = ledger(baseline, "records")
    assert records.num_rows == pop.ledger_records == sum(c.record_count for c in cities)
    ids = records.column("id").to_numpy()
    assert np.array_equal(ids, np.arange(1, len(ids) + 1))
    assert pop.last_id == len(ids) and pop.next_record_id() == len(ids) + 1
    replaced = pc.drop_null(records.column("replaces")).to_numpy()
    assert np.isin(replaced, ids).all()
    # each district's records and relations stay among its own subjects
    subject = records.column("subject").to_numpy()
    bounds = np.cumsum([0, *sizes])
    counts = np.histogram(subject, bins=bounds)[0]
    assert counts.tolist() == [c.record_count for c in cities]
    relations = ledger(baseline, "relations")
    assert relations.num_rows == len(pop.relations) == sum(c.relations.num_rows for c in cities)
    district = np.searchsorted(bounds, pop.relations.subject, "right")
    assert np.array_equal(district, np.searchsorted(bounds, pop.relations.other, "right"))
    # audit attributes follow their subjects
    regions = [pop.audit.regions[r] for r in pop.audit.region[bounds[2] : bounds[2] + 5]]
    assert regions == cities[2].registry.column("region").to_pylist()[:5]


def test_the_lab_holds_only_the_records_it_reads(baseline: Baseline) -> None:
    pop = baseline.population
    records = ledger(baseline, "records")
    wanted = pa.array(sorted(lab_kinds(lab_catalogue())))
    read = pc.or_(pc.is_in(records.column("kind"), wanted), pc.is_valid(records.column("replaces")))
    assert len(pop.records) == pc.sum(read).as_py() < records.num_rows / 2
    held = records.filter(read)
    assert np.array_equal(pop.records.id, held.column("id").to_numpy())
    assert pop.kinds.array(pop.records.kind).to_pylist() == held.column("kind").to_pylist()
    # first record days come from the whole ledger, not from the records held
    first = pc.min(records.filter(pc.equal(records.column("subject"), 0)).column("occurred_at"))
    assert pop.first_day[0] == (first.as_py().date() - date(1970, 1, 1)).days


def whole(baseline: Baseline) -> Population:
    """The engine's ledger read back as one population holding every record."""

    def text(name: str, columns: list[str]) -> pa.Table:
        table = ledger(baseline, name)
        for column in columns:
            at = table.column_names.index(column)
            table = table.set_column(at, column, pc.cast(table.column(column), pa.string()))
        return table

    tables = {
        "subjects": text("subjects", ["id"]),
        "records": text("records", ["subject", "external_id", "replaces"]),
        "relations": text("relations", ["subject", "other"]),
    }
    return population_from_tables(tables, AS_OF)


def test_habits_learnt_district_by_district_are_those_of_the_whole_ledger(
    baseline: Baseline,
) -> None:
    mine, pop = baseline.habits, baseline.population
    ref_pop = whole(baseline)
    ref = Habits(ref_pop, Behaviour())
    names = [pop.kinds.names[k] for k in mine.kinds]
    assert names == sorted(names, key=lambda k: pop.kinds.get(k) or 0)
    order = [names.index(ref_pop.kinds.names[k]) for k in ref.kinds]
    assert sorted(order) == list(range(len(names)))
    assert mine.months == ref.months
    assert np.array_equal(mine.rates[:, order], ref.rates)

    def draws(h: Habits, p: Population, rows: np.ndarray) -> list[tuple[str, float | None]]:
        furnishers = p.furnishers.array(h.furnisher[rows]).to_pylist()
        values = [None if math.isnan(v) else v for v in h.value[rows].tolist()]
        return list(zip(furnishers, values, strict=True))

    def own(h: Habits, p: Population) -> list[tuple[int, str, tuple[str, float | None]]]:
        kinds = [p.kinds.names[k] for k in h.kinds]
        cells = zip(h.own_cell // h.width, h.own_cell % h.width, strict=True)
        held = draws(h, p, np.arange(len(h.value)))
        rows = [(int(s), kinds[c], d) for (s, c), d in zip(cells, held, strict=True)]
        return sorted(rows, key=lambda row: row[:2])  # stable: ledger order within a cell

    # each subject's own records of each kind, and each kind's pool, in ledger order
    assert own(mine, pop) == own(ref, ref_pop)
    for c, k in enumerate(order):
        mine_pool = mine.pool[mine.pool_start[k] : mine.pool_start[k + 1]]
        ref_pool = ref.pool[ref.pool_start[c] : ref.pool_start[c + 1]]
        assert draws(mine, pop, mine_pool) == draws(ref, ref_pop, ref_pool)


def test_a_city_of_several_districts_runs_through_the_lab(tmp_path: Path) -> None:
    compiled = compile_program(shipped_program("sesame"), shipped_catalogue())
    config = LabConfig(population=PERSONS, months=1, start=AS_OF, district=DISTRICT)
    told: list[str] = []
    data = figures(simulate([compiled], lab_catalogue(), config, progress=told.append))
    # one step per district, then month 0, month 1, lists and attacks
    assert len(told) == steps_for(config, 1) == 3 + 4
    assert told[:3] == [
        "district 1 of 3 generated",
        "district 2 of 3 generated",
        "district 3 of 3 generated; habits learnt",
    ]
    assert data["meta"]["subjects"] == 630
    assert data["meta"]["records_at_start"] > 0
    assert {a["attack"] for a in data["attacks"]} >= {"sybil_ring", "report_flood", "phoenix"}
    assert data["behaviour"][0]["months"][1]["new_records"] > 0
