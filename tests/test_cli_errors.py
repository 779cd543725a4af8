"""A new user's mistakes: each is one line on stderr with a documented exit status, never a
traceback, and a command that only reads leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

import socialcredit.services.subjects
from factories import bad_check, furnisher_rows, record_row, resident_id, write_rows
from socialcredit import cli as cli_module
from socialcredit.cli import app

runner = CliRunner()


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m socialcredit ARGS` in a folder, as a user types it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCREDIT_")}
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environment, **(env or {})},
        timeout=120,
    )


def invoke(*args: str) -> Result:
    """The command in-process, with stdout and stderr apart."""
    return runner.invoke(app, list(args))


def one_error_line(stderr: str) -> str:
    """The only line on stderr, which must be an error and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(sa.table(table))
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.fixture
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, with no store chosen by the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOCIALCREDIT_DB", raising=False)
    monkeypatch.delenv("SOCIALCREDIT_DEBUG", raising=False)
    return tmp_path


@pytest.fixture
def store(tmp_path: Path) -> str:
    """An initialised, empty SQLite store in its own folder."""
    (tmp_path / "store").mkdir()
    url = f"sqlite:///{tmp_path}/store/s.db"
    assert invoke("init", "--db", url).exit_code == 0
    return url


# ------------------------------------------------------------------------------ --db mistakes


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["subjects", "--db", "sqlite:///nope/x.db"], "the folder nope does not exist"),
        (["init", "--db", "my.db"], "did you mean sqlite:///my.db"),
        (["show", resident_id(1), "--db", "postgresql://127.0.0.1:1/x"], "cannot open the store"),
        (["serve", "--db", "mysql://user@host/x"], "unsupported store mysql://user@host/x"),
    ],
)
def test_a_db_mistake_is_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert says in one_error_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_init_in_a_missing_folder_is_refused(empty_folder: Path) -> None:
    result = invoke("init", "--db", "sqlite:///nope/x.db")
    assert result.exit_code == 2
    assert "the folder nope does not exist" in one_error_line(result.stderr)
    assert list(empty_folder.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    for args, env in (
        (["--debug", "subjects", "--db", "mysql://u@h/x"], None),
        (["subjects", "--db", "mysql://u@h/x"], {"SOCIALCREDIT_DEBUG": "1"}),
    ):
        result = run(*args, cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert "Traceback" in result.stderr and "StoreUrlError" in result.stderr


def test_an_unexpected_error_is_one_line_and_exit_1(
    empty_folder: Path,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*_args: object) -> list[dict[str, str]]:
        raise KeyError("a bug\nwith a second line")

    monkeypatch.setattr(socialcredit.services.subjects, "list_subjects", broken)
    monkeypatch.setattr(sys, "argv", ["socialcredit", "subjects", "--db", store])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    assert stopped.value.code == 1
    line = one_error_line(capsys.readouterr().err)
    assert "KeyError" in line and "a bug" in line and "--debug" in line


# ------------------------------------------------------------------------------ no store yet


def test_reading_commands_never_create_a_store(empty_folder: Path) -> None:
    result = run("subjects", cwd=empty_folder)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        "error: no store at sqlite:///socialcredit.db: run `socialcredit init` first"
    )
    for args in (
        ["show", resident_id(1)],
        ["score"],
        ["lists"],
        ["decide", resident_id(1), "flight_booking"],
        ["export", "out"],
        ["principal", "list"],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "run `socialcredit init` first" in one_error_line(result.stderr)
    assert list(empty_folder.iterdir()) == []


def test_score_on_an_empty_store_records_no_run(store: str) -> None:
    result = invoke("score", "--db", store)
    assert result.exit_code == 0, result.output
    assert "nothing to score" in result.stdout
    assert count(store, "score_runs") == 0


# ------------------------------------------------------------------------------ ingest


def test_a_file_without_required_columns_is_refused_whole(store: str, tmp_path: Path) -> None:
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    renamed = {k.replace("occurred_at", "occured_at"): v for k, v in record_row().items()}
    del renamed["kind"]
    for suffix in ("csv", "ndjson", "parquet"):
        records = write_rows(tmp_path / f"records.{suffix}", [renamed])
        result = invoke("ingest", str(furnishers), str(records), "--db", store)
        assert result.exit_code == 1, result.output
        line = one_error_line(result.stderr)
        assert "missing column(s) kind, occurred_at" in line
        assert "unknown column(s) occured_at" in line
        assert "a records file has subject, furnisher, kind, occurred_at, external_id" in line
        assert "nothing was stored" in line
    assert count(store, "furnishers") == 0 and count(store, "records") == 0


def test_a_missing_file_stores_nothing(store: str, tmp_path: Path) -> None:
    good = write_rows(tmp_path / "furnishers.ndjson", furnisher_rows())
    result = invoke("ingest", str(good), str(tmp_path / "missing.ndjson"), "--db", store)
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "missing.ndjson" in line and "nothing was stored" in line
    assert count(store, "furnishers") == 0


def test_rejected_rows_exit_3_and_are_shown(store: str, tmp_path: Path) -> None:
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    rows = [record_row(external_id=f"r-{n}") for n in range(3)]
    rows += [
        record_row(external_id=f"bad-{n}", subject=bad_check(resident_id(n))) for n in range(7)
    ]
    records = write_rows(tmp_path / "records.csv", rows)
    result = invoke("ingest", str(furnishers), str(records), "--db", store)
    assert result.exit_code == 3, result.output
    assert "records: 3 accepted, 0 duplicates, 7 rejected" in result.stdout
    assert "furnishers: 4 accepted" in result.stdout
    assert "the first 5 of 7 rejected rows:" in result.stdout
    assert f"{records} line 5: field 'subject'" in result.stdout
    (reject_file,) = (tmp_path / "store" / "rejects").iterdir()
    assert str(reject_file.name) in result.stdout
    assert len(reject_file.read_text().splitlines()) == 7
    again = invoke("ingest", str(furnishers), "--db", store)
    assert again.exit_code == 0 and "furnishers: 0 accepted, 4 duplicates" in again.stdout


def test_rejects_go_to_the_folder_asked_for(store: str, tmp_path: Path) -> None:
    furnishers = write_rows(tmp_path / "furnishers.ndjson", [*furnisher_rows(), "[1]"])
    chosen = tmp_path / "mine" / "rejects"
    result = invoke("ingest", str(furnishers), "--rejects", str(chosen), "--json", "--db", store)
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert Path(summary["reject_file"]).parent == chosen
    assert summary["first_rejects"][0]["line"] == 5
    assert summary["kinds"] == [
        {"kind": "furnishers", "rows": 5, "accepted": 4, "duplicates": 0, "rejected": 1}
    ]
    a_file = tmp_path / "taken.ndjson"
    a_file.write_text("")
    refused = invoke("ingest", str(furnishers), "--rejects", str(a_file), "--db", store)
    assert refused.exit_code == 2
    assert "--rejects names a folder" in one_error_line(refused.stderr)


# ------------------------------------------------------------------------------ principals


def add_subject_key(subject: str, store: str) -> Result:
    return invoke(
        "principal", "add", "--role", "subject", "--name", "Li Wei", "--subject", subject,
        "--db", store,
    )  # fmt: skip


def test_a_subject_key_for_an_unknown_subject_is_warned(store: str, tmp_path: Path) -> None:
    result = add_subject_key(resident_id(9), store)
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("warning: ") and resident_id(9) in line
    assert "code: sce_" in result.stdout  # an enrolment code for the subject to redeem
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    records = write_rows(tmp_path / "records.csv", [record_row(subject=resident_id(1))])
    assert invoke("ingest", str(furnishers), str(records), "--db", store).exit_code == 0
    known = add_subject_key(resident_id(1), store)
    assert known.exit_code == 0 and known.stderr == ""
