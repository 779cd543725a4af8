"""The HTTP API in-process: bulk ingest, read-your-writes, consent and the access log, problem
documents, pagination, rate limits and operations endpoints."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import factories
from factories import bad_check, count, enrol_subject, new_store, record_row, resident_id
from service_world import A, B, C, World, day, loans, ndjson, utc_now, world
from socialcredit.api import ApiSettings, create_app
from socialcredit.api.logs import JsonFormatter
from socialcredit.api.ratelimit import TokenBucket, retry_after
from socialcredit.policy.loader import shipped_program_names
from socialcredit.services.subjects import subject_view
from socialcredit.store import tables
from socialcredit.store.database import connect


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A scored world on each store backend, shared by the module's tests (each test adds
    records of its own and compares with what it saw before)."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    factories.use_backend(request.param, server)
    try:
        engine = new_store(tmp_path_factory.mktemp("api"))
    finally:
        factories.use_backend("sqlite", None)
    with world(engine) as built:
        yield built
    engine.dispose()


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A scored world on SQLite, for what does not depend on the backend."""
    engine = new_store(tmp_path_factory.mktemp("api-lite"))
    with world(engine) as built:
        yield built
    engine.dispose()


def by_program(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["program"]: entry for entry in body["scores"]}


def rp_read(w: World, subject: str, part: str = "scores", **params: str) -> Any:
    params = {"purpose": "travel_booking", **params}
    headers = w.auth("relying_party", **{"X-Consent": w.consent_token})
    return w.client.get(f"/v1/subjects/{subject}/{part}", params=params, headers=headers)


# ------------------------------------------------------------------------------ furnishers


def test_bulk_ingest_rejects_exactly_the_bad_rows(w: World) -> None:
    subjects = [resident_id(1000 + n) for n in range(500)]
    rows: list[dict[str, Any] | str] = []
    bad_lines: dict[int, str] = {}
    for n in range(10_000):
        row: dict[str, Any] | str = record_row(
            subject=subjects[n % len(subjects)],
            external_id=f"bulk-{n}",
            occurred_at=day(1 + n % 300),
        )
        if n % 100 == 7:  # 1% bad rows, of five kinds
            assert isinstance(row, dict)
            row = [
                {**row, "subject": bad_check(row["subject"])},
                {**row, "kind": "no.such.kind"},
                {**row, "occurred_at": (utc_now() + timedelta(days=3)).isoformat()},
                {**row, "kind": "court.judgment_unfulfilled"},  # a lender may not send it
                '{"subject": "truncated',
            ][(n // 100) % 5]
            bad_lines[n + 1] = "x"
        rows.append(row)
    before = count(w.engine, "records")
    response = w.post_records("furnisher", rows)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == 100 and len(bad_lines) == 100
    assert body["accepted"] == 9_900 and body["duplicates"] == 0 and body["rows"] == 10_000
    assert [r["line"] for r in body["rejects"]] == sorted(bad_lines)
    assert all(r["reason"] for r in body["rejects"])
    assert count(w.engine, "records") == before + 9_900
    with w.engine.connect() as connection:
        stored = set(
            connection.execute(
                sa.text("select external_id from records where external_id like 'bulk-%'")
            ).scalars()
        )
    assert stored == {f"bulk-{n}" for n in range(10_000) if n + 1 not in bad_lines}
    good_subjects = {subjects[n % len(subjects)] for n in range(10_000) if n + 1 not in bad_lines}
    assert body["rescored"]["subjects"] == len(good_subjects) == 495
    again = w.post_records("furnisher", rows).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 9_900, 100)
    assert again["rescored"]["subjects"] == 0
    assert count(w.engine, "records") == before + 9_900


def test_read_your_writes(w: World) -> None:
    before = by_program(w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json())
    judgment = record_row(
        subject=A,
        furnisher=None,
        kind="court.judgment_unfulfilled",
        external_id="j-1",
        occurred_at=day(2),
    )
    posted = w.client.post("/v1/records", headers=w.auth("court"), json=judgment)
    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == 1
    assert posted.json()["rescored"] == {"subjects": 1, "programs": shipped_program_names()}
    after = by_program(w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json())
    assert after["rongcheng"]["score"] == before["rongcheng"]["score"] - 50
    assert "judgment_unfulfilled" in {c["rule"] for c in after["rongcheng"]["contributions"]}


def test_a_changed_resend_is_a_conflict_and_a_double_correction_counts_once(w: World) -> None:
    def rongcheng() -> int:
        body = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
        score: int = by_program(body)["rongcheng"]["score"]
        return score

    before = rongcheng()
    arrears = record_row(
        subject=A,
        furnisher=None,
        kind="loan.arrears_cycle",
        external_id="arr-x",
        occurred_at=day(20),
        attributes={"cycle": 1},
    )
    assert w.post_records("furnisher", [arrears]).json()["accepted"] == 1
    changed = {**arrears, "attributes": {"cycle": 2}}
    body = w.post_records("furnisher", [arrears, changed]).json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 1, 1)
    with w.engine.connect() as connection:
        r = tables.records
        received = connection.execute(
            sa.select(r.c.received_at).where(r.c.external_id == "arr-x")
        ).scalar_one()
    assert body["rejects"] == [
        {
            "line": 2,
            "reason": f"conflict: differs from the record received {received.isoformat()}Z; "
            "send a correction with replaces",
        }
    ]
    for external_id in ("arr-x-a", "arr-x-b"):  # two corrections of one record
        row = {**arrears, "external_id": external_id, "replaces": "arr-x"}
        assert w.post_records("furnisher", [row]).json()["accepted"] == 1
    assert rongcheng() == before - 10  # one arrears cycle, not two or three


def test_scores_are_what_show_json_prints(lite: World) -> None:
    body = lite.client.get(f"/v1/subjects/{A}/scores", headers=lite.auth("subject")).json()
    assert body == subject_view(lite.engine, A)
    assert {s["status"] for s in body["scores"]} == {"scored"}


def test_furnisher_field_is_filled_in_or_must_match(lite: World) -> None:
    rows = [
        record_row(subject=A, furnisher=None, external_id="own-1", occurred_at=day(3)),
        record_row(subject=A, furnisher="court-a", external_id="other-1", occurred_at=day(3)),
        {
            k: v
            for k, v in record_row(subject=A, external_id="own-2", occurred_at=day(3)).items()
            if k != "furnisher"
        },
    ]
    body = lite.post_records("furnisher", rows).json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["rejects"][0]["line"] == 2
    assert "this key sends for 'bank-a'" in body["rejects"][0]["reason"]
    mine = lite.client.get("/v1/records", params={"limit": 1000}, headers=lite.auth("furnisher"))
    ids = {(r["furnisher"], r["external_id"]) for r in mine.json()["items"]}
    assert {("bank-a", "own-1"), ("bank-a", "own-2")} <= ids
    assert all(r["furnisher"] == "bank-a" for r in mine.json()["items"])


def test_a_key_may_send_only_its_kinds(lite: World) -> None:
    from socialcredit.services.principals import create_principal

    narrow = create_principal(lite.engine, "furnisher", "bank-a", kinds=["loan.arrears_cycle"])
    rows = [
        record_row(subject=A, kind="loan.arrears_cycle", external_id="k-1", occurred_at=day(3)),
        record_row(subject=A, kind="loan.repaid_on_time", external_id="k-2", occurred_at=day(3)),
    ]
    response = lite.client.post(
        "/v1/records",
        headers={"Authorization": f"Bearer {narrow.key}", "Content-Type": "application/x-ndjson"},
        content=ndjson(rows),
    )
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["rejects"] == [
        {
            "line": 2,
            "reason": "this key may not send kind 'loan.repaid_on_time'; it may send: "
            "loan.arrears_cycle",
        }
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "kind"),
    [
        pytest.param("application/json", b'{"subject": ', 400, "unreadable-body", id="bad-json"),
        pytest.param("application/json", b"[1, 2]", 400, "unreadable-body", id="json-array"),
        pytest.param("application/x-ndjson", b"", 400, "unreadable-body", id="empty"),
        pytest.param(
            "application/x-ndjson", b"nope\n[1]\n", 400, "unreadable-body", id="no-object"
        ),
        pytest.param(
            "application/x-ndjson", b"\xff\xfe{}\n", 400, "unreadable-body", id="not-utf8"
        ),
        pytest.param("text/csv", b"subject,kind\n", 415, "unsupported-media-type", id="csv"),
        pytest.param(
            "application/x-ndjson", b"{}\n" * 100_001, 413, "too-many-records", id="100001-records"
        ),
    ],
)
def test_a_body_that_cannot_be_read_changes_nothing(
    lite: World, content_type: str, body: bytes, status: int, kind: str
) -> None:
    if status == 413:  # a valid record first, to show nothing of the request is kept
        good = json.dumps(record_row(subject=A, external_id="never", occurred_at=day(1)))
        body = good.encode() + b"\n" + body
    before = count(lite.engine, "records")
    response = lite.client.post(
        "/v1/records",
        headers=lite.auth("furnisher", **{"Content-Type": content_type}),
        content=body,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{kind}"
    assert count(lite.engine, "records") == before


def test_a_body_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with world(engine, ApiSettings(rate=0, max_body=1_000), scored=False) as small:
        row = json.dumps(record_row(subject=A, external_id="big", attributes={"x": "y" * 2_000}))
        response = small.client.post(
            "/v1/records",
            headers=small.auth("furnisher", **{"Content-Type": "application/json"}),
            content=row,
        )
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/too-many-records"


# ------------------------------------------------------------------------------ consent


def test_a_relying_partys_read_is_in_the_subjects_access_log(w: World) -> None:
    read = rp_read(w, A)
    assert read.status_code == 200, read.text
    served = {s["program"]: s["score"] for s in read.json()["scores"]}
    log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
    entry = next(e for e in log["items"] if e["role"] == "relying_party")
    assert entry["principal"] == w.ids["relying_party"]
    assert entry["principal_name"] == "Air Example"
    assert entry["purpose"] == "travel_booking"
    assert entry["what"] == "scores"
    assert entry["endpoint"] == "GET /v1/subjects/{id}/scores"
    assert entry["consent"] == w.consent_id
    assert {p["program"]: p["score"] for p in entry["returned"]["programs"]} == served
    # The subject's own read of the log is logged too, and shows up next time.
    again = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
    assert again["items"][0]["what"] == "access-log" and again["items"][0]["role"] == "subject"


def test_every_read_is_logged_and_the_log_cannot_be_rewritten(lite: World) -> None:
    with lite.engine.connect() as connection:
        start = connection.execute(sa.text("select coalesce(max(id), 0) from access_log")).scalar()
    for part in ("scores", "history", "records", "relations"):
        assert rp_read(lite, A, part).status_code == 200
    assert (
        lite.client.get(f"/v1/subjects/{B}/scores", headers=lite.auth("subject")).status_code == 403
    )
    with lite.engine.connect() as connection:
        logged = connection.execute(
            sa.text("select subject, what from access_log where id > :start order by id"),
            {"start": start},
        ).all()
    # A's relations name B: B sees that a relying party read a relation naming it.
    assert logged == [
        (A, "scores"), (A, "history"), (A, "records"), (A, "relations"), (B, "relation"),
    ]  # fmt: skip
    for statement in ("update access_log set purpose = 'x'", "delete from access_log"):
        with pytest.raises(sa.exc.DBAPIError), lite.engine.begin() as connection:
            connection.execute(sa.text(statement))


def _grant(w: World, **overrides: Any) -> dict[str, Any]:
    body = {
        "relying_party": w.ids["relying_party"],
        "purpose": "credit_application",
        "scope": ["scores"],
        "expires_at": (utc_now() + timedelta(hours=1)).isoformat() + "Z",
        **overrides,
    }
    response = w.client.post("/v1/consents", headers=w.auth("subject"), json=body)
    assert response.status_code == 201, response.text
    granted: dict[str, Any] = response.json()
    return granted


def test_consent_refusals_say_why(lite: World) -> None:
    def read(
        token: str | None,
        purpose: str | None = "credit_application",
        part: str = "scores",
        subject: str = A,
    ) -> Any:
        headers = lite.auth("relying_party", **({"X-Consent": token} if token else {}))
        params = {"purpose": purpose} if purpose else {}
        return lite.client.get(f"/v1/subjects/{subject}/{part}", params=params, headers=headers)

    good = _grant(lite)
    assert read(good["token"]).status_code == 200
    assert good["token"].startswith("scc_") and good["status"] == "active"

    revoked = _grant(lite)
    gone = lite.client.delete(f"/v1/consents/{revoked['id']}", headers=lite.auth("subject"))
    assert gone.status_code == 200 and gone.json()["status"] == "revoked"

    other_party = lite.client.post(
        "/v1/principals",
        headers=lite.auth("admin"),
        json={"role": "relying_party", "name": "Other"},
    ).json()
    theirs = _grant(lite, relying_party=other_party["id"])

    short = _grant(lite, expires_at=(utc_now() + timedelta(seconds=1)).isoformat() + "Z")
    from socialcredit.store import tables

    with lite.engine.begin() as connection:  # let it lapse without waiting
        connection.execute(
            tables.consents.update()
            .where(tables.consents.c.id == short["id"])
            .values(expires_at=utc_now() - timedelta(minutes=1))
        )

    cases = [
        (read(None), "no valid consent token"),
        (read("scc_forged"), "no valid consent token"),
        (read(good["token"], purpose=None), "declare a purpose"),
        (
            read(good["token"], purpose="matchmaking"),
            "for the purpose credit_application, not matchmaking",
        ),
        (read(good["token"], part="records"), "does not cover records"),
        (read(good["token"], subject=C), "for another subject"),
        (read(revoked["token"]), "was revoked at"),
        (read(theirs["token"]), "granted to another relying party"),
        (read(short["token"]), "expired at"),
    ]
    for response, reason in cases:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "/problems/consent-required"
        assert problem["title"] == "Consent required" and problem["status"] == 403
        assert reason in problem["detail"]


def test_consent_grants_are_checked(lite: World) -> None:
    def grant(**overrides: Any) -> Any:
        body = {
            "relying_party": lite.ids["relying_party"],
            "purpose": "tenancy",
            "scope": ["scores"],
            "expires_at": (utc_now() + timedelta(days=1)).isoformat(),
            **overrides,
        }
        return lite.client.post("/v1/consents", headers=lite.auth("subject"), json=body)

    assert grant().status_code == 201
    assert grant(relying_party=lite.ids["admin"]).status_code == 422
    assert grant(purpose="gossip").status_code == 422
    assert grant(scope=[]).status_code == 422
    assert grant(scope=["access-log"]).status_code == 422
    past = grant(expires_at=(utc_now() - timedelta(days=1)).isoformat())
    assert past.status_code == 422 and "future" in past.json()["detail"]
    listed = lite.client.get("/v1/consents", headers=lite.auth("relying_party")).json()
    assert all("token" not in c for c in listed["items"])
    assert {c["subject"] for c in listed["items"]} == {A}


# ------------------------------------------------------------------------------ problems


def test_unauthorized_problem(lite: World) -> None:
    response = lite.client.get(f"/v1/subjects/{A}/scores")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="socialcredit"'
    assert response.json() == {
        "type": "/problems/unauthorized",
        "title": "Authentication required",
        "status": 401,
        "detail": "no key: send `Authorization: Bearer KEY`",
    }
    described = lite.client.get("/problems/unauthorized").json()
    assert described["title"] == "Authentication required" and described["description"]


def test_forbidden_problem(lite: World) -> None:
    response = lite.client.get(f"/v1/subjects/{B}/scores", headers=lite.auth("subject"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/forbidden",
        "title": "Not allowed",
        "status": 403,
        "detail": "a subject may read only its own file",
    }


def test_rate_limit_problem(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with world(engine, ApiSettings(rate=0.5, burst=3), scored=False) as limited:
        statuses = [
            limited.client.get("/v1/me", headers=limited.auth("subject")).status_code
            for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        response = limited.client.get("/v1/me", headers=limited.auth("subject"))
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] in ("1", "2")
        problem = response.json()
        assert (problem["type"], problem["status"]) == ("/problems/rate-limited", 429)
        assert (
            problem["title"] == "Too many requests" and "0.5 requests a second" in problem["detail"]
        )
        # Buckets are per principal: another key is not held back.
        assert limited.client.get("/v1/me", headers=limited.auth("admin")).status_code == 200


def test_validation_and_not_found_problems(lite: World) -> None:
    bad = lite.client.get(
        f"/v1/subjects/{A}/records", params={"limit": 0}, headers=lite.auth("subject")
    )
    assert bad.status_code == 422
    assert bad.json()["type"] == "/problems/invalid-request"
    assert bad.json()["errors"][0]["where"] == "query.limit"
    nobody = resident_id(9999)
    ghost = enrol_subject(lite.engine, nobody, "Ghost")
    missing = lite.client.get(
        f"/v1/subjects/{nobody}/scores", headers={"Authorization": f"Bearer {ghost.key}"}
    )
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"
    route = lite.client.get("/v2/nothing")
    assert route.status_code == 404
    assert route.headers["content-type"] == "application/problem+json"
    assert route.json()["type"] == "about:blank" and route.json()["title"] == "Not Found"


def test_a_revoked_key_stops_working(lite: World) -> None:
    assert lite.client.get("/v1/me", headers=lite.auth("adjudicator")).status_code == 200
    revoked = lite.client.delete(
        f"/v1/principals/{lite.ids['adjudicator']}", headers=lite.auth("admin")
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert lite.client.get("/v1/me", headers=lite.auth("adjudicator")).status_code == 401


# ------------------------------------------------------------------------------ pagination


def test_cursor_pagination_walks_every_item_once(w: World) -> None:
    rows = [record_row(subject=B, external_id=f"p-{n}", occurred_at=day(5)) for n in range(23)]
    assert w.post_records("furnisher", rows).json()["accepted"] == 23
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = w.client.get(
            f"/v1/subjects/{B}/records", params=params, headers=w.auth("subject_b")
        ).json()
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 6 and len(seen) == 26 and seen == sorted(set(seen))
    history = w.client.get(
        f"/v1/subjects/{B}/history", params={"limit": 1}, headers=w.auth("subject_b")
    ).json()
    assert len(history["items"]) == 1 and history["next_cursor"]
    wrong = w.client.get(
        f"/v1/subjects/{B}/records",
        params={"cursor": history["next_cursor"]},
        headers=w.auth("subject_b"),
    )
    assert wrong.status_code == 400 and wrong.json()["type"] == "/problems/invalid-cursor"
    garbage = w.client.get(
        f"/v1/subjects/{B}/records", params={"cursor": "%%%"}, headers=w.auth("subject_b")
    )
    assert garbage.status_code == 400


# ------------------------------------------------------------------------------ operations


def test_health_readiness_metrics_and_openapi(lite: World, tmp_path: Path) -> None:
    with TestClient(create_app(lite.engine)) as client:  # its own metrics, from zero
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "detail": None}
        client.post(
            "/v1/records",
            headers=lite.auth("furnisher", **{"Content-Type": "application/x-ndjson"}),
            content=ndjson(loans(A, "metrics")),
        )
        client.get(f"/v1/subjects/{A}/scores", headers=lite.auth("subject"))
        text = client.get("/metrics").text
    route = 'route="/v1/subjects/{id}/scores"'
    assert f'socialcredit_http_requests_total{{method="GET",{route},status="200"}} 1.0' in text
    assert 'socialcredit_records_ingested_total{outcome="accepted"} 3.0' in text
    assert "socialcredit_rescoring_duration_seconds_count 1.0" in text
    assert "socialcredit_http_request_duration_seconds_bucket" in text
    document = lite.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v1/subjects/{id}/scores" in document["paths"]

    empty = connect(f"sqlite:///{tmp_path}/never-initialised.db")
    with TestClient(create_app(empty)) as client:
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert "socialcredit init" in not_ready.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_logs_are_json_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("socialcredit.test-json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request", extra={"status": 403, "principal": "p_1"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "request" and first["level"] == "warning"
    assert first["status"] == 403 and first["principal"] == "p_1" and first["time"]
    assert "RuntimeError: boom" in second["error"]


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.take("k") for _ in range(2)] == [0.0, 0.0]
    assert bucket.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take("k") == 0.0
    assert bucket.take("other") == 0.0
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"
    assert TokenBucket(rate=0, burst=1).take("k") == 0.0
