"""The synthetic city: deterministic, valid identifiers, catalogue-clean, and readable back."""

from __future__ import annotations

import csv
import json
import tomllib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import socialcredit
from socialcredit.domain.catalogue import RETRACTION_KIND, Catalogue, catalogue_from_dict
from socialcredit.domain.identifiers import ORGANISATION, PERSON, identify
from socialcredit.domain.records import (
    FURNISHER_FIELDS,
    RECORD_FIELDS,
    REGISTRY_FIELDS,
    RELATION_FIELDS,
    parse_furnisher,
    parse_record,
    parse_registry,
    parse_relation,
)
from socialcredit.synth import City, generate_city, write_city
from socialcredit.synth.city import EXAMPLE_ORGANISATIONS, EXAMPLE_PERSONS, EXAMPLES, REGIONS

AS_OF = date(2025, 6, 15)
NOW = datetime(AS_OF.year, AS_OF.month, AS_OF.day)
WINDOW_START = datetime(AS_OF.year - 2, AS_OF.month, AS_OF.day)
PERSONS = 2_000


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    path = Path(socialcredit.__file__).parent / "policy" / "data" / "catalogue.toml"
    return catalogue_from_dict(tomllib.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(PERSONS, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def small_city() -> City:
    return generate_city(500, seed=12, as_of=AS_OF)


def all_records(city: City) -> pa.Table:
    return pa.concat_tables(city.records.values())


def furnisher_types(city: City) -> dict[str, str]:
    return dict(
        zip(
            city.furnishers["furnisher"].to_pylist(),
            city.furnishers["type"].to_pylist(),
            strict=True,
        )
    )


def test_columns_follow_the_interchange_format(city: City) -> None:
    assert tuple(city.furnishers.column_names) == FURNISHER_FIELDS
    assert tuple(city.registry.column_names) == REGISTRY_FIELDS
    assert tuple(city.relations.column_names) == RELATION_FIELDS
    for table in city.records.values():
        assert tuple(table.column_names) == RECORD_FIELDS
        assert table.schema.field("occurred_at").type == pa.timestamp("us")
        assert table.schema.field("value").type == pa.float64()
    assert city.relations.schema.field("start").type == pa.timestamp("us")
    assert city.relations.schema.field("end").type == pa.timestamp("us")
    assert city.registry.schema.field("urban").type == pa.bool_()


def test_same_seed_same_city_other_seed_other_city() -> None:
    a = generate_city(500, seed=3, as_of=AS_OF)
    b = generate_city(500, seed=3, as_of=AS_OF)
    c = generate_city(500, seed=4, as_of=AS_OF)
    for name in ("furnishers", "registry", "relations"):
        assert getattr(a, name).equals(getattr(b, name))
    assert a.records.keys() == b.records.keys()
    for fid in a.records:
        assert a.records[fid].equals(b.records[fid])
    assert not a.registry.equals(c.registry)
    assert not all_records(a).equals(all_records(c))


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = write_city(generate_city(300, seed=5, as_of=AS_OF), tmp_path / "a")
    b = write_city(generate_city(300, seed=5, as_of=AS_OF), tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()


def test_organisations_default_to_one_in_twenty(city: City) -> None:
    kinds = Counter(identify(s)[1] for s in city.registry["subject"].to_pylist())
    assert kinds == {PERSON: PERSONS, ORGANISATION: PERSONS // 20}
    small = generate_city(10, as_of=AS_OF)
    assert small.registry.num_rows == 11


def test_every_identifier_is_valid_and_unique(city: City) -> None:
    registry = city.registry.to_pylist()
    subjects = [row["subject"] for row in registry]
    assert len(set(subjects)) == len(subjects)
    for row in registry:
        canonical, kind = identify(row["subject"])
        assert canonical == row["subject"]
        if kind == PERSON:
            assert row["birth_year"] == int(row["subject"][6:10])
            assert row["sex"] == ("M" if int(row["subject"][16]) % 2 else "F")
            birth = date(
                int(row["subject"][6:10]), int(row["subject"][10:12]), int(row["subject"][12:14])
            )
            age = AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))
            assert 18 <= age <= 85
        else:
            assert row["subject"].startswith("91")
            assert row["birth_year"] is None and row["sex"] is None
        assert row["name"] and row["region"]
    known = set(subjects)
    assert set(all_records(city)["subject"].to_pylist()) <= known
    assert set(city.relations["subject"].to_pylist()) <= known
    assert set(city.relations["other"].to_pylist()) <= known


def test_furnishers_send_only_kinds_their_type_may_send(city: City, catalogue: Catalogue) -> None:
    types = furnisher_types(city)
    assert len(types) >= 12
    assert len(set(types.values())) >= 7
    assert set(city.records) == set(types)
    for fid, table in city.records.items():
        assert set(table["furnisher"].to_pylist()) <= {fid}
        for kind in set(table["kind"].to_pylist()):
            assert catalogue.may_send(types[fid], kind) is None, (fid, kind)
            assert catalogue.refusal(kind) is None
            assert catalogue.kinds[kind].category not in catalogue.prohibited


def test_all_times_fall_in_the_window(city: City) -> None:
    times = all_records(city)["occurred_at"]
    assert pc.min(times).as_py() >= WINDOW_START
    assert pc.max(times).as_py() < NOW
    relations = city.relations.to_pylist()
    for row in relations:
        assert WINDOW_START <= row["start"] < NOW
        if row["end"] is not None:
            assert row["start"] <= row["end"] < NOW


def test_external_ids_are_unique_per_furnisher(city: City) -> None:
    for fid, table in city.records.items():
        ids = table["external_id"].to_pylist()
        assert len(set(ids)) == len(ids)
        assert all(i.startswith(fid + "-") for i in ids)
    for fid in set(city.relations["furnisher"].to_pylist()):
        rows = city.relations.filter(pc.equal(city.relations["furnisher"], fid))
        ids = rows["external_id"].to_pylist()
        assert len(set(ids)) == len(ids)


def test_corrections_and_retractions_point_at_earlier_records(city: City) -> None:
    total = corrected = 0
    for table in city.records.values():
        rows = table.to_pylist()
        by_id = {row["external_id"]: row for row in rows}
        total += len(rows)
        targets = [row["replaces"] for row in rows if row["replaces"] is not None]
        assert len(set(targets)) == len(targets)
        for row in rows:
            if row["replaces"] is None:
                assert row["kind"] != RETRACTION_KIND
                continue
            corrected += 1
            original = by_id[row["replaces"]]
            assert original["replaces"] is None
            assert row["subject"] == original["subject"]
            if row["kind"] != RETRACTION_KIND:
                assert row["kind"] == original["kind"]
                assert (row["value"], row["occurred_at"]) != (
                    original["value"],
                    original["occurred_at"],
                )
            else:
                assert row["occurred_at"] >= original["occurred_at"]
    assert 0.002 * total < corrected < 0.01 * total


def test_relations_are_allowed_and_well_formed(city: City, catalogue: Catalogue) -> None:
    rows = city.relations.to_pylist()
    seen = set()
    counts: Counter[str] = Counter()
    for row in rows:
        assert row["relation"] in catalogue.relations
        assert row["relation"] not in catalogue.prohibited_relations
        assert row["subject"] != row["other"]
        key = (row["subject"], row["other"], row["relation"])
        assert key not in seen
        seen.add(key)
        counts[row["relation"]] += 1
        expected_other = ORGANISATION if row["relation"].endswith("_of") else PERSON
        assert identify(row["subject"])[1] == PERSON
        assert identify(row["other"])[1] == expected_other
    organisations = PERSONS // 20
    assert counts["legal_representative_of"] == organisations
    assert 2.5 * PERSONS < counts["contact"] < 3.5 * PERSONS
    assert counts["guarantor"] > 0 and counts["co_borrower"] > 0 and counts["employee_of"] > 0
    contacts = [r for r in rows if r["relation"] == "contact"]
    assert 0.8 < sum(r["confirmed"] for r in contacts) / len(contacts) < 0.9


def test_behaviour_is_plausible() -> None:
    persons = 10_000
    city = generate_city(persons, seed=2, as_of=AS_OF)
    records = all_records(city)
    assert 15 * persons < records.num_rows < 25 * persons
    kinds = Counter(records["kind"].to_pylist())
    subjects_of = {
        kind: set(records.filter(pc.equal(records["kind"], kind))["subject"].to_pylist())
        for kind in (
            "court.judgment_unfulfilled",
            "traffic.drunk_driving",
            "identity.phone_verified",
        )
    }
    assert 0.005 < len(subjects_of["court.judgment_unfulfilled"]) / persons < 0.02
    assert 0.3 < kinds["court.judgment_fulfilled"] / kinds["court.judgment_unfulfilled"] < 0.7
    assert 0.001 < len(subjects_of["traffic.drunk_driving"]) / persons < 0.006
    assert 0.85 < len(subjects_of["identity.phone_verified"]) / persons < 0.95
    blood = records.filter(pc.equal(records["kind"], "blood.donation"))
    assert set(blood["value"].to_pylist()) <= {200.0, 300.0, 400.0}
    hours = records.filter(pc.equal(records["kind"], "volunteer.hours"))
    totals = hours.group_by("subject").aggregate([("value", "sum")])["value_sum"].to_pylist()
    assert max(totals) >= 200 and sum(t >= 50 for t in totals) > 10
    fines = records.filter(pc.equal(records["kind"], "traffic.fine_unpaid"))["value"]
    assert pc.min(fines).as_py() >= 50 and pc.max(fines).as_py() <= 2000
    for kind in ("utility.theft", "finance.illegal_fundraising", "commerce.counterfeit_goods"):
        assert 0 < kinds[kind] < 0.005 * persons


def read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".ndjson":
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    assert path.suffix == ".parquet"
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "mixed"])
def test_written_files_parse_back(
    fmt: str, small_city: City, catalogue: Catalogue, tmp_path: Path
) -> None:
    city = small_city
    paths = write_city(city, tmp_path / "out", fmt)
    assert paths[0].name == "furnishers.csv"
    assert all(p.exists() for p in paths)
    suffixes = {p.suffix for p in paths[1:]}
    assert suffixes == ({".csv", ".ndjson", ".parquet"} if fmt == "mixed" else {f".{fmt}"})
    by_stem = {p.stem: p for p in paths}

    furnishers = [parse_furnisher(row, catalogue) for row in read_rows(paths[0])]
    types = {f.id: f.type for f in furnishers}
    assert types == furnisher_types(city)

    registry = [parse_registry(row) for row in read_rows(by_stem["registry"])]
    assert [r.subject for r in registry] == city.registry["subject"].to_pylist()
    assert [r.birth_year for r in registry] == city.registry["birth_year"].to_pylist()
    assert [r.urban for r in registry] == city.registry["urban"].to_pylist()

    relations = [
        parse_relation(row, catalogue, types, NOW) for row in read_rows(by_stem["relations"])
    ]
    assert [r.external_id for r in relations] == city.relations["external_id"].to_pylist()
    assert [r.end for r in relations] == city.relations["end"].to_pylist()
    assert [r.confirmed for r in relations] == city.relations["confirmed"].to_pylist()

    for fid, table in city.records.items():
        rows = read_rows(by_stem[f"records-{fid}"])
        if by_stem[f"records-{fid}"].suffix == ".ndjson":
            assert all(isinstance(row["attributes"], dict) for row in rows)
        records = [parse_record(row, catalogue, types, NOW) for row in rows]
        assert [r.external_id for r in records] == table["external_id"].to_pylist()
        assert [r.occurred_at for r in records] == table["occurred_at"].to_pylist()
        assert [r.value for r in records] == table["value"].to_pylist()
        assert [r.replaces for r in records] == table["replaces"].to_pylist()
        assert [r.evidence for r in records] == table["evidence"].to_pylist()
        expected = [json.loads(a) for a in table["attributes"].to_pylist()]
        assert [r.attributes for r in records] == expected


def test_csv_times_are_iso_8601(city: City, tmp_path: Path) -> None:
    paths = write_city(city, tmp_path, "csv")
    rows = read_rows(next(p for p in paths if p.name == "relations.csv"))
    start = rows[0]["start"]
    assert datetime.fromisoformat(start) >= WINDOW_START
    assert len(start) == 19 and start[10] == "T"
    assert any(row["end"] == "" for row in rows)


def test_window_is_whole_years_before_as_of() -> None:
    city = generate_city(200, seed=1, as_of=date(2024, 2, 29), years=1)
    times = all_records(city)["occurred_at"]
    assert pc.min(times).as_py() >= datetime(2023, 2, 28)
    assert pc.max(times).as_py() < datetime(2024, 2, 29)
    assert pc.max(times).as_py() - pc.min(times).as_py() > timedelta(days=300)


def test_unknown_format_is_refused(city: City, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write_city(city, tmp_path, "xml")


def test_fixed_examples_take_the_first_subjects_places(city: City) -> None:
    subjects = city.registry["subject"].to_pylist()
    assert subjects[:2] == [e.subject for e in EXAMPLE_PERSONS]
    assert subjects[PERSONS] == EXAMPLE_ORGANISATIONS[0].subject
    assert city.registry["name"].to_pylist()[:2] == ["Li Wei", "Zhao Ming"]
    records = all_records(city)
    ids = pa.array([e.subject for e in EXAMPLES])
    theirs = records.filter(pc.is_in(records["subject"], value_set=ids))
    assert theirs.num_rows == sum(len(e.records) for e in EXAMPLES)
    assert all("-example-" in i for i in theirs["external_id"].to_pylist())
    # their regions are none the generator draws, so no drawn subject can share an identifier
    drawn = {str(code) for code, _, _, _ in REGIONS}
    assert not any(e.subject[:6] in drawn or e.subject[2:8] in drawn for e in EXAMPLES)
    plain = generate_city(PERSONS, seed=11, as_of=AS_OF, examples=False)
    assert plain.registry["subject"].to_pylist()[2:PERSONS] == subjects[2:PERSONS]
    assert plain.registry.num_rows == city.registry.num_rows
    assert EXAMPLES[0].subject not in plain.registry["subject"].to_pylist()
    alone = generate_city(1, seed=11, as_of=AS_OF).registry["subject"].to_pylist()
    assert alone == [EXAMPLE_PERSONS[0].subject, EXAMPLE_ORGANISATIONS[0].subject]
