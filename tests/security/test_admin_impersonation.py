"""Fault: an admin who may not read a subject's file could mint a key for that subject and read
everything, logged as the subject. A subject's key is now claimed by the subject: an admin
issues a single-use, expiring enrolment code (stored hashed) that the subject redeems, or the
subject mints another key with its own. Every issuance is in the subject's access log, naming
who did it, and the subject gets a notice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import new_store, resident_id
from service_world import A, C, World, world
from socialcredit.cli import app
from socialcredit.domain.principals import NotAllowed
from socialcredit.services.principals import create_principal

runner = CliRunner()


@pytest.fixture
def w(store_backend: str, tmp_path: Path) -> Iterator[World]:
    engine = new_store(tmp_path)
    with world(engine, scored=False) as built:
        yield built
    engine.dispose()


def issue(w: World, subject: str, role: str = "admin", **extra: Any) -> Any:
    body = {"subject": subject, "name": "Their own key", **extra}
    return w.client.post("/v1/enrolments", headers=w.auth(role), json=body)


def redeem(w: World, code: str, headers: dict[str, str] | None = None) -> Any:
    return w.client.post(f"/v1/enrolments/{code}", headers=headers or {})


def access_log(w: World) -> list[dict[str, Any]]:
    answer = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject"))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def notice_kinds(w: World) -> list[str]:
    answer = w.client.get(f"/v1/subjects/{A}/notices", headers=w.auth("subject"))
    assert answer.status_code == 200, answer.text
    return [n["kind"] for n in answer.json()["items"]]


def test_an_admin_may_not_mint_a_subjects_key(w: World) -> None:
    for subject in (A, C):
        minted = w.client.post(
            "/v1/principals",
            headers=w.auth("admin"),
            json={"role": "subject", "name": "Impostor", "subject": subject},
        )
        assert minted.status_code == 403, minted.text
        assert minted.json()["type"] == "/problems/forbidden"
        assert "enrolment" in minted.json()["detail"] and "key" not in minted.json()
    listed = w.client.get("/v1/principals", headers=w.auth("admin")).json()["items"]
    assert "Impostor" not in {p["name"] for p in listed}
    assert w.client.get(f"/v1/subjects/{C}/scores", headers=w.auth("admin")).status_code == 403


def test_the_service_makes_no_subject_key_but_through_enrolment(w: World) -> None:
    with pytest.raises(NotAllowed, match="enrolment"):
        create_principal(w.engine, "subject", "Impostor", subject=C)


def test_a_subject_claims_its_key_with_a_single_use_code(w: World) -> None:
    issued = issue(w, C)
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert code.startswith("sce_") and "key" not in issued.json()
    assert issued.json()["subject"] == C and issued.json()["issued_by"] == w.ids["admin"]
    claimed = redeem(w, code)
    assert claimed.status_code == 201, claimed.text
    key = claimed.json()["key"]
    me = w.client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["role"], me["subject"], me["name"]) == ("subject", C, "Their own key")
    again = redeem(w, code)
    assert again.status_code == 404 and again.json()["type"] == "/problems/not-found"
    assert "key" not in again.json()


def test_an_expired_code_is_refused(w: World) -> None:
    code = issue(w, C, hours=1).json()["code"]
    with w.engine.begin() as connection:
        connection.execute(sa.text("UPDATE enrolments SET expires_at = '2000-01-01 00:00:00'"))
    assert redeem(w, code).status_code == 404
    assert issue(w, C, hours=0).status_code == 422
    assert issue(w, C, hours=24 * 365).status_code == 422


def test_codes_are_stored_hashed(w: World) -> None:
    code = issue(w, C).json()["code"]
    with w.engine.connect() as connection:
        cells = [
            str(v) for row in connection.execute(sa.text("SELECT * FROM enrolments")) for v in row
        ]
    assert code not in cells
    assert hashlib.sha256(code.encode()).hexdigest() in cells


def test_only_the_subject_redeems_its_code(w: World) -> None:
    code = issue(w, A).json()["code"]
    for role in ("subject_b", "admin", "adjudicator", "relying_party", "furnisher"):
        refused = redeem(w, code, w.auth(role))
        assert refused.status_code == 403, (role, refused.text)
    assert redeem(w, code, w.auth("subject")).status_code == 201  # the subject's own key
    for role in ("subject", "adjudicator", "relying_party", "furnisher"):
        assert issue(w, C, role=role).status_code == 403, role


def test_a_subject_mints_another_key_with_its_own(w: World) -> None:
    minted = w.client.post("/v1/me/keys", headers=w.auth("subject"), json={"name": "phone"})
    assert minted.status_code == 201, minted.text
    me = w.client.get("/v1/me", headers={"Authorization": f"Bearer {minted.json()['key']}"})
    assert (me.json()["role"], me.json()["subject"], me.json()["name"]) == ("subject", A, "phone")
    for role in ("admin", "adjudicator", "relying_party", "furnisher"):
        refused = w.client.post("/v1/me/keys", headers=w.auth(role), json={})
        assert refused.status_code == 403, role


def test_every_key_issuance_is_logged_naming_who_and_noticed(w: World) -> None:
    before = {e["id"] for e in access_log(w)}
    noticed = len(notice_kinds(w))
    code = issue(w, A).json()["code"]
    claimed = redeem(w, code).json()
    minted = w.client.post("/v1/me/keys", headers=w.auth("subject"), json={}).json()
    read = w.client.get(
        f"/v1/subjects/{A}/scores",
        params={"purpose": "travel_booking"},
        headers=w.auth("relying_party", **{"X-Consent": w.consent_token}),
    )
    assert read.status_code in (200, 404)
    log = reversed(access_log(w))
    oldest_first = [e for e in log if e["id"] not in before and e["what"] != "access-log"]
    who = [(e["what"], e["principal"], e["role"], e["principal_name"]) for e in oldest_first]
    assert who[:3] == [
        ("enrolment-code", w.ids["admin"], "admin", "Root"),
        ("key-issued", claimed["id"], "subject", "Their own key"),
        ("key-issued", w.ids["subject"], "subject", "A"),
    ]
    assert oldest_first[1]["returned"]["issued_by"] == w.ids["admin"]
    assert oldest_first[1]["returned"]["principal"] == claimed["id"]
    assert oldest_first[2]["returned"]["principal"] == minted["id"]
    if read.status_code == 200:
        assert who[3] == ("scores", w.ids["relying_party"], "relying_party", "Air Example")
    kinds = notice_kinds(w)
    assert len(kinds) == noticed + 3
    assert kinds[:3] == ["key.issued", "key.issued", "key.enrolment"]


def test_principal_add_for_a_subject_prints_an_enrolment_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    subject = resident_id(7)
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    add = ["principal", "add", "--role", "subject", "--name", "Li", "--subject", subject]
    added = runner.invoke(app, [*add, "--db", url])
    assert added.exit_code == 0, added.output
    assert "sck_" not in added.output and "key:" not in added.output
    code = next(w for w in added.output.split() if w.startswith("sce_"))
    assert f"socialcredit principal enrol {code}" in added.output
    assert f"/v1/enrolments/{code}" in added.output
    enrolled = runner.invoke(app, ["principal", "enrol", code, "--json", "--db", url])
    assert enrolled.exit_code == 0, enrolled.output
    made = json.loads(enrolled.stdout)
    assert made["role"] == "subject" and made["key"].startswith("sck_")
    twice = runner.invoke(app, ["principal", "enrol", code, "--db", url])
    assert twice.exit_code == 1 and "used or has expired" in twice.output
    as_json = runner.invoke(app, [*add, "--json", "--db", url])
    assert as_json.exit_code == 0, as_json.output
    assert set(json.loads(as_json.stdout)) == {"enrolment", "subject", "code", "expires_at"}
