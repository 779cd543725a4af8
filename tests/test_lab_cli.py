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

# A municipal program that rewards verified employment: retirees cannot have it.
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


def test_the_shipped_sesame_program_fails_the_four_fifths_screen_on_age() -> None:
    # Sesame-style scoring rewards verified employment, degrees and shopping, which older
    # residents of the synthetic city have less of: the 700 visa cutoff approves few of them.
    code, verdict = gate("--program", "sesame")
    assert code == 1
    age = [
        f for f in verdict["failures"] if "visa_singapore_simplified" in f and "age_band 60-74" in f
    ]
    assert age and all("within chance" not in f for f in age)
    assert not any("Sybil" in f for f in verdict["failures"])


def test_a_deliberately_unfair_program_fails_naming_the_failure(tmp_path: Path) -> None:
    text = shipped_program("rongcheng").text.replace("base = 1000", "base = 940") + UNFAIR_RULE
    path = tmp_path / "unfair.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["lab", "gate", "--program", str(path), "--population", "2000"])
    assert result.exit_code == 1
    assert "FAIL rongcheng: public_service_fast_lane (grade A or better)" in result.output
    assert "age_band 75+" in result.output


def test_an_unknown_program_is_an_error() -> None:
    result = runner.invoke(app, ["lab", "gate", "--program", "no-such-program.toml"])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_the_command_line_default_start_is_the_lab_default() -> None:
    assert DEFAULT_START.isoformat() == START
