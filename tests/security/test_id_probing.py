"""Fault: `GET /v1/disputes/{n}` (and acting on disputes, records, decisions, consents and
shares by id) answered 403 "not yours" for another's object but 404 for one that does not
exist, so probing ids told a caller what exists. An object the caller may not see is now
answered exactly as one that does not exist; a role that never may is refused alike for both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from factories import record_row
from service_world import A, B, World, day, utc_now
from socialcredit.services.consents import grant_consent
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.principals import authenticate, create_principal

# Outsiders first: a role that may act on an object changes it, so it comes last.
CALLERS = ("subject_b", "court", "relying_party", "adjudicator", "admin", "furnisher", "subject")
MISSING_INT = 987_654_321
MISSING_TEXT = "x_0123456789abcdef"

Probe = tuple[str, str, Callable[[dict[str, Any]], Any], Any]
DECIDE_DISPUTE = {"outcome": "upheld", "reason": "r"}
DECIDE_REVIEW = {"outcome": "confirmed", "reason": "r"}
DECIDE_REPORT = {"outcome": "rejected", "reason": "r"}


def _record_id(w: World, external_id: str) -> int:
    with w.engine.connect() as connection:
        query = sa.text("SELECT id FROM records WHERE external_id = :e")
        return int(connection.execute(query, {"e": external_id}).scalar_one())


def _objects(w: World) -> dict[str, Any]:
    """An object of each kind belonging to subject A."""
    listing = record_row(
        subject=A, furnisher="court-a", kind="court.judgment_unfulfilled",
        external_id="probe-listing", evidence="case:(2026)probe", occurred_at=day(20),
    )  # fmt: skip
    arrears = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="probe-arrears", occurred_at=day(30)
    )
    ingest_rows(w.engine, "records", [(1, listing), (2, arrears)])
    record = _record_id(w, "probe-arrears")
    second = record_row(
        subject=A, kind="loan.arrears_cycle", external_id="probe-arrears-2", occurred_at=day(31)
    )
    ingest_rows(w.engine, "records", [(1, second)])
    own = w.auth("subject")
    dispute = w.client.post("/v1/disputes", json={"record": record, "reason": "r"}, headers=own)
    decision = w.client.get(f"/v1/subjects/{A}/decisions/flight_booking", headers=w.auth("admin"))
    review_of = w.client.get(
        f"/v1/subjects/{A}/decisions/flight_booking", headers=w.auth("admin")
    ).json()["id"]
    review = w.client.post(f"/v1/decisions/{review_of}/reviews", json={"reason": "r"}, headers=own)
    subject = authenticate(w.engine, w.keys["subject"])
    assert subject is not None
    consent = grant_consent(
        w.engine, subject, relying_party=w.ids["relying_party"], purpose="insurance",
        scopes=["scores"], expires_at=utc_now() + timedelta(days=1),
    )  # fmt: skip
    share, badge = (
        w.client.post(
            "/v1/shares", json={"program": program, "relying_party": w.ids["relying_party"]},
            headers=own,
        )
        for program in ("sesame", "rongcheng")
    )  # fmt: skip
    report = w.client.post(
        "/v1/reports",
        json={"target": B, "kind": "contract.breached", "occurred_at": day(3),
              "description": "d", "evidence": "e"},
        headers=own,
    )  # fmt: skip
    assert dispute.status_code == 201 and review.status_code == 201, (dispute.text, review.text)
    assert report.status_code == 201 and share.status_code == 201, (report.text, share.text)
    return {
        "record": _record_id(w, "probe-arrears-2"),
        "dispute": dispute.json()["id"],
        "decision": decision.json()["id"],
        "review": review.json()["id"],
        "consent": consent.consent.id,
        "share": share.json()["id"],
        "token": badge.json()["token"],  # a link that stays active
        "report": report.json()["id"],
        "principal": create_principal(w.engine, "adjudicator", "temporary").principal.id,
    }


def _probed(w: World) -> dict[str, Any]:
    """The objects of the module's world, made on first use."""
    if "probed" not in w.extra:
        w.extra["probed"] = _objects(w)
    found: dict[str, Any] = w.extra["probed"]
    return found


PROBES: list[Probe] = [
    ("GET", "/v1/disputes/{}", lambda o: o["dispute"], None),
    ("POST", "/v1/disputes/{}/verify", lambda o: o["dispute"], {"evidence": "e"}),
    ("POST", "/v1/disputes/{}/retract", lambda o: o["dispute"], {}),
    ("POST", "/v1/disputes/{}/decision", lambda o: o["dispute"], DECIDE_DISPUTE),
    ("POST", "/v1/decisions/{}/reviews", lambda o: o["decision"], {"reason": "r"}),
    ("POST", "/v1/reviews/{}/decision", lambda o: o["review"], DECIDE_REVIEW),
    ("DELETE", "/v1/consents/{}", lambda o: o["consent"], None),
    ("DELETE", "/v1/shares/{}", lambda o: o["share"], None),
    ("DELETE", "/v1/principals/{}", lambda o: o["principal"], None),
    ("GET", "/v1/reports/{}", lambda o: o["report"], None),
    ("POST", "/v1/reports/{}/decision", lambda o: o["report"], DECIDE_REPORT),
    ("GET", "/v1/badges/{}", lambda o: o["token"], None),
]  # fmt: skip


def _call(w: World, role: str, method: str, path: str, body: Any) -> Any:
    return w.client.request(method, path, headers=w.auth(role), json=body)


def _same(existing: Any, missing: Any, real: Any, fake: Any) -> None:
    assert existing.status_code == missing.status_code, (existing.text, missing.text)
    ours, theirs = existing.json(), missing.json()
    assert ours["type"] == theirs["type"]
    assert ours["detail"].replace(str(real), "ID") == theirs["detail"].replace(str(fake), "ID")


@pytest.mark.parametrize(("method", "template", "pick", "body"), PROBES, ids=[p[1] for p in PROBES])
def test_another_callers_object_looks_like_none(
    served: World, method: str, template: str, pick: Callable[..., Any], body: Any
) -> None:
    objects = _probed(served)
    real = pick(objects)
    fake = MISSING_INT if isinstance(real, int) else MISSING_TEXT
    refused = 0
    for role in CALLERS:
        existing = _call(served, role, method, template.format(real), body)
        if existing.status_code < 400 or existing.status_code == 409:
            continue  # this caller may act on it
        missing = _call(served, role, method, template.format(fake), body)
        _same(existing, missing, real, fake)
        refused += 1
    assert refused >= 2


def test_disputing_another_subjects_record_looks_like_no_record(served: World) -> None:
    record = _probed(served)["record"]
    body = {"reason": "not mine"}
    existing = _call(served, "subject_b", "POST", "/v1/disputes", {**body, "record": record})
    missing = _call(served, "subject_b", "POST", "/v1/disputes", {**body, "record": MISSING_INT})
    assert existing.status_code == 404
    _same(existing, missing, record, MISSING_INT)
