"""End to end through the command line: generate, ingest, score, show, check, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.policy.loader import shipped_program_names

runner = CliRunner()
PERSONS = 300


def cli(*args: str, db: str | None = None) -> str:
    """Run a command in-process and return its output; fail the test on a non-zero exit."""
    extra = ["--db", db] if db else []
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def ledger_rows(url: str) -> set[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        return set(
            c.execute(
                sa.text(
                    "select furnisher, external_id, subject, kind, occurred_at, value, attributes,"
                    " evidence, replaces from records"
                )
            ).all()
        )


def latest_scores(url: str) -> set[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        return set(
            c.execute(
                sa.text(
                    "select subject, program, policy_version, score, grade, percentile "
                    "from scores where run_id in (select max(id) from score_runs group by program)"
                )
            ).all()
        )


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("city")
    cli("generate", "--subjects", str(PERSONS), "--out", str(out))
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def scored(city: list[Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store')}/s.db"
    cli("init", db=url)
    cli("ingest", *map(str, city), db=url)
    cli("score", db=url)
    return url


def test_generate_writes_every_format(city: list[Path]) -> None:
    suffixes = {p.suffix for p in city}
    assert suffixes == {".csv", ".ndjson", ".parquet"}
    assert any(p.name.startswith("records-court") for p in city)


def test_ingest_reports_counts_and_is_idempotent(city: list[Path], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/i.db"
    cli("init", db=url)
    first = json.loads(cli("ingest", "--json", *map(str, city), db=url))
    assert first["accepted"] > PERSONS * 10 and first["rejected"] == 0
    assert first["reject_file"] is None
    again = json.loads(cli("ingest", "--json", *map(str, city), db=url))
    assert again["accepted"] == 0 and again["duplicates"] == first["accepted"]


def test_files_in_any_order_give_the_same_ledger_and_scores(
    city: list[Path], scored: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    cli("init", db=url)
    furnishers = [p for p in city if p.name == "furnishers.csv"]
    cli("ingest", *map(str, furnishers), db=url)
    for path in reversed(city):  # one command per file, in reverse order
        cli("ingest", str(path), db=url)
    cli("score", db=url)
    assert ledger_rows(url) == ledger_rows(scored)
    assert latest_scores(url) == latest_scores(scored)


def test_the_demo_builds_the_same_ledger_as_generate_and_ingest(
    scored: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    output = cli("demo", "--subjects", str(PERSONS), "--db", url)
    assert "score distribution" in output and "time per step" in output
    assert ledger_rows(url) == ledger_rows(scored)
    assert latest_scores(url) == latest_scores(scored)


def test_show_json_has_the_documented_shape(scored: str) -> None:
    subjects = json.loads(cli("subjects", "--json", "--limit", "50", db=scored))
    assert len(subjects) == 50 and {s["kind"] for s in subjects} <= {"person", "organisation"}
    person = next(s["subject"] for s in subjects if s["kind"] == "person")
    view = json.loads(cli("show", person, "--json", db=scored))
    assert view["subject"] == person and view["kind"] == "person"
    assert [s["program"] for s in view["scores"]] == shipped_program_names()
    for entry in view["scores"]:
        assert set(entry) >= {
            "program",
            "policy_version",
            "as_of",
            "score",
            "status",
            "grade",
            "percentile",
            "base",
            "factors",
            "contributions",
            "clamp",
            "reasons",
        }
        if entry["score"] is not None:
            total = sum(c["points"] for c in entry["contributions"])
            assert entry["base"] + total - entry["clamp"] == entry["score"]
            for c in entry["contributions"]:
                assert set(c) == {"rule", "factor", "points", "record_ids"}
            for r in entry["reasons"]:
                assert set(r) == {"code", "factor", "points_lost", "record_ids", "text"}
    text = cli("show", person, db=scored)
    assert "base" in text and "score" in text


def test_score_as_of_a_past_date_keeps_history(scored: str) -> None:
    cli("score", "--as-of", "2025-06-30", db=scored)
    engine = sa.create_engine(scored)
    with engine.connect() as c:
        days = c.execute(sa.text("select distinct as_of from score_runs")).scalars().all()
    assert len(days) >= 2


def test_errors_are_clear(tmp_path: Path, scored: str) -> None:
    missing = runner.invoke(app, ["subjects", "--db", f"sqlite:///{tmp_path}/none.db"])
    assert missing.exit_code == 1 and "socialcredit init" in missing.output
    bad_id = runner.invoke(app, ["show", "123", "--db", scored])
    assert bad_id.exit_code == 1 and "neither a resident ID nor a USCC" in bad_id.output
    bad_date = runner.invoke(app, ["score", "--as-of", "yesterday", "--db", scored])
    assert bad_date.exit_code == 1 and "--as-of" in bad_date.output
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    before = ledger_rows(scored)
    result = runner.invoke(app, ["ingest", str(garbage), "--db", scored])
    assert result.exit_code == 1 and "nothing was stored" in result.output
    assert ledger_rows(scored) == before


def test_policy_check(tmp_path: Path) -> None:
    from socialcredit.policy.loader import shipped_program

    good = tmp_path / "good.toml"
    good.write_text(shipped_program("sesame").text)
    assert "is valid" in cli("policy", "check", str(good))
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('"identity.phone_verified"', '"speech.online_post"'))
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "refused" in result.output and "political_opinion" in result.output
    assert f"{bad}:" in result.output


def test_the_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "socialcredit", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("init", "generate", "ingest", "score", "subjects", "show", "policy", "demo"):
        assert command in result.stdout
