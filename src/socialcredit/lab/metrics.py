"""The lab's metrics, as plain functions over arrays (so each can be checked by hand).

docs/lab.md defines each one; `figures` gathers them for a whole run.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np

from socialcredit.domain.programs import Program
from socialcredit.lab.cutoffs import Cutoff
from socialcredit.lab.listed import ListMeasure
from socialcredit.lab.population import Population, Relations
from socialcredit.lab.scoring import MonthScores

__all__ = [
    "AGE_BANDS",
    "INSUFFICIENT",
    "adverse_impact",
    "age_bands",
    "approved_by",
    "audit_groups",
    "contagion",
    "distinct_degree",
    "distribution",
    "grade_migration",
    "grades_of",
    "group_members",
    "isolation",
    "judgeable",
    "list_reach",
    "reach",
    "significant_gap",
    "touched_counts",
]

INSUFFICIENT = "insufficient data"
AGE_BANDS = ((18, 29), (30, 44), (45, 59), (60, 74), (75, 200))


def _band_name(low: int, high: int) -> str:
    return f"{low}+" if high >= 200 else f"{low}-{high}"


def age_bands(birth_year: np.ndarray, as_of: date) -> np.ndarray:
    """Age band labels ('' where the birth year is unknown)."""
    age = as_of.year - birth_year.astype(np.int64)
    labels = np.full(len(birth_year), "", dtype=object)
    for low, high in AGE_BANDS:
        labels[(birth_year > 0) & (age >= low) & (age <= high)] = _band_name(low, high)
    return labels


def audit_groups(
    population: Population, as_of: date, n: int | None = None
) -> dict[str, np.ndarray]:
    """Audit labels per subject for each dimension ('' where unknown). Never scoring inputs."""
    n = population.n if n is None else n
    audit = population.audit
    region = np.full(n, "", dtype=object)
    known = audit.region[:n] >= 0
    if audit.regions:
        names = np.array(audit.regions, dtype=object)
        region[known] = names[audit.region[:n][known]]
    urban = np.select([audit.urban[:n] == 1, audit.urban[:n] == 0], ["urban", "rural"], "")
    sex = np.select([audit.sex[:n] == 0, audit.sex[:n] == 1], ["F", "M"], "")
    return {
        "region": region,
        "urban_rural": urban.astype(object),
        "age_band": age_bands(audit.birth_year[:n], as_of),
        "sex": sex.astype(object),
    }


def significant_gap(yes: int, size: int, best_yes: int, best_size: int, z: float = 1.96) -> bool:
    """Whether a group's rate is below the best group's by more than chance (two-proportion
    z-test, two-sided 5% by default)."""
    if size == 0 or best_size == 0:
        return False
    pooled = (yes + best_yes) / (size + best_size)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / size + 1 / best_size))
    if spread == 0:
        return False
    return (best_yes / best_size - yes / size) / spread > z


def judgeable(approved: np.ndarray, min_group: int) -> bool:
    """Whether enough subjects are approved (at least `min_group`) for rates to be judged."""
    return int(approved.sum()) >= min_group


def adverse_impact(
    approved: np.ndarray,
    groups: dict[str, np.ndarray],
    *,
    min_group: int = 30,
    threshold: float = 0.8,
) -> list[dict[str, Any]]:
    """Approval rate per audit group and its ratio to the best group's rate in its dimension.

    A ratio under `threshold` is flagged (the four-fifths screen). Groups smaller than
    `min_group` are reported but neither flagged nor used as the best group, and when fewer
    than `min_group` subjects are approved at all (a perk almost nobody gets) no rate is judged:
    a ratio of rates resting on a handful of approvals is noise. `significant` says whether the
    gap to the best group is larger than chance (a two-proportion z-test), which matters when
    approval rates are low and groups small.
    """
    rows: list[dict[str, Any]] = []
    rare = not judgeable(approved, min_group)
    for dimension, labels in groups.items():
        names = sorted({str(g) for g in labels.tolist() if g})
        stats = []
        for name in names:
            member = labels == name
            size = int(member.sum())
            yes = int(approved[member].sum())
            stats.append((name, size, yes, yes / size if size else 0.0))
        eligible = [s for s in stats if s[1] >= min_group]
        best = max(eligible, key=lambda s: s[3]) if eligible else None
        for name, size, yes, rate in stats:
            small = size < min_group
            # Flagged on the ratio as reported (4 decimals), so the figure and the flag agree.
            ratio = None if small or best is None or best[3] <= 0 else round(rate / best[3], 4)
            flagged = ratio is not None and ratio < threshold and not rare
            rows.append(
                {
                    "dimension": dimension,
                    "group": name,
                    "subjects": size,
                    "approved": yes,
                    "rate": round(rate, 4),
                    "ratio": ratio,
                    "flagged": flagged,
                    "significant": flagged
                    and best is not None
                    and significant_gap(yes, size, best[2], best[1]),
                    "small": small,
                    "rare": rare,
                }
            )
    return rows


def grades_of(program: Program, scores: MonthScores) -> np.ndarray:
    """Each subject's grade, INSUFFICIENT when not scored, '' when out of scope."""
    grades = np.full(scores.n, "", dtype=object)
    grades[scores.in_scope] = INSUFFICIENT
    for band in reversed(program.bands):
        grades[scores.scored & (scores.score >= band.min)] = band.grade
    return grades


def grade_migration(program: Program, first: MonthScores, last: MonthScores) -> dict[str, Any]:
    """How many subjects moved from each grade to each grade between two months."""
    states = [b.grade for b in program.bands] + [INSUFFICIENT]
    n = min(first.n, last.n)
    a, b = grades_of(program, first)[:n], grades_of(program, last)[:n]
    both = (a != "") & (b != "")
    index = {s: i for i, s in enumerate(states)}
    ia = np.array([index[g] for g in a[both].tolist()], np.int64)
    ib = np.array([index[g] for g in b[both].tolist()], np.int64)
    counts = np.zeros((len(states), len(states)), np.int64)
    np.add.at(counts, (ia, ib), 1)
    return {
        "from": first.as_of.isoformat(),
        "to": last.as_of.isoformat(),
        "states": states,
        "counts": counts.tolist(),
    }


def _histogram(values: np.ndarray, program: Program, bins: int = 30) -> dict[str, Any]:
    edges = np.linspace(program.min_score, program.max_score, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": [round(float(e), 1) for e in edges], "counts": counts.tolist()}


def distribution(program: Program, months: list[MonthScores], n: int) -> dict[str, Any]:
    """Scores per month: quantiles, a histogram, grade counts, the insufficient-data share."""
    rows = []
    for i, month in enumerate(months):
        in_scope = month.in_scope[:n]
        scored = month.scored[:n]
        values = month.score[:n][scored]
        grades = grades_of(program, month)[:n]
        counts = {b.grade: int((grades == b.grade).sum()) for b in program.bands}
        total = int(in_scope.sum())
        quantiles = (
            {f"p{q}": int(np.percentile(values, q)) for q in (5, 25, 50, 75, 95)}
            if len(values)
            else {}
        )
        rows.append(
            {
                "month": i,
                "as_of": month.as_of.isoformat(),
                "subjects": total,
                "scored": int(scored.sum()),
                "insufficient_data": total - int(scored.sum()),
                "insufficient_share": round((total - int(scored.sum())) / total, 4)
                if total
                else 0.0,
                "mean": round(float(values.mean()), 2) if len(values) else None,
                "quantiles": quantiles,
                "grades": counts,
                "histogram": _histogram(values, program),
            }
        )
    return {
        "program": program.id,
        "range": [program.min_score, program.max_score],
        "base": program.base,
        "months": rows,
        "migration": grade_migration(program, months[0], months[-1]),
    }


def contagion(program: Program, months: list[MonthScores], n: int) -> dict[str, Any]:
    """Points subjects gain from others through the relationship factor, and how they change.

    The factor's points depend only on neighbours' standing (and how many neighbours a
    subject has), so its level is what a subject gains from others' records, and its change
    from one month to the next is what others' new records (or cut contacts) moved.
    """
    factor = program.relationship_factor
    by_month = []
    changes = []
    for i, month in enumerate(months):
        scored = month.scored[:n]
        points = month.relationship[:n][scored]
        row: dict[str, Any] = {
            "month": i,
            "mean_points": round(float(points.mean()), 4) if len(points) else 0.0,
            "share_gaining": round(float((points > 0).mean()), 4) if len(points) else 0.0,
            "max_points": int(points.max()) if len(points) else 0,
        }
        if i:
            prev = months[i - 1]
            both = prev.scored[:n] & scored
            delta = month.relationship[:n][both] - prev.relationship[:n][both]
            row.update(
                mean_change=round(float(delta.mean()), 4) if len(delta) else 0.0,
                mean_abs_change=round(float(np.abs(delta).mean()), 4) if len(delta) else 0.0,
                losing=int((delta < 0).sum()),
                gaining=int((delta > 0).sum()),
                largest_loss=int(delta.min()) if len(delta) else 0,
                largest_gain=int(delta.max()) if len(delta) else 0,
            )
            changes.append(row)
        by_month.append(row)
    ceiling = program.factor_bounds(factor)[1] if factor is not None else 0
    last = by_month[-1]
    return {
        "program": program.id,
        "has_relationship_factor": factor is not None,
        "ceiling": ceiling or 0,
        "average_points": last["mean_points"],
        "largest_points": max(r["max_points"] for r in by_month),
        "average_monthly_change": (
            round(float(np.mean([r["mean_abs_change"] for r in changes])), 4) if changes else 0.0
        ),
        "largest_monthly_loss": min((r["largest_loss"] for r in changes), default=0),
        "largest_monthly_gain": max((r["largest_gain"] for r in changes), default=0),
        "by_month": by_month,
    }


def distinct_degree(relations: Relations, day: int, kinds: np.ndarray, n: int) -> np.ndarray:
    """How many distinct others each subject has active confirmed relations of these kinds with."""
    act = (
        relations.active(day)
        & relations.confirmed
        & np.isin(relations.relation, kinds)
        & (relations.subject != relations.other)
        & (relations.subject < n)
        & (relations.other < n)
    )
    a = np.concatenate([relations.subject[act], relations.other[act]])
    b = np.concatenate([relations.other[act], relations.subject[act]])
    unique = np.unique(a * np.int64(n) + b)
    return np.bincount(unique // n, minlength=n)


def isolation(
    low: np.ndarray, start: np.ndarray, end: np.ndarray
) -> dict[str, dict[str, float | int]]:
    """Degrees of low scorers and of everyone else, before and after."""
    out: dict[str, dict[str, float | int]] = {}
    for name, group in (("low_scorers", low), ("others", ~low)):
        s, e = start[group], end[group]
        out[name] = {
            "subjects": int(group.sum()),
            "mean_degree_start": round(float(s.mean()), 3) if len(s) else 0.0,
            "mean_degree_end": round(float(e.mean()), 3) if len(e) else 0.0,
            "isolated_share_start": round(float((s == 0).mean()), 4) if len(s) else 0.0,
            "isolated_share_end": round(float((e == 0).mean()), 4) if len(e) else 0.0,
            "relations_lost_share": round(1 - float(e.sum()) / float(s.sum()), 4)
            if s.sum()
            else 0.0,
        }
    return out


def approved_by(cutoff: Cutoff, scores: MonthScores, n: int) -> np.ndarray:
    """Who gets the favourable answer: the grant applies, or the restriction does not (a grant
    never applies without a score; a restriction applies without one only if its test says so)."""
    return cutoff.approved(scores.scored[:n], scores.score[:n])


def group_members(
    groups: dict[str, np.ndarray], in_scope: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Per audit dimension and group, which subjects in scope belong to it."""
    members: dict[str, dict[str, np.ndarray]] = {}
    for dimension, labels in groups.items():
        names = sorted({str(g) for g in labels[in_scope].tolist() if g})
        members[dimension] = {name: in_scope & (labels == name) for name in names}
    return members


def touched_counts(
    touched: np.ndarray, in_scope: np.ndarray, members: dict[str, dict[str, np.ndarray]]
) -> dict[str, Any]:
    """How many subjects in scope are touched, in all and by audit group (`group_members`)."""
    touched = in_scope & touched
    by_group: dict[str, dict[str, dict[str, float | int]]] = {}
    for dimension, named in members.items():
        entry: dict[str, dict[str, float | int]] = {}
        for name, member in named.items():
            size = int(member.sum())
            hit = int((touched & member).sum())
            entry[name] = {"subjects": size, "touched": hit, "share": round(hit / size, 4)}
        by_group[dimension] = entry
    total = int(in_scope.sum())
    return {
        "subjects": total,
        "touched": int(touched.sum()),
        "share": round(int(touched.sum()) / total, 4) if total else 0.0,
        "by_group": by_group,
    }


def reach(
    cutoff: Cutoff,
    program: Program,
    scores: MonthScores,
    groups: dict[str, np.ndarray],
    n: int,
) -> dict[str, Any]:
    """How many subjects a measure touches: those restricted, or those rewarded, by group."""
    in_scope = scores.in_scope[:n]
    touched = cutoff.applies(scores.scored[:n], scores.score[:n])
    members = group_members(groups, in_scope)
    return {
        "program": program.id,
        "service": cutoff.service,
        "measure": cutoff.measure,
        "effect": cutoff.effect,
        "rule": cutoff.rule,
        "description": cutoff.title,
        "as_of": scores.as_of.isoformat(),
        "basis": "score",
        **touched_counts(touched, in_scope, members),
    }


def list_reach(
    measure: ListMeasure,
    program: Program,
    touched: np.ndarray,
    as_of: date,
    members: dict[str, dict[str, np.ndarray]],
) -> dict[str, Any]:
    """The same for a measure records decide, in the world of `program`: every subject is in
    scope (lists hold persons and organisations alike); `members` from `group_members`."""
    definition = measure.definition
    return {
        "program": program.id,
        "service": measure.service,
        "measure": measure.measure.id,
        "effect": measure.effect,
        "rule": measure.rule,
        "description": measure.measure.title,
        "as_of": as_of.isoformat(),
        "basis": measure.basis,
        "list": None if definition is None else definition.name,
        "list_title": None if definition is None else definition.title,
        "service_program": measure.alone.program,
        **touched_counts(touched, np.ones(len(touched), bool), members),
    }
