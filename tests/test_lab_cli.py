"""`socialcredit lab gate` as CI runs it: the shipped programs, and a deliberately unfair one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.cli.lab import START
from socialcredit.lab import DEFAULT_START
from socialcredit.policy.loader import shipped_program

runner = CliRunner()
SMALL = ["--population", "2000", "--months", "1", "--json"]

# A municipal program that rewards verified employment with enough points for grade AAA, which
# the VIP lane and the broadband upgrade grant through the honest_aaa list: retirees cannot have it.
UNFAIR_RULE = """
[[rules]]
id = "employment"
kinds = ["employment.verified"]
factor = "economic"
points = 60
cap = 60
display_days = 730
reason = "No verified employment"
"""


MEASURES = """
[services.hotel]
title = "Hotels"
purposes = ["travel_booking"]
program = "rongcheng"
[[services.hotel.measures]]
id = "no_hotel_below_a"
title = "No hotels below grade A"
effect = "deny"
when = { grades = ["B", "C", "D"] }
"""


def gate(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["lab", "gate", *args, *SMALL])
    return result.exit_code, json.loads(result.stdout)


def test_the_shipped_municipal_program_passes_the_gate() -> None:
    code, verdict = gate("--program", "rongcheng")
    assert code == 0, verdict
    assert verdict["passed"] and verdict["failures"] == []
    assert any(
        "Sybil ring of 100 identities moved its target +0 points" in c for c in verdict["checks"]
    )
    # grade AAA is all the catalogue's measures read of this program; almost nobody reaches it
    assert any(
        "vip_lane:lane_for_aaa in month 0 not judged: it approves" in c for c in verdict["checks"]
    )


def test_the_shipped_sesame_program_fails_the_four_fifths_screen_on_age() -> None:
    # Sesame-style scoring rewards verified employment, degrees and shopping, which older
    # residents of the synthetic city have less of: the 700 visa measure approves few of them.
    code, verdict = gate("--program", "sesame")
    assert code == 1
    age = [
        f
        for f in verdict["failures"]
        if "visa_paperwork:singapore_at_700 (score >= 700)" in f and "age_band 60-74" in f
    ]
    assert age and all("within chance" not in f for f in age)
    assert not any("Sybil" in f for f in verdict["failures"])


def test_a_deliberately_unfair_program_fails_naming_the_failure(tmp_path: Path) -> None:
    path = tmp_path / "unfair.toml"
    path.write_text(shipped_program("rongcheng").text + UNFAIR_RULE, encoding="utf-8")
    result = runner.invoke(app, ["lab", "gate", "--program", str(path), "--population", "2000"])
    assert result.exit_code == 1
    lane = "FAIL rongcheng: vip_lane:lane_for_aaa (on list honest_aaa (grade in AAA))"
    assert lane in result.output
    assert "age_band 75+" in result.output


def test_a_measures_file_replaces_the_shipped_catalogue(tmp_path: Path) -> None:
    # a restriction below grade A, audited from a measures file given on the command line
    path = tmp_path / "measures.toml"
    path.write_text(MEASURES, encoding="utf-8")
    out = tmp_path / "report"
    args = ["lab", "run", "--program", "rongcheng", "--measures", str(path), "--report", str(out)]
    settings = ["--population", "2000", "--months", "0", "--flagged-error", "1"]
    result = runner.invoke(app, [*args, *settings])
    assert result.exit_code == 0, result.output
    figures = json.loads((out / "figures.json").read_text())
    # an adjudicator who ignores flags: the setting reaches the report attacks
    assert figures["meta"]["attack_parameters"]["flagged_error"] == 1.0
    assert {a["flagged_error"] for a in figures["attacks"] if "flagged_error" in a} == {1.0}
    [cutoff] = figures["meta"]["programs"][0]["cutoffs"]
    assert (cutoff["service"], cutoff["measure"]) == ("hotel", "no_hotel_below_a")
    assert (cutoff["effect"], cutoff["action"], cutoff["rule"]) == (
        "restriction",
        "deny",
        "grade in B, C, D",
    )
    # it restricts exactly the subjects graded B, C or D
    [reach] = figures["restriction_reach"]
    grades = figures["distribution"][0]["months"][0]["grades"]
    assert reach["touched"] == grades["B"] + grades["C"] + grades["D"] > 0


def test_a_measures_file_naming_an_unknown_grade_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "measures.toml"
    path.write_text(MEASURES.replace('"B", "C", "D"', '"Z"'), encoding="utf-8")
    result = runner.invoke(app, ["lab", "gate", "--program", "rongcheng", "--measures", str(path)])
    assert result.exit_code == 2
    assert "program 'rongcheng' has no grade 'Z'" in result.output


def test_an_unknown_program_is_an_error() -> None:
    result = runner.invoke(app, ["lab", "gate", "--program", "no-such-program.toml"])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_the_command_line_default_start_is_the_lab_default() -> None:
    assert DEFAULT_START.isoformat() == START
