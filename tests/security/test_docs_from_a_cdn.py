"""Fault: `/docs` served Swagger UI, whose page loads its script and styles from a CDN, with no
Content-Security-Policy. The server now serves no documentation page (the OpenAPI document
stays at /openapi.json), and every answer carries a policy under which nothing loads from
another origin."""

from __future__ import annotations

import re

from service_world import World

OUTSIDE = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


def _csp(answer_headers: dict[str, str]) -> dict[str, str]:
    policy = answer_headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_no_documentation_page_loads_anything_from_outside(served: World) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = served.client.get(path)
        assert answer.status_code == 404, path
        assert not OUTSIDE.search(answer.text.replace("http://www.w3.org/2000/svg", "")), path
    document = served.client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["paths"]


def test_every_answer_carries_a_policy_that_loads_nothing_from_elsewhere(served: World) -> None:
    answers = [
        served.client.get("/docs"),
        served.client.get("/openapi.json"),
        served.client.get("/healthz"),
        served.client.get("/v1/me", headers=served.auth("admin")),
        served.client.get("/v1/me"),
        served.client.get("/"),
        served.client.get("/web/portal.css"),
    ]
    for answer in answers:
        policy = _csp(dict(answer.headers))
        assert policy.get("default-src") in ("default-src 'none'", "default-src 'self'"), policy
        assert policy.get("frame-ancestors") == "frame-ancestors 'none'", policy
        assert "*" not in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
