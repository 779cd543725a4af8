"""Every metric of a lab run, gathered into one JSON-ready document (figures.json)."""

from __future__ import annotations

from typing import Any

import numpy as np

from socialcredit.lab.attacks import RELAY_KINDS
from socialcredit.lab.metrics import (
    adverse_impact,
    approved_by,
    audit_groups,
    contagion,
    distinct_degree,
    distribution,
    group_members,
    isolation,
    judgeable,
    list_reach,
    reach,
)
from socialcredit.lab.population import day_of
from socialcredit.lab.simulate import LabResult, World

__all__ = ["FIGURE_KEYS", "figures"]

FIGURE_KEYS = (
    "distribution",
    "adverse_impact_ratios",
    "contagion",
    "relations_cut",
    "attacks",
    "restriction_reach",
)


def _screens(result: LabResult, world: World) -> list[dict[str, Any]]:
    population = result.population
    n = population.n
    program = world.program
    months = world.months
    screens = []
    for index in sorted({0, len(months) - 1}):
        month = months[index]
        persons = population.person[:n] & month.in_scope[:n]
        groups = {k: v[persons] for k, v in audit_groups(population, month.as_of, n).items()}
        for cutoff in world.cutoffs:
            approved = approved_by(cutoff, month, n)[persons]
            rows = adverse_impact(
                approved,
                groups,
                min_group=result.config.min_group,
                threshold=result.config.four_fifths,
            )
            screens.append(
                {
                    "program": program.id,
                    "service": cutoff.service,
                    "measure": cutoff.measure,
                    "effect": cutoff.effect,
                    "rule": cutoff.rule,
                    "month": index,
                    "as_of": month.as_of.isoformat(),
                    "persons": int(persons.sum()),
                    "approval_rate": round(float(approved.mean()), 4) if len(approved) else 0.0,
                    "approved": int(approved.sum()),
                    "judged": judgeable(approved, result.config.min_group),
                    "groups": rows,
                }
            )
    return screens


def _relations_cut(result: LabResult, world: World) -> dict[str, Any]:
    population = world.population
    n = result.population.n
    program = world.program
    factor = program.relationship_factor
    kinds = factor.propagation.relations if factor and factor.propagation else list(RELAY_KINDS)
    codes = np.array([c for k in kinds if (c := population.relation_kinds.get(k)) is not None])
    first, last = world.months[0], world.months[-1]
    start = distinct_degree(world.start_relations, day_of(first.as_of), codes, n)
    end = distinct_degree(population.relations, day_of(last.as_of), codes, n)
    scored = first.scored[:n]
    low = scored & (first.pre[:n] <= program.base)
    groups = isolation(low[scored], start[scored], end[scored])
    gains, changes = [], []
    for month in range(1, len(world.months)):
        before, after = world.months[month - 1], world.months[month]
        both = before.scored[:n] & after.scored[:n]
        delta = after.relationship[:n] - before.relationship[:n]
        cutters = np.zeros(n, bool)
        cutters[world.cut_subjects[month]] = True
        gains.append(delta[both & cutters])
        changes.append(delta[both & ~cutters])
    gain = np.concatenate(gains) if gains else np.empty(0)
    change = np.concatenate(changes) if changes else np.empty(0)
    return {
        "program": program.id,
        "has_relationship_factor": factor is not None,
        "cut_rate": result.config.behaviour.cut_rate,
        "relation_kinds": kinds,
        "low_scorer_rule": f"score before the relationship factor at or below the base "
        f"({program.base}) in month 0",
        "pairs_cut": sum(s.pairs_cut for s in world.stats),
        "cutters_mean_gain": round(float(gain.mean()), 4) if len(gain) else None,
        "others_mean_change": round(float(change.mean()), 4) if len(change) else None,
        "cutters": sum(s.cutters for s in world.stats),
        "by_month": [
            {"month": s.month, "cutters": s.cutters, "pairs_cut": s.pairs_cut} for s in world.stats
        ],
        **groups,
    }


def _reach(result: LabResult, world: World) -> list[dict[str, Any]]:
    population = result.population
    n = population.n
    last = world.months[-1]
    first = world.months[0]
    groups = audit_groups(population, last.as_of, n)
    groups["kind"] = np.where(population.person[:n], "person", "organisation").astype(object)
    rows = []
    for cutoff in world.cutoffs:
        row = reach(cutoff, world.program, last, groups, n)
        row["touched_at_start"] = reach(cutoff, world.program, first, {}, n)["touched"]
        rows.append(row)
    end, start = len(world.months) - 1, 0
    if end in world.listed and start in world.listed:
        members = group_members(groups, np.ones(n, bool))
        for measure in world.list_measures:
            touched = world.listed[end][measure.name][:n]
            row = list_reach(measure, world.program, touched, last.as_of, members)
            row["touched_at_start"] = int(world.listed[start][measure.name][:n].sum())
            rows.append(row)
    return rows


def figures(result: LabResult) -> dict[str, Any]:
    """The document behind the report: meta, the six required figures, and behaviour."""
    config = result.config
    n = result.population.n
    out: dict[str, Any] = {
        "meta": {
            "programs": [
                {
                    "id": w.program.id,
                    "name": w.program.name,
                    "version": w.compiled.version,
                    "measures_version": w.catalogue_version,
                    "cutoffs": [
                        {
                            "service": c.service,
                            "measure": c.measure,
                            "effect": c.effect,
                            "action": c.action.value,
                            "rule": c.rule,
                            "title": c.title,
                            "source": c.source,
                        }
                        for c in w.cutoffs
                    ],
                    "not_audited": [
                        {"service": u.service, "measure": u.measure, "test": u.test}
                        for u in w.unaudited
                    ],
                }
                for w in result.worlds
            ],
            "list_measures": [
                {
                    "service": m.service,
                    "measure": m.measure.id,
                    "program": m.alone.program,
                    "basis": m.basis,
                    "list": None if m.definition is None else m.definition.name,
                    "effect": m.effect,
                    "action": m.measure.effect.value,
                    "rule": m.rule,
                    "title": m.measure.title,
                    "source": m.measure.source,
                }
                for m in (result.worlds[0].list_measures if result.worlds else [])
            ],
            "subjects": n,
            "persons": int(result.population.person.sum()),
            "records_at_start": result.population.ledger_records,
            "months": config.months,
            "seed": config.seed,
            "start": config.start.isoformat(),
            "four_fifths": config.four_fifths,
            "min_group": config.min_group,
            "sybil_limit": config.sybil_limit,
            "behaviour": vars(config.behaviour),
            "attack_parameters": vars(config.attacks),
            "seconds": {k: round(v, 2) for k, v in result.timings.items()},
        },
        "distribution": [],
        "adverse_impact_ratios": {
            "threshold": config.four_fifths,
            "min_group": config.min_group,
            "screens": [],
        },
        "contagion": [],
        "relations_cut": [],
        "attacks": [],
        "restriction_reach": [],
        "behaviour": [],
    }
    for world in result.worlds:
        program = world.program
        out["distribution"].append(distribution(program, world.months, n))
        out["adverse_impact_ratios"]["screens"] += _screens(result, world)
        out["contagion"].append(contagion(program, world.months, n))
        out["relations_cut"].append(_relations_cut(result, world))
        out["attacks"] += [{"program": program.id, **a.as_json()} for a in world.attacks]
        out["restriction_reach"] += _reach(result, world)
        out["behaviour"].append({"program": program.id, "months": [vars(s) for s in world.stats]})
    flagged = [
        {
            "program": s["program"],
            "service": s["service"],
            "measure": s["measure"],
            "month": s["month"],
            **{k: row[k] for k in ("dimension", "group", "rate", "ratio", "significant")},
        }
        for s in out["adverse_impact_ratios"]["screens"]
        for row in s["groups"]
        if row["flagged"]
    ]
    out["adverse_impact_ratios"]["flagged"] = flagged
    return out
