"""The policy lab's metrics on small hand-built populations with answers computed by hand."""

from __future__ import annotations

import math
from datetime import date, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ledgers import AS_OF, Rec, Rel, build, moment, person
from socialcredit.domain.lists import LedgerRecord, ScoreFact, entry_of
from socialcredit.domain.measures import Outcome, SubjectFacts, decide
from socialcredit.engines.run import connect
from socialcredit.lab import Behaviour, LabConfig, lab_catalogue, render_html, simulate
from socialcredit.lab.behaviour import Habits, draw_records, incentive, pay_probability
from socialcredit.lab.cutoffs import CutoffError, cutoffs_for, unaudited_for
from socialcredit.lab.figures import FIGURE_KEYS, figures
from socialcredit.lab.listed import list_measures, touched_by
from socialcredit.lab.metrics import adverse_impact, contagion, reach, significant_gap
from socialcredit.lab.population import Population, population_from_tables
from socialcredit.lab.scoring import LabLedger, MonthScores, score_month
from socialcredit.lab.simulate import World, add_months
from socialcredit.policy.compile import CompiledProgram, compile_program
from socialcredit.policy.loader import (
    PolicyError,
    load_program_text,
    shipped_catalogue,
    shipped_program,
)
from socialcredit.policy.measures import shipped_measures


@cache
def program(name: str) -> CompiledProgram:
    return compile_program(shipped_program(name), shipped_catalogue())


def registry(rows: list[tuple[str, str, bool, int, str]]) -> pa.Table:
    """subject, region, urban, birth year, sex."""
    return pa.table(
        {
            "subject": [r[0] for r in rows],
            "name": ["x"] * len(rows),
            "region": [r[1] for r in rows],
            "urban": [r[2] for r in rows],
            "birth_year": pa.array([r[3] for r in rows], pa.int32()),
            "sex": [r[4] for r in rows],
        }
    )


def population(recs: list[Rec], rels: list[Rel] = (), reg: pa.Table | None = None) -> Population:
    return population_from_tables(build(recs, rels), AS_OF, reg)


def month_scores(name: str, pop: Population, as_of: date = AS_OF) -> MonthScores:
    ledger = LabLedger(connect("duckdb"), "t", pop)
    return score_month(program(name), ledger.ledger, as_of, pop.n)


def run_lab(names: list[str], pop: Population, **config: object):
    settings = {"months": 0, "start": AS_OF, "mount_attacks": False, **config}
    return simulate(
        [program(n) for n in names],
        lab_catalogue(),
        LabConfig(**settings),  # type: ignore[arg-type]
        population=pop,
    )


def clean(subject: str) -> list[Rec]:
    """Phone, address and degree verified 400 days ago: Sesame 550 + 50 + 25 = 625."""
    return [
        Rec(subject, "identity.phone_verified", 400),
        Rec(subject, "identity.address_verified", 400),
        Rec(subject, "education.degree_verified", 400),
    ]


# ------------------------------------------------------------------ contagion: a ring of three


def propagate(v: list[int], d: float = 0.85, iterations: int = 10, norm: int = 3) -> list[int]:
    """docs/scoring.md's relationship factor for a triangle, by hand (ceiling 20 points)."""
    x = list(v)
    for _ in range(iterations):
        s = [x[1] + x[2], x[0] + x[2], x[0] + x[1]]
        x = [max(v[i], math.floor(d * s[i] / norm + 0.5)) for i in range(3)]
    s = [x[1] + x[2], x[0] + x[2], x[0] + x[1]]
    return [math.floor(math.floor(si / norm + 0.5) * 20 / 1e6 + 0.5) for si in s]


def test_contagion_in_a_ring_of_three_matches_the_hand_computation() -> None:
    a, b, c = person(1), person(2), person(3)
    records = [
        *clean(a),  # 625: standing 75/400 of the range above the base
        Rec(b, "identity.phone_verified", 400),
        Rec(b, "identity.address_verified", 400),
        Rec(b, "card.overdue", 0),  # 590: standing 40/400
        Rec(c, "identity.phone_verified", 400),
        Rec(c, "card.overdue", 0),
        Rec(c, "loan.arrears_cycle", 0),  # 550: standing 0
    ]
    ring = [Rel(a, b), Rel(b, c), Rel(c, a)]
    # x = max(v, 0.85 * (sum of the other two) / max(2, 3)), ten times, from v:
    # x = [187500, 100000, 81458]; signals [60486, 89653, 95833]; points [1, 2, 2]
    assert propagate([187_500, 100_000, 0]) == [1, 2, 2]
    pop = population(records, ring)
    first = month_scores("sesame", pop)
    order = [pop.ids.index(s) for s in (a, b, c)]
    assert first.relationship[order].tolist() == [1, 2, 2]
    assert first.pre[order].tolist() == [625, 590, 550]

    # a month later a has unpaid tax (-25 at age 0): standing 50/400; the others lose points
    later = population([*records, Rec(a, "tax.arrears", 0)], ring)
    second = month_scores("sesame", later)
    expected = propagate([125_000, 100_000, 0])
    assert second.relationship[order].tolist() == expected

    figure = contagion(program("sesame").program, [first, second], pop.n)
    assert figure["average_points"] == pytest.approx(sum(expected) / 3, abs=1e-4)
    assert figure["by_month"][0]["mean_points"] == pytest.approx(5 / 3, abs=1e-4)
    assert figure["largest_points"] == 2
    deltas = [e - p for e, p in zip(expected, [1, 2, 2], strict=True)]
    assert figure["largest_monthly_loss"] == min(deltas) < 0
    assert figure["by_month"][1]["mean_change"] == pytest.approx(sum(deltas) / 3, abs=1e-4)
    # c stands at the base itself, yet its score carries points from a and b
    assert second.relationship[order[2]] > 0


def test_a_program_without_a_relationship_factor_has_no_contagion() -> None:
    a, b = person(1), person(2)
    pop = population([*clean(a), *clean(b)], [Rel(a, b)])
    result = run_lab(["rongcheng"], pop)
    figure = figures(result)["contagion"][0]
    assert figure["has_relationship_factor"] is False
    assert figure["average_points"] == 0 and figure["largest_points"] == 0


# ------------------------------------------------------------------ adverse impact


def test_two_groups_with_known_approval_rates() -> None:
    approved = np.array([True] * 8 + [False] * 2 + [True] * 5 + [False] * 5)
    groups = {"region": np.array(["a"] * 10 + ["b"] * 10, dtype=object)}
    rows = {r["group"]: r for r in adverse_impact(approved, groups, min_group=5)}
    assert rows["a"]["rate"] == 0.8 and rows["a"]["ratio"] == 1.0 and not rows["a"]["flagged"]
    assert rows["b"]["rate"] == 0.5 and rows["b"]["ratio"] == 0.625 and rows["b"]["flagged"]
    # ten people each: a gap of 0.3 is within chance
    assert rows["b"]["significant"] is False
    # groups under the minimum are shown but not judged
    small = {r["group"]: r for r in adverse_impact(approved, groups, min_group=11)}
    assert small["b"]["ratio"] is None and not small["b"]["flagged"] and small["b"]["small"]


def test_significance_of_a_gap() -> None:
    assert significant_gap(50, 100, 80, 100)
    assert not significant_gap(5, 10, 8, 10)
    assert not significant_gap(0, 100, 0, 100)


def test_adverse_impact_through_the_engine_uses_audit_groups_it_never_sees() -> None:
    records: list[Rec] = []
    rows = []
    for i in range(40):  # Rongcheng: all clean, 625
        s = person(100 + i)
        records += clean(s)
        rows.append((s, "Rongcheng", True, 1980, "F"))
    for i in range(40):  # Wendeng: half carry a fresh overdue card instead of a degree, 590
        s = person(200 + i)
        if i % 2:
            records += clean(s)
        else:
            records += [
                Rec(s, "identity.phone_verified", 400),
                Rec(s, "identity.address_verified", 400),
                Rec(s, "card.overdue", 0),
            ]
        rows.append((s, "Wendeng", True, 1980, "F"))
    pop = population(records, reg=registry(rows))
    data = figures(run_lab(["sesame"], pop))
    screens = data["adverse_impact_ratios"]["screens"]
    car = next(s for s in screens if s["measure"] == "waiver_at_600")
    region = {r["group"]: r for r in car["groups"] if r["dimension"] == "region"}
    assert region["Rongcheng"]["rate"] == 1.0 and region["Wendeng"]["rate"] == 0.5
    assert region["Wendeng"]["ratio"] == 0.5 and region["Wendeng"]["flagged"]
    assert region["Wendeng"]["significant"]
    assert {r["group"] for r in car["groups"] if r["dimension"] == "age_band"} == {"45-59"}
    assert car["judged"] and car["approved"] == 60
    flagged = data["adverse_impact_ratios"]["flagged"]
    assert {(f["service"], f["measure"], f["group"]) for f in flagged} == {
        ("car_rental_deposit_waiver", "waiver_at_600", "Wendeng"),
    }
    # nobody reaches 650, 700 or 750: no ratio, nothing flagged, not judged
    for measure in ("waiver_at_650", "singapore_at_700", "luxembourg_at_750"):
        screen = next(s for s in screens if s["measure"] == measure)
        assert all(r["ratio"] is None for r in screen["groups"])
        assert not screen["judged"] and screen["approved"] == 0
    assert set(data) >= set(FIGURE_KEYS)


# ------------------------------------------------------------------ restriction reach


HOTELS = """
[services.hotel]
title = "Hotels"
purposes = ["travel_booking"]
program = "rongcheng"
[[services.hotel.measures]]
id = "no_hotels_below_850"
title = "No hotels under 850"
effect = "deny"
when = { below = 850 }
"""


def test_restriction_reach_counts_who_each_measure_touches(tmp_path: Path) -> None:
    hero, sued, defaulter = person(1), person(2), person(3)
    records = [
        Rec(hero, "heroic_act.recognised", 10),  # 1050, grade AAA: on the honest_aaa list
        Rec(sued, "contract.lawsuit_lost", 10),  # 950, grade B
        *[Rec(defaulter, "court.judgment_unfulfilled", 10 + i) for i in range(4)],  # 800, C
    ]
    reg = registry(
        [
            (hero, "Rongcheng", True, 1990, "F"),
            (sued, "Rongcheng", False, 1950, "M"),
            (defaulter, "Wendeng", False, 1950, "M"),
        ]
    )
    pop = population(records, reg=reg)
    scores = month_scores("rongcheng", pop)
    rongcheng = program("rongcheng").program
    sex = np.empty(pop.n, dtype=object)
    for subject, label in ((hero, "F"), (sued, "M"), (defaulter, "M")):
        sex[pop.ids.index(subject)] = label
    groups = {"sex": sex}
    path = tmp_path / "measures.toml"
    path.write_text(HOTELS, encoding="utf-8")
    [hotels] = cutoffs_for(lab_catalogue(path), rongcheng)
    restricted = reach(hotels, rongcheng, scores, groups, pop.n)
    assert restricted["effect"] == "restriction" and restricted["rule"] == "score < 850"
    assert restricted["touched"] == 1 and restricted["subjects"] == 3
    assert restricted["by_group"]["sex"] == {
        "F": {"subjects": 1, "touched": 0, "share": 0.0},
        "M": {"subjects": 2, "touched": 1, "share": 0.5},
    }
    shipped = {c.name: c for c in cutoffs_for(lab_catalogue(), rongcheng)}
    lane = reach(shipped["vip_lane:lane_for_aaa"], rongcheng, scores, groups, pop.n)
    assert lane["effect"] == "reward" and lane["touched"] == 1
    assert lane["by_group"]["sex"]["F"]["touched"] == 1


# ------------------------------------------------------------------ relations cut


def test_a_subject_following_the_tip_drops_its_zero_standing_contact() -> None:
    me = person(1)
    friends = [person(10 + i) for i in range(4)]
    low = person(20)
    records = clean(me) + [r for f in friends for r in clean(f)]
    records += [
        Rec(low, "identity.phone_verified", 400),
        Rec(low, "card.overdue", 2),
        Rec(low, "loan.arrears_cycle", 2),
    ]
    rels = [Rel(me, f) for f in [*friends, low]]
    pop = population(records, rels)
    result = run_lab(
        ["sesame"], pop, months=1, start=date(2026, 6, 28), behaviour=Behaviour(cut_rate=1.0)
    )
    world = result.worlds[0]
    cut = figures(result)["relations_cut"][0]
    # five neighbours, min_degree 3: cutting the one zero-standing contact raises the factor
    assert cut["pairs_cut"] == 1 and cut["cutters"] == 1
    ended = world.population.relations.end >= 0
    assert ended.sum() == 1
    row = int(np.flatnonzero(ended)[0])
    assert pop.ids[int(world.population.relations.other[row])] == low
    assert cut["low_scorers"]["subjects"] == 1
    assert cut["low_scorers"]["mean_degree_start"] == 1.0
    assert cut["low_scorers"]["mean_degree_end"] == 0.0
    assert cut["low_scorers"]["isolated_share_end"] == 1.0
    assert cut["others"]["mean_degree_start"] > cut["others"]["mean_degree_end"]


def test_nobody_cuts_contacts_under_a_program_without_a_relationship_factor() -> None:
    me, low = person(1), person(2)
    pop = population([*clean(me), Rec(low, "card.overdue", 400)], [Rel(me, low)])
    result = run_lab(["rongcheng"], pop, months=1, behaviour=Behaviour(cut_rate=1.0))
    assert figures(result)["relations_cut"][0]["pairs_cut"] == 0


# ------------------------------------------------------------------ behaviour


def test_incentive_and_payment_grow_towards_a_cutoff() -> None:
    marks = np.array([600])
    score = np.array([560, 590, 600, 640, 700])
    scored = np.ones(5, bool)
    inc = incentive(score, scored, marks, 30.0)
    assert inc.tolist() == pytest.approx([0.0, 2 / 3, 1.0, 0.0, 0.0])
    stake = np.array([5, 5, 5, 5, 5])
    b = Behaviour()
    p = pay_probability(stake, score, scored, marks, 30.0, b)
    # 597 + 5 crosses 600: the bonus applies only where paying lifts the subject over
    crossing = pay_probability(np.array([5]), np.array([597]), np.ones(1, bool), marks, 30.0, b)
    assert crossing[0] == pytest.approx(b.pay_base + b.pay_slope * 5 / 30 + b.cross_bonus)
    assert p[0] == pytest.approx(b.pay_base + b.pay_slope * 5 / 30)
    bigger = pay_probability(stake * 4, score, scored, marks, 30.0, b)
    assert (bigger > p).all()
    assert pay_probability(np.zeros(5), score, scored, marks, 30.0, b).sum() == 0


def test_paying_repairs_the_record_and_the_engine_honours_it() -> None:
    me = person(1)
    records = [*clean(me), Rec(me, "card.overdue", 200)]
    pop = population(records)
    config = LabConfig(
        months=0, start=AS_OF, mount_attacks=False, behaviour=Behaviour(pay_base=1.0, pay_max=1.0)
    )
    result = simulate([program("sesame")], lab_catalogue(), config, population=pop)
    world: World = result.worlds[0]
    world.habits = Habits(pop, Behaviour())  # a run lets go of its habits when it ends
    world.habits.rates[:] = 0  # no new habits: only the payment
    before = world.months[0]
    i = pop.ids.index(me)
    assert before.rules["card_overdue"][i] < 0
    world.step(1)
    after = world.months[1]
    assert after.rules["card_overdue"][i] == 0
    assert after.score[i] == before.score[i] - before.rules["card_overdue"][i]
    assert world.stats[1].repaired == 1 and world.stats[1].payers == 1


def test_new_records_copy_their_own_subjects_history() -> None:
    """A heavy volunteer keeps logging long hours and a light one short; a subject with no
    hours of its own draws from everyone's."""
    heavy, light, none = person(1), person(2), person(3)
    recs = [Rec(heavy, "volunteer.hours", 30 * m, value=40.0) for m in range(1, 13)]
    recs += [Rec(light, "volunteer.hours", 30 * m, value=2.0) for m in range(1, 13)]
    recs += clean(heavy) + clean(light) + clean(none)
    pop = population(recs)
    habits = Habits(pop, Behaviour())
    day = (AS_OF - date(1970, 1, 1)).days
    nudge, coef = np.ones(pop.n), np.full(len(habits.kinds), 49.0)  # 50 times the rate
    drawn = [
        draw_records(np.random.default_rng(s), habits, nudge, coef, day, day + 30, 10**6, pop.n)
        for s in range(20)
    ]
    hours = pop.kinds.get("volunteer.hours")
    values: dict[int, set[float]] = {0: set(), 1: set(), 2: set()}
    for new in drawn:
        mine = new.kind == hours
        for subject, value in zip(new.subject[mine], new.value[mine], strict=True):
            values[int(subject)].add(float(value))
    index = {subject: i for i, subject in enumerate(pop.ids)}
    assert values[index[heavy]] == {40.0}
    assert values[index[light]] == {2.0}
    assert values[index[none]] == {40.0, 2.0}


def test_add_months_keeps_the_day_or_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


# ------------------------------------------------------------------ cutoffs from the catalogue


def test_the_catalogue_measures_each_program_score_decides() -> None:
    sesame = program("sesame").program
    rongcheng = program("rongcheng").program
    marks = {c.name: (c.effect, c.marks) for c in cutoffs_for(lab_catalogue(), sesame)}
    assert marks == {
        "rental_deposit:deposit_waived_excellent": ("reward", [700]),
        "bike_rental_deposit_waiver:waiver_at_650": ("reward", [650]),
        "car_rental_deposit_waiver:waiver_at_600": ("reward", [600]),
        "visa_paperwork:singapore_at_700": ("reward", [700]),
        "visa_paperwork:luxembourg_at_750": ("reward", [750]),
    }
    # grade AAA gates the VIP lane and the broadband upgrade through the honest_aaa list
    [broadband, lane] = cutoffs_for(lab_catalogue(), rongcheng)
    assert lane.name == "vip_lane:lane_for_aaa" and broadband.service == "broadband_tier"
    assert lane.rule == "on list honest_aaa (grade in AAA)" and lane.marks == [1050]
    # lists entered by records and recent records are audited from records (lab.listed), not
    # as cutoffs; only the phoenix flag is decided by neither
    assert {u.name for u in unaudited_for(lab_catalogue(), sesame)} == {"loan:phoenix_review"}
    assert unaudited_for(lab_catalogue(), rongcheng) == []
    by_records = {m.name: m.basis for m in list_measures(lab_catalogue())}
    assert by_records["flight_booking:no_flights_for_defaulters"] == "list"
    assert by_records["vip_lane:lane_for_volunteers"] == "list"
    assert by_records["loan:recent_arrears"] == "records"
    assert "vip_lane:lane_for_aaa" not in by_records and "loan:phoenix_review" not in by_records


def test_a_cutoff_approves_exactly_whom_the_platform_decision_allows() -> None:
    sesame = program("sesame").program
    catalogue = shipped_measures()
    service = catalogue.services["bike_rental_deposit_waiver"]  # default deny, one grant
    [cutoff] = [c for c in cutoffs_for(lab_catalogue(), sesame) if c.service == service.name]
    scores = np.arange(sesame.min_score, sesame.max_score + 1)
    approved = cutoff.approved(np.ones(len(scores), bool), scores)
    for score, yes in zip(scores.tolist(), approved.tolist(), strict=True):
        fact = ScoreFact("sesame", "v", datetime(2026, 1, 1), score, sesame.grade(score))
        decision = decide(service, SubjectFacts("s", {}, fact), datetime(2026, 1, 1))
        assert yes == (decision.outcome is Outcome.ALLOW), score
    # no score: the grant never applies
    assert not cutoff.approved(np.zeros(1, bool), np.zeros(1, np.int64))[0]


def test_a_restriction_spares_subjects_without_a_score(tmp_path: Path) -> None:
    # decide: a `below` test does not hold without a score, so the deny does not apply
    path = tmp_path / "measures.toml"
    path.write_text(HOTELS, encoding="utf-8")
    [hotels] = cutoffs_for(lab_catalogue(path), program("rongcheng").program)
    scored = np.array([True, True, False])
    score = np.array([849, 850, 0])
    assert hotels.applies(scored, score).tolist() == [True, False, False]
    assert hotels.approved(scored, score).tolist() == [False, True, True]
    assert hotels.marks == [850]


def test_a_program_without_a_grade_the_catalogue_names() -> None:
    text = shipped_program("rongcheng").text.replace('grade = "AAA"', 'grade = "top"')
    renamed = load_program_text(text, "renamed.toml").program
    # checked against the program under test, the shipped lists refuse it
    with pytest.raises(PolicyError, match="has no grade 'AAA'"):
        lab_catalogue(programs=[renamed])
    # a catalogue checked against other programs cannot be audited under it
    with pytest.raises(CutoffError, match="needs grade 'AAA'"):
        cutoffs_for(lab_catalogue(), renamed)


# ------------------------------------------------------------------ measures decided by records


def listed_population() -> tuple[Population, dict[str, str]]:
    """Judgments by case number, unpaid tax, arrears and a fulfilment of the wrong case."""
    who = {name: person(30 + i) for i, name in enumerate(("unpaid", "paid", "wrong", "clean"))}
    who["taxed"] = person(40)
    records = [
        *clean(who["clean"]),
        # an unfulfilled judgment, case C1: on the judgment defaulters' list
        Rec(who["unpaid"], "court.judgment_unfulfilled", 100, evidence="C1"),
        # a judgment and the fulfilment of the same case: off the list
        Rec(who["paid"], "court.judgment_unfulfilled", 100, evidence="C2"),
        Rec(who["paid"], "court.judgment_fulfilled", 50, evidence="C2"),
        # a fulfilment of another case closes nothing
        Rec(who["wrong"], "court.judgment_unfulfilled", 100, evidence="C3"),
        Rec(who["wrong"], "court.judgment_fulfilled", 50, evidence="C9"),
        # 150,000 yuan of unpaid tax (serious), and two overdue cards within 180 days
        Rec(who["taxed"], "tax.arrears", 20, value=150_000.0),
        Rec(who["taxed"], "card.overdue", 30),
        Rec(who["taxed"], "card.overdue", 60),
    ]
    reg = registry(
        [
            (who["unpaid"], "Rongcheng", True, 1990, "F"),
            (who["paid"], "Rongcheng", True, 1990, "F"),
            (who["wrong"], "Wendeng", False, 1950, "M"),
            (who["clean"], "Wendeng", False, 1950, "M"),
            (who["taxed"], "Wendeng", True, 1970, "M"),
        ]
    )
    return population_from_tables(build(records, evidence=True), AS_OF, reg), who


def test_list_measures_touch_whom_the_platform_lists(tmp_path: Path) -> None:
    pop, who = listed_population()
    assert pop.evidence.names == ["C1", "C2", "C3", "C9"]
    data = figures(run_lab(["rongcheng"], pop))
    rows = {(r["service"], r["measure"]): r for r in data["restriction_reach"]}
    flights = rows["flight_booking", "no_flights_for_defaulters"]
    assert flights["basis"] == "list" and flights["list"] == "judgment_defaulters"
    assert flights["effect"] == "restriction" and flights["program"] == "rongcheng"
    assert flights["rule"] == "on list judgment_defaulters (entered by court.judgment_unfulfilled)"
    # unpaid (C1) and wrong (C3, fulfilment of C9) are listed; paid is not
    assert flights["touched"] == 2 and flights["subjects"] == 5
    assert flights["touched_at_start"] == 2 and flights["share"] == 0.4
    assert flights["by_group"]["sex"] == {
        "F": {"subjects": 2, "touched": 1, "share": 0.5},
        "M": {"subjects": 3, "touched": 1, "share": 0.3333},
    }
    assert flights["by_group"]["region"]["Rongcheng"]["touched"] == 1
    assert flights["by_group"]["kind"] == {"person": {"subjects": 5, "touched": 2, "share": 0.4}}
    # the same list restricts a sesame service: list measures do not depend on the program
    assert flights["service_program"] == "sesame"
    taxed = rows["flight_booking", "no_flights_for_tax_defaulters"]
    assert taxed["touched"] == 1 and taxed["by_group"]["age_band"]["45-59"]["touched"] == 1
    arrears = rows["loan", "recent_arrears"]
    assert arrears["basis"] == "records" and arrears["list"] is None and arrears["touched"] == 1
    assert rows["vip_lane", "lane_for_volunteers"]["touched"] == 0
    # each count is the platform's own decision on the entry the platform derives
    catalogue = shipped_measures()
    records = {
        s: [LedgerRecord(i, "court.judgment_unfulfilled", moment(100), None, case)]
        for i, (s, case) in enumerate(((who["unpaid"], "C1"), (who["wrong"], "C3")))
    }
    for subject, held in records.items():
        entry = entry_of(catalogue.lists["judgment_defaulters"], subject, held, moment(0))
        facts = SubjectFacts(subject, {"judgment_defaulters": entry} if entry else {}, None)
        service = catalogue.services["flight_booking"]
        assert decide(service, facts, moment(0)).outcome is Outcome.DENY
    # only the phoenix flag is left unaudited
    programs = {p["id"]: p for p in data["meta"]["programs"]}
    assert programs["rongcheng"]["not_audited"] == []
    listed = {(m["service"], m["measure"]) for m in data["meta"]["list_measures"]}
    assert ("flight_booking", "no_flights_for_defaulters") in listed
    html = render_html(data)
    assert "Judgment defaulters: <b>2 subjects (40.0%)</b> restricted" in html
    assert "No flights for judgment defaulters (flight_booking:no_flights_for_defaulters)" in html


def test_list_measures_read_block_by_block_touch_the_same_subjects() -> None:
    pop, _ = listed_population()
    measures = list_measures(lab_catalogue())
    whole = touched_by(measures, pop, pop.records, pop.n, AS_OF)
    assert any(t.any() for t in whole.values())
    for block in (1, 2, 3):
        by_block = touched_by(measures, pop, pop.records, pop.n, AS_OF, block)
        assert {k: v.tolist() for k, v in by_block.items()} == {
            k: v.tolist() for k, v in whole.items()
        }


def test_a_simulated_fulfilment_closes_the_case_of_the_judgment_it_performs() -> None:
    pop, who = listed_population()
    behaviour = Behaviour(pay_base=1.0, pay_max=1.0)
    result = run_lab(["rongcheng"], pop, behaviour=behaviour)
    world: World = result.worlds[0]
    world.habits = Habits(pop, behaviour)  # a run lets go of its habits when it ends
    judgment = pop.kinds.get("court.judgment_unfulfilled")
    column = int(np.flatnonzero(world.habits.kinds == judgment)[0])
    world.habits.rates[:] = 0
    world.habits.rates[pop.ids.index(who["clean"]), column] = 3.0  # new judgments by habit
    world.step(1)
    world.audit_lists()
    records = world.population.records
    new = np.arange(len(records)) >= len(result.population.records)
    performed = new & (records.kind == pop.kinds.get("court.judgment_fulfilled"))
    names = pop.evidence.names
    done = {
        (pop.ids[int(s)], names[int(e)])
        for s, e in zip(records.subject[performed], records.evidence[performed], strict=True)
    }
    # each open judgment is performed under its own case; C2 was performed already
    assert done == {(who["unpaid"], "C1"), (who["wrong"], "C3")}
    assert world.stats[1].judgments_performed == 2
    drawn = new & (records.kind == judgment)
    cases = [names[int(e)] for e in records.evidence[drawn]]
    assert drawn.sum() > 0 and len(set(cases)) == len(cases)
    assert all(c.startswith("lab-case:") for c in cases)
    flights = next(
        r
        for r in figures(result)["restriction_reach"]
        if r["measure"] == "no_flights_for_defaulters"
    )
    # the performed judgments leave the list; the new ones put `clean` on it
    assert flights["touched_at_start"] == 2 and flights["touched"] == 1
    assert world.listed[1]["flight_booking:no_flights_for_defaulters"][pop.ids.index(who["clean"])]
