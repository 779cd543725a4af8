"""Disputes (objections) and human reviews of adverse decisions: the plain rules, then each flow
end to end over the HTTP API (and the command line), with a clock the tests control for the
deadline, and who may call what."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from factories import count, new_store, record_row
from service_world import ROLES, A, B, World, day, utc_now, world
from socialcredit.cli import app as cli_app
from socialcredit.domain import disputes as rules
from socialcredit.domain.disputes import (
    Certification,
    Dispute,
    DisputeRules,
    Outcome,
    ReviewOutcome,
    Status,
)
from socialcredit.domain.principals import Principal, Role
from socialcredit.policy.disputes import load_dispute_rules_text, shipped_dispute_rules
from socialcredit.policy.loader import PolicyError
from socialcredit.services.consents import grant_consent
from socialcredit.services.disputes import close_overdue_disputes, verify_dispute
from socialcredit.services.errors import Conflict
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.notices import add_notice
from socialcredit.services.reviews import request_review

NOW = datetime(2026, 6, 1, 12, 0)


def principal(role: Role, subject: str | None = None, furnisher: str | None = None) -> Principal:
    return Principal("p", role, "someone", NOW, subject=subject, furnisher=furnisher)


def a_dispute(**overrides: Any) -> Dispute:
    values: dict[str, Any] = {
        "id": 1,
        "record": 10,
        "furnisher": "bank-a",
        "external_id": "x-1",
        "subject": A,
        "kind": "loan.arrears_cycle",
        "occurred_at": NOW - timedelta(days=30),
        "reason": "never late",
        "evidence": None,
        "statement": None,
        "opened_at": NOW,
        "opened_by": "p",
        "deadline": NOW + timedelta(days=20),
        "status": Status.OPEN,
    }
    values.update(overrides)
    return Dispute(**values)


# ------------------------------------------------------------------ the rules (no I/O)


def test_words_are_counted_by_spaces_and_each_chinese_character_counts_as_one() -> None:
    assert rules.word_count("") == 0
    assert rules.word_count("  I paid  on time.\n") == 4
    assert rules.word_count("我按时还款") == 5
    assert rules.word_count("paid 按时 in full") == 5


def test_a_statement_of_more_than_100_words_is_refused() -> None:
    settings = DisputeRules()
    assert rules.statement_refusal(None, settings) is None
    assert rules.statement_refusal(" ".join(["word"] * 100), settings) is None
    refusal = rules.statement_refusal(" ".join(["word"] * 101), settings)
    assert refusal == "the statement has 101 words; it may have at most 100"
    assert rules.statement_refusal("字" * 101, settings) is not None
    assert rules.statement_refusal("x" * 2_001, settings) is not None  # one very long word


def test_the_deadline_is_the_setting_in_days_and_passes_only_after_it() -> None:
    assert rules.deadline(NOW, DisputeRules()) == NOW + timedelta(days=20)
    assert rules.deadline(NOW, DisputeRules(deadline_days=30)) == NOW + timedelta(days=30)
    dispute = a_dispute()
    assert not rules.is_overdue(dispute, dispute.deadline)
    assert rules.is_overdue(dispute, dispute.deadline + timedelta(seconds=1))
    closed = a_dispute(status=Status.CLOSED, outcome=Outcome.VERIFIED)
    assert not rules.is_overdue(closed, closed.deadline + timedelta(days=1))
    with pytest.raises(ValueError, match="deadline_days"):
        DisputeRules(deadline_days=0)


def test_who_may_act_on_a_dispute_and_in_which_state() -> None:
    dispute = a_dispute()
    subject, other = principal(Role.SUBJECT, subject=A), principal(Role.SUBJECT, subject=B)
    bank, court = (
        principal(Role.FURNISHER, furnisher="bank-a"),
        principal(Role.FURNISHER, furnisher="court-a"),
    )
    judge = principal(Role.ADJUDICATOR)
    assert rules.opening_refusal(subject, A) is None
    assert rules.opening_refusal(other, A) == "a subject may dispute only records in its own file"
    assert "only a subject" in (rules.opening_refusal(bank, A) or "")
    assert rules.disputable_refusal("loan.arrears_cycle", None) is None
    assert "cannot itself be disputed" in (rules.disputable_refusal("record.retracted", None) or "")
    assert "no longer in force" in (rules.disputable_refusal("loan.arrears_cycle", "c-1") or "")
    assert rules.reading_refusal(subject, dispute) is None
    assert rules.reading_refusal(other, dispute) is not None
    assert rules.reading_refusal(bank, dispute) is None
    assert rules.reading_refusal(court, dispute) is not None
    assert rules.reading_refusal(judge, dispute) is None
    assert rules.reading_refusal(principal(Role.RELYING_PARTY), dispute) is not None
    assert rules.furnisher_refusal(bank, dispute) is None
    assert rules.furnisher_refusal(court, dispute) is not None
    assert rules.furnisher_refusal(subject, dispute) is not None
    assert rules.adjudicator_refusal(judge) is None
    assert rules.adjudicator_refusal(principal(Role.ADMIN)) is not None
    late = dispute.deadline + timedelta(minutes=1)
    assert rules.state_refusal(dispute, Outcome.VERIFIED, NOW) is None
    assert "deadline passed" in (rules.state_refusal(dispute, Outcome.VERIFIED, late) or "")
    assert rules.state_refusal(dispute, Outcome.RETRACTED, late) is None
    closed = a_dispute(status=Status.CLOSED, outcome=Outcome.VERIFIED)
    assert "closed already" in (rules.state_refusal(closed, Outcome.RETRACTED, NOW) or "")


def test_a_certification_names_who_certifies_and_why() -> None:
    good = rules.certification_of({"certification": {"by": "Li Na, compliance", "reason": "ok"}})
    assert good == Certification("Li Na, compliance", "ok")
    for attributes in (
        {},
        {"certification": "yes"},
        {"certification": {"by": " ", "reason": "ok"}},
        {"certification": {"by": "Li Na"}},
    ):
        assert isinstance(rules.certification_of(attributes), str), attributes


def test_only_adverse_decisions_are_reviewed_and_an_override_changes_the_decision() -> None:
    subject = principal(Role.SUBJECT, subject=A)
    assert rules.review_permission_refusal(subject, A) is None
    assert rules.review_permission_refusal(subject, B) is not None
    assert rules.review_permission_refusal(principal(Role.ADJUDICATOR), A) is not None
    assert rules.reviewable_refusal("deny") is None
    assert rules.reviewable_refusal("allow_with_conditions") is None
    assert rules.reviewable_refusal("allow") is not None
    confirmed, overridden = ReviewOutcome.CONFIRMED, ReviewOutcome.OVERRIDDEN
    assert rules.override_refusal("deny", confirmed, None) is None
    assert rules.override_refusal("deny", confirmed, "allow") is not None
    assert rules.override_refusal("deny", overridden, "allow") is None
    assert rules.override_refusal("deny", overridden, None) is not None
    assert rules.override_refusal("deny", overridden, "deny") is not None
    assert rules.override_refusal("deny", overridden, "maybe") is not None


def test_the_shipped_settings_and_bad_settings_files() -> None:
    assert shipped_dispute_rules() == DisputeRules(deadline_days=20, statement_max_words=100)
    assert load_dispute_rules_text("deadline_days = 30\n").deadline_days == 30
    for text, field in (
        ("deadline_days = 0\n", "deadline_days"),
        ('deadline_days = "20"\n', "deadline_days"),
        ("deadline = 20\n", "deadline"),
        ("statement_max_words = 5000\n", "statement_max_words"),
    ):
        with pytest.raises(PolicyError) as caught:
            load_dispute_rules_text(text, "d.toml")
        assert caught.value.problems[0].field == field
        assert caught.value.problems[0].line == 1


# ------------------------------------------------------------------ helpers over the API


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    engine = new_store(tmp_path)
    with world(engine) as built:
        yield built
    engine.dispose()


@pytest.fixture
def unscored(tmp_path: Path) -> Iterator[World]:
    """A world whose scores were never computed, for flows that do not look at scores."""
    engine = new_store(tmp_path)
    with world(engine, scored=False) as built:
        yield built
    engine.dispose()


def scores(w: World, subject: str = A, role: str = "subject") -> dict[str, int]:
    answer = w.client.get(f"/v1/subjects/{subject}/scores", headers=w.auth(role))
    assert answer.status_code == 200, answer.text
    return {s["program"]: s["score"] for s in answer.json()["scores"]}


def contributing_records(w: World) -> set[int]:
    answer = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
    return {i for s in answer["scores"] for c in s["contributions"] for i in c["record_ids"]}


def records(w: World, role: str = "subject", **headers: str) -> dict[int, dict[str, Any]]:
    params = {"purpose": "travel_booking"} if role == "relying_party" else {}
    answer = w.client.get(
        f"/v1/subjects/{A}/records", params=params, headers=w.auth(role, **headers)
    )
    assert answer.status_code == 200, answer.text
    return {r["id"]: r for r in answer.json()["items"]}


ARREARS_AT = day(30)


def arrears(external_id: str = "arr-1", **overrides: Any) -> dict[str, Any]:
    """A month in arrears on A's loan (every call: the same fact, a month ago)."""
    row = {"kind": "loan.arrears_cycle", "occurred_at": ARREARS_AT, **overrides}
    return record_row(subject=A, external_id=external_id, **row)


def send(w: World, row: dict[str, Any], role: str = "furnisher") -> dict[str, Any]:
    answer = w.post_records(role, [row])
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def record_id(w: World, external_id: str, furnisher: str = "bank-a") -> int:
    with w.engine.connect() as c:
        found: int = c.execute(
            sa.text("SELECT id FROM records WHERE furnisher = :f AND external_id = :e"),
            {"f": furnisher, "e": external_id},
        ).scalar_one()
    return found


def stored(w: World, row: dict[str, Any]) -> int:
    """Ingest a record (without rescoring anyone) and return its id."""
    assert ingest_rows(w.engine, "records", [(1, row)]).summary.accepted == 1
    return record_id(w, row["external_id"], row["furnisher"])


def adverse_record(w: World) -> tuple[int, dict[str, int], dict[str, int]]:
    """A's arrears record: its id, A's scores before it and with it."""
    before = scores(w)
    assert send(w, arrears())["accepted"] == 1
    after = scores(w)
    assert after["sesame"] < before["sesame"] and after["rongcheng"] < before["rongcheng"]
    return record_id(w, "arr-1"), before, after


def dispute(w: World, record: int, role: str = "subject", **body: Any) -> Any:
    payload = {"record": record, "reason": "I was never late on this loan", **body}
    return w.client.post("/v1/disputes", json=payload, headers=w.auth(role))


def opened(w: World, record: int, **body: Any) -> dict[str, Any]:
    answer = dispute(w, record, **body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def notices(w: World, role: str = "subject") -> list[dict[str, Any]]:
    """A's notices, newest first, but those of the keys made for it when the world was built."""
    answer = w.client.get(f"/v1/subjects/{A}/notices", headers=w.auth(role))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return [n for n in items if not n["kind"].startswith("key.")]


STATEMENT = "The bank booked a payment I made on time a month late; see my bank statement."


# ------------------------------------------------------------------ disputes, end to end


def test_dispute_flags_the_record_everywhere_and_the_furnisher_verifies_it(w: World) -> None:
    record, _, with_it = adverse_record(w)
    made = opened(w, record, evidence="statement:2026-05", statement=STATEMENT)
    assert made["status"] == "open" and made["record"] == record and made["furnisher"] == "bank-a"
    opened_at = datetime.fromisoformat(made["opened_at"].rstrip("Z"))
    deadline = datetime.fromisoformat(made["deadline"].rstrip("Z"))
    assert deadline - opened_at == timedelta(days=20) and made["overdue"] is False
    # Flagged at once, with the statement: to the subject, to a relying party, to the furnisher.
    token = {"X-Consent": w.consent_token}
    for shown in (records(w)[record], records(w, "relying_party", **token)[record]):
        assert shown["disputed"] is True and shown["statement"] == STATEMENT
        assert shown["dispute"] == {
            "id": made["id"], "status": "open", "outcome": None, "deadline": made["deadline"],
        }  # fmt: skip
    assert all(
        r["disputed"] is False and r["statement"] is None
        for i, r in records(w).items()
        if i != record
    )
    mine = w.client.get("/v1/records", headers=w.auth("furnisher")).json()["items"]
    assert [r["disputed"] for r in mine if r["id"] == record] == [True]
    # The furnisher's queue shows it with its deadline; another furnisher's does not.
    queue = w.client.get("/v1/disputes", params={"furnisher": "me"}, headers=w.auth("furnisher"))
    assert [(d["id"], d["deadline"]) for d in queue.json()["items"]] == [
        (made["id"], made["deadline"])
    ]
    court = w.client.get("/v1/disputes", params={"furnisher": "me"}, headers=w.auth("court"))
    assert court.json()["items"] == []
    # The furnisher's read of A's dispute is in A's access log.
    log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()["items"]
    assert any(e["what"] == "disputes" and e["principal"] == w.ids["furnisher"] for e in log)
    # Verified with evidence: the record stands, the statement stays with it.
    verified = w.client.post(
        f"/v1/disputes/{made['id']}/verify",
        json={"evidence": "ledger:loan-77/2026-05", "reason": "payment arrived on the 20th"},
        headers=w.auth("furnisher"),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["outcome"] == "verified" and verified.json()["status"] == "closed"
    shown = records(w)[record]
    assert shown["disputed"] is False and shown["statement"] == STATEMENT
    assert shown["dispute"]["outcome"] == "verified"
    assert scores(w) == with_it
    told = notices(w)
    assert [n["kind"] for n in told] == ["dispute.verified", "dispute.opened"]
    assert "ledger:loan-77/2026-05" in told[0]["text"] and told[0]["refs"]["dispute"] == made["id"]
    # The log says who did what, when and why.
    detail = w.client.get(f"/v1/disputes/{made['id']}", headers=w.auth("subject")).json()
    assert [(e["action"], e["role"]) for e in detail["log"]] == [
        ("opened", "subject"), ("verified", "furnisher"),
    ]  # fmt: skip
    assert detail["log"][1]["reason"] == "payment arrived on the 20th"
    # Verified once, it cannot be retracted through the same dispute.
    again = w.client.post(
        f"/v1/disputes/{made['id']}/retract", json={}, headers=w.auth("furnisher")
    )
    assert again.status_code == 409 and again.json()["type"] == "/problems/conflict"


def test_a_retraction_appends_a_record_and_the_subject_is_rescored(w: World) -> None:
    record, before, with_it = adverse_record(w)
    assert record in contributing_records(w)
    made = opened(w, record, statement=STATEMENT)
    records_before = count(w.engine, "records")
    answer = w.client.post(
        f"/v1/disputes/{made['id']}/retract",
        json={"reason": "booked against the wrong account"},
        headers=w.auth("furnisher"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "retracted" and body["retraction"]
    # Append-only: the record stays; a new retraction record from the same furnisher withdraws it.
    assert count(w.engine, "records") == records_before + 1
    with w.engine.connect() as c:
        withdrawal = c.execute(
            sa.text(
                "SELECT furnisher, kind, replaces, subject FROM records WHERE external_id = :e"
            ),
            {"e": body["retraction"]},
        ).one()
    assert tuple(withdrawal) == ("bank-a", "record.retracted", "arr-1", A)
    # Rescored before the answer: exactly the scores A had before the record arrived.
    assert scores(w) == before and scores(w) != with_it
    assert record not in contributing_records(w)
    shown = records(w)[record]
    assert shown["disputed"] is False and shown["statement"] is None  # withdrawn: no statement
    assert shown["dispute"]["outcome"] == "retracted"
    kinds = [n["kind"] for n in notices(w)]
    assert kinds == ["dispute.retracted", "dispute.opened"]
    # A record no longer in force cannot be disputed again.
    again = dispute(w, record)
    assert again.status_code == 409 and "no longer in force" in again.json()["detail"]


def test_a_dispute_not_verified_by_the_deadline_is_withdrawn_automatically(w: World) -> None:
    record, _, with_it = adverse_record(w)
    made = opened(w, record)
    deadline = datetime.fromisoformat(made["deadline"].rstrip("Z"))
    # Before the deadline nothing happens.
    assert close_overdue_disputes(w.engine, deadline - timedelta(hours=1)) == []
    assert records(w)[record]["disputed"] is True
    # After it the furnisher can no longer verify ...
    bank = Principal(w.ids["furnisher"], Role.FURNISHER, "bank-a", NOW, furnisher="bank-a")
    late = deadline + timedelta(hours=1)
    with pytest.raises(Conflict, match="deadline passed"):
        verify_dispute(w.engine, bank, made["id"], "too late", now=late)
    # ... and the sweep withdraws the record, rescores A and tells A.
    closed = close_overdue_disputes(w.engine, late)
    assert [(d.id, d.outcome) for d in closed] == [(made["id"], Outcome.NOT_VERIFIED)]
    assert close_overdue_disputes(w.engine, late) == []  # once only
    now_scores = scores(w)
    assert (
        now_scores["sesame"] > with_it["sesame"] and now_scores["rongcheng"] > with_it["rongcheng"]
    )
    assert record not in contributing_records(w)
    detail = w.client.get(f"/v1/disputes/{made['id']}", headers=w.auth("subject")).json()
    assert detail["outcome"] == "not_verified" and detail["closed_by"] == "system"
    assert detail["log"][-1]["role"] == "system" and "deadline" in detail["log"][-1]["reason"]
    with w.engine.connect() as c:
        attributes = c.execute(
            sa.text("SELECT attributes FROM records WHERE external_id = :e"),
            {"e": detail["retraction"]},
        ).scalar_one()
    assert '"automatic":true' in attributes
    told = notices(w)[0]
    assert told["kind"] == "dispute.not_verified" and "withdrawn automatically" in told["text"]


def test_putting_a_withdrawn_record_back_needs_the_furnishers_certification(w: World) -> None:
    record, before, with_it = adverse_record(w)
    made = opened(w, record, statement=STATEMENT)
    retracted = w.client.post(f"/v1/disputes/{made['id']}/retract", headers=w.auth("furnisher"))
    assert retracted.status_code == 200, retracted.text
    retraction = retracted.json()["retraction"]
    # Re-sending the withdrawn record itself changes nothing (a duplicate, as ever).
    assert send(w, arrears())["duplicates"] == 1
    # Without a certification: refused, whether it names the retraction, the withdrawn record,
    # or reports the same fact under a new id.
    for row in (
        arrears("arr-1b", replaces=retraction),
        arrears("arr-1c", replaces="arr-1"),
        arrears("arr-1d"),
        arrears("arr-1e", replaces=retraction, attributes={"certification": {"by": "Li"}}),
    ):
        answer = send(w, row)
        assert answer["accepted"] == 0 and answer["rejected"] == 1, answer
        assert "withdrawn after dispute" in answer["rejects"][0]["reason"]
        assert "certification" in answer["rejects"][0]["reason"]
    # The same through a file: no channel bypasses it.
    result = ingest_rows(w.engine, "records", [(1, arrears("arr-1f", replaces=retraction))])
    assert result.summary.rejected == 1 and "certification" in result.rejects[0]["reason"]
    assert scores(w) == before
    # With it: accepted, A is rescored and told, and the statement travels with the record.
    certified = arrears(
        "arr-1g",
        replaces=retraction,
        attributes={"certification": {"by": "Li Na, compliance", "reason": "bank statement"}},
    )
    answer = send(w, certified)
    assert answer["accepted"] == 1, answer
    assert scores(w) == with_it
    back = record_id(w, "arr-1g")
    shown = records(w)[back]
    assert shown["statement"] == STATEMENT and shown["dispute"]["id"] == made["id"]
    told = notices(w)[0]
    assert told["kind"] == "dispute.reinserted" and "Li Na, compliance" in told["text"]
    assert told["refs"] == {"dispute": made["id"], "record": record, "reinserted": back}
    detail = w.client.get(f"/v1/disputes/{made['id']}", headers=w.auth("subject")).json()
    assert detail["reinserted"] == back and detail["log"][-1]["action"] == "reinserted"
    # Sending it again is a duplicate and tells nobody twice; the new record may be disputed.
    assert send(w, certified)["duplicates"] == 1
    assert [n["kind"] for n in notices(w)].count("dispute.reinserted") == 1
    assert opened(w, back)["record"] == back


def test_a_record_the_furnisher_retracted_itself_is_not_withdrawn_twice(
    unscored: World,
) -> None:
    w = unscored
    record = stored(w, arrears())
    made = opened(w, record)
    own = record_row(
        subject=A, kind="record.retracted", external_id="own-retraction", replaces="arr-1",
        occurred_at=day(0),
    )  # fmt: skip
    stored(w, own)
    records_before = count(w.engine, "records")
    later = datetime.fromisoformat(made["deadline"].rstrip("Z")) + timedelta(minutes=1)
    closed = close_overdue_disputes(w.engine, later)
    assert [(d.outcome, d.retraction) for d in closed] == [(Outcome.NOT_VERIFIED, "own-retraction")]
    assert count(w.engine, "records") == records_before


def test_an_adjudicator_decides_open_disputes_and_says_why(w: World) -> None:
    record, before, _ = adverse_record(w)
    positive = record_id(w, "a-0")
    first = opened(w, positive)
    upheld = w.client.post(
        f"/v1/disputes/{first['id']}/decision",
        json={"outcome": "upheld", "reason": "the repayment is on the bank's books"},
        headers=w.auth("adjudicator"),
    )
    assert upheld.status_code == 200 and upheld.json()["outcome"] == "upheld", upheld.text
    second = opened(w, record)
    overturned = w.client.post(
        f"/v1/disputes/{second['id']}/decision",
        json={"outcome": "overturned", "reason": "the bank produced no evidence"},
        headers=w.auth("adjudicator"),
    )
    assert overturned.status_code == 200, overturned.text
    assert overturned.json()["retraction"] and scores(w) == before
    detail = w.client.get(f"/v1/disputes/{second['id']}", headers=w.auth("adjudicator")).json()
    last = detail["log"][-1]
    assert (last["action"], last["role"], last["principal"]) == (
        "overturned", "adjudicator", w.ids["adjudicator"],
    )  # fmt: skip
    assert last["reason"] == "the bank produced no evidence" and last["principal_name"] == "Judge"
    assert [n["kind"] for n in notices(w)][:2] == ["dispute.overturned", "dispute.opened"]
    closed = w.client.post(
        f"/v1/disputes/{second['id']}/decision",
        json={"outcome": "upheld", "reason": "changed my mind"},
        headers=w.auth("adjudicator"),
    )
    assert closed.status_code == 409
    # Adjudicators list every dispute, filtered.
    listed = w.client.get(
        "/v1/disputes", params={"status": "closed"}, headers=w.auth("adjudicator")
    )
    assert [d["id"] for d in listed.json()["items"]] == [first["id"], second["id"]]


def test_requests_that_cannot_be_taken_say_why(unscored: World) -> None:
    w = unscored
    record = stored(w, arrears())
    long = dispute(w, record, statement=" ".join(["late"] * 101))
    assert long.status_code == 422 and long.json()["type"] == "/problems/invalid-request"
    assert long.json()["detail"] == "the statement has 101 words; it may have at most 100"
    assert dispute(w, record, reason="  ").status_code == 422
    assert dispute(w, 999_999).status_code == 404
    assert dispute(w, 2**70).status_code == 404  # beyond what the store can hold: no record
    assert w.client.get(f"/v1/disputes/{2**40}", headers=w.auth("subject")).status_code == 404
    assert dispute(w, record, reason="nul\x00").status_code == 422
    made = opened(w, record)
    twice = dispute(w, record)
    assert twice.status_code == 409 and f"dispute {made['id']} is open" in twice.json()["detail"]
    unverified = w.client.post(
        f"/v1/disputes/{made['id']}/verify", json={"evidence": " "}, headers=w.auth("furnisher")
    )
    assert unverified.status_code == 422
    assert w.client.get("/v1/disputes/424242", headers=w.auth("adjudicator")).status_code == 404
    decision = w.client.post(
        f"/v1/disputes/{made['id']}/decision",
        json={"outcome": "verified", "reason": "x"},
        headers=w.auth("adjudicator"),
    )
    assert decision.status_code == 422


def test_notices_and_the_due_process_log_are_append_only(unscored: World) -> None:
    w = unscored
    record = stored(w, arrears())
    before = {table: count(w.engine, table) for table in ("notices", "due_process_log")}
    opened(w, record)  # a log entry and a notice
    for table in ("notices", "due_process_log"):
        assert count(w.engine, table) == before[table] + 1
        for statement in (f"UPDATE {table} SET subject = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), w.engine.begin() as c:
                c.execute(sa.text(statement))
    with w.engine.begin() as c:
        add_notice(c, A, "test.kind", "hello", {"x": 1})
    assert notices(w)[0]["refs"] == {"x": 1}


# ------------------------------------------------------------------ human review of decisions


def court_listing(external_id: str = "L-1") -> dict[str, Any]:
    return record_row(
        subject=A, furnisher="court-a", kind="court.judgment_unfulfilled",
        external_id=external_id, evidence="case:(2026)Lu1Zhi7", occurred_at=day(20),
    )  # fmt: skip


def ask_flight(w: World) -> dict[str, Any]:
    subject = Principal(w.ids["subject"], Role.SUBJECT, "A", utc_now(), subject=A)
    token = grant_consent(
        w.engine,
        subject,
        relying_party=w.ids["relying_party"],
        purpose="travel_booking",
        scopes=["decisions"],
        expires_at=utc_now() + timedelta(days=1),
    ).token
    answer = w.client.get(
        f"/v1/subjects/{A}/decisions/flight_booking",
        params={"purpose": "travel_booking"},
        headers=w.auth("relying_party", **{"X-Consent": token}),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_subject_asks_for_a_human_review_and_an_adjudicator_overrides(w: World) -> None:
    allowed = ask_flight(w)
    assert allowed["decision"] == "allow"
    refused = w.client.post(
        f"/v1/decisions/{allowed['id']}/reviews", json={"reason": "x"}, headers=w.auth("subject")
    )
    assert refused.status_code == 409 and "adverse" in refused.json()["detail"]
    assert send(w, court_listing(), role="court")["accepted"] == 1
    denied = ask_flight(w)
    assert denied["decision"] == "deny"
    asked = w.client.post(
        f"/v1/decisions/{denied['id']}/reviews",
        json={"reason": "I paid the judgment last week"},
        headers=w.auth("subject"),
    )
    assert asked.status_code == 201, asked.text
    review = asked.json()
    assert (review["status"], review["original"], review["service"]) == (
        "open", "deny", "flight_booking",
    )  # fmt: skip
    again = w.client.post(
        f"/v1/decisions/{denied['id']}/reviews", json={"reason": "x"}, headers=w.auth("subject")
    )
    assert again.status_code == 409
    other = w.client.post(
        f"/v1/decisions/{denied['id']}/reviews", json={"reason": "x"}, headers=w.auth("subject_b")
    )
    assert other.status_code == 404  # a decision about another subject looks like none
    queue = w.client.get("/v1/reviews", params={"status": "open"}, headers=w.auth("adjudicator"))
    assert [r["id"] for r in queue.json()["items"]] == [review["id"]]
    no_change = w.client.post(
        f"/v1/reviews/{review['id']}/decision",
        json={"outcome": "overridden", "new_decision": "deny", "reason": "x"},
        headers=w.auth("adjudicator"),
    )
    assert no_change.status_code == 422
    decided = w.client.post(
        f"/v1/reviews/{review['id']}/decision",
        json={
            "outcome": "overridden",
            "new_decision": "allow",
            "reason": "the court confirmed payment by telephone",
        },
        headers=w.auth("adjudicator"),
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["outcome"], body["new_decision"], body["decided_by"]) == (
        "overridden", "allow", w.ids["adjudicator"],
    )  # fmt: skip
    assert body["decision_reason"] == "the court confirmed payment by telephone"
    # The decision log is untouched (append-only); the override, who and why are logged.
    with w.engine.connect() as c:
        logged = c.execute(
            sa.text("SELECT decision FROM decisions WHERE id = :i"), {"i": denied["id"]}
        ).scalar_one()
        actions = c.execute(
            sa.text(
                "SELECT action, role, reason FROM due_process_log WHERE review = :r ORDER BY id"
            ),
            {"r": review["id"]},
        ).all()
    assert logged == "deny"
    assert [tuple(a) for a in actions] == [
        ("requested", "subject", "I paid the judgment last week"),
        ("overridden", "adjudicator", "the court confirmed payment by telephone"),
    ]
    told = notices(w)[0]
    assert told["kind"] == "review.overridden" and "deny became allow" in told["text"]
    mine = w.client.get("/v1/reviews", headers=w.auth("subject")).json()["items"]
    assert [(r["id"], r["outcome"]) for r in mine] == [(review["id"], "overridden")]
    assert w.client.get("/v1/reviews", headers=w.auth("subject_b")).json()["items"] == []
    log = w.client.get(f"/v1/subjects/{A}/access-log", headers=w.auth("subject")).json()
    assert any(
        e["what"] == "reviews" and e["principal"] == w.ids["adjudicator"] for e in log["items"]
    )
    twice = w.client.post(
        f"/v1/reviews/{review['id']}/decision",
        json={"outcome": "confirmed", "reason": "x"},
        headers=w.auth("adjudicator"),
    )
    assert twice.status_code == 409


# ------------------------------------------------------------------ who may call what


Call = Callable[[World, dict[str, str], str], Any]


def _case(w: World) -> dict[str, int]:
    """A new adverse record of A's (ingested without rescoring) with an open dispute."""
    n = w.extra["n"] = w.extra.get("n", 0) + 1
    record = stored(w, arrears(f"m-{n}", evidence=f"loan-{n}"))
    return {"record": record, "dispute": opened(w, record)["id"]}


def _post_dispute(w: World, headers: dict[str, str], target: str) -> Any:
    n = w.extra["n"] = w.extra.get("n", 0) + 1
    own = arrears(f"p-{n}", evidence=f"loan-p{n}")
    record = stored(w, own) if target == "own" else record_id(w, "b-1")
    return w.client.post("/v1/disputes", json={"record": record, "reason": "r"}, headers=headers)


def _get_disputes(w: World, headers: dict[str, str], target: str) -> Any:
    params = {} if target == "own" else {"subject": B}
    return w.client.get("/v1/disputes", params=params, headers=headers)


def _get_dispute(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get(f"/v1/disputes/{w.extra['open']}", headers=headers)


def _act(action: str, body: dict[str, Any]) -> Call:
    def call(w: World, headers: dict[str, str], target: str) -> Any:
        case = _case(w)
        return w.client.post(f"/v1/disputes/{case['dispute']}/{action}", json=body, headers=headers)

    return call


def _denied(w: World) -> int:
    """A fresh adverse decision about A (A is on the court defaulters' list)."""
    decision = ask_flight(w)
    assert decision["decision"] == "deny"
    return int(decision["id"])


def _post_review(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.post(
        f"/v1/decisions/{_denied(w)}/reviews", json={"reason": "r"}, headers=headers
    )


def _decide_review(w: World, headers: dict[str, str], target: str) -> Any:
    subject = Principal(w.ids["subject"], Role.SUBJECT, "A", utc_now(), subject=A)
    review = request_review(w.engine, subject, _denied(w), "r")
    return w.client.post(
        f"/v1/reviews/{review['id']}/decision",
        json={"outcome": "confirmed", "reason": "r"},
        headers=headers,
    )


def _get_reviews(w: World, headers: dict[str, str], target: str) -> Any:
    return w.client.get("/v1/reviews", headers=headers)


def _get_notices(w: World, headers: dict[str, str], target: str) -> Any:
    subject = A if target == "own" else B
    return w.client.get(f"/v1/subjects/{subject}/notices", headers=headers)


MATRIX: dict[str, tuple[Call, dict[str, dict[str, int]]]] = {
    # Another subject's record is answered as one that does not exist.
    "POST /v1/disputes": (_post_dispute, {"own": {"subject": 201}, "other": {"subject": 404}}),
    "GET /v1/disputes": (
        _get_disputes,
        {
            "own": {"subject": 200, "furnisher": 200, "adjudicator": 200, "admin": 200},
            "other": {"adjudicator": 200, "admin": 200, "furnisher": 200},
        },
    ),
    "GET /v1/disputes/{id}": (
        _get_dispute,
        {"own": {"subject": 200, "furnisher": 200, "adjudicator": 200, "admin": 200}},
    ),
    "POST /v1/disputes/{id}/verify": (
        _act("verify", {"evidence": "e"}),
        {"own": {"furnisher": 200}},
    ),
    "POST /v1/disputes/{id}/retract": (_act("retract", {}), {"own": {"furnisher": 200}}),
    "POST /v1/disputes/{id}/decision": (
        _act("decision", {"outcome": "upheld", "reason": "r"}),
        {"own": {"adjudicator": 200}},
    ),
    "POST /v1/decisions/{id}/reviews": (_post_review, {"own": {"subject": 201}}),
    "POST /v1/reviews/{id}/decision": (_decide_review, {"own": {"adjudicator": 200}}),
    "GET /v1/reviews": (
        _get_reviews,
        {"own": {"subject": 200, "adjudicator": 200, "admin": 200}},
    ),
    "GET /v1/subjects/{id}/notices": (_get_notices, {"own": {"subject": 200}, "other": {}}),
}


@pytest.fixture(scope="module")
def matrix_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    engine = new_store(tmp_path_factory.mktemp("disputes-matrix"))
    with world(engine) as built:
        stored(built, court_listing())
        built.extra["open"] = _case(built)["dispute"]
        yield built
    engine.dispose()


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
    if status == 403:
        assert response.json()["type"] == "/problems/forbidden"


def test_another_subjects_dispute_is_not_shown(matrix_world: World) -> None:
    """Another's dispute is answered exactly as one that does not exist."""
    w = matrix_world
    other = w.client.get(f"/v1/disputes/{w.extra['open']}", headers=w.auth("subject_b"))
    assert other.status_code == 404
    court = w.client.get(f"/v1/disputes/{w.extra['open']}", headers=w.auth("court"))
    assert court.status_code == 404
    verify = w.client.post(
        f"/v1/disputes/{w.extra['open']}/verify", json={"evidence": "e"}, headers=w.auth("court")
    )
    assert verify.status_code == 404 and verify.json()["detail"] == f"no dispute {w.extra['open']}"
    listed = w.client.get("/v1/disputes", headers=w.auth("subject_b")).json()["items"]
    assert listed == []
    peek = w.client.get("/v1/disputes", params={"subject": A}, headers=w.auth("subject_b"))
    assert peek.status_code == 403


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_every_endpoint_needs_a_key(matrix_world: World, endpoint: str) -> None:
    call, _ = MATRIX[endpoint]
    response = call(matrix_world, {}, "own")
    assert response.status_code == 401, response.text
    assert response.json()["type"] == "/problems/unauthorized"


def test_the_matrix_covers_every_due_process_operation(matrix_world: World) -> None:
    document = matrix_world.client.get("/openapi.json").json()
    mine = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "due process" in operation.get("tags", [])
    }
    assert mine == set(MATRIX)


# ------------------------------------------------------------------ the command line


def test_operators_list_decide_and_close_overdue_from_the_command_line(
    unscored: World,
) -> None:
    w = unscored
    runner = CliRunner()
    url = w.engine.url.render_as_string(hide_password=False)
    record = stored(w, arrears())
    made = opened(w, record, statement=STATEMENT)
    # `show` names the disputed record and carries the statement.
    view = json.loads(runner.invoke(cli_app, ["show", A, "--json", "--db", url]).output)
    assert [(m["record"], m["disputed"], m["statement"]) for m in view["disputes"]] == [
        (record, True, STATEMENT)
    ]
    shown = runner.invoke(cli_app, ["show", A, "--db", url], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "disputed records" in shown.output
    # rich wraps the statement to the console's width (80 columns without a terminal)
    assert "booked a payment I made on time" in " ".join(shown.output.split())
    listed = runner.invoke(cli_app, ["disputes", "list", "--status", "open", "--json", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert [d["id"] for d in json.loads(listed.output)] == [made["id"]]
    table = runner.invoke(cli_app, ["disputes", "list", "--db", url])
    assert table.exit_code == 0 and "bank-a" in table.output
    early = runner.invoke(cli_app, ["disputes", "close-overdue", "--db", url])
    assert early.exit_code == 0 and "0 overdue" in early.output
    later = (utc_now() + timedelta(days=21)).date().isoformat()
    late = runner.invoke(
        cli_app, ["disputes", "close-overdue", "--now", later, "--json", "--db", url]
    )
    assert late.exit_code == 0, late.output
    assert [(d["id"], d["outcome"]) for d in json.loads(late.output)] == [
        (made["id"], "not_verified")
    ]
    assert notices(w)[0]["kind"] == "dispute.not_verified"
    # Deciding from the command line names who decided.
    positive = opened(w, record_id(w, "a-1"))
    decided = runner.invoke(
        cli_app,
        ["disputes", "decide", str(positive["id"]), "--outcome", "upheld",
         "--reason", "repayment on file", "--by", "Judge Wang", "--db", url],
    )  # fmt: skip
    assert decided.exit_code == 0, decided.output
    entry = w.client.get(f"/v1/disputes/{positive['id']}", headers=w.auth("subject")).json()
    assert (entry["outcome"], entry["log"][-1]["principal_name"]) == ("upheld", "Judge Wang")
    again = runner.invoke(
        cli_app,
        ["disputes", "decide", str(positive["id"]), "--outcome", "overturned",
         "--reason", "x", "--by", "Judge Wang", "--db", url],
    )  # fmt: skip
    assert again.exit_code == 1 and "closed already" in again.output
    bad = runner.invoke(cli_app, ["disputes", "close-overdue", "--now", "soon", "--db", url])
    assert bad.exit_code == 1


# ------------------------------------------------------------------ PostgreSQL


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
def test_the_whole_dispute_flow_on_postgresql(tmp_path: Path, store_backend: str) -> None:
    """The other tests run on SQLite; this one walks the flows on PostgreSQL."""
    engine = new_store(tmp_path)
    with world(engine) as w:
        record, before, with_it = adverse_record(w)
        made = opened(w, record, statement=STATEMENT)
        assert records(w)[record]["disputed"] is True
        assert dispute(w, record).status_code == 409
        retracted = w.client.post(f"/v1/disputes/{made['id']}/retract", headers=w.auth("furnisher"))
        assert retracted.status_code == 200, retracted.text
        assert scores(w) == before
        refused = send(w, arrears("back-1", replaces=retracted.json()["retraction"]))
        assert refused["rejected"] == 1
        nul = dispute(w, record_id(w, "a-2"), statement="a\x00b")
        assert nul.status_code == 422
        queue = w.client.get("/v1/disputes?furnisher=%00", headers=w.auth("adjudicator"))
        assert queue.status_code == 422
        review = w.client.post(
            f"/v1/reviews/{2**40}/decision",
            headers=w.auth("adjudicator"),
            json={"outcome": "confirmed", "reason": "r"},
        )
        assert review.status_code == 404
        second = opened(w, record_id(w, "a-2"))
        later = datetime.fromisoformat(second["deadline"].rstrip("Z")) + timedelta(minutes=1)
        assert [d.id for d in close_overdue_disputes(w.engine, later)] == [second["id"]]
        assert [n["kind"] for n in notices(w)] == [
            "dispute.not_verified", "dispute.opened", "dispute.retracted", "dispute.opened",
        ]  # fmt: skip
        assert scores(w) != with_it
    engine.dispose()
