"""Fault: an adjudicator's or admin's `GET /v1/subjects/{id}/decisions` left no entry in the
subject's access log (reads of disputes, reports and purges did). Every read of a subject's
data by anyone but the subject is logged, naming who read. The test walks every GET route of
the OpenAPI document as every caller that is not the subject, so a new unlogged read fails it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from factories import record_row
from service_world import A, B, C, World, day, utc_now
from socialcredit.services.consents import grant_consent
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.principals import authenticate

CALLERS = ("furnisher", "court", "relying_party", "adjudicator", "admin", None)
PUBLIC = "public"

# What a caller reads here is not a subject's file: its own account and what it was given.
NOT_A_SUBJECTS_FILE = {
    "/v1/me": "the caller's own principal",
    "/v1/principals": "keys and who holds them (admin), not a subject's file",
    "/v1/consents": "a relying party's own consents, as the subject gave them",
}


def _masked(subject: str) -> str:
    return subject[:6] + "*" * 8 + subject[14:]


def _setup(w: World) -> dict[str, str]:
    """A's file with something in every part: a listing, a disputed record, a decision under
    review, a report, a share; and a consent to the relying party for every scope."""
    listing = record_row(
        subject=A, furnisher="court-a", kind="court.judgment_unfulfilled",
        external_id="L-logged", evidence="case:(2026)log", occurred_at=day(20),
    )  # fmt: skip
    arrears = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="arr-logged", occurred_at=day(30)
    )
    ingest_rows(w.engine, "records", [(1, listing), (2, arrears)])
    own = w.auth("subject")
    records = w.client.get(f"/v1/subjects/{A}/records", headers=own).json()["items"]
    record = next(r["id"] for r in records if r["external_id"] == "arr-logged")
    dispute = w.client.post("/v1/disputes", json={"record": record, "reason": "r"}, headers=own)
    decision = w.client.get(f"/v1/subjects/{A}/decisions/flight_booking", headers=w.auth("admin"))
    w.client.post(
        f"/v1/decisions/{decision.json()['id']}/reviews", json={"reason": "r"}, headers=own
    )
    report = w.client.post(
        "/v1/reports",
        json={"target": B, "kind": "contract.breached", "occurred_at": day(3),
              "description": "d", "evidence": "e"},
        headers=own,
    )  # fmt: skip
    share = w.client.post(
        "/v1/shares", json={"program": "sesame", "relying_party": w.ids["relying_party"]},
        headers=own,
    )  # fmt: skip
    subject = authenticate(w.engine, w.keys["subject"])
    assert subject is not None
    consent = grant_consent(
        w.engine, subject, relying_party=w.ids["relying_party"], purpose="travel_booking",
        scopes=["scores", "history", "records", "relations", "lists", "decisions"],
        expires_at=utc_now() + timedelta(days=1),
    )  # fmt: skip
    return {
        "dispute": str(dispute.json()["id"]),
        "report": str(report.json()["id"]),
        "token": share.json()["token"],
        "consent": consent.token,
    }


def _concrete(path: str, made: dict[str, str]) -> str:
    """The path with each parameter filled in for subject A's data."""
    if "/subjects/" in path:
        path = path.replace("{id}", A)
    for part, key in (("/disputes/", "dispute"), ("/reports/", "report")):
        if part in path:
            path = path.replace("{id}", made[key])
    values = {"{service}": "flight_booking", "{name}": "judgment_defaulters"}
    for name, value in {**values, "{token}": made["token"], "{slug}": "not-found"}.items():
        path = path.replace(name, value)
    return path


def _logged(w: World) -> dict[tuple[str, str], int]:
    """Access-log entries by (subject, principal)."""
    query = sa.text("SELECT subject, principal, count(*) FROM access_log GROUP BY 1, 2")
    with w.engine.connect() as connection:
        return {(s, p): int(n) for s, p, n in connection.execute(query)}


def _mentioned(text: str) -> set[str]:
    return {s for s in (A, B, C) if s in text or _masked(s) in text}


@pytest.fixture(scope="module")
def made(served: World) -> dict[str, str]:
    return _setup(served)


def test_every_read_of_a_subjects_data_by_another_is_logged(
    served: World, made: dict[str, str]
) -> None:
    document = served.client.get("/openapi.json").json()
    reads = [path for path, item in document["paths"].items() if "get" in item]
    read_someones_data = set()
    for path in reads:
        for role in CALLERS:
            headers = served.auth(role, **{"X-Consent": made["consent"]}) if role else {}
            params = {"purpose": "travel_booking", "program": "sesame"}
            before = _logged(served)
            answer = served.client.get(_concrete(path, made), params=params, headers=headers)
            about = _mentioned(answer.text)
            if answer.status_code >= 300 or not about or path in NOT_A_SUBJECTS_FILE:
                continue
            reader = PUBLIC if role is None or path.startswith("/v1/public/") else served.ids[role]
            after = _logged(served)
            unlogged = [s for s in about if after.get((s, reader), 0) <= before.get((s, reader), 0)]
            assert not unlogged, f"{role or 'anyone'} read {unlogged} through GET {path} unlogged"
            read_someones_data.add(path)
    assert {
        "/v1/subjects/{id}/decisions", "/v1/subjects/{id}/records", "/v1/disputes",
        "/v1/reports", "/v1/lists/{name}", "/v1/public/lists/{name}", "/v1/records",
    } <= read_someones_data  # fmt: skip


def test_an_officials_read_of_decisions_names_the_official(
    served: World, made: dict[str, str]
) -> None:
    for role in ("adjudicator", "admin"):
        answer = served.client.get(f"/v1/subjects/{A}/decisions", headers=served.auth(role))
        assert answer.status_code == 200 and answer.json()["items"]
        log = served.client.get(f"/v1/subjects/{A}/access-log", headers=served.auth("subject"))
        newest = log.json()["items"][0]
        assert (newest["principal"], newest["role"], newest["what"]) == (
            served.ids[role], role, "decisions",
        )  # fmt: skip
        assert newest["endpoint"] == "GET /v1/subjects/{id}/decisions"
        assert newest["returned"]["decision_ids"] == [d["id"] for d in answer.json()["items"]]
