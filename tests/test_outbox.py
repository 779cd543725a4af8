"""The outbox: a change and its events commit together, the worker drains them, and a process
killed at any named failpoint converges, once restarted and drained, to what a full rescoring
gives. The crashes are real: a subprocess dies with status 137 at the failpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import (
    enrol_subject,
    furnisher_rows,
    new_store,
    record_row,
    registry_row,
    resident_id,
    write_rows,
)
from socialcredit.services import failpoints
from socialcredit.services.failpoints import EXIT_STATUS, NAMES, VARIABLE
from socialcredit.services.ingest import ingest_rows, ingest_tables
from socialcredit.services.principals import create_principal
from socialcredit.services.scoring import score_all
from socialcredit.services.subjects import subject_view
from socialcredit.services.worker import backlog, drain
from socialcredit.synth.city import generate_city

HELD_BACK = 400
"""Records of the city kept out of the first ingest, to send during the test."""


@dataclass
class Store:
    """A scored city with some records still to send, and the URL a subprocess opens."""

    engine: sa.Engine
    url: str
    upload: Path
    rows: list[dict[str, Any]]


def _today() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def store(tmp_path: Path, store_backend: str) -> Iterator[Store]:
    engine = new_store(tmp_path)
    city = generate_city(150, seed=5, as_of=_today().date())
    records = pa.concat_tables(city.records.values()).combine_chunks()
    kept, held = (
        records.slice(0, records.num_rows - HELD_BACK),
        records.slice(records.num_rows - HELD_BACK),
    )
    ingest_tables(
        engine,
        furnishers=city.furnishers,
        registry=city.registry,
        relations=city.relations,
        records=[kept],
    )
    score_all(engine)
    drain(engine)  # the first ingest's events
    rows = [_row(r) for r in held.to_pylist()]
    upload = write_rows(tmp_path / "upload.ndjson", rows)
    yield Store(engine, engine.url.render_as_string(hide_password=False), upload, rows)
    engine.dispose()


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """An interchange row from a generated record (times as ISO text)."""
    out = {k: v for k, v in record.items() if v is not None}
    out["occurred_at"] = record["occurred_at"].isoformat()
    return out


def run_cli(url: str, *args: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    """`socialcredit ARGS --db URL` in a new process, optionally dying at a failpoint."""
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if failpoint:
        env[VARIABLE] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "socialcredit", *args, "--db", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"select count(*) from {table}")).scalar_one())


def latest(engine: sa.Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every subject's newest score per program: status, score, grade and explanation."""
    query = sa.text(
        "select s.subject, s.program, s.status, s.score, s.grade, s.explanation from scores s "
        "join (select subject, program, max(run_id) as run_id from scores "
        "group by subject, program) n "
        "on n.subject = s.subject and n.program = s.program and n.run_id = s.run_id"
    )
    with engine.connect() as connection:
        return {
            (r.subject, r.program): (r.status, r.score, r.grade, json.loads(r.explanation))
            for r in connection.execute(query)
        }


def assert_converged(engine: sa.Engine) -> None:
    """No event is pending, and every stored score equals what a full rescoring gives now."""
    assert backlog(engine).pending == 0
    before = latest(engine)
    score_all(engine)
    after = latest(engine)
    differing = [key for key in after if before.get(key) != after[key]]
    assert differing == [], f"{len(differing)} scores differ from a full rescoring"


def test_every_failpoint_is_documented() -> None:
    text = (Path(__file__).parents[1] / "docs" / "operations.md").read_text()
    for name in NAMES:
        assert f"`{name}`" in text


def test_an_ingest_commits_its_events_and_scores_turn_fresh_once_drained(store: Store) -> None:
    subject = store.rows[0]["subject"]
    result = run_cli(store.url, "ingest", str(store.upload))
    assert result.returncode in (0, 3), result.stderr
    pending = backlog(store.engine)
    assert pending.pending > 0 and dict((k, n) for k, n, _ in pending.kinds)["record.accepted"]
    scores = subject_view(store.engine, subject)["scores"]
    assert scores and not any(s["fresh"] for s in scores)
    shown = json.loads(run_cli(store.url, "outbox", "--json").stdout)
    assert shown["pending"] == pending.pending and shown["oldest_age_seconds"] >= 0

    worked = run_cli(store.url, "work", "--until-idle", "--json")
    assert worked.returncode == 0, worked.stderr
    assert json.loads(worked.stdout)["handled"] == pending.pending
    scores = subject_view(store.engine, subject)["scores"]
    position = count(store.engine, "records")  # ids are dense in a store nothing was purged from
    assert all(s["fresh"] and s["ledger_position"] >= position for s in scores)
    assert_converged(store.engine)


def test_a_crash_before_commit_stores_nothing_and_a_retry_converges(store: Store) -> None:
    records = count(store.engine, "records")
    killed = run_cli(store.url, "ingest", str(store.upload), failpoint="ingest.before_commit")
    assert killed.returncode == EXIT_STATUS
    assert count(store.engine, "records") == records
    assert backlog(store.engine).pending == 0
    retried = run_cli(store.url, "ingest", str(store.upload))
    assert retried.returncode in (0, 3), retried.stderr
    assert count(store.engine, "records") > records
    assert run_cli(store.url, "work", "--until-idle").returncode == 0
    assert_converged(store.engine)


def test_a_crash_after_commit_leaves_events_that_the_worker_drains(store: Store) -> None:
    records = count(store.engine, "records")
    killed = run_cli(store.url, "ingest", str(store.upload), failpoint="ingest.after_commit")
    assert killed.returncode == EXIT_STATUS
    stored = count(store.engine, "records")
    assert stored > records and backlog(store.engine).pending > 0
    # Sending the same file again is all duplicates and writes no event of its own.
    pending = backlog(store.engine).pending
    again = run_cli(store.url, "ingest", str(store.upload), "--json")
    assert again.returncode == 0, again.stderr
    assert count(store.engine, "records") == stored
    assert json.loads(again.stdout)["accepted"] == 0
    assert backlog(store.engine).pending == pending
    assert run_cli(store.url, "work", "--until-idle").returncode == 0
    assert_converged(store.engine)


def test_a_crash_before_the_snapshot_commits_records_no_run(store: Store) -> None:
    runs = count(store.engine, "score_runs")
    killed = run_cli(store.url, "score", failpoint="score.before_snapshot_commit")
    assert killed.returncode == EXIT_STATUS
    assert count(store.engine, "score_runs") == runs
    assert run_cli(store.url, "score").returncode == 0
    assert count(store.engine, "score_runs") > runs


def test_a_worker_killed_before_its_acknowledgement_handles_the_events_again(
    store: Store,
) -> None:
    assert run_cli(store.url, "ingest", str(store.upload)).returncode in (0, 3)
    pending = backlog(store.engine).pending
    killed = run_cli(store.url, "work", "--until-idle", failpoint="worker.after_rescore_before_ack")
    assert killed.returncode == EXIT_STATUS
    assert backlog(store.engine).pending == pending  # rescored, but not acknowledged
    assert run_cli(store.url, "work", "--until-idle").returncode == 0
    assert_converged(store.engine)


# ------------------------------------------------------------------------------ the service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int, failpoint: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if failpoint:
        env[VARIABLE] = failpoint
    args = ["serve", "--port", str(port), "--maintain-every", "0", "--work-every", "0.2"]
    return subprocess.Popen(
        [sys.executable, "-m", "socialcredit", *args, "--rate-limit", "0", "--db", url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server died while starting"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_an_upload_killed_after_commit_is_rescored_by_the_restarted_server(
    store: Store,
) -> None:
    furnisher = store.rows[0]["furnisher"]
    rows = [r for r in store.rows if r["furnisher"] == furnisher]
    subject = rows[0]["subject"]
    keys = {
        "furnisher": create_principal(store.engine, "furnisher", furnisher).key,
        "subject": enrol_subject(store.engine, subject, "S").key,
    }
    body = "\n".join(json.dumps(r) for r in rows)
    port = _free_port()
    server = _serve(store.url, port, failpoint="ingest.after_commit")
    try:
        _wait_up(port, server)
        with pytest.raises(httpx.TransportError):  # the process dies before it answers
            httpx.post(
                f"http://127.0.0.1:{port}/v1/records",
                content=body,
                headers={
                    "Authorization": f"Bearer {keys['furnisher']}",
                    "Content-Type": "application/x-ndjson",
                },
                timeout=120,
            )
        assert server.wait(30) == EXIT_STATUS
    finally:
        server.kill()
    assert backlog(store.engine).pending > 0

    server = _serve(store.url, port)
    try:
        _wait_up(port, server)
        deadline = time.monotonic() + 120
        scores: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/v1/subjects/{subject}/scores",
                headers={"Authorization": f"Bearer {keys['subject']}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            scores = answer.json()["scores"]
            if scores and all(s["fresh"] for s in scores):
                break
            time.sleep(0.2)
        assert scores and all(s["fresh"] for s in scores)
        deadline = time.monotonic() + 60
        while backlog(store.engine).pending and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(30)
    assert_converged(store.engine)


# ------------------------------------------------------------------------------ the property

KINDS = ("loan.repaid_on_time", "loan.arrears_cycle", "card.overdue")
SUBJECTS = tuple(resident_id(n) for n in range(3))
POINTS = (None, "ingest.before_commit", "ingest.after_commit", "worker.after_rescore_before_ack")


class Crash(BaseException):
    """Stands for the process dying at a failpoint: the transaction in flight is lost (its
    connection goes away without a commit), what was committed stays."""


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[list[dict[str, Any]], str | None]]:
    """Batches of rows, each with the failpoint its ingest dies at (or None): new records,
    corrections of any earlier record (chains, and two of one record), and retractions."""
    batches: list[tuple[list[dict[str, Any]], str | None]] = []
    sent: list[dict[str, Any]] = []
    for b in range(draw(st.integers(1, 4))):
        rows = []
        for i in range(draw(st.integers(1, 4))):
            row = record_row(
                external_id=f"e{b}-{i}",
                subject=draw(st.sampled_from(SUBJECTS)),
                kind=draw(st.sampled_from(KINDS)),
                occurred_at=f"2026-0{draw(st.integers(1, 9))}-15T10:00:00",
            )
            action = draw(st.sampled_from(("new", "correct", "retract"))) if sent else "new"
            if action != "new":
                target = draw(st.sampled_from(sent))
                row.update(subject=target["subject"], replaces=target["external_id"])
                if action == "retract":
                    row["kind"] = "record.retracted"
            rows.append(row)
        sent.extend(rows)
        batches.append((rows, draw(st.sampled_from(POINTS))))
    return batches


def _crash(_status: int) -> None:
    raise Crash


def _ledger(engine: sa.Engine) -> list[dict[str, Any]]:
    """The stored records as rows, in the order they were received."""
    query = sa.text(
        "select subject, furnisher, kind, occurred_at, external_id, replaces from records "
        "order by id"
    )
    with engine.connect() as connection:
        return [
            {**dict(r._mapping), "occurred_at": str(r.occurred_at).replace(" ", "T")}
            for r in connection.execute(query)
        ]


def _scores(engine: sa.Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Newest scores, their contributions' rules and points and their reasons (record ids,
    which differ between two stores, left out)."""
    out = {}
    for key, (status, score, grade, explanation) in latest(engine).items():
        contributions = sorted((c["rule"], c["points"]) for c in explanation["contributions"])
        reasons = [r["code"] if "code" in r else r.get("rule") for r in explanation["reasons"]]
        out[key] = (status, score, grade, contributions, reasons, explanation["clamp"])
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=histories())
def test_crashes_at_random_failpoints_converge_to_a_clean_ingest(
    tmp_path_factory: pytest.TempPathFactory, history: list[tuple[list[dict[str, Any]], str | None]]
) -> None:
    folder = tmp_path_factory.mktemp("property")
    engine, clean = new_store(folder, "crashed.db"), new_store(folder, "clean.db")
    for store in (engine, clean):
        ingest_rows(store, "furnishers", list(enumerate(furnisher_rows(), start=1)))
        ingest_rows(
            store, "registry", [(n, registry_row(subject=s)) for n, s in enumerate(SUBJECTS)]
        )
    acknowledged: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(failpoints.os, "_exit", _crash)
        for rows, point in history:
            patch.setenv(VARIABLE, point or "")
            try:
                result = ingest_rows(engine, "records", list(enumerate(rows, start=1)))
                refused = {entry["line"] for entry in result.rejects}
                acknowledged.extend(
                    r["external_id"] for n, r in enumerate(rows, start=1) if n not in refused
                )
                drain(engine)
            except Crash:
                pass
        patch.delenv(VARIABLE)
    drain(engine)  # the restarted worker
    stored = _ledger(engine)
    assert set(acknowledged) <= {r["external_id"] for r in stored}  # no acknowledged write lost
    assert backlog(engine).pending == 0

    ingest_rows(clean, "records", list(enumerate(stored, start=1)))
    score_all(clean)
    if not stored:
        return
    crashed = _scores(engine)
    expected = _scores(clean)
    assert {k: crashed.get(k) for k in expected} == expected
    engine.dispose()
    clean.dispose()
