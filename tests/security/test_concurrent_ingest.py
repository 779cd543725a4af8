"""Fault: two `socialcredit ingest` processes on one SQLite store: the second died with
"database is locked" once the first had held the write lock longer than a fixed 30 s, and when
it got through, it read the ledger before taking the lock, so a record re-sent with other
content while the first ingest wrote was counted as a duplicate instead of a conflict. A write
transaction now takes the lock first (BEGIN IMMEDIATE), the wait is
$SOCIALCREDIT_BUSY_TIMEOUT seconds (30 by default), and a store still busy after it is one line
and exit status 4. Checked with real processes on one store file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from factories import furnisher_rows, record_row, resident_id, write_rows

EXIT_BUSY = 4


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "socialcredit", *args]


def environment(wait: float | None = None) -> dict[str, str]:
    env = {**os.environ, "SOCIALCREDIT_DB": ""}
    env.pop("SOCIALCREDIT_BUSY_TIMEOUT", None)
    if wait is not None:
        env["SOCIALCREDIT_BUSY_TIMEOUT"] = str(wait)
    return env


def run(*args: str, wait: float | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=180, env=environment(wait), cwd=cwd
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=cwd,
    )


def loans(prefix: str, count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        record_row(subject=resident_id(n % 2000), external_id=f"{prefix}-{n}", **overrides)
        for n in range(count)
    ]


def new_store(tmp_path: Path) -> tuple[str, Path]:
    file = tmp_path / "store.db"
    url = f"sqlite:///{file}"
    assert run("init", "--db", url, cwd=tmp_path).returncode == 0
    furnishers = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    assert run("ingest", "--db", url, str(furnishers), cwd=tmp_path).returncode == 0
    return url, file


def writing(file: Path) -> bool:
    """Whether another connection holds the store's write lock now."""
    probe = sqlite3.connect(file, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def records(file: Path) -> int:
    with sqlite3.connect(file) as connection:
        return int(connection.execute("SELECT count(*) FROM records").fetchone()[0])


def test_two_overlapping_ingests_both_store_and_count_right(tmp_path: Path) -> None:
    url, file = new_store(tmp_path)
    first = loans("a", 80_000)
    # The second file re-sends 100 of the first's records as they are and 100 with another
    # kind (conflicts), ahead of 5,000 new ones.
    second = first[:100] + loans("a", 200, kind="loan.arrears_cycle")[100:] + loans("b", 5_000)
    a = write_rows(tmp_path / "a.csv", first)
    b = write_rows(tmp_path / "b.csv", second)
    one = start("ingest", "--db", url, str(a), cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not writing(file):
        assert one.poll() is None and time.monotonic() < deadline, one.communicate()
        time.sleep(0.05)
    two = start("ingest", "--db", url, str(b), cwd=tmp_path)
    out_one, err_one = one.communicate(timeout=300)
    out_two, err_two = two.communicate(timeout=300)
    assert one.returncode == 0, err_one
    assert "80,000 accepted, 0 duplicates, 0 rejected" in out_one
    assert two.returncode == 3, err_two  # the conflicts are rejects
    assert "5,000 accepted, 100 duplicates, 100 rejected" in out_two
    assert "Traceback" not in err_one + err_two
    assert records(file) == 85_000


def test_an_ingest_checks_its_rows_against_what_the_writer_before_it_stored(
    tmp_path: Path,
) -> None:
    url, file = new_store(tmp_path)
    # Another process is storing an arrears record of 15 January, not yet committed ...
    writer = sqlite3.connect(file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO records (furnisher, external_id, subject, kind, occurred_at, received_at, "
        "attributes) VALUES ('bank-a', 'x', ?, 'loan.arrears_cycle', "
        "'2026-01-15 00:00:00.000000', '2026-01-16 00:00:00.000000', '{}')",
        (resident_id(1),),
    )
    # ... when an ingest brings a correction that moves its date later (re-aging, refused).
    later = record_row(external_id="x-2", kind="loan.arrears_cycle", occurred_at="2026-02-20")
    rows = write_rows(tmp_path / "b.csv", [{**later, "replaces": "x"}])
    ingest = start("ingest", "--db", url, str(rows), cwd=tmp_path)
    time.sleep(6)  # the ingest has started and waits for the writer
    writer.execute("COMMIT")
    writer.close()
    out, err = ingest.communicate(timeout=120)
    assert ingest.returncode == 3, out + err
    assert "0 accepted, 0 duplicates, 1 rejected" in out and "no re-aging" in out
    assert records(file) == 1


def test_a_store_busy_past_the_wait_is_one_line_and_exit_4(tmp_path: Path) -> None:
    url, file = new_store(tmp_path)
    rows = write_rows(tmp_path / "r.csv", loans("r", 100))
    holder = sqlite3.connect(file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    try:
        began = time.monotonic()
        busy = run("ingest", "--db", url, str(rows), wait=1, cwd=tmp_path)
        took = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.returncode == EXIT_BUSY, busy.stderr
    assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.stderr
    assert "the store is busy" in busy.stderr and "SOCIALCREDIT_BUSY_TIMEOUT" in busy.stderr
    assert took < 20
    assert records(file) == 0
    done = run("ingest", "--db", url, str(rows), wait=1, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert records(file) == 100


def test_an_ingest_waits_for_a_writer_that_finishes_in_time(tmp_path: Path) -> None:
    url, file = new_store(tmp_path)
    rows = write_rows(tmp_path / "r.csv", loans("r", 100))
    holder = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    waiting = start("ingest", "--db", url, str(rows), cwd=tmp_path)
    time.sleep(6)  # longer than the ingest needs to start and reach the store
    assert waiting.poll() is None
    holder.execute("ROLLBACK")
    holder.close()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "100 accepted" in out and records(file) == 100


def test_a_bad_busy_timeout_is_one_line(tmp_path: Path) -> None:
    url, _file = new_store(tmp_path)
    rows = write_rows(tmp_path / "r.csv", loans("r", 1))
    done = run("ingest", "--db", url, str(rows), wait=None, cwd=tmp_path)
    assert done.returncode == 0
    env = {**environment(), "SOCIALCREDIT_BUSY_TIMEOUT": "soon"}
    bad = subprocess.run(
        command("ingest", "--db", url, str(rows)),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "SOCIALCREDIT_BUSY_TIMEOUT" in bad.stderr
