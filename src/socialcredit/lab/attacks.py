"""Reputation attacks on a world's final ledger, and whether the defences held.

All attacks are appended to a world's ledger after its last month and scored in one run. Their
targets are scored persons with as few relations as possible (none in a large city), no two
related, and attackers are picked among subjects unrelated to any target, so one attack cannot
move another's target.

- sybil_ring: K new identities (known for `sybil_age_days`, clean records) with confirmed
  relations among themselves and to the target.
- sybil_ring_aged: the same ring built patiently: identities known for `aged_days`, relations
  confirmed only recently (informative; the gate checks `sybil_ring`).
- report_ring: colluders who trade reports among themselves (reciprocally, while related) and
  all report the target.
- report_flood: a few reporters file many false reports about the target in one month.
- phoenix: an organisation with a legal representative re-registers under a new code with the
  same representative at the same registered address, shedding its record: the worst-scored
  one on a blacklist (the motive to shed it), else the worst-scored. Caught when the
  platform's own phoenix flag (`domain.lists.phoenix_reason`) flags the new code; the lab
  keeps no addresses, so each organisation has one of its own and the new code copies the
  old one's.

For the report attacks a twin target receives the same reports unscreened, so the report
shows what the screening rules are worth (`points_moved_unscreened`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.lists import ListDefinition, ListEntry, Representation, phoenix_reason
from socialcredit.lab import defences
from socialcredit.lab.listed import blacklisted
from socialcredit.lab.population import (
    DAY_US,
    NO_DAY,
    Audit,
    Population,
    Records,
    Relations,
    datetimes,
    day_of,
    moment_of,
    note_first_days,
)
from socialcredit.lab.scoring import LabLedger, MonthScores, score_month
from socialcredit.policy.compile import CompiledProgram
from socialcredit.policy.reports import shipped_report_settings

__all__ = ["AttackResult", "Attacks", "run_attacks"]

CLEAN_PROFILE = (
    ("identity.phone_verified", 1),
    ("identity.address_verified", 1),
    ("education.degree_verified", 1),
    ("employment.verified", 2),
    ("loan.repaid_on_time", 6),
    ("tax.filed_on_time", 1),
    ("commerce.order_completed", 20),
)
RELAY_KINDS = ("contact", "guarantor", "co_borrower")
REPRESENTATIVE = "legal_representative_of"
LAB_FURNISHER = "lab-adjudicated-reports"


@dataclass(frozen=True)
class Attacks:
    """Attack sizes and the defences' parameters."""

    sybil_size: int = 100
    sybil_age_days: int = 120
    aged_days: int = 400
    ring_size: int = 10
    flood_reports: int = 200
    flood_reporters: int = 10
    adjudicator_error: float = 0.05
    flagged_error: float = 0.0
    report_kind: str = "contract.breached"
    burst_limit: int = 10
    young_days: int = 365


@dataclass
class AttackResult:
    """One attack on one program: how far it moved its target and whether it was flagged."""

    attack: str
    description: str
    applicable: bool
    target: str | None = None
    score_before: int | None = None
    score_after: int | None = None
    points_moved: int | None = None
    caught: bool | None = None
    flags: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "description": self.description,
            "applicable": self.applicable,
            "target": self.target,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "points_moved": self.points_moved,
            "caught": self.caught,
            "flags": self.flags,
            **self.details,
        }


class _Builder:
    """Collects the attack's new subjects, records and relations."""

    def __init__(self, population: Population, as_of: date) -> None:
        self.population = population
        self.day = day_of(as_of)
        self.next_subject = population.n
        self.next_id = population.next_record_id()
        self.persons: list[bool] = []
        self.records: list[Records] = []
        self.relations: list[Relations] = []

    def subjects(self, count: int, person: bool = True) -> np.ndarray:
        first = self.next_subject
        self.next_subject += count
        self.persons += [person] * count
        return np.arange(first, first + count, dtype=np.int64)

    def furnisher(self, kind: str) -> int:
        """The furnisher that most often sends this kind in the ledger (or the lab's own)."""
        pop = self.population
        code = pop.kinds.get(kind)
        sender = None if code is None else pop.sender(code)
        return pop.furnishers.code(LAB_FURNISHER) if sender is None else sender

    def record(
        self, subject: np.ndarray, kind: str, day: np.ndarray, furnisher: int | None = None
    ) -> None:
        m = len(subject)
        if m == 0:
            return
        code = self.population.kinds.code(kind)
        self.records.append(
            Records.build(
                np.arange(self.next_id, self.next_id + m),
                subject,
                np.full(m, code),
                np.full(m, self.furnisher(kind) if furnisher is None else furnisher),
                moment_of(day),
                np.full(m, np.nan),
                np.full(m, -1),
            )
        )
        self.next_id += m

    def relate(self, a: np.ndarray, b: np.ndarray, relation: str, start_day: int) -> None:
        m = len(a)
        code = self.population.relation_kinds.code(relation)
        self.relations.append(
            Relations.build(
                a, b, np.full(m, code), np.full(m, start_day * DAY_US), np.full(m, -1), np.ones(m)
            )
        )

    def clean_identities(self, rng: np.random.Generator, count: int, age_days: int) -> np.ndarray:
        who = self.subjects(count)
        first = self.day - age_days
        for kind, per in CLEAN_PROFILE:
            subject = np.repeat(who, per)
            day = first + (rng.random(len(subject)) * age_days).astype(np.int64)
            if kind == "identity.phone_verified":
                day[:] = first  # the day the identity appeared
            self.record(subject, kind, day)
        return who

    def apply(self) -> Population:
        """The population with everything added (new subjects' audit attributes unknown)."""
        pop = self.population
        added = self.next_subject - pop.n
        records = pop.records
        for part in self.records:
            records = records.append(part)
        relations = pop.relations
        for rel in self.relations:
            relations = relations.append(rel)
        audit: Audit = pop.audit.extend(added)
        first_day = np.concatenate([pop.first_day, np.full(added, NO_DAY, np.int64)])
        for part in self.records:
            note_first_days(first_day, part, pop.kinds.get(RETRACTION_KIND))
        return replace(
            pop,
            ids=pop.ids + [f"lab-{i}" for i in range(pop.n, self.next_subject)],
            person=np.concatenate([pop.person, np.array(self.persons, bool)]),
            records=records,
            relations=relations,
            audit=audit,
            first_day=first_day,
        )


def _isolated_targets(
    population: Population, last: MonthScores, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Scored persons near the median score with as few relations as possible (none, in a
    large population), no two of them related."""
    n = population.n
    rel = population.relations
    relay = np.isin(rel.relation, [population.relation_kinds.code(k) for k in RELAY_KINDS])
    degree = np.bincount(rel.subject[relay], minlength=n) + np.bincount(
        rel.other[relay], minlength=n
    )
    pool = np.flatnonzero(last.scored & population.person[:n])
    if len(pool) < count:
        raise ValueError("the population is too small to choose attack targets")
    median = np.median(last.score[pool])
    order = np.lexsort((rng.random(len(pool)), np.abs(last.score[pool] - median), degree[pool]))
    chosen: list[int] = []
    near: set[int] = set()
    for subject in pool[order].tolist():
        if subject in near:
            continue
        chosen.append(subject)
        if len(chosen) == count:
            break
        near.update(rel.other[rel.subject == subject].tolist())
        near.update(rel.subject[rel.other == subject].tolist())
    if len(chosen) < count:
        raise ValueError("the population is too small to choose attack targets")
    return np.array(chosen, np.int64)


def _bystanders(
    population: Population,
    last: MonthScores,
    avoid: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Scored persons not related to any subject in `avoid`, and not in it."""
    n = population.n
    rel = population.relations
    near = np.zeros(n, bool)
    near[avoid] = True
    touching = near[rel.subject] | near[rel.other]
    near[rel.subject[touching]] = True
    near[rel.other[touching]] = True
    pool = np.flatnonzero(last.scored & population.person[:n] & ~near)
    if len(pool) < count:
        raise ValueError("the population is too small for the attackers")
    return np.asarray(rng.choice(pool, count, replace=False), np.int64)


def run_attacks(
    compiled: CompiledProgram,
    population: Population,
    ledger: LabLedger,
    last: MonthScores,
    attacks: Attacks,
    seed: int,
    lists: Sequence[ListDefinition],
) -> list[AttackResult]:
    """Mount every attack on the final ledger, score once, and report each target's move.
    `lists` are the catalogue's lists, for the blacklists the phoenix flag reads."""
    program = compiled.program
    rng = np.random.default_rng([seed, 7_777])
    as_of = last.as_of
    build = _Builder(population, as_of)
    day = build.day
    n = population.n
    targets = _isolated_targets(population, last, 6, rng)
    sybil_t, aged_t, ring_t, ring_twin, flood_t, flood_twin = (int(t) for t in targets)
    results: dict[str, AttackResult] = {}
    watch: dict[str, int] = {}

    # -- Sybil rings
    for name, target, age, started in (
        ("sybil_ring", sybil_t, attacks.sybil_age_days, day - attacks.sybil_age_days),
        ("sybil_ring_aged", aged_t, attacks.aged_days, day - 10),
    ):
        ring = build.clean_identities(rng, attacks.sybil_size, age)
        i, j = np.triu_indices(len(ring), k=1)
        build.relate(ring[i], ring[j], "contact", started)
        build.relate(ring, np.full(len(ring), target), "contact", started)
        patient = " built patiently" if name.endswith("aged") else ""
        results[name] = AttackResult(
            name,
            f"{attacks.sybil_size} identities known for {age} days{patient}, with confirmed "
            "relations among themselves and to the target",
            applicable=True,
            details={"identities": attacks.sybil_size, "identity_age_days": age},
        )
        watch[name] = target

    # -- reports: a ring of colluders and a flood
    attackers = _bystanders(
        population, last, targets, attacks.ring_size + attacks.flood_reporters, rng
    )
    colluders = attackers[: attacks.ring_size]
    flooders = attackers[attacks.ring_size :]
    nxt = np.roll(colluders, -1)
    build.relate(colluders, nxt, "contact", day - 60)
    per = max(1, attacks.flood_reports // max(1, attacks.flood_reporters))
    report_day = day - 15
    plans = {
        "report_ring": (
            np.concatenate([colluders, nxt, colluders]),
            np.concatenate([nxt, colluders, np.full(len(colluders), ring_t)]),
            ring_t,
            ring_twin,
            f"{attacks.ring_size} related colluders trade reports and all report the target",
        ),
        "report_flood": (
            np.repeat(flooders, per),
            np.full(len(flooders) * per, flood_t),
            flood_t,
            flood_twin,
            f"{len(flooders) * per} false reports about the target from {len(flooders)} "
            "reporters in one month",
        ),
    }
    relations_now = population.relations.append(
        Relations.build(
            colluders,
            nxt,
            np.full(len(colluders), population.relation_kinds.code("contact")),
            np.full(len(colluders), (day - 60) * DAY_US),
            np.full(len(colluders), -1),
            np.ones(len(colluders), bool),
        )
    )
    lab_furnisher = population.furnishers.code(LAB_FURNISHER)
    settings = shipped_report_settings()
    for name, (reporter, about, target, twin, text) in plans.items():
        reports = defences.Reports(reporter, about, np.full(len(reporter), report_day))
        screen = defences.screen_reports(reports, relations_now, population, settings, day)
        on_target = reports.target == target
        # one draw per report: the unscreened twin meets the same adjudicator, without flags
        draw = rng.random(len(reporter))
        error, flagged_error = attacks.adjudicator_error, attacks.flagged_error
        upheld = defences.adjudicate(draw, screen.flagged, error, flagged_error)
        unscreened = defences.adjudicate(draw, np.zeros(len(draw), bool), error, flagged_error)
        counted = on_target & ~screen.refused & upheld
        build.record(
            np.full(int(counted.sum()), target),
            attacks.report_kind,
            np.full(int(counted.sum()), report_day),
            lab_furnisher,
        )
        twin_upheld = int((on_target & unscreened).sum())
        build.record(
            np.full(twin_upheld, twin),
            attacks.report_kind,
            np.full(twin_upheld, report_day),
            lab_furnisher,
        )
        results[name] = AttackResult(
            name,
            text,
            applicable=True,
            caught=screen.caught,
            flags=screen.rules,
            details={
                "reports_about_target": int(on_target.sum()),
                "refused": int((on_target & screen.refused).sum()),
                "flagged": int((on_target & screen.flagged).sum()),
                "upheld": int(counted.sum()),
                "upheld_unscreened": twin_upheld,
                "adjudicator_error": attacks.adjudicator_error,
                "flagged_error": attacks.flagged_error,
            },
        )
        watch[name] = target
        watch[name + "/twin"] = twin
    del relations_now  # a copy of every relation: not kept while the ledger is scored

    # -- phoenix company
    rep_code = population.relation_kinds.get(REPRESENTATIVE)
    orgs_in_scope = "organisation" in program.subjects
    phoenix_new: int | None = None
    listed: dict[int, ListEntry] = {}
    if orgs_in_scope and rep_code is not None:
        reps = (population.relations.relation == rep_code) & population.relations.active(day)
        represented = np.zeros(n, bool)
        represented[population.relations.other[reps]] = True
        orgs = np.flatnonzero(last.scored & ~population.person[:n] & represented)
        listed = blacklisted(lists, population, population.records, n, as_of)
        on_list = np.array([o for o in orgs if int(o) in listed], np.int64)
        pool = on_list if len(on_list) else orgs
        if len(pool):
            old = int(pool[np.lexsort((pool, last.score[pool]))[0]])
            rep = population.relations.subject[reps][population.relations.other[reps] == old][0]
            phoenix_new = int(build.subjects(1, person=False)[0])
            build.relate(np.array([rep]), np.array([phoenix_new]), REPRESENTATIVE, day - 20)
            build.record(np.array([phoenix_new]), "tax.filed_on_time", np.array([day - 10]))
            entry = listed.get(old)
            results["phoenix"] = AttackResult(
                "phoenix",
                "the worst-scored organisation"
                + (" on a blacklist" if entry is not None else "")
                + " re-registers under a new code with the same legal representative and "
                "address",
                applicable=True,
                details={"old_code": population.ids[old], "old_on_list": entry and entry.list},
            )
            watch["phoenix"] = old
    if "phoenix" not in results:
        results["phoenix"] = AttackResult(
            "phoenix",
            "an organisation re-registers under a new code to shed its record",
            applicable=False,
            details={"note": f"program {program.id} does not score organisations"},
        )

    attacked = build.apply()
    ledger.add_subjects(attacked, n)
    for part in build.records:
        ledger.add_records(part, attacked)
    ledger.set_relations(attacked)
    after = score_month(compiled, ledger.ledger, as_of, attacked.n)

    # -- which flag rules fired on the relations and organisations
    bursts = defences.relation_bursts(
        attacked.relations, attacked.first_day, attacks.young_days, attacks.burst_limit
    )
    phoenix_flag = (
        None
        if phoenix_new is None
        else _phoenix_flag(attacked, rep_code, phoenix_new, watch["phoenix"], listed)
    )

    def before(subject: int) -> int | None:
        return int(last.score[subject]) if last.scored[subject] else None

    def now(subject: int) -> int | None:
        return int(after.score[subject]) if after.scored[subject] else None

    for name, result in results.items():
        if not result.applicable:
            continue
        target = watch[name]
        result.target = population.ids[target]
        result.score_before = before(target)
        moved_to = (
            now(phoenix_new) if name == "phoenix" and phoenix_new is not None else now(target)
        )
        result.score_after = moved_to
        if result.score_before is not None and moved_to is not None:
            result.points_moved = moved_to - result.score_before
        if name.startswith("sybil"):
            result.caught = target in bursts
            result.flags = [defences.BURST] if result.caught else []
            result.details["relationship_points_after"] = int(after.relationship[target])
        if name == "phoenix" and phoenix_new is not None:
            result.caught = phoenix_flag is not None
            result.flags = [phoenix_flag] if phoenix_flag is not None else []
        if name + "/twin" in watch:
            twin = watch[name + "/twin"]
            was, is_ = before(twin), now(twin)
            result.details["points_moved_unscreened"] = (
                is_ - was if was is not None and is_ is not None else None
            )
    return list(results.values())


def _phoenix_flag(
    population: Population,
    rep_code: int | None,
    new: int,
    old: int,
    listed: dict[int, ListEntry],
) -> str | None:
    """The platform's phoenix flag on the new organisation, with why, or None. It reads the
    legal representations of the new organisation's representatives, the blacklist entries, and
    registered addresses: each organisation its own, the new one the old one's."""
    relations = population.relations
    reps = relations.relation == rep_code
    mine = set(relations.subject[reps & (relations.other == new)].tolist())
    theirs = reps & np.isin(relations.subject, list(mine))
    ids = population.ids
    starts = datetimes(relations.start[theirs])
    representations = [
        Representation(ids[p], ids[o], start)
        for p, o, start in zip(
            relations.subject[theirs].tolist(),
            relations.other[theirs].tolist(),
            starts,
            strict=True,
        )
    ]
    organisations = {r.organisation for r in representations}
    addresses = {o: f"registered office of {o}" for o in organisations}
    addresses[ids[new]] = addresses.get(ids[old], f"registered office of {ids[old]}")
    on_list = {ids[s]: entry for s, entry in listed.items() if ids[s] in organisations}
    return phoenix_reason(ids[new], representations, addresses, on_list)
