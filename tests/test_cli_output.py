"""What a newcomer reads: tables and traces at 80 columns, dates that say what they refer to,
help in workflow order, no stray blank lines, counts in the right number, ratios as measured."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.cli.common import console
from socialcredit.cli.progress import bar
from socialcredit.cli.wording import plural
from socialcredit.lab.gate import gate, ratio_text

runner = CliRunner()
PERSONS = 600
PAST = "2025-06-30"


def cli(*args: str) -> str:
    """Run a command in-process and return its output; fail the test on a non-zero exit."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("city")
    cli("generate", "--subjects", str(PERSONS), "--out", str(out))
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def store(city: list[Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A scored store; tests that score again use a copy of their own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store')}/s.db"
    cli("init", "--db", url)
    runner.invoke(app, ["ingest", *map(str, city), "--db", url])
    cli("score", "--db", url)
    return url


@pytest.fixture
def columns(request: pytest.FixtureRequest) -> Iterator[None]:
    """The commands' console at the width the test names (80 unless parametrised)."""
    width = getattr(request, "param", 80)
    before = console._width
    console._width = width
    yield
    console._width = before


def test_lists_at_80_columns_cut_no_id_and_say_how_many_there_are(
    store: str, columns: None
) -> None:
    entries = json.loads(cli("lists", "--json", "--db", store))
    assert len(entries) >= 2
    text = cli("lists", "--db", store)
    assert f"all lists: {len(entries):,} entries" in text
    words = text.split()
    for entry in entries:
        assert entry["subject"] in words and entry["list"] in words
    limited = cli("lists", "--limit", "1", "--db", store)
    assert f"all lists: 1 of {len(entries):,} entries" in limited
    assert max(len(line) for line in limited.splitlines()) <= 80


def test_lists_json_names_each_subject(store: str) -> None:
    entries = json.loads(cli("lists", "--json", "--db", store))
    assert entries and all(isinstance(e["name"], str) and e["name"] for e in entries)


def test_the_trace_of_a_decision_at_80_columns_cuts_no_value(store: str, columns: None) -> None:
    subject = json.loads(cli("lists", "--json", "--limit", "1", "--db", store))[0]["subject"]
    body = json.loads(cli("decide", subject, "flight_booking", "--json", "--db", store))
    text = cli("decide", subject, "flight_booking", "--db", store)
    words = set(text.split())
    assert max(len(line) for line in text.splitlines()) <= 80
    for step in body["trace"]:
        assert f"{step['rule']}:" in words
        for key, value in step["inputs"].items():
            assert f"{key}:" in words
            # a value may wrap between its tokens, never inside one
            assert set(json.dumps(value).split()) <= words, (key, value)


@pytest.mark.parametrize("columns", [200], indirect=True)
def test_show_after_scoring_a_past_day_dates_the_score_and_the_tips(
    store: str, city: list[Path], tmp_path: Path, columns: None
) -> None:
    url = f"sqlite:///{tmp_path}/past.db"
    Path(tmp_path / "past.db").write_bytes(Path(store.removeprefix("sqlite:///")).read_bytes())
    cli("score", "--as-of", PAST, "--db", url)
    people = json.loads(cli("subjects", "--json", "--db", url))
    person = next(p["subject"] for p in people if p["kind"] == "person")
    view = json.loads(cli("show", person, "--json", "--db", url))
    assert {s["as_of"] for s in view["scores"]} == {PAST}
    text = cli("show", person, "--db", url)
    for entry in view["scores"]:
        assert f"{entry['program']} ({entry['policy_version']}), as of {PAST}" in text
    for tips in view["tips"]:
        assert f"tips under {tips['program']} for {tips['as_of']}" in text
        if tips["score"] is not None:
            assert f"the panel above is as of {PAST}" in text


def test_help_lists_the_commands_in_workflow_order() -> None:
    text = runner.invoke(app, ["--help"], env={"COLUMNS": "120"}).output
    panel = text[text.index("Commands") :]
    # a command's row starts with its name; the lines its help wraps onto start blank
    names = [
        line.split()[1] for line in panel.splitlines() if line.startswith("│ ") and line[2] != " "
    ]
    first = ["init", "generate", "ingest", "score", "show", "subjects", "lists", "decide"]
    assert names[: len(first)] == first
    assert {"policy", "lab", "serve"} <= set(names)


@pytest.mark.parametrize("width", ["80", "120"])
def test_help_joins_the_lines_of_a_paragraph(width: str) -> None:
    text = runner.invoke(app, ["--help"], env={"COLUMNS": width}).output
    # decide's docstring breaks its line after "every rule"; help rewraps the paragraph
    assert "every rule evaluated" in " ".join(text.replace("│", " ").split())
    if width == "120":
        assert "the trace of every rule evaluated" in text


def test_piped_output_has_no_blank_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    generated = cli("generate", "--subjects", "20", "--out", str(tmp_path / "city"))
    cli("init", "--db", url)
    files = sorted(str(p) for p in (tmp_path / "city").iterdir())
    ingested = runner.invoke(app, ["ingest", *files, "--db", url]).output  # may reject rows
    scored = cli("score", "--db", url)
    for text in (generated, ingested, scored):
        assert "" not in text.rstrip("\n").split("\n"), text


def test_a_bar_draws_nothing_off_a_terminal() -> None:
    out = io.StringIO()
    with bar(Console(file=out), "ingesting", 10) as advance:
        advance(10)
    assert out.getvalue() == ""


def test_plural() -> None:
    assert plural(1, "warning") == "1 warning"
    assert plural(0, "warning") == "0 warnings"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(1200, "entry", "entries") == "1,200 entries"


def test_a_ratio_just_under_the_threshold_never_reads_as_the_threshold() -> None:
    assert ratio_text(0.7996, 0.8) == "0.7996"
    assert ratio_text(0.79996, 0.8) == "0.79996"
    assert ratio_text(0.75, 0.8) == "0.75"
    assert ratio_text(0.8004, 0.8) == "0.80"
    groups = [
        {"dimension": "age", "group": "18-29", "rate": 0.5, "ratio": 1.0, "small": False},
        {"dimension": "age", "group": "65+", "rate": 0.3998, "ratio": 0.7996, "small": False},
    ]
    for row in groups:
        row.update(flagged=row["ratio"] < 0.8, significant=row["ratio"] < 0.8)
    screen = {
        "program": "p",
        "service": "loan",
        "measure": "m",
        "rule": "r",
        "month": 0,
        "judged": True,
        "approved": 100,
        "groups": groups,
    }
    figures = {
        "meta": {"programs": [{"id": "p", "cutoffs": [1]}], "sybil_limit": 5, "min_group": 30},
        "adverse_impact_ratios": {"threshold": 0.8, "screens": [screen]},
        "attacks": [],
    }
    (failure,) = gate(figures).failures
    assert "approved 40.0%, 0.7996 of the best group's rate (18-29, 50.0%); under 0.8" in failure
