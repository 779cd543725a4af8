"""Fault: failed authentications had no limit: 600 unknown keys in 2 s were all looked up in the
store and none was refused. Failed keys (and enrolment codes) now spend a budget per client
address; past it the address gets 429 with Retry-After, before any look-up, while a good key
from the same address keeps working until the budget is spent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factories import new_store
from service_world import world
from socialcredit.api import ApiSettings, create_app
from socialcredit.cli import app as cli_app
from socialcredit.services import principals as principal_service

UNKNOWN = "sck_not-a-key-anyone-holds-{n}"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = new_store(tmp_path)
    yield made
    made.dispose()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the service looks up in the store."""
    seen: list[str] = []
    real = principal_service.authenticate

    def counted(engine: sa.Engine, key: str) -> object:
        seen.append(key)
        return real(engine, key)

    monkeypatch.setattr(principal_service, "authenticate", counted)
    return seen


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_flood_of_unknown_keys_is_cut_off_before_the_store(
    engine: sa.Engine, lookups: list[str]
) -> None:
    with TestClient(create_app(engine)) as client:  # the defaults `serve` starts from
        statuses = [
            client.get("/v1/me", headers=bearer(UNKNOWN.format(n=n))).status_code
            for n in range(600)
        ]
        refused = client.get("/v1/me", headers=bearer("sck_one-more"))
    assert statuses[0] == 401 and statuses.count(429) > 500
    assert len(lookups) < 60
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    problem = refused.json()
    assert problem["type"] == "/problems/rate-limited" and "failed" in problem["detail"]


def test_a_good_key_from_the_same_address_works_under_the_limit(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    limited = ApiSettings(rate=0, failed_auth_rate=0.001, failed_auth_burst=5)
    with world(engine, limited, scored=False) as w:
        bad = [w.client.get("/v1/me", headers=bearer(UNKNOWN.format(n=n))) for n in range(4)]
        assert [r.status_code for r in bad] == [401] * 4
        assert w.client.get("/v1/me", headers=w.auth("subject")).status_code == 200
        assert w.client.get("/v1/me", headers=w.auth("admin")).status_code == 200
        last = w.client.get("/v1/me", headers=bearer(UNKNOWN.format(n=4)))
        assert last.status_code in (401, 429)
        assert w.client.get("/v1/me", headers=bearer("sck_x")).status_code == 429
        # Another address has its own budget.
        with TestClient(w.client.app, client=("203.0.113.9", 4000)) as elsewhere:
            assert elsewhere.get("/v1/me", headers=bearer("sck_x")).status_code == 401
            assert elsewhere.get("/v1/me", headers=w.auth("relying_party")).status_code == 200
    engine.dispose()


def test_guessed_enrolment_codes_count_as_failed_authentications(
    engine: sa.Engine,
) -> None:
    settings = ApiSettings(failed_auth_rate=0.001, failed_auth_burst=3)
    with TestClient(create_app(engine, settings)) as client:
        statuses = [client.post(f"/v1/enrolments/sce_guess-{n}").status_code for n in range(6)]
        key = client.get("/v1/me", headers=bearer("sck_after-the-guesses"))
    assert statuses[:3] == [404] * 3 and statuses[-1] == 429
    assert key.status_code == 429


def test_the_limit_is_configurable(engine: sa.Engine, lookups: list[str]) -> None:
    off = ApiSettings(failed_auth_rate=0)
    with TestClient(create_app(engine, off)) as client:
        statuses = {
            client.get("/v1/me", headers=bearer(f"sck_{n}")).status_code for n in range(300)
        }
    assert statuses == {401} and len(lookups) == 300
    shown = CliRunner().invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--failed-auth-rate" in shown.output and "--failed-auth-burst" in shown.output
