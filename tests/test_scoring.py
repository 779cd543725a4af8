"""The scoring definition: exact explanations, hand-computed examples and invariants."""

from __future__ import annotations

import itertools
import json
from functools import cache

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledgers import AS_OF, Rec, Rel, build, organisation, person, run, scores
from socialcredit.engines.explain import explanations
from socialcredit.engines.run import ProgramResult
from socialcredit.policy.compile import CompiledProgram, compile_program
from socialcredit.policy.loader import shipped_catalogue, shipped_program, shipped_program_names

PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def program(name: str) -> CompiledProgram:
    return compile_program(shipped_program(name), shipped_catalogue())


def documents(result: ProgramResult) -> dict[str, dict]:
    frame = explanations(result)
    return {row["subject"]: json.loads(row["explanation"]) for row in frame.iter_rows(named=True)}


A, B, C = person(1), person(2), person(3)


def test_hand_computed_sesame_score() -> None:
    ledger = build(
        [
            Rec(A, "court.judgment_unfulfilled", 365),
            Rec(A, "loan.repaid_on_time", 730),
            Rec(A, "identity.phone_verified", 800),
        ]
    )
    result = run(program("sesame"), ledger)
    doc = documents(result)[A]
    # -60 * 0.5^(365/730) = -42.43 -> -42; 8 * 0.5^(730/365) = 2; phone +25 (no decay)
    points = {c["rule"]: c["points"] for c in doc["contributions"]}
    assert points == {"judgments_unfulfilled": -42, "loans_repaid": 2, "phone_verified": 25}
    assert scores(result)[A] == 550 - 42 + 2 + 25
    assert doc["factors"]["history"] == -40 and doc["factors"]["identity"] == 25
    record_ids = {c["rule"]: c["record_ids"] for c in doc["contributions"]}
    assert record_ids["judgments_unfulfilled"] == [1]
    top = doc["reasons"][0]
    assert top["code"] == "loans_repaid" and top["points_lost"] == 58
    assert top["record_ids"] == [2]
    assert [r["points_lost"] for r in doc["reasons"]] == sorted(
        (r["points_lost"] for r in doc["reasons"]), reverse=True
    )


def test_rongcheng_tiers_retractions_and_organisations() -> None:
    org = organisation(1)
    ledger = build(
        [
            Rec(A, "blood.donation", 10, value=400),
            Rec(A, "blood.donation", 100, value=200),
            Rec(B, "volunteer.hours", 30, value=60),
            Rec(B, "volunteer.hours", 60, value=60),
            Rec(C, "utility.payment_late", 10, external_id="late"),
            Rec(C, "record.retracted", 5, replaces="late"),
            Rec(C, "traffic.fine_unpaid", 10),
            Rec(org, "contract.lawsuit_lost", 20),
        ]
    )
    result = run(program("rongcheng"), ledger)
    assert scores(result) == {A: 1025, B: 1010, C: 995, org: 950}
    grades = {r["subject"]: r["grade"] for r in result.scores.to_pylist()}
    assert grades == {A: "A", B: "A", C: "A", org: "B"}


def test_insufficient_data_gives_no_score() -> None:
    ledger = build([Rec(A, "identity.phone_verified", 500), Rec(B, "identity.phone_verified", 10)])
    rows = {r["subject"]: r for r in run(program("sesame"), ledger).scores.to_pylist()}
    assert rows[A]["score"] is None and rows[A]["status"] == "insufficient_data"
    assert rows[A]["grade"] is None and rows[A]["percentile"] is None


def test_display_period_ends_a_records_effect() -> None:
    # contract.breached: a general item, so the rule's 365 days sit inside its display period
    inside = build([Rec(A, "contract.breached", 364)])
    outside = build([Rec(A, "contract.breached", 365)])
    assert scores(run(program("rongcheng"), inside))[A] == 980
    assert scores(run(program("rongcheng"), outside))[A] == 1000


def test_percentiles_count_lower_scores_within_each_subject_kind() -> None:
    ledger = build(
        [Rec(person(i), "utility.payment_late", 10 + j) for i in range(4) for j in range(i + 1)]
        + [Rec(person(9), "blood.donation", 3, value=200), Rec(organisation(1), "tax.arrears", 5)]
    )
    rows = {r["subject"]: r for r in run(program("rongcheng"), ledger).scores.to_pylist()}
    assert [rows[person(i)]["percentile"] for i in (9, 0, 1, 2, 3)] == [80.0, 60.0, 40.0, 20.0, 0.0]
    assert rows[organisation(1)]["percentile"] == 0.0


def test_relations_lift_a_subject_and_never_sink_one() -> None:
    strong = [
        Rec(B, k, 700)
        for k in (
            "identity.phone_verified",
            "identity.address_verified",
            "employment.verified",
            "education.degree_verified",
        )
    ]
    # arrears are general items: shown (and scored) for at most a year
    weak = [Rec(C, "loan.arrears_cycle", 300 + i) for i in range(4)] + [
        Rec(C, "identity.phone_verified", 600)
    ]
    mine = [Rec(A, "identity.phone_verified", 200 + i) for i in range(3)]
    alone = scores(run(program("sesame"), build(mine + strong + weak)))
    related = run(program("sesame"), build(mine + strong + weak, [Rel(A, B), Rel(A, C)]))
    lifted = scores(related)
    assert lifted[A] > alone[A]
    assert lifted[C] >= alone[C]
    doc = documents(related)[A]
    rel = [c for c in doc["contributions"] if c["rule"] == "relationships"]
    assert rel and 0 < rel[0]["points"] <= 20 and rel[0]["record_ids"] == []


def test_family_relations_are_never_followed() -> None:
    strong = [
        Rec(B, k, 700)
        for k in ("identity.phone_verified", "identity.address_verified", "employment.verified")
    ]
    mine = [Rec(A, "identity.phone_verified", 200 + i) for i in range(3)]
    plain = scores(run(program("sesame"), build(mine + strong)))
    unconfirmed = scores(run(program("sesame"), build(mine + strong, [Rel(A, B, confirmed=False)])))
    assert unconfirmed == plain


SUBJECTS = [person(1), person(2), person(3), organisation(4)]
KINDS = sorted(set(program("sesame").program.kinds()) | set(program("rongcheng").program.kinds()))
records = st.lists(
    st.builds(
        Rec,
        subject=st.sampled_from(SUBJECTS),
        kind=st.sampled_from(KINDS),
        days=st.integers(0, 900),
        value=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
    ),
    min_size=1,
    max_size=25,
)
relations = st.lists(
    st.builds(
        Rel,
        subject=st.sampled_from(SUBJECTS[:3]),
        other=st.sampled_from(SUBJECTS[:3]),
        relation=st.sampled_from(["contact", "guarantor"]),
        days=st.integers(0, 900),
    ),
    max_size=4,
).map(lambda rels: [r for r in rels if r.subject != r.other])
program_names = st.sampled_from(shipped_program_names())


@PROPERTY
@given(records, relations, program_names)
def test_every_score_is_in_range_and_adds_up_exactly(recs, rels, name) -> None:
    compiled = program(name)
    result = run(compiled, build(recs, rels))
    docs = documents(result)
    p = compiled.program
    for row in result.scores.to_pylist():
        if row["score"] is None:
            continue
        assert p.min_score <= row["score"] <= p.max_score
        doc = docs[row["subject"]]
        total = sum(c["points"] for c in doc["contributions"])
        assert doc["base"] + total - doc["clamp"] == row["score"]
        assert sum(doc["factors"].values()) == total
        assert len(doc["reasons"]) <= 4
        assert row["grade"] == p.grade(row["score"])


@PROPERTY
@given(records, relations, program_names, st.data())
def test_a_record_that_gives_points_never_lowers_a_score(recs, rels, name, data) -> None:
    compiled = program(name)
    giving = [k for r in compiled.program.rules if r.gives for k in r.kinds]
    assume(giving)  # a deductions-only program has no such record
    extra = Rec(
        data.draw(st.sampled_from(SUBJECTS)),
        data.draw(st.sampled_from(giving)),
        data.draw(st.integers(0, 900)),
        value=data.draw(st.floats(0, 500)),
    )
    before = scores(run(compiled, build(recs, rels)))
    after = scores(run(compiled, build([*recs, extra], rels)))
    for subject, score in before.items():
        if score is not None and after[subject] is not None:
            assert after[subject] >= score, subject


@PROPERTY
@given(records, relations, program_names, st.data())
def test_retracting_a_record_restores_the_earlier_score(recs, rels, name, data) -> None:
    compiled = program(name)
    extra = Rec(
        data.draw(st.sampled_from(SUBJECTS)),
        data.draw(st.sampled_from(KINDS)),
        data.draw(st.integers(1, 900)),
        external_id="extra",
    )
    retraction = Rec(extra.subject, "record.retracted", 0, external_id="undo", replaces="extra")
    before = run(compiled, build(recs, rels))
    after = run(compiled, build([*recs, extra, retraction], rels))
    assert {s: v for s, v in scores(after).items() if s in scores(before)} == scores(before)
    keep = {s for s in scores(before)}
    assert {s: d for s, d in documents(after).items() if s in keep} == documents(before)


def test_as_of_is_respected() -> None:
    ledger = build([Rec(A, "utility.payment_late", 0)])
    earlier = run(program("rongcheng"), ledger, AS_OF.replace(day=AS_OF.day - 1))
    assert scores(earlier)[A] is None


def test_a_sybil_ring_of_new_identities_moves_its_target_not_at_all() -> None:
    target = [
        Rec(A, k, 500)
        for k in (
            "identity.phone_verified",
            "identity.address_verified",
            "employment.verified",
            "education.degree_verified",
        )
    ]
    sybils = [person(100 + i) for i in range(12)]
    fresh = [
        Rec(s, k, 20)
        for s in sybils
        for k in ("identity.phone_verified", "identity.address_verified", "loan.repaid_on_time")
    ]
    ring = [Rel(A, s, days=15) for s in sybils] + [
        Rel(s, t, days=15) for s, t in itertools.pairwise(sybils)
    ]
    alone = scores(run(program("sesame"), build(target + fresh)))
    attacked = scores(run(program("sesame"), build(target + fresh, ring)))
    assert attacked[A] == alone[A]
