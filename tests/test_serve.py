"""`socialcredit serve` as a real process on a loopback port, and the `principal` commands."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import servers
from factories import record_row, resident_id
from service_world import day
from socialcredit.cli import app
from socialcredit.policy.loader import shipped_program_names

runner = CliRunner()
SUBJECT = resident_id(42)


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/serve.db"
    cli("init", "--db", url)
    cli("furnisher", "add", "bank-a", "--type", "lender", "--db", url)
    return url


def add_principal(url: str, *args: str) -> dict[str, str]:
    """Create a principal; its JSON is on stdout (a warning may be on stderr)."""
    result = runner.invoke(app, ["principal", "add", *args, "--json", "--db", url])
    assert result.exit_code == 0, result.output
    created: dict[str, str] = json.loads(result.stdout)
    return created


def enrol_subject(url: str, name: str, subject: str) -> dict[str, str]:
    """A subject's key as a subject gets one: the operator's code, redeemed by the subject."""
    issued = add_principal(url, "--role", "subject", "--name", name, "--subject", subject)
    result = runner.invoke(app, ["principal", "enrol", issued["code"], "--json", "--db", url])
    assert result.exit_code == 0, result.output
    created: dict[str, str] = json.loads(result.stdout)
    return created


@pytest.fixture
def server(store: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "serve.log"
    with servers.serving(store, log) as base:
        yield base, log


def test_a_real_server_answers_and_stops(store: str, server: tuple[str, Path]) -> None:
    base, log = server
    furnisher = add_principal(store, "--role", "furnisher", "--name", "bank-a")
    subject = enrol_subject(store, "Li", SUBJECT)
    assert set(furnisher) == {"id", "role", "key"} and furnisher["key"].startswith("sck_")

    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        rows = [
            record_row(subject=SUBJECT, external_id=f"e2e-{n}", occurred_at=day(100 + n))
            for n in range(3)
        ]
        posted = client.post(
            "/v1/records",
            headers={
                "Authorization": f"Bearer {furnisher['key']}",
                "Content-Type": "application/x-ndjson",
            },
            content="".join(json.dumps(r) + "\n" for r in rows),
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["accepted"] == 3
        scores = client.get(
            f"/v1/subjects/{SUBJECT}/scores", headers={"Authorization": f"Bearer {subject['key']}"}
        )
        assert scores.status_code == 200, scores.text
        assert {s["program"] for s in scores.json()["scores"]} == set(shipped_program_names())
        refused = client.get(f"/v1/subjects/{SUBJECT}/scores")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "socialcredit_http_requests_total" in client.get("/metrics").text

    time.sleep(0.2)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    requests = [entry for entry in lines if entry.get("message") == "request"]
    assert any(
        e["route"] == "/v1/subjects/{id}/scores"
        and e["status"] == 200
        and e["principal"] == subject["id"]
        for e in requests
    )


def test_principal_commands(store: str) -> None:
    admin = add_principal(store, "--role", "admin", "--name", "Root")
    assert admin["role"] == "admin"
    human = cli(
        "principal", "add", "--role", "relying_party", "--name", "Air Example", "--db", store
    )
    assert "key: sck_" in human and "shown only once" in human
    listed = json.loads(cli("principal", "list", "--json", "--db", store))
    assert {p["name"] for p in listed} == {"Root", "Air Example"}
    assert all("key" not in p for p in listed)
    cli("principal", "revoke", admin["id"], "--db", store)
    listed = {p["id"]: p for p in json.loads(cli("principal", "list", "--json", "--db", store))}
    assert listed[admin["id"]]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "boss", "--name", "x"], "unknown role 'boss'"),
        (["--role", "subject", "--name", "x"], "needs --subject"),
        (["--role", "subject", "--name", "x", "--subject", "12345"], "--subject:"),
        (
            ["--role", "admin", "--name", "x", "--subject", SUBJECT],
            "only for principals with the role subject",
        ),
        (["--role", "furnisher", "--name", "court-z"], "no registered furnisher 'court-z'"),
        (
            ["--role", "furnisher", "--name", "bank-a", "--kinds", "court.judgment_unfulfilled"],
            "may not send",
        ),
        (
            ["--role", "admin", "--name", "x", "--kinds", "loan.repaid_on_time"],
            "only for principals with the role furnisher",
        ),
    ],
)
def test_principal_add_refuses_what_cannot_work(store: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["principal", "add", *args, "--db", store])
    assert result.exit_code == 1
    assert message in result.output


def test_serve_refuses_a_store_that_is_not_initialised(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--db", f"sqlite:///{tmp_path}/none.db"])
    assert result.exit_code == 1
    assert "socialcredit init" in result.output
