"""Rescoring a few subjects right after their records arrive gives what a full run gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from factories import new_store
from socialcredit.domain.records import Record
from socialcredit.policy.loader import shipped_program_names
from socialcredit.services.ingest import ingest_tables
from socialcredit.services.scoring import rescore_subjects, score_all
from socialcredit.services.subjects import subject_view
from socialcredit.store.ledger import add_records
from socialcredit.synth.city import generate_city

AS_OF = date(2026, 6, 1)


@pytest.fixture
def store(tmp_path: Path, store_backend: str):
    engine = new_store(tmp_path)
    city = generate_city(300, seed=11, as_of=AS_OF)
    ingest_tables(
        engine,
        furnishers=city.furnishers,
        registry=city.registry,
        relations=city.relations,
        records=list(city.records.values()),
        now=datetime(2026, 6, 1),
    )
    score_all(engine, AS_OF)
    return engine, city


def by_program(view: dict) -> dict[str, dict]:
    return {entry["program"]: entry for entry in view["scores"]}


def test_a_new_record_shows_at_once_and_matches_a_full_run(store) -> None:
    engine, city = store
    subject = city.registry.column("subject")[0].as_py()
    record = Record(
        subject=subject,
        subject_kind="person",
        furnisher="court-rongcheng",
        kind="court.judgment_unfulfilled",
        occurred_at=datetime(2026, 5, 20),
        external_id="late-breaking-1",
    )
    with engine.begin() as connection:
        add_records(connection, [record], datetime.now(UTC).replace(tzinfo=None))
    before = by_program(subject_view(engine, subject))
    runs = rescore_subjects(engine, [subject], AS_OF)
    assert {r.program for r in runs} == set(shipped_program_names())
    quick = by_program(subject_view(engine, subject))
    assert quick["rongcheng"]["score"] == before["rongcheng"]["score"] - 50
    rules = {c["rule"] for c in quick["rongcheng"]["contributions"]}
    assert "judgment_unfulfilled" in rules
    score_all(engine, AS_OF)
    full = by_program(subject_view(engine, subject))
    for field in ("score", "grade", "contributions", "reasons", "status"):
        assert quick["rongcheng"][field] == full["rongcheng"][field]

    def without_relations(entry: dict) -> list[dict]:
        return [c for c in entry["contributions"] if c["rule"] != "relationships"]

    assert without_relations(quick["sesame"]) == without_relations(full["sesame"])
    assert quick["rongcheng"]["percentile"] is not None
