"""Attacks the defences must catch, on a small synthetic city, and the flag rules by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import cache

import numpy as np
import pytest

from ledgers import AS_OF, Rec, Rel, build, organisation, person
from socialcredit.lab import Attacks, LabConfig, gate, lab_catalogue, simulate
from socialcredit.lab.defences import RATE_LIMIT, Reports, relation_bursts, screen_reports
from socialcredit.lab.figures import figures
from socialcredit.lab.population import DAY_US, Relations, day_of, population_from_tables
from socialcredit.policy.compile import CompiledProgram, compile_program
from socialcredit.policy.loader import load_program_text, shipped_catalogue, shipped_program
from socialcredit.policy.reports import shipped_report_settings
from test_lab import clean, population, run_lab

START = date(2026, 1, 1)


@cache
def program(name: str) -> CompiledProgram:
    return compile_program(shipped_program(name), shipped_catalogue())


def lax_sesame() -> CompiledProgram:
    """Sesame with weakened Sybil defences: identities relay after 30 days, one contact counts."""
    text = shipped_program("sesame").text
    text = text.replace("seed_history_days = 365", "seed_history_days = 30")
    text = text.replace("min_degree = 3", "min_degree = 1")
    return compile_program(load_program_text(text, "lax-sesame.toml"), shipped_catalogue())


@cache
def attack_figures() -> dict:
    config = LabConfig(
        population=2_000, months=0, start=START, attacks=Attacks(adjudicator_error=0.5)
    )
    programs = [program("sesame"), program("rongcheng"), lax_sesame()]
    return figures(simulate(programs, lab_catalogue(), config))


def attacks_of(index: int) -> dict[str, dict]:
    """The attacks on the index-th world (sesame, rongcheng, lax sesame): five each, in order."""
    rows = attack_figures()["attacks"][5 * index : 5 * index + 5]
    return {a["attack"]: a for a in rows}


def test_a_sybil_ring_of_new_identities_moves_nobody_and_is_flagged() -> None:
    for index in (0, 1):
        sybil = attacks_of(index)["sybil_ring"]
        assert sybil["identities"] == 100
        assert sybil["points_moved"] == 0
        assert sybil["caught"] is True


def test_a_patient_sybil_ring_is_bounded_by_the_factor_ceiling() -> None:
    aged = attacks_of(0)["sybil_ring_aged"]
    assert 0 < aged["points_moved"] <= 20  # sesame's relationship ceiling: 5% of 400
    assert aged["caught"] is False


def test_reports_meet_the_platforms_rate_limit_and_flags() -> None:
    limit = shipped_report_settings().max_reports
    for index in (0, 1):
        found = attacks_of(index)
        flood, ring = found["report_flood"], found["report_ring"]
        # 10 reporters file 20 reports each in a day: all but `limit` each are refused
        assert flood["caught"] and flood["flags"] == [RATE_LIMIT]
        assert flood["refused"] == flood["reports_about_target"] - 10 * limit
        assert flood["flagged"] == 0 and flood["upheld"] <= 10 * limit
        # without the limit, an adjudicator wrong half the time upholds many more
        assert flood["upheld_unscreened"] > 50 and flood["upheld"] < flood["upheld_unscreened"]
        # the few upheld are enough: the rule's cap is reached either way
        assert flood["points_moved"] < 0 and flood["points_moved_unscreened"] < 0
        # the colluders' trades are flagged (related, and each pair a ring of two); their
        # reports about the target carry no flag, so they meet the adjudicator's error rate
        assert ring["caught"] and ring["flags"] == ["related", "ring"]
        assert ring["flagged"] == 0 and ring["refused"] == 0
        assert ring["upheld"] == ring["upheld_unscreened"]
        assert ring["points_moved"] == ring["points_moved_unscreened"]


def test_a_phoenix_company_sheds_its_record_and_is_caught_only_if_blacklisted() -> None:
    phoenix = attacks_of(1)["phoenix"]
    assert phoenix["applicable"] and phoenix["caught"] == (phoenix["old_on_list"] is not None)
    assert phoenix["points_moved"] > 0 and phoenix["score_after"] == 1000
    assert attacks_of(0)["phoenix"]["applicable"] is False  # sesame scores persons only


def test_weakened_sybil_defences_fail_the_gate() -> None:
    sybil = attacks_of(2)["sybil_ring"]
    assert sybil["points_moved"] > 5
    data = attack_figures()
    verdict = gate(data)
    assert any("Sybil ring of 100 identities moved its target" in f for f in verdict.failures)
    assert not any("Sybil" in f for f in verdict.failures if f.startswith("rongcheng"))


# ------------------------------------------------------------------ the flag rules by hand


def relations(pairs: list[tuple[int, int]], start_day: int = 0) -> Relations:
    m = len(pairs)
    return Relations.build(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        np.zeros(m),
        np.full(m, start_day * DAY_US),
        np.full(m, -1),
        np.ones(m, bool),
    )


def test_the_platforms_report_rules_screen_each_filing() -> None:
    people = [person(200 + i) for i in range(10)]
    pop = population([r for p in people for r in clean(p)], [Rel(people[0], people[1])])
    at = [pop.ids.index(p) for p in people]
    settings = replace(shipped_report_settings(), max_reports=3, window_days=30, ring_days=90)
    reports = Reports(
        reporter=np.array([at[i] for i in (0, 2, 3, 3, 3, 3, 5, 6)]),
        target=np.array([at[i] for i in (1, 4, 9, 9, 9, 9, 6, 5)]),
        day=np.full(8, day_of(AS_OF)),
    )
    result = screen_reports(reports, pop.relations, pop, settings, day_of(AS_OF))
    # 0 reports a contact; 3's fourth report in a day is past the limit; 5 and 6 trade reports
    assert result.flagged.tolist() == [True, False, False, False, False, False, True, True]
    assert result.refused.tolist() == [False, False, False, False, False, True, False, False]
    assert result.rules == [RATE_LIMIT, "related", "ring"] and result.caught


def test_relation_bursts_from_young_identities() -> None:
    # subject 0 gains 12 relations on day 500 from identities first seen on day 400
    rel = relations([(i, 0) for i in range(1, 13)], start_day=500)
    first = np.array([0] + [400] * 12, np.int64)
    assert relation_bursts(rel, first, young_days=365, limit=10) == {0}
    assert relation_bursts(rel, first, young_days=50, limit=10) == set()
    assert relation_bursts(rel, first, young_days=365, limit=13) == set()


def test_too_small_a_population_for_attacks_is_an_error() -> None:
    pop = population_from_tables(build([Rec(person(1), "identity.phone_verified", 400)]), AS_OF)
    config = LabConfig(months=0, start=AS_OF)
    with pytest.raises(ValueError, match="too small"):
        simulate([program("rongcheng")], lab_catalogue(), config, population=pop)


def phoenix_of(listed: bool) -> dict:
    """A phoenix attack on a hand-built city: two scored organisations, each with its legal
    representative; the worse-scored one has an unpaid judgment (on the defaulters' list) when
    `listed`."""

    people = [person(100 + i) for i in range(30)]
    bad, good = organisation(1), organisation(2)
    records = [r for p in people for r in clean(p)]
    for org in (bad, good):
        records += [Rec(org, "tax.filed_on_time", d) for d in (400, 300, 200)]
    records.append(Rec(bad, "court.judgment_unfulfilled" if listed else "tax.arrears", 100,
                       value=1000.0, evidence="C7"))  # fmt: skip
    relations = [
        Rel(people[0], bad, "legal_representative_of", days=800),
        Rel(people[1], good, "legal_representative_of", days=800),
    ]
    pop = population(records, relations)
    config = {"mount_attacks": True, "attacks": Attacks(ring_size=2, flood_reporters=2)}
    world = run_lab(["rongcheng"], pop, **config).worlds[0]
    return next(a.as_json() for a in world.attacks if a.attack == "phoenix")


def test_the_platforms_phoenix_flag_catches_a_blacklisted_organisation_re_registering() -> None:
    caught = phoenix_of(listed=True)
    assert caught["old_on_list"] == "judgment_defaulters" and caught["caught"]
    assert caught["flags"][0].startswith("shares legal representative")
    assert caught["points_moved"] > 0  # the new code starts clean: the record is shed
    # an organisation on no blacklist is not flagged: the platform flags phoenixes of listed ones
    missed = phoenix_of(listed=False)
    assert missed["old_on_list"] is None and missed["caught"] is False and missed["flags"] == []
