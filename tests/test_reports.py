"""Reports of others' breaches: the rules (rate limit, rings, who sees what), then the flows end
to end through the HTTP API and the command line: a report changes nothing until upheld; upheld
writes a verified_report record for the target and a reward for the reporter; malicious writes
a penalty for the reporter; rejected writes nothing. Related reporters and rings are flagged."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from factories import enrol_subject, new_store, resident_id
from service_world import A, B, C, World, day, utc_now, world
from socialcredit.cli import app as cli_app
from socialcredit.domain import reports as rules
from socialcredit.domain.principals import NotAllowed, Principal, Role
from socialcredit.domain.reports import Audience, Decision, Filing, Flag, Outcome, Report, Tie
from socialcredit.policy.loader import PolicyError, load_catalogue_text, shipped_catalogue
from socialcredit.policy.loader import shipped_program as shipped
from socialcredit.policy.reports import load_report_settings_text, shipped_report_settings
from socialcredit.services.notices import list_notices
from socialcredit.services.pages import PageRequest
from socialcredit.services.reports import (
    Decider,
    ReportLimitReached,
    decide_report,
    file_report,
    list_reports,
)
from socialcredit.services.scoring import active_programs
from socialcredit.services.subjects import latest_scores
from socialcredit.store import tables

SETTINGS = shipped_report_settings()
T0 = datetime(2026, 3, 1, 9, 0, 0)
runner = CliRunner()
_fresh = itertools.count(7000)


# ---- helpers


def body(target: str, **overrides: Any) -> dict[str, Any]:
    report = {
        "target": target,
        "kind": "contract.breached",
        "occurred_at": day(20),
        "description": "Took the deposit for a kitchen refit and never did the work.",
        "evidence": "signed contract 2026-114; bank transfer 88213",
    }
    report.update(overrides)
    return report


def post(w: World, role: str, target: str, **overrides: Any) -> Any:
    return w.client.post("/v1/reports", headers=w.auth(role), json=body(target, **overrides))


def decide(w: World, report_id: int, outcome: str, role: str = "adjudicator") -> Any:
    return w.client.post(
        f"/v1/reports/{report_id}/decision",
        headers=w.auth(role),
        json={"outcome": outcome, "reason": f"the adjudicator finds the report {outcome}"},
    )


def subject_key(w: World, name: str, subject: str) -> Principal:
    """A subject principal for `subject`, its key kept in w.keys[name]."""
    made = enrol_subject(w.engine, subject, name)
    w.keys[name] = made.key
    return made.principal


def due(told: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notices but those of the keys made for the test's subjects."""
    return [n for n in told if not n["kind"].startswith("key.")]


def fresh_reporter(w: World) -> str:
    """A new subject principal (a subject not yet in the store); returns its role name."""
    name = f"reporter-{next(_fresh)}"
    subject_key(w, name, resident_id(next(_fresh)))
    return name


def ledger_of(engine: sa.Engine, subject: str) -> set[tuple[Any, ...]]:
    r = tables.records
    query = sa.select(r.c.furnisher, r.c.external_id, r.c.kind, r.c.evidence).where(
        r.c.subject == subject
    )
    with engine.connect() as connection:
        return {tuple(row) for row in connection.execute(query)}


def scores_of(engine: sa.Engine, subject: str) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        return {
            s["program"]: (s["status"], s["score"], s["grade"], json.dumps(s["contributions"]))
            for s in latest_scores(connection, subject)
        }


def points(engine: sa.Engine, subject: str, program: str = "rongcheng") -> int:
    with engine.connect() as connection:
        found = {s["program"]: s["score"] for s in latest_scores(connection, subject)}
    return int(found[program])


def url_of(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One scored world on SQLite for tests that decide nothing (or use fresh reporters)."""
    engine = new_store(tmp_path_factory.mktemp("reports-lite"))
    with world(engine) as built:
        yield built
    engine.dispose()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[World]:
    """A world of its own, for a test that decides reports (and so rescores)."""
    engine = new_store(tmp_path)
    with world(engine) as built:
        yield built
    engine.dispose()


# ---- rules: the rate limit


def test_the_rate_limit_counts_reports_in_the_window() -> None:
    filed = [T0 + timedelta(days=d) for d in (0, 1, 2, 3)]
    assert rules.next_report_at(filed, T0 + timedelta(days=4), SETTINGS) is None
    filed.append(T0 + timedelta(days=4))
    assert rules.next_report_at(filed, T0 + timedelta(days=5), SETTINGS) == T0 + timedelta(days=30)
    # the oldest report leaves the window exactly `days` after it was filed
    assert rules.next_report_at(filed, T0 + timedelta(days=30), SETTINGS) is None
    assert rules.next_report_at(filed, T0 + timedelta(days=29, hours=23), SETTINGS) is not None
    # reports older than the window do not count at all
    old = [T0 - timedelta(days=40 + d) for d in range(20)]
    assert rules.next_report_at(old, T0, SETTINGS) is None


@given(
    st.lists(st.integers(min_value=0, max_value=24 * 120), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=40),
)
def test_accepted_reports_never_exceed_the_limit_in_any_window(
    hours: list[int], limit: int, days: int
) -> None:
    settings_ = SETTINGS.__class__(**{**vars(SETTINGS), "max_reports": limit, "window_days": days})
    accepted: list[datetime] = []
    for moment in sorted(T0 + timedelta(hours=h) for h in hours):
        wait = rules.next_report_at(accepted, moment, settings_)
        if wait is None:
            accepted.append(moment)
        else:
            assert wait > moment  # the answer is always a time still to come ...
            assert rules.next_report_at(accepted, wait, settings_) is None  # ... and right
    window = timedelta(days=days)
    for start in accepted:
        assert sum(1 for t in accepted if start <= t < start + window) <= limit


# ---- rules: rings


def f(id_: int, reporter: str, target: str, days: int = 0) -> Filing:
    return Filing(id_, reporter, target, T0 + timedelta(days=days))


RING = timedelta(days=90)


def test_two_subjects_reporting_each_other_form_a_ring() -> None:
    ab, ba = f(1, "a", "b"), f(2, "b", "a", days=10)
    assert rules.ring(ab, [ab, ba], RING) == (ab, ba)
    assert rules.ring(ba, [ab, ba], RING) == (ba, ab)
    flag = rules.ring_flag(rules.ring(ab, [ab, ba], RING))
    assert flag is not None and flag.code == "ring" and flag.reports == (1, 2)
    assert "a -> b -> a" in flag.detail


def test_a_longer_cycle_is_a_ring_and_a_chain_is_not() -> None:
    ab, bc, ca = f(1, "a", "b"), f(2, "b", "c", 5), f(3, "c", "a", 50)
    assert rules.ring(ab, [ab, bc, ca], RING) == (ab, bc, ca)
    assert rules.ring(bc, [ab, bc, ca], RING) == (bc, ca, ab)
    assert rules.ring(ab, [ab, bc], RING) == ()
    flag = rules.ring_flag(rules.ring(ab, [ab, bc, ca], RING))
    assert flag is not None and "a -> b -> c -> a" in flag.detail


def test_a_ring_counts_only_reports_filed_near_each_other() -> None:
    ab, ba = f(1, "a", "b"), f(2, "b", "a", days=91)
    assert rules.ring(ab, [ab, ba], RING) == ()
    assert rules.ring(ab, [ab, ba], timedelta(days=91)) == (ab, ba)
    # a ring spread over 100 days is none, even for its middle report (within 50 of each end)
    spread = [f(1, "a", "b"), f(2, "b", "c", 50), f(3, "c", "a", 100)]
    assert [rules.ring(r, spread, RING) for r in spread] == [(), (), ()]


def test_the_shortest_ring_is_named() -> None:
    reports = [f(1, "a", "b"), f(2, "b", "c"), f(3, "c", "d"), f(4, "d", "a"), f(5, "b", "a")]
    assert [r.id for r in rules.ring(reports[0], reports, RING)] == [1, 5]


def _reaches(start: str, goal: str, edges: list[Filing]) -> bool:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for e in edges:
            if e.reporter == node and e.target not in seen:
                if e.target == goal:
                    return True
                seen.add(e.target)
                todo.append(e.target)
    return False


EDGES = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.sampled_from("abcdef")).filter(lambda t: t[0] != t[1]),
    min_size=1,
    max_size=12,
)


@given(EDGES)
def test_a_ring_is_a_real_cycle_and_found_whenever_one_exists(pairs: list[tuple[str, str]]) -> None:
    filings = [f(i, a, b) for i, (a, b) in enumerate(pairs, start=1)]
    for report in filings:
        cycle = rules.ring(report, filings, RING)
        others = [e for e in filings if e.id != report.id]
        assert bool(cycle) == _reaches(report.target, report.reporter, others)
        if cycle:
            assert cycle[0] == report
            assert len({e.id for e in cycle}) == len(cycle)
            for here, there in itertools.pairwise(cycle):
                assert here.target == there.reporter
            assert cycle[-1].target == report.reporter
            for member in cycle:  # every report of a ring is itself flagged
                assert rules.ring(member, filings, RING)


def test_related_subjects_are_flagged_in_either_direction() -> None:
    ties = [Tie("a", "b", "guarantor"), Tie("c", "a", "contact"), Tie("b", "c", "co_borrower")]
    flag = rules.related_flag("b", "a", ties)
    assert flag is not None and flag.code == "related" and "guarantor" in flag.detail
    assert rules.related_flag("a", "c", ties) is not None
    assert rules.related_flag("a", "d", ties) is None


# ---- rules: who sees what


def principal(role: Role, subject: str | None = None) -> Principal:
    return Principal("p_x", role, "x", T0, subject=subject)


def test_who_may_see_a_report() -> None:
    assert rules.audience(principal(Role.SUBJECT, "a"), "a") is Audience.REPORTER
    assert rules.audience(principal(Role.SUBJECT, "b"), "a") is None  # the target, or anyone
    assert rules.audience(principal(Role.ADJUDICATOR), "a") is Audience.OFFICIAL
    assert rules.audience(principal(Role.ADMIN), "a") is Audience.OFFICIAL
    for role in (Role.FURNISHER, Role.RELYING_PARTY):
        with pytest.raises(NotAllowed):
            rules.audience(principal(role), "a")


def _decided(outcome: Outcome) -> Report:
    decision = Decision(
        outcome, "notes about b", "p_j", "Judge", T0, (Flag("ring", "a -> b -> a", (1, 2)),)
    )
    return Report(1, "a", "b", "contract.breached", T0, "d", "e", T0, decision)


def test_the_reporter_never_sees_flags_nor_notes_about_the_target() -> None:
    flags = (Flag("ring", "a -> b -> a", (1, 2)),)
    for outcome in (Outcome.UPHELD, Outcome.REJECTED):
        seen = rules.view(_decided(outcome), Audience.REPORTER, flags)
        assert seen["flags"] is None and seen["status"] == outcome.value
        assert seen["decision"]["reason"] is None and seen["decision"]["flags"] is None
        assert seen["decision"]["decided_by"] is None
    malicious = rules.view(_decided(Outcome.MALICIOUS), Audience.REPORTER, flags)
    assert malicious["decision"]["reason"] == "notes about b"  # a finding about the reporter
    official = rules.view(_decided(Outcome.UPHELD), Audience.OFFICIAL, flags)
    assert official["flags"][0]["reports"] == [1, 2]
    assert official["decision"]["reason"] == "notes about b"
    assert official["decision"]["decided_by"] == "p_j"


def test_only_reportable_kinds_may_be_reported_and_never_a_prohibited_one() -> None:
    catalogue = shipped_catalogue()
    assert rules.kind_refusal(catalogue, "contract.breached") is None
    assert rules.kind_refusal(catalogue, "utility.theft") is None
    refusal = rules.kind_refusal(catalogue, "speech.online_post")
    assert refusal is not None and "refused" in refusal and "political" in refusal
    refusal = rules.kind_refusal(catalogue, "relative.defaulted")
    assert refusal is not None and "relatives" in refusal
    assert "cannot be reported" in (rules.kind_refusal(catalogue, "tax.arrears") or "")
    assert "unknown" in (rules.kind_refusal(catalogue, "no.such_kind") or "")
    for kind in catalogue.reportable_kinds():
        assert catalogue.refusal(kind) is None


def test_a_catalogue_cannot_make_a_prohibited_kind_reportable() -> None:
    text = """
[furnisher_types]
verified_report = "Reports"
[categories]
contract = "Contracts"
[prohibited]
political_opinion = "never"
[kinds."speech.online_post"]
category = "political_opinion"
furnishers = ["verified_report"]
reportable = true
"""
    with pytest.raises(PolicyError, match="prohibited category"):
        load_catalogue_text(text)
    unsendable = text.replace("political_opinion", "contract").replace(
        'furnishers = ["verified_report"]', "furnishers = []"
    )
    with pytest.raises(PolicyError, match="verified_report"):
        load_catalogue_text(unsendable.replace('contract = "never"', ""))


def test_the_reports_policy_is_checked_field_by_field() -> None:
    good = (Path(__file__).parents[1] / "src/socialcredit/policy/data/reports.toml").read_text()
    assert load_report_settings_text(good) == SETTINGS
    bad = good.replace("reports = 5", "reports = 0").replace(
        'penalty_kind = "report.malicious"', 'penalty_kind = "speech.online_post"'
    )
    with pytest.raises(PolicyError) as caught:
        load_report_settings_text(bad, "reports.toml")
    fields = {p.field for p in caught.value.problems}
    assert fields == {"limit.reports", "outcomes.penalty_kind"}
    assert all(p.line for p in caught.value.problems)


def test_only_rongcheng_rewards_upheld_reports() -> None:
    programs = active_programs()
    assert rules.rewarding_programs(
        SETTINGS.reward_kind,
        [(p.id, [k for r in p.program.rules for k in r.kinds]) for p in programs],
    ) == ["rongcheng"]
    rongcheng = {r.id: r for r in shipped("rongcheng").program.rules}
    assert rongcheng["report_upheld"].points == 3 and rongcheng["report_upheld"].cap == 9
    assert rongcheng["report_malicious"].points < 0


# ---- the flows


def test_upheld_report_writes_the_target_record_rescored_and_rewards_the_reporter(
    store_backend: str, tmp_path: Path
) -> None:
    engine = new_store(tmp_path)
    with world(engine) as w:
        target = subject_key(w, "subject_c", C)
        before_target = (ledger_of(engine, C), scores_of(engine, C))
        before_points = points(engine, C), points(engine, A)

        filed = post(w, "subject", C)
        assert filed.status_code == 201, filed.text
        report = filed.json()
        assert report["status"] == "pending" and report["flags"] is None
        assert report["reporter"] == A and report["target"] == C
        # nothing changes for the target until an adjudicator upholds the report
        assert (ledger_of(engine, C), scores_of(engine, C)) == before_target
        # the target cannot see the report, nor tell that it exists
        assert (
            w.client.get(f"/v1/reports/{report['id']}", headers=w.auth("subject_c")).status_code
            == 404
        )
        assert w.client.get("/v1/reports", headers=w.auth("subject_c")).json()["items"] == []

        queue = w.client.get("/v1/reports?status=pending", headers=w.auth("adjudicator")).json()
        assert [r["id"] for r in queue["items"]] == [report["id"]]
        assert queue["items"][0]["flags"] == []

        decided = decide(w, report["id"], "upheld")
        assert decided.status_code == 200, decided.text
        result = decided.json()
        assert result["report"]["status"] == "upheld"
        target_record = f"report-{report['id']}"
        reward_record = f"report-{report['id']}-upheld"
        assert [r["external_id"] for r in result["records"]] == [target_record, reward_record]
        assert result["rescored"]["subjects"] == 2

        # the target's record: from the verified_report furnisher, the report id as external id
        new = ledger_of(engine, C) - before_target[0]
        assert new == {
            (SETTINGS.furnisher, target_record, "contract.breached", body(C)["evidence"])
        }
        # ... the target rescored (-20 under rongcheng), the reporter rewarded (+3)
        assert points(engine, C) == before_points[0] - 20
        assert points(engine, A) == before_points[1] + 3
        assert (SETTINGS.furnisher, reward_record, "report.upheld", None) in ledger_of(engine, A)

        # the target reads its new record; nothing in its file names the reporter
        records = w.client.get(f"/v1/subjects/{C}/records", headers=w.auth("subject_c"))
        assert target_record in records.text and A not in records.text
        told = due(list_notices(engine, target, C, PageRequest())[0])
        assert [n["kind"] for n in told] == ["report.record"]
        assert target_record in told[0]["text"] and A not in json.dumps(told)
        reporter = Principal("p_a", Role.SUBJECT, "A", T0, subject=A)
        told = due(list_notices(engine, reporter, A, PageRequest())[0])
        assert [n["kind"] for n in told] == ["report.upheld"]
        assert reward_record in told[0]["text"]
        assert "finds the report" not in told[0]["text"]  # no notes about the target
        log = w.client.get(f"/v1/subjects/{C}/access-log", headers=w.auth("subject_c")).json()
        reads = [e for e in log["items"] if e["what"] == "report"]
        assert reads and all(e["role"] == "adjudicator" for e in reads)
        assert A not in json.dumps(reads)

        # the reporter sees the outcome, not the adjudicator's notes about the target
        mine = w.client.get(f"/v1/reports/{report['id']}", headers=w.auth("subject")).json()
        assert mine["status"] == "upheld" and mine["decision"]["reason"] is None
        assert mine["flags"] is None

        # the decision is logged with who decided and why; it is never taken twice
        with engine.connect() as connection:
            logged = connection.execute(sa.select(tables.report_decisions)).one()
        assert logged.decided_by == w.ids["adjudicator"] and logged.outcome == "upheld"
        assert logged.reason == "the adjudicator finds the report upheld"
        again = decide(w, report["id"], "rejected")
        assert again.status_code == 422 and "decided already" in again.json()["detail"]
    engine.dispose()


def test_rejected_report_changes_nothing_for_anyone(lite: World) -> None:
    w, engine = lite, lite.engine
    before = {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, B, C)}
    report = post(w, "subject", C).json()
    result = decide(w, report["id"], "rejected").json()
    assert result["records"] == [] and result["rescored"]["subjects"] == 0
    assert {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, B, C)} == before
    assert result["report"]["decision"]["decided_by_name"] == "Judge"
    mine = w.client.get(f"/v1/reports/{report['id']}", headers=w.auth("subject")).json()
    assert mine["status"] == "rejected" and mine["decision"]["reason"] is None


def test_a_reporter_is_rate_limited_with_the_time_of_the_next_report(lite: World) -> None:
    reporter = fresh_reporter(lite)
    for _ in range(SETTINGS.max_reports):
        assert post(lite, reporter, C).status_code == 201
    first = lite.client.get("/v1/reports", headers=lite.auth(reporter)).json()["items"][0]
    refused = post(lite, reporter, B)
    assert refused.status_code == 429
    problem = refused.json()
    assert problem["type"] == "/problems/report-limit"
    assert refused.headers["content-type"].startswith("application/problem+json")
    filed = datetime.fromisoformat(first["filed_at"].removesuffix("Z"))
    assert problem["next_report_at"] == (filed + SETTINGS.window).isoformat() + "Z"
    assert "at most 5 reports in 30 days" in problem["detail"]
    assert 29 * 86400 < int(refused.headers["Retry-After"]) <= 30 * 86400
    assert lite.client.get("/problems/report-limit").status_code == 200


def test_the_limit_lifts_when_the_oldest_report_leaves_the_window(lite: World) -> None:
    made = subject_key(lite, f"clock-{next(_fresh)}", resident_id(next(_fresh)))
    now = utc_now()
    for n in range(SETTINGS.max_reports):
        file_report(lite.engine, made, **_fields(C), now=now + timedelta(hours=n))
    with pytest.raises(ReportLimitReached) as caught:
        file_report(lite.engine, made, **_fields(C), now=now + timedelta(days=1))
    assert caught.value.next_report_at == now + SETTINGS.window
    file_report(lite.engine, made, **_fields(C), now=now + SETTINGS.window)


def _fields(target: str) -> dict[str, Any]:
    fields = body(target)
    return {k: fields[k] for k in ("target", "kind", "occurred_at", "description", "evidence")}


def test_reports_between_related_subjects_are_flagged(lite: World) -> None:
    # A and B are guarantor and guaranteed (service_world)
    report = post(lite, "subject_b", A).json()
    assert report["flags"] is None  # the reporter never sees flags
    seen = lite.client.get(f"/v1/reports/{report['id']}", headers=lite.auth("admin")).json()
    assert [f["code"] for f in seen["flags"]] == ["related"]
    assert "guarantor" in seen["flags"][0]["detail"]
    unrelated = post(lite, fresh_reporter(lite), A).json()
    seen = lite.client.get(f"/v1/reports/{unrelated['id']}", headers=lite.auth("admin")).json()
    assert seen["flags"] == []


def test_reports_in_a_ring_are_flagged(lite: World) -> None:
    alone = post(lite, fresh_reporter(lite), C).json()["id"]  # someone -> C: no ring
    subject_key(lite, "ring-c", C)
    back = post(lite, "ring-c", A).json()["id"]  # C -> A
    forward = post(lite, "subject", C).json()["id"]  # A -> C closes the ring A -> C -> A
    everything = lite.client.get("/v1/reports", headers=lite.auth("adjudicator")).json()["items"]
    by_id = {r["id"]: r for r in everything}
    assert [fl["code"] for fl in by_id[forward]["flags"]] == ["ring"]
    assert by_id[forward]["flags"][0]["reports"] == [forward, back]
    assert [fl["code"] for fl in by_id[back]["flags"]] == ["ring"]
    closing = by_id[back]["flags"][0]["reports"]  # C -> A, then a report of C by A
    assert closing[0] == back and len(closing) == 2
    assert (by_id[closing[1]]["reporter"], by_id[closing[1]]["target"]) == (A, C)
    assert by_id[alone]["flags"] == []
    # each reporter sees its own report, without the flag that would name who reported it
    mine = lite.client.get("/v1/reports", headers=lite.auth("ring-c")).json()["items"]
    assert [r["id"] for r in mine] == [back] and mine[0]["flags"] is None


def _at(target: str, now: datetime) -> dict[str, Any]:
    return {**_fields(target), "occurred_at": (now - timedelta(days=1)).isoformat()}


def test_a_longer_ring_is_flagged_only_within_ninety_days(fresh: World) -> None:
    w = fresh
    people = {s: subject_key(w, f"p-{s}", s) for s in (A, B, C)}

    def ring_of(spacing: int, days_ago: int) -> list[list[int]]:
        start = utc_now() - timedelta(days=days_ago)
        ids = []
        for n, (reporter, target) in enumerate(((A, B), (B, C), (C, A))):
            now = start + timedelta(days=spacing * n)
            ids.append(file_report(w.engine, people[reporter], **_at(target, now), now=now)["id"])
        listed, _ = list_reports(w.engine, principal(Role.ADJUDICATOR))
        flags = {r["id"]: r["flags"] for r in listed}
        return [[f["reports"] for f in flags[i] if f["code"] == "ring"] for i in ids]

    # A -> B -> C -> A over 100 days: no ring, not even for the report in the middle
    assert ring_of(50, days_ago=400) == [[], [], []]
    # ... over 70 days: every report of it is flagged, each naming the ring from itself
    first, second, third = ring_of(35, days_ago=71)
    assert len(first) == len(second) == len(third) == 1
    assert sorted(first[0]) == sorted(second[0]) == sorted(third[0])
    assert len(first[0]) == 3


# ---- authorization and refusals


def test_each_endpoint_needs_a_key(lite: World) -> None:
    calls = [
        ("post", "/v1/reports", body(C)),
        ("get", "/v1/reports", None),
        ("get", "/v1/reports/1", None),
        ("post", "/v1/reports/1/decision", {"outcome": "rejected", "reason": "r"}),
    ]
    for method, path, payload in calls:
        answer = lite.client.request(method, path, json=payload)
        assert answer.status_code == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_each_endpoint_refuses_the_wrong_roles(lite: World) -> None:
    report = post(lite, fresh_reporter(lite), C).json()["id"]
    forbidden = {
        ("post", "/v1/reports"): ("furnisher", "relying_party", "adjudicator", "admin"),
        ("get", "/v1/reports"): ("furnisher", "relying_party"),
        ("get", f"/v1/reports/{report}"): ("furnisher", "relying_party"),
        ("post", f"/v1/reports/{report}/decision"): (
            "subject",
            "furnisher",
            "relying_party",
            "admin",
        ),
    }
    payloads = {
        "/v1/reports": body(C),
        f"/v1/reports/{report}/decision": {"outcome": "rejected", "reason": "r"},
    }
    for (method, path), roles in forbidden.items():
        for role in roles:
            answer = lite.client.request(
                method, path, headers=lite.auth(role), json=payloads.get(path)
            )
            assert answer.status_code == 403, (method, path, role, answer.text)
            assert answer.json()["type"] == "/problems/forbidden"
    seen = lite.client.get(f"/v1/reports/{report}", headers=lite.auth("adjudicator"))
    assert seen.json()["status"] == "pending"  # nothing was decided by the refused calls


def test_refused_reports(lite: World) -> None:
    reporter = fresh_reporter(lite)
    own = lite.client.get("/v1/me", headers=lite.auth(reporter)).json()["subject"]
    cases = [
        (body(own), 422, "itself"),
        (body("not-an-id"), 422, "target"),
        (body(C, kind="tax.arrears"), 422, "cannot be reported"),
        (body(C, kind="speech.online_post"), 422, "political"),
        (body(C, occurred_at=(utc_now() + timedelta(days=2)).isoformat()), 422, "future"),
        (body(C, occurred_at=day(2000)), 422, "too old"),
        (body(C, evidence=""), 422, "evidence"),
        (body(C, evidence="   "), 422, "evidence"),
        (body(C, description="a\x00b"), 422, "NUL"),
        ({k: v for k, v in body(C).items() if k != "evidence"}, 422, "evidence"),
        (body(C, reporter=A), 422, "reporter"),
    ]
    for payload, status, words in cases:
        answer = lite.client.post("/v1/reports", headers=lite.auth(reporter), json=payload)
        assert answer.status_code == status, (payload, answer.text)
        assert words in answer.text, (words, answer.text)
    assert lite.client.get("/v1/reports", headers=lite.auth(reporter)).json()["items"] == []


def test_another_subjects_report_and_unknown_reports_are_not_found(lite: World) -> None:
    report = post(lite, fresh_reporter(lite), C).json()["id"]
    assert lite.client.get(f"/v1/reports/{report}", headers=lite.auth("subject")).status_code == 404
    assert lite.client.get("/v1/reports/999999", headers=lite.auth("admin")).status_code == 404
    unknown = decide(lite, 999999, "upheld")
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    bad = lite.client.post(
        f"/v1/reports/{report}/decision",
        headers=lite.auth("adjudicator"),
        json={"outcome": "maybe", "reason": "r"},
    )
    assert bad.status_code == 422
    filtered = lite.client.get("/v1/reports?status=sideways", headers=lite.auth("admin"))
    assert filtered.status_code == 422


def test_officials_list_every_report_page_by_page(lite: World) -> None:
    for _ in range(3):
        post(lite, fresh_reporter(lite), C)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = lite.client.get("/v1/reports", headers=lite.auth("admin"), params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    with lite.engine.connect() as connection:
        stored = connection.execute(sa.select(tables.reports.c.id).order_by("id")).scalars()
        assert seen == list(stored)


def test_reports_and_decisions_are_append_only(lite: World) -> None:
    post(lite, fresh_reporter(lite), C)
    for statement in ("UPDATE reports SET kind = 'utility.theft'", "DELETE FROM reports"):
        with pytest.raises(sa.exc.DatabaseError), lite.engine.begin() as connection:
            connection.execute(sa.text(statement))


# ---- malice, and the command line


def cli(*args: str) -> str:
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_malicious_report_penalises_the_reporter_and_operators_use_the_command_line(
    fresh: World,
) -> None:
    w, engine, url = fresh, fresh.engine, url_of(fresh.engine)
    first = post(w, "subject", C).json()["id"]  # A -> C
    second = post(w, "subject_b", A).json()["id"]  # B -> A: related (guarantor)
    listed = json.loads(cli("reports", "list", "--json", "--db", url))
    assert [r["id"] for r in listed] == [first, second]
    assert [f["code"] for f in listed[1]["flags"]] == ["related"]
    assert "related" in cli("reports", "list", "--db", url)

    # malicious, through the API: a penalty for the reporter only
    before = {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, C)}
    before_b = points(engine, B)
    result = decide(w, second, "malicious").json()
    assert [r["external_id"] for r in result["records"]] == [f"report-{second}-malicious"]
    assert result["report"]["decision"]["flags"][0]["code"] == "related"  # what was weighed
    assert points(engine, B) == before_b - 30
    assert (SETTINGS.furnisher, f"report-{second}-malicious", "report.malicious", None) in (
        ledger_of(engine, B)
    )
    assert {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, C)} == before
    mine = w.client.get(f"/v1/reports/{second}", headers=w.auth("subject_b")).json()
    assert mine["status"] == "malicious"  # a finding about the reporter comes with its reason
    assert mine["decision"]["reason"] == "the adjudicator finds the report malicious"
    told = due(list_notices(engine, principal(Role.SUBJECT, B), B, PageRequest())[0])
    assert [n["kind"] for n in told] == ["report.malicious"]
    assert "finds the report malicious" in told[0]["text"]
    assert due(list_notices(engine, principal(Role.SUBJECT, A), A, PageRequest())[0]) == []

    # rejected, at the command line, logged with who decided
    out = cli(
        "reports", "decide", str(first), "--outcome", "rejected",
        "--reason", "the contract shows no breach", "--by", "duty officer", "--db", url,
    )  # fmt: skip
    assert f"report {first}: rejected" in out
    assert {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, C)} == before
    assert json.loads(cli("reports", "list", "--status", "pending", "--json", "--db", url)) == []
    rejected = json.loads(cli("reports", "list", "--status", "rejected", "--json", "--db", url))
    assert [r["id"] for r in rejected] == [first]
    assert rejected[0]["decision"]["decided_by_name"] == "duty officer"
    assert rejected[0]["decision"]["reason"] == "the contract shows no breach"
    again = runner.invoke(
        cli_app,
        ["reports", "decide", str(second), "--outcome", "upheld", "--reason", "x", "--db", url],
    )
    assert again.exit_code == 1 and "decided already" in again.output


# ---- the invariant


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([A, B, C]),
            st.sampled_from(shipped_catalogue().reportable_kinds()),
            st.sampled_from([None, Outcome.REJECTED, Outcome.MALICIOUS]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_a_report_never_changes_its_target_before_it_is_upheld(
    lite: World, reports: list[tuple[str, str, Outcome | None]]
) -> None:
    engine = lite.engine
    before = {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, B, C)}
    reporter = enrol_subject(engine, resident_id(next(_fresh)), "r").principal
    judge = Decider("p_judge", "Judge")
    for target, kind, outcome in reports:
        made = file_report(engine, reporter, **{**_fields(target), "kind": kind})
        if outcome is not None:
            decide_report(engine, judge, made["id"], outcome, "weighed the evidence")
    after = {s: (ledger_of(engine, s), scores_of(engine, s)) for s in (A, B, C)}
    assert after == before
