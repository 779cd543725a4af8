"""A killed ingest leaves no reject file for a transaction that did not commit: rejected rows
reach the file only once their file's rows are committed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from factories import furnisher_rows, new_store, record_row, resident_id, write_rows
from socialcredit.services.failpoints import EXIT_STATUS, VARIABLE


def _ingest(url: str, folder: Path, *files: Path, failpoint: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if failpoint:
        env[VARIABLE] = failpoint
    done = subprocess.run(
        [sys.executable, "-m", "socialcredit", "ingest", *map(str, files), "--rejects",
         str(folder), "--db", url],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.returncode


def _rows(tmp_path: Path) -> tuple[Path, Path]:
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    rows = [record_row(external_id=f"r-{n}", subject=resident_id(n)) for n in range(20)]
    rows += [record_row(external_id=f"bad-{n}", kind="no.such.kind") for n in range(5)]
    return furnishers, write_rows(tmp_path / "records.ndjson", rows)


def test_a_crash_before_commit_leaves_no_reject_lines(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    furnishers, records = _rows(tmp_path)
    assert _ingest(url, tmp_path / "setup", furnishers) == 0
    folder = tmp_path / "rejects"
    status = _ingest(url, folder, records, failpoint="ingest.before_commit")
    assert status == EXIT_STATUS
    lines = [line for f in folder.glob("*.ndjson") for line in f.read_text().splitlines()]
    assert lines == []  # the transaction did not commit: none of its rows is reported


def test_a_crash_after_commit_keeps_the_reject_lines(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    furnishers, records = _rows(tmp_path)
    assert _ingest(url, tmp_path / "setup", furnishers) == 0
    folder = tmp_path / "rejects"
    assert _ingest(url, folder, records, failpoint="ingest.after_commit") == EXIT_STATUS
    lines = [line for f in folder.glob("*.ndjson") for line in f.read_text().splitlines()]
    assert len(lines) == 5  # committed: every rejected row is in the file
