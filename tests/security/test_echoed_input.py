"""Fault: error answers quoted the caller's input whole (30 MB in, 30 MB out). A problem
document quotes at most a few hundred characters of any value sent, lists at most 20 errors,
and a record's reject reason is cut the same way: no answer grows with the input."""

from __future__ import annotations

from typing import Any

import pytest

from service_world import A, World

HUGE = 2_000_000
BOUND = 8_000  # bytes: far above any honest answer here, far below the input


def _small_problem(answer: Any) -> dict[str, Any]:
    assert 400 <= answer.status_code < 500, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    assert len(answer.content) < BOUND, (answer.status_code, answer.text[:300])
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("POST", "/v1/shares", "subject", {"program": "sesame", "relying_party": "x" * HUGE}),
        ("POST", "/v1/shares", "subject", {"program": "p" * HUGE, "relying_party": "x"}),
        ("POST", "/v1/consents", "subject", {"x" * HUGE: 1}),
        ("POST", "/v1/consents", "subject", {"relying_party": "r", "purpose": "p" * HUGE}),
        ("POST", "/v1/reports", "subject", {"target": "1" * HUGE}),
        ("POST", "/v1/decisions", "admin", {"items": [{"subject": 1, "service": 2}] * 1000}),
        ("POST", "/v1/disputes", "subject", {"record": 1, "reason": "r" * HUGE}),
    ],
    ids=["value", "program", "key", "enum", "target", "many-errors", "reason"],
)
def test_a_problem_quotes_little_of_a_huge_body(
    served: World, method: str, path: str, role: str, body: dict[str, Any]
) -> None:
    problem = _small_problem(
        served.client.request(method, path, headers=served.auth(role), json=body)
    )
    assert len(problem["detail"]) <= 1_000
    assert len(problem.get("errors", [])) <= 20


def test_a_huge_id_in_the_path_or_query_is_quoted_short(served: World) -> None:
    long_id = "1" * 60_000
    for path, params in (
        (f"/v1/subjects/{long_id}/scores", {}),
        (f"/v1/public/lists/{'x' * 60_000}", {}),
        ("/v1/disputes", {"subject": long_id}),
    ):
        answer = served.client.get(path, params=params, headers=served.auth("subject"))
        _small_problem(answer)


def test_a_reject_reason_quotes_little_of_a_huge_field(served: World) -> None:
    rows = [
        {"subject": "9" * HUGE, "kind": "loan.repaid_on_time", "occurred_at": "2026-01-15",
         "external_id": "huge-subject"},
        {"subject": A, "kind": "k" * HUGE, "occurred_at": "2026-01-15", "external_id": "huge-kind"},
    ]  # fmt: skip
    answer = served.post_records("furnisher", rows)
    assert answer.status_code == 200, answer.text[:300]
    assert len(answer.content) < BOUND
    assert answer.json()["rejected"] == 2
