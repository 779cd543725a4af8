"""Property-based tests against the live OpenAPI document: whatever schemathesis sends, the API
never answers 5xx, and every answer matches the document (status, media type, body, headers)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from factories import new_store
from service_world import A, World, world
from socialcredit.api import ApiSettings, create_app

# NDJSON bodies are generated as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    engine = new_store(tmp_path_factory.mktemp("schema"))
    with world(engine) as built:
        yield built
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(live: World) -> Any:
    # A second app over the same store, with generous but real rate limits (bad keys and
    # unknown enrolment codes all come from one address here).
    limits = ApiSettings(rate=1000, burst=1000, failed_auth_rate=1000, failed_auth_burst=1000)
    app = create_app(live.engine, limits)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the API document, read from an app over no store at all: building
    the document touches no database, so the operations are known when the tests are collected."""
    document = create_app(sa.create_engine("sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


OPERATIONS = _operations()

# Which key calls an operation: the role that may (so the happy paths run), and in turn
# no key and a key of a role that may not.
_turn = itertools.count()


def _role_for(path: str, method: str) -> str:
    if path.startswith("/v1/records"):
        return "furnisher"
    if path.startswith("/v1/principals") or path == "/v1/enrolments":
        return "admin"
    if path == "/v1/consents" and method == "GET":
        return "relying_party"
    return "subject"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_matches_its_openapi_document(
    method: str, path: str, api_schema: Any, live: World
) -> None:
    # Schemathesis drives the generation; pytest only lists the operations, so no private hook of
    # pytest's (which schemathesis's fixture bridge relies on) stands between the two.
    operation = api_schema[path][method]
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

    @given(case=cases)
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def conforms(case: Any) -> None:
        _call(case, live)

    conforms()


def _call(case: Any, live: World) -> None:
    """Send one generated case with the key of the role its turn picks, and check the answer."""
    turn = next(_turn) % 6
    headers: dict[str, str] = {}
    if case.path.startswith("/v1/"):
        role = _role_for(case.path, case.method.upper())
        if turn == 4:
            role = "adjudicator"
        if turn != 5:
            headers["Authorization"] = f"Bearer {live.keys[role]}"
        if "{id}" in case.path and case.path.startswith("/v1/subjects/") and turn % 2 == 0:
            case.path_parameters = {**(case.path_parameters or {}), "id": A}
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_the_document_is_served_and_names_every_operation(live: World) -> None:
    document = live.client.get("/openapi.json").json()
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/public/"):
                assert "401" not in operation["responses"] and "429" in operation["responses"]
            elif path.startswith("/v1/"):
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
