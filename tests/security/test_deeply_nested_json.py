"""Fault: JSON nested thousands of levels deep (`[` x 100,000 as a body, or a record's
attributes nested 5,000 deep) overflowed the parser's recursion and answered 500. Every JSON
body is now refused past 32 levels with a problem document (or, on an NDJSON line, a reject),
and nothing of it is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

import factories
from service_world import A, World

DEPTHS = (33, 1_000, 5_000, 100_000)
NESTING = "nested deeper than 32 levels"


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def record(external_id: str, attributes: str) -> str:
    """A record whose attributes are the JSON text given (spliced in, not re-encoded)."""
    head = {
        "subject": A,
        "kind": "loan.repaid_on_time",
        "occurred_at": "2026-01-15",
        "external_id": external_id,
    }
    return json.dumps(head)[:-1] + f', "attributes": {attributes}}}'


def post_records(w: World, body: str, media_type: str) -> Any:
    headers = w.auth("furnisher", **{"Content-Type": media_type})
    return w.client.post("/v1/records", headers=headers, content=body)


def assert_problem(answer: Any, statuses: tuple[int, ...] = (400, 422)) -> dict[str, Any]:
    assert answer.status_code in statuses, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert NESTING in body["detail"], body
    return body


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", [arrays, objects])
@pytest.mark.parametrize("media_type", ["application/json", "application/x-ndjson"])
def test_a_records_body_nested_too_deep_is_a_400(
    served: World, depth: int, shape: Any, media_type: str
) -> None:
    before = factories.count(served.engine, "records")
    body = assert_problem(post_records(served, shape(depth), media_type), (400,))
    assert body["type"] == "/problems/unreadable-body"
    assert factories.count(served.engine, "records") == before


@pytest.mark.parametrize("depth", [32, 1_000, 5_000])
def test_attributes_nested_too_deep_are_refused(served: World, depth: int) -> None:
    before = factories.count(served.engine, "records")
    whole = post_records(served, record(f"deep-json-{depth}", objects(depth)), "application/json")
    assert_problem(whole, (400,))
    as_text = json.dumps(objects(depth))  # attributes sent as a JSON string
    line = post_records(served, record(f"deep-text-{depth}", as_text), "application/x-ndjson")
    assert line.status_code == 200, line.text[:300]
    assert line.json()["rejected"] == 1 and NESTING in line.json()["rejects"][0]["reason"]
    assert factories.count(served.engine, "records") == before


def test_a_deep_ndjson_line_is_rejected_and_the_others_are_taken(served: World) -> None:
    good = record("shallow-1", json.dumps({"branch": {"desk": [1, 2]}}))
    body = "\n".join([good, record("deep-line", objects(5_000)), arrays(100_000)]) + "\n"
    answer = post_records(served, body, "application/x-ndjson")
    assert answer.status_code == 200, answer.text[:300]
    result = answer.json()
    assert (result["accepted"], result["rejected"]) == (1, 2)
    assert [r["line"] for r in result["rejects"]] == [2, 3]
    assert all(NESTING in r["reason"] for r in result["rejects"])


def _json_operations(w: World) -> list[tuple[str, str]]:
    """Every operation that takes a JSON body, with a concrete path."""
    document = w.client.get("/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                concrete = path.replace("{id}", A if "/subjects/" in path else "1")
                found.append((method.upper(), concrete))
    return found


@pytest.mark.parametrize("depth", [40, 100_000])
def test_every_json_body_is_refused_past_the_limit(served: World, depth: int) -> None:
    operations = _json_operations(served)
    assert len(operations) >= 15
    for method, path in operations:
        reached = False
        for body in (arrays(depth), objects(depth), '{"reason": ' + arrays(depth) + "}"):
            for role in ("subject", "furnisher", "adjudicator", "admin"):
                headers = served.auth(role, **{"Content-Type": "application/json"})
                answer = served.client.request(method, path, headers=headers, content=body)
                assert answer.status_code != 500, (method, path, role)
                if answer.status_code != 403:  # a role that may call it: the body was read
                    assert_problem(answer)
                    reached = True
        assert reached, (method, path)


def test_attributes_at_the_limit_are_taken(served: World) -> None:
    answer = post_records(served, record("at-the-limit", objects(31)), "application/json")
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text[:300]


def test_a_deep_line_in_an_ndjson_file_is_a_rejected_row(tmp_path) -> None:
    """The command line's file ingest reads NDJSON with the same limit as the API."""
    from socialcredit.services.ingest import ingest_files

    engine = factories.new_store(tmp_path)
    furnishers = factories.write_rows(tmp_path / "furnishers.csv", factories.furnisher_rows())
    good = json.dumps(factories.record_row(external_id="fine"))
    records = tmp_path / "records.ndjson"
    records.write_text("[" * 100_000 + "\n" + good + "\n")
    summary = ingest_files(engine, [furnishers, records], rejects=tmp_path / "rejects.ndjson")
    assert summary.rejected == 1 and summary.files[-1].accepted == 1
    engine.dispose()
