"""Who may call what: every role x every endpoint x own / another subject, with the exact status,
on both store backends; and every /v1 endpoint refuses a call without a valid key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import factories
from service_world import ROLES, A, B, C, World, loans, utc_now, world
from socialcredit.services.consents import grant_consent
from socialcredit.services.principals import authenticate, create_principal

Call = Callable[[World, dict[str, str], str], Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def matrix_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    factories.use_backend(request.param, server)
    try:
        engine = factories.new_store(tmp_path_factory.mktemp("matrix"))
    finally:
        factories.use_backend("sqlite", None)
    with world(engine) as built:
        yield built
    engine.dispose()


def _subject_read(part: str) -> Call:
    def call(w: World, headers: dict[str, str], target: str) -> Any:
        subject = A if target == "own" else B
        params = {} if part == "access-log" else {"purpose": "travel_booking"}
        headers = {**headers, "X-Consent": w.consent_token}
        return w.client.get(f"/v1/subjects/{subject}/{part}", params=params, headers=headers)

    return call


def _post_records(w: World, headers: dict[str, str], target: str) -> Any:
    row = loans(A, "a")[0]  # already stored: a duplicate, so no rescoring
    return w.client.post("/v1/records", headers=headers, json=row)


def _get_records(w: World, headers: dict[str, str], target: str) -> Any:
    furnisher = "me" if target == "own" else "court-a"
    return w.client.get("/v1/records", params={"furnisher": furnisher}, headers=headers)


def _post_consent(w: World, headers: dict[str, str], target: str) -> Any:
    body = {
        "relying_party": w.ids["relying_party"],
        "purpose": "tenancy",
        "scope": ["scores"],
        "expires_at": (utc_now() + timedelta(days=1)).isoformat() + "Z",
    }
    return w.client.post("/v1/consents", headers=headers, json=body)


def _get_consents(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/consents", headers=headers)


def _delete_consent(w: World, headers: dict[str, str], target: str) -> Any:
    owner = "subject" if target == "own" else "subject_b"
    principal = authenticate(w.engine, w.keys[owner])
    assert principal is not None
    granted = grant_consent(
        w.engine,
        principal,
        relying_party=w.ids["relying_party"],
        purpose="insurance",
        scopes=["scores"],
        expires_at=utc_now() + timedelta(days=1),
    )
    return w.client.delete(f"/v1/consents/{granted.consent.id}", headers=headers)


def _me(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/me", headers=headers)


def _post_principal(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.post(
        "/v1/principals", headers=headers, json={"role": "adjudicator", "name": "J2"}
    )


def _get_principals(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/principals", headers=headers)


def _delete_principal(w: World, headers: dict[str, str], target: str) -> Any:
    victim = create_principal(w.engine, "adjudicator", "temporary").principal.id
    return w.client.delete(f"/v1/principals/{victim}", headers=headers)


def _post_enrolment(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.post("/v1/enrolments", headers=headers, json={"subject": C, "name": "C"})


def _post_key(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.post("/v1/me/keys", headers=headers, json={})


def _decision(w: World, headers: dict[str, str], target: str) -> Any:
    subject = A if target == "own" else B
    params = {"purpose": "travel_booking"}
    headers = {**headers, "X-Consent": w.consent_token}  # a consent without scope decisions
    return w.client.get(
        f"/v1/subjects/{subject}/decisions/flight_booking", params=params, headers=headers
    )


def _post_decisions(w: World, headers: dict[str, str], target: str) -> Any:
    subject = A if target == "own" else B
    item = {"subject": subject, "service": "flight_booking", "consent": w.consent_token}
    body = {"purpose": "travel_booking", "items": [item]}
    return w.client.post("/v1/decisions", headers=headers, json=body)


def _decision_log(w: World, headers: dict[str, str], target: str) -> Any:
    subject = A if target == "own" else B
    return w.client.get(f"/v1/subjects/{subject}/decisions", headers=headers)


def _whole_list(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/lists/judgment_defaulters", headers=headers)


def _phoenix(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/flags/phoenix", headers=headers)


def _post_repair(w: World, headers: dict[str, str], target: str) -> Any:
    body = {"list": "judgment_defaulters", "commitment": "I will perform the judgment"}
    return w.client.post("/v1/repairs", headers=headers, json=body)


def _get_repairs(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/repairs", headers=headers)


OPERATORS = {"adjudicator": 200, "admin": 200}

# endpoint: (call, {target: {role: status}}); a role not named gets 403.
MATRIX: dict[str, tuple[Call, dict[str, dict[str, int]]]] = {
    "GET /v1/me": (_me, {"own": dict.fromkeys(ROLES, 200)}),
    "POST /v1/records": (_post_records, {"own": {"furnisher": 200}}),
    "GET /v1/records": (_get_records, {"own": {"furnisher": 200}, "other": {}}),
    "POST /v1/consents": (_post_consent, {"own": {"subject": 201}}),
    "GET /v1/consents": (_get_consents, {"own": {"subject": 200, "relying_party": 200}}),
    # Another subject's consent is answered as one that does not exist.
    "DELETE /v1/consents/{id}": (
        _delete_consent,
        {"own": {"subject": 200}, "other": {"subject": 404}},
    ),
    "POST /v1/principals": (_post_principal, {"own": {"admin": 201}}),
    "GET /v1/principals": (_get_principals, {"own": {"admin": 200}}),
    "DELETE /v1/principals/{id}": (_delete_principal, {"own": {"admin": 200}}),
    "POST /v1/enrolments": (_post_enrolment, {"own": {"admin": 201}}),
    "POST /v1/me/keys": (_post_key, {"own": {"subject": 201}}),
    **{
        f"GET /v1/subjects/{{id}}/{part}": (
            _subject_read(part),
            {"own": {"subject": 200, "relying_party": 200}, "other": {}},
        )
        for part in ("scores", "history", "records", "relations")
    },
    "GET /v1/subjects/{id}/access-log": (
        _subject_read("access-log"),
        {"own": {"subject": 200}, "other": {}},
    ),
    "GET /v1/subjects/{id}/lists": (_subject_read("lists"), {"own": {"subject": 200}, "other": {}}),
    "GET /v1/subjects/{id}/decisions/{service}": (
        _decision,
        {"own": {"subject": 200, "admin": 200}, "other": {"admin": 200}},
    ),
    "POST /v1/decisions": (
        _post_decisions,
        {"own": {"subject": 200, "admin": 200}, "other": {"admin": 200}},
    ),
    "GET /v1/subjects/{id}/decisions": (
        _decision_log,
        {"own": {"subject": 200, **OPERATORS}, "other": OPERATORS},
    ),
    "GET /v1/lists/{name}": (_whole_list, {"own": OPERATORS}),
    "GET /v1/flags/phoenix": (_phoenix, {"own": OPERATORS}),
    "POST /v1/repairs": (_post_repair, {"own": {"subject": 201}}),
    "GET /v1/repairs": (_get_repairs, {"own": {"subject": 200}}),
}

CASES = [
    pytest.param(endpoint, target, role, expected.get(role, 403), id=f"{endpoint}-{target}-{role}")
    for endpoint, (_call, targets) in MATRIX.items()
    for target, expected in targets.items()
    for role in ROLES
]


@pytest.mark.parametrize(("endpoint", "target", "role", "status"), CASES)
def test_role_endpoint_status(
    matrix_world: World, endpoint: str, target: str, role: str, status: int
) -> None:
    call, _ = MATRIX[endpoint]
    response = call(matrix_world, matrix_world.auth(role), target)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == status
        kinds = ("/problems/not-found",) if status == 404 else ("/problems/forbidden",)
        assert body["type"] in (*kinds, "/problems/consent-required")
        assert body["title"] and body["detail"]


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("key", ["none", "unknown", "malformed"])
def test_every_endpoint_needs_a_valid_key(matrix_world: World, endpoint: str, key: str) -> None:
    headers = {
        "none": {},
        "unknown": {"Authorization": "Bearer sck_not-a-key-anyone-holds"},
        "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[key]
    call, _ = MATRIX[endpoint]
    response = call(matrix_world, headers, "own")
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "/problems/unauthorized"


def _operations(w: World) -> set[str]:
    document = w.client.get("/openapi.json").json()
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        if path.startswith("/v1/") and not path.startswith("/v1/public/")
        for method in item
    }


# Operations whose roles the feature's own test module walks (each also refuses no key below).
ELSEWHERE = {
    "test_disputes": {
        "POST /v1/disputes", "GET /v1/disputes", "GET /v1/disputes/{id}",
        "POST /v1/disputes/{id}/verify", "POST /v1/disputes/{id}/retract",
        "POST /v1/disputes/{id}/decision", "POST /v1/decisions/{id}/reviews",
        "POST /v1/reviews/{id}/decision", "GET /v1/reviews", "GET /v1/subjects/{id}/notices",
    },
    "test_reports": {
        "POST /v1/reports", "GET /v1/reports", "GET /v1/reports/{id}",
        "POST /v1/reports/{id}/decision",
    },
    "test_sharing": {
        "POST /v1/shares", "GET /v1/shares", "DELETE /v1/shares/{id}", "GET /v1/badges/{token}",
        "GET /v1/subjects/{id}/settings", "PUT /v1/subjects/{id}/settings",
        "POST /v1/games/higher-or-lower",
    },
    "test_tips": {"GET /v1/subjects/{id}/tips"},
    "test_maintenance": {"GET /v1/purges", "GET /v1/subjects/{id}/purges"},
    "test_portal_stats": {
        "GET /v1/stats/scores", "GET /v1/stats/lists", "GET /v1/stats/furnishers",
    },
}  # fmt: skip


# Operations that need no key, each with the module that walks its roles: a subject redeems its
# enrolment code before it holds a key.
KEYLESS = {"POST /v1/enrolments/{code}": "security/test_admin_impersonation"}


def test_every_v1_operation_has_its_roles_tested(matrix_world: World) -> None:
    elsewhere = set().union(*ELSEWHERE.values())
    assert all(Path(__file__).with_name(f"{module}.py").exists() for module in ELSEWHERE)
    assert all(Path(__file__).parent.joinpath(f"{m}.py").exists() for m in KEYLESS.values())
    assert not elsewhere & set(MATRIX)
    assert _operations(matrix_world) == set(MATRIX) | elsewhere | set(KEYLESS)


def test_every_v1_operation_refuses_a_call_without_a_key(matrix_world: World) -> None:
    """Whatever its parameters and body, no operation answers before it knows the caller."""
    for operation in sorted(_operations(matrix_world) - set(KEYLESS)):
        method, path = operation.split(" ", 1)
        concrete = path.replace("{id}", A if "/subjects/" in path else "1")
        concrete = concrete.replace("{service}", "flight_booking").replace("{token}", "x")
        concrete = concrete.replace("{name}", "judgment_defaulters")
        answer = matrix_world.client.request(method, concrete, json={})
        assert answer.status_code == 401, operation
        assert answer.headers["www-authenticate"].startswith("Bearer"), operation


def test_public_lists_need_no_key(matrix_world: World) -> None:
    assert matrix_world.client.get("/v1/public/lists").status_code == 200
    found = matrix_world.client.get("/v1/public/lists/judgment_defaulters", params={"q": A})
    assert found.status_code == 200 and found.json()["items"] == []
