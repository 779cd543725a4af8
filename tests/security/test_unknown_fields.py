"""Fault: `POST /v1/consents` took a body with fields it does not know and ignored them, so a
misspelt field silently changed nothing. Every request body is refused (422) with a field its
schema does not name; the OpenAPI document says so (`additionalProperties: false`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service_world import A, World, utc_now

UNKNOWN = "scopes_typo"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a body schema stands for (through $ref, anyOf and oneOf)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(document, document["components"]["schemas"][name])
    found = []
    for part in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += _resolve(document, part)
    return found + ([schema] if schema.get("type") == "object" else [])


def _bodies(w: World) -> list[tuple[str, str, list[dict[str, Any]]]]:
    document: dict[str, Any] = w.client.get("/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = content["application/json"]["schema"]
                found.append((method.upper(), path, _resolve(document, schema)))
    return found


def test_every_request_body_schema_forbids_unknown_fields(served: World) -> None:
    bodies = _bodies(served)
    assert len(bodies) >= 15
    for method, path, schemas in bodies:
        assert schemas, (method, path)
        for schema in schemas:
            assert schema.get("additionalProperties") is False, (method, path, schema.get("title"))


def test_every_request_body_refuses_an_unknown_field(served: World) -> None:
    for method, path, _ in _bodies(served):
        if path == "/v1/records":
            continue  # records are read line by line; below
        concrete = path.replace("{id}", A if "/subjects/" in path else "1")
        concrete = concrete.replace("{code}", "sce_x")
        answer = served.client.request(
            method, concrete, headers=served.auth("admin"), json={UNKNOWN: True}
        )
        assert answer.status_code == 422, (method, path, answer.text)
        assert UNKNOWN in answer.text, (method, path, answer.text)


def test_a_consent_with_an_unknown_field_is_refused_and_not_granted(served: World) -> None:
    body = {
        "relying_party": served.ids["relying_party"],
        "purpose": "tenancy",
        "scope": ["scores"],
        "expires_at": (utc_now() + timedelta(days=1)).isoformat() + "Z",
    }
    before = served.client.get("/v1/consents", headers=served.auth("subject")).json()["items"]
    refused = served.client.post(
        "/v1/consents", headers=served.auth("subject"), json={**body, UNKNOWN: ["history"]}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["where"] == f"body.{UNKNOWN}"
    after = served.client.get("/v1/consents", headers=served.auth("subject")).json()["items"]
    assert after == before
    granted = served.client.post("/v1/consents", headers=served.auth("subject"), json=body)
    assert granted.status_code == 201, granted.text


def test_a_record_with_an_unknown_field_is_rejected_on_its_line(served: World) -> None:
    row = {
        "subject": A,
        "kind": "loan.repaid_on_time",
        "occurred_at": "2026-01-15",
        "external_id": "unknown-field-1",
        UNKNOWN: 1,
    }
    answer = served.post_records("furnisher", [row])
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["accepted"], result["rejected"]) == (0, 1)
    assert UNKNOWN in result["rejects"][0]["reason"]
