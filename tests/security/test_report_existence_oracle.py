"""Fault: `POST /v1/reports` answered 404 "no subject ... in the store" for an unknown target and
201 (or 429) for a known one, so any subject's key could learn who is in the store. Every
well-formed target now gets the same answer, and counts against the reporter's limit alike."""

from __future__ import annotations

from typing import Any

from factories import resident_id, uscc
from service_world import A, C, World, day

UNKNOWN = (resident_id(990_001), uscc(990_002), resident_id(990_003))


def report(w: World, role: str, target: str) -> Any:
    body = {
        "target": target,
        "kind": "contract.breached",
        "occurred_at": day(3),
        "description": "took the deposit and never did the work",
        "evidence": "contract 2026-114",
    }
    return w.client.post("/v1/reports", headers=w.auth(role), json=body)


def _shape(answer: Any) -> tuple[int, str, dict[str, Any]]:
    """What an answer says apart from the report's own id, target and time."""
    body = answer.json()
    varying = ("id", "target", "filed_at", "occurred_at")
    return (
        answer.status_code,
        answer.headers["content-type"],
        {k: v for k, v in body.items() if k not in varying},
    )


def test_a_target_in_the_store_and_one_not_get_the_same_answer(served: World) -> None:
    known = report(served, "subject", C)
    assert known.status_code == 201, known.text
    for target in UNKNOWN[:2]:
        unknown = report(served, "subject", target)
        assert _shape(unknown) == _shape(known), unknown.text
        assert unknown.json()["target"] == target


def test_the_report_limit_counts_every_target_alike(served: World) -> None:
    """Subject B files its whole allowance about subjects nobody knows; the next report, about
    a subject in the store, is refused exactly as any report past the limit."""
    for n in range(5):
        answer = report(served, "subject_b", resident_id(991_000 + n))
        assert answer.status_code == 201, answer.text
    limited = [report(served, "subject_b", target) for target in (A, UNKNOWN[2])]
    assert [a.status_code for a in limited] == [429, 429]
    assert limited[0].json()["detail"] == limited[1].json()["detail"]
    assert limited[0].headers["retry-after"] == limited[1].headers["retry-after"]


def test_an_adjudicator_still_sees_and_decides_a_report_about_nobody(served: World) -> None:
    filed = report(served, "subject", UNKNOWN[2]).json()
    seen = served.client.get(f"/v1/reports/{filed['id']}", headers=served.auth("adjudicator"))
    assert seen.status_code == 200 and seen.json()["target"] == UNKNOWN[2]
    decided = served.client.post(
        f"/v1/reports/{filed['id']}/decision",
        headers=served.auth("adjudicator"),
        json={"outcome": "rejected", "reason": "no such subject is known"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["report"]["status"] == "rejected"
