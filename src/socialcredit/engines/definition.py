"""The scoring definition: a compiled program as Ibis expressions, one for every backend.

All arithmetic that decides a point is done so that every engine gets the same answer:
day numbers are integers, each record's decayed points are rounded to thousandths (integers),
sums are of integers, and the few floating-point steps are single IEEE operations whose
result is floored. No UDFs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.programs import Program, Rule, Tier
from socialcredit.policy.compile import CompiledProgram

MILLI = 1000
MICRO = 1_000_000
INSUFFICIENT = "insufficient_data"
SCORED = "scored"
RELATIONSHIPS_RULE = "relationships"
CAP_RULE_PREFIX = "cap:"
SECONDS_PER_DAY = 86400


def write_parquet(table: ir.Table, folder: Path) -> None:
    """Stream a result into a folder of Parquet parts (one part, on backends that write one
    file); the backend writes it where it computes it, so no result passes through Python."""
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / "part-00000.parquet")


@dataclass(frozen=True)
class Ledger:
    """The ledger's three tables on one backend; how the backend takes small constant tables
    (a program's rules), how it materialises an intermediate result (Ibis's cache by
    default; Spark also cuts the lineage, or iterations would grow its plans without end),
    and how it writes a result to a folder of Parquet parts."""

    subjects: ir.Table
    records: ir.Table
    relations: ir.Table
    constant: Callable[[pa.Table], ir.Table] = ibis.memtable
    materialise: Callable[[ir.Table], ir.Table] = ir.Table.cache
    write: Callable[[ir.Table, Path], None] = write_parquet


@dataclass(frozen=True)
class Scoring:
    """The four outputs of a scoring run, as unevaluated expressions."""

    scores: ir.Table
    contributions: ir.Table
    contribution_records: ir.Table
    reasons: ir.Table


def day_number(moment: date) -> int:
    """Days since 1970-01-01, the integer clock all engines share."""
    return (moment - date(1970, 1, 1)).days


def f64(value: float) -> ir.FloatingScalar:
    """A float literal typed as double, so no backend turns it into a decimal."""
    return ibis.literal(float(value), type="float64")


def _day(column: ir.TimestampColumn) -> ir.IntegerColumn:
    return (column.epoch_seconds() // SECONDS_PER_DAY).cast("int64")


def _round_half_away(milli: ir.IntegerValue) -> ir.IntegerValue:
    """Whole points from thousandths, halves rounded away from zero, exactly on every engine."""
    magnitude = ((milli.abs() + MILLI // 2).cast("float64") / f64(MILLI)).floor().cast("int64")
    return ibis.cases((milli < 0, -magnitude), else_=magnitude)


def _tier_points(value: ir.NumericValue, tiers: list[Tier], default: int) -> ir.IntegerValue:
    """The points of the highest tier `value` reaches, else `default`."""
    branches = [(value >= f64(t.at), ibis.literal(t.points, "int64")) for t in reversed(tiers)]
    return ibis.cases(*branches, else_=ibis.literal(default, "int64"))


def _capped(points: ir.IntegerValue, rule_cap: ir.IntegerValue) -> ir.IntegerValue:
    return ibis.cases(
        (rule_cap.isnull(), points),
        (points > 0, ibis.least(points, rule_cap)),
        else_=ibis.greatest(points, -rule_cap),
    )


def superseded_records(records: ir.Table) -> ir.Table:
    """The (o_furnisher, o_external_id) of the records out of force (domain.records.superseded,
    the same rule): those a record names in `replaces`, and, of each chain's corrections that
    no record names, all but the latest received (the highest id). A small table: only
    corrections are read for it."""
    furnisher = records.furnisher.type().copy(nullable=True)
    external_id = records.external_id.type().copy(nullable=True)

    def keys(table: ir.Table, named: ir.Column) -> ir.Table:
        return table.select(
            o_furnisher=table.furnisher.cast(furnisher), o_external_id=named.cast(external_id)
        )

    corrections = records.filter(records.replaces.notnull())
    named = keys(corrections, corrections.replaces)
    ends = corrections.anti_join(
        named,
        [
            corrections.furnisher == named.o_furnisher,
            corrections.external_id == named.o_external_id,
        ],
    )
    chain = ibis.coalesce(ends.chain, ends.replaces)
    newest = ibis.row_number().over(group_by=[ends.furnisher, chain], order_by=ibis.desc(ends.id))
    ranked = ends.mutate(newest=newest)
    stale = ranked.filter(ranked.newest > 0)
    return named.union(keys(stale, stale.external_id), distinct=True)


def effective_records(records: ir.Table, superseded: ir.Table, as_of_day: int) -> ir.Table:
    """Records in force on the day (domain.records.in_force, the same rule): not among the
    `superseded` records (see superseded_records), not retractions, occurred by the day."""
    live = records.anti_join(
        superseded,
        [
            records.furnisher == superseded.o_furnisher,
            records.external_id == superseded.o_external_id,
        ],
    )
    live = live.filter(live.kind != RETRACTION_KIND).mutate(day=_day(live.occurred_at))
    return live.filter(live.day <= as_of_day)


def _rule_points(scored: ir.Table, program: Program) -> ir.Table:
    """Per (subject, rule): whole points before the rule's cap."""
    tiered = [r for r in program.rules if r.value_tiers]
    per_record = scored.points
    if tiered:
        per_record = ibis.cases(
            *[
                (scored.rule == r.id, _tier_points(scored.value, r.value_tiers, r.points))
                for r in tiered
            ],
            else_=scored.points,
        )
    decay = ibis.cases(
        (scored.half_life_days.isnull(), f64(1.0)),
        else_=f64(0.5) ** (scored.age.cast("float64") / scored.half_life_days),
    )
    milli = (per_record.cast("float64") * f64(MILLI) * decay).round().cast("int64")
    each = (
        scored.mutate(milli=milli)
        .group_by(["subject", "rule"])
        .aggregate(milli=lambda t: t.milli.sum(), value_sum=lambda t: t.value.sum())
    )
    summed = [r for r in program.rules if r.sum_tiers]
    points = _round_half_away(each.milli)
    if summed:
        points = ibis.cases(
            *[
                (each.rule == r.id, _tier_points(each.value_sum.fill_null(0.0), r.sum_tiers, 0))
                for r in summed
            ],
            else_=points,
        )
    return each.select("subject", "rule", raw=points)


def _factor_caps(program: Program, rule_points: ir.Table) -> ir.Table:
    """One contribution per factor whose bounds cut its total, named cap:<factor>."""
    totals = rule_points.group_by(["subject", "factor"]).aggregate(raw=lambda t: t.points.sum())
    bounded = totals.raw
    branches = []
    for factor in program.factors:
        low, high = program.factor_bounds(factor)
        clipped = totals.raw
        if low is not None:
            clipped = ibis.greatest(clipped, low)
        if high is not None:
            clipped = ibis.least(clipped, high)
        branches.append((totals.factor == factor.id, clipped))
    bounded = ibis.cases(*branches, else_=totals.raw)
    cut = totals.mutate(points=(bounded - totals.raw).cast("int64"))
    cut = cut.filter(cut.points != 0)
    return cut.select(
        "subject",
        rule=ibis.literal(CAP_RULE_PREFIX) + cut.factor,
        factor="factor",
        points="points",
    )


def _standing(program: Program, pre: ir.IntegerValue) -> ir.IntegerValue:
    """How far a seed's score stands above the base, in millionths of the range above it.

    Only standing above the base spreads: relations can vouch for a subject, but no one loses
    points for a contact's conduct (that would be guilt by association), and so a record that
    gives points can never lower anyone's score through the relationship factor.
    """
    up = max(program.max_score - program.base, 1)
    above = ibis.greatest(pre - program.base, 0).cast("float64") * f64(MICRO)
    return (above / f64(up)).floor().cast("int64")


def _relationship_points(
    program: Program, ledger: Ledger, population: ir.Table, as_of_day: int
) -> ir.Table:
    """Damped propagation over confirmed relations from seeds with long histories.

    x = max(v, d * (sum of neighbours' x) / max(degree, min_degree)), iterated from x = v,
    where v is a seed's standing (0 for everyone else) and only established neighbours count:
    a subject's trust is its own standing or the damped trust of its relations, never more than
    the best standing it can reach (summing the two would amplify standing by up to 1/(1-d)
    and saturate the factor). A subject's signal is the same neighbour average of the final x,
    as a share of the factor's ceiling; a lone contact gives at most 1/min_degree of it.
    """
    factor = program.relationship_factor
    assert factor is not None and factor.propagation is not None
    prop = factor.propagation
    rel = ledger.relations
    rel = rel.mutate(start_day=_day(rel.start), end_day=_day(rel.end))
    rel = rel.filter(
        rel.confirmed
        & rel.relation.isin(prop.relations)
        & (rel.start_day <= as_of_day)
        & (rel.end_day.isnull() | (rel.end_day > as_of_day))
    )
    nodes = population.select(node="subject")
    pairs = rel.select(a="subject", b="other").union(rel.select(a="other", b="subject"))
    edges = pairs.semi_join(nodes, pairs.a == nodes.node)
    # Trust flows only from established subjects: identities known for less than
    # seed_history_days (a Sybil ring, a phoenix company) neither relay it nor dilute it.
    established = population.filter(population.history >= prop.seed_history_days)
    relays = established.select(node="subject")
    edges = ledger.materialise(edges.semi_join(relays, edges.b == relays.node).distinct())
    degree = edges.group_by("a").aggregate(deg=lambda t: t.count())
    seeds = population.mutate(
        v=ibis.cases(
            (population.history >= prop.seed_history_days, _standing(program, population.pre)),
            else_=ibis.literal(0, "int64"),
        )
    )
    degree = ledger.materialise(degree)
    state = seeds.left_join(degree, seeds.subject == degree.a).select(
        "subject",
        "v",
        norm=ibis.greatest(degree.deg.fill_null(0), prop.min_degree).cast("float64"),
    )
    state = ledger.materialise(state.mutate(x=state.v))

    def neighbour_sum(current: ir.Table) -> ir.Table:
        joined = edges.join(current, edges.b == current.subject).select("a", "x")
        return joined.group_by("a").aggregate(s=lambda t: t.x.sum())

    damping = f64(prop.damping)
    for _ in range(prop.iterations):
        sums = neighbour_sum(state)
        joined = state.left_join(sums, state.subject == sums.a)
        spread = joined.s.fill_null(0).cast("float64") * damping / joined.norm
        passed_on = (spread + f64(0.5)).floor().cast("int64")
        state = ledger.materialise(
            joined.select("subject", "v", "norm", x=ibis.greatest(joined.v, passed_on))
        )
    sums = neighbour_sum(state)
    joined = state.left_join(sums, state.subject == sums.a)
    signal = (joined.s.fill_null(0).cast("float64") / joined.norm + f64(0.5)).floor().cast("int64")
    _, high = program.factor_bounds(factor)
    ceiling = f64(high or 0)
    points = (signal.cast("float64") * ceiling / f64(MICRO) + f64(0.5)).floor().cast("int64")
    out = joined.select("subject", points=points)
    return out.filter(out.points != 0).select(
        "subject",
        rule=ibis.literal(RELATIONSHIPS_RULE),
        factor=ibis.literal(factor.id),
        points="points",
    )


def _grade(program: Program, score: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(*[(score >= b.min, ibis.literal(b.grade)) for b in program.bands])


def score_program(compiled: CompiledProgram, ledger: Ledger, as_of: date) -> Scoring:
    """The scoring definition: every subject in the program's scope, scored as of a day."""
    program = compiled.program
    as_of_day = day_number(as_of)
    population = ledger.subjects.filter(ledger.subjects.kind.isin(program.subjects))
    # Records in force feed the scored records and each subject's history. They are read twice
    # rather than kept: holding every record in force costs more memory than a country has
    # to spare, and both readers stream. Subjects out of the program's scope are dropped
    # later, where results meet the population or its eligible subjects (fewer rows). What
    # corrections put out of force is small and computed once.
    superseded = ledger.materialise(superseded_records(ledger.records))
    live = effective_records(ledger.records, superseded, as_of_day)
    live = live.select("id", "subject", "kind", "value", "day")
    history = live.group_by("subject").aggregate(first_day=lambda t: t.day.min())

    rules = ledger.constant(compiled.rules_by_kind)
    scored = live.join(rules, live.kind == rules.kind).select(
        live.id,
        live.subject,
        live.value,
        rules.rule,
        rules.points,
        rules.half_life_days,
        rules.display_days,
        age=as_of_day - live.day,
    )
    scored = ledger.materialise(scored.filter(scored.age < scored.display_days))
    contribution_records = scored.select("subject", "rule", record_id="id")

    caps = ledger.constant(compiled.rule_caps)
    raw = _rule_points(scored, program)
    raw = raw.join(caps, raw.rule == caps.rule).select(
        raw.subject, raw.rule, caps.factor, raw.raw, caps.rule_cap
    )
    rule_points = raw.select("subject", "rule", "factor", points=_capped(raw.raw, raw.rule_cap))
    counts = scored.group_by("subject").aggregate(n=lambda t: t.count())

    status = population.left_join(counts, population.id == counts.subject)
    status = status.left_join(history, status.id == history.subject).select(
        subject=status.id,
        subject_kind=status.kind,
        n=status.n.fill_null(0),
        history=(as_of_day - history.first_day).fill_null(-1),
    )
    enough = (status.n >= program.minimum.records) & (
        status.history >= program.minimum.history_days
    )
    status = ledger.materialise(
        status.mutate(status=ibis.cases((enough, SCORED), else_=INSUFFICIENT))
    )
    eligible = status.filter(status.status == SCORED)

    rule_points = ledger.materialise(
        rule_points.semi_join(eligible, rule_points.subject == eligible.subject)
    )
    contribution_records = contribution_records.semi_join(
        eligible, contribution_records.subject == eligible.subject
    )
    contributions = ledger.materialise(rule_points.union(_factor_caps(program, rule_points)))

    if program.relationship_factor is not None:
        totals = contributions.group_by("subject").aggregate(total=lambda t: t.points.sum())
        pre = eligible.left_join(totals, eligible.subject == totals.subject).select(
            eligible.subject,
            eligible.history,
            pre=(program.base + totals.total.fill_null(0)).cast("int64"),
        )
        relationships = _relationship_points(program, ledger, pre, as_of_day)
        contributions = ledger.materialise(contributions.union(relationships))

    totals = contributions.group_by("subject").aggregate(total=lambda t: t.points.sum())
    joined = status.left_join(totals, status.subject == totals.subject)
    raw_score = (program.base + joined.total.fill_null(0)).cast("int64")
    clamped = ibis.least(ibis.greatest(raw_score, program.min_score), program.max_score)
    is_scored = joined.status == SCORED
    scores = joined.select(
        subject=joined.subject,
        subject_kind=joined.subject_kind,
        status=joined.status,
        score=ibis.cases((is_scored, clamped), else_=ibis.null("int64")),
        clamp=ibis.cases((is_scored, raw_score - clamped), else_=ibis.literal(0, "int64")),
    )
    # The percentiles read the scores too: compute them once.
    scores = ledger.materialise(scores.mutate(grade=_grade(program, scores.score)))
    percentiles = _percentiles(scores)
    placed = scores.left_join(
        percentiles,
        [scores.subject_kind == percentiles.kind, scores.score == percentiles.at],
    )
    scores = placed.select(
        *[placed[c] for c in scores.columns],
        percentile=ibis.cases(
            (placed.status == SCORED, placed.percentile), else_=ibis.null("float64")
        ),
    )

    return Scoring(
        scores=scores,
        contributions=contributions,
        contribution_records=contribution_records,
        reasons=_reasons(compiled, ledger, eligible, rule_points),
    )


def _percentiles(scores: ir.Table) -> ir.Table:
    """Each score's percentile among scored subjects of its kind: the share scoring strictly
    lower, floor(1000 x lower / size) / 10.

    Computed from a histogram of the scores (one row per kind and score, at most the range)
    and joined back: a window over every subject would put a country into one partition."""
    scored = scores.filter(scores.status == SCORED)
    counts = scored.group_by(kind=scored.subject_kind, at=scored.score).aggregate(
        n=lambda t: t.count()
    )
    up_to = ibis.window(group_by=counts.kind, order_by=counts.at, preceding=None, following=0)
    lower = counts.n.sum().over(up_to) - counts.n
    size = counts.n.sum().over(ibis.window(group_by=counts.kind))
    percentile = ((lower * 1000).cast("float64") / size.cast("float64")).floor() / f64(10)
    return counts.select("kind", "at", percentile=percentile)


def _reasons(
    compiled: CompiledProgram, ledger: Ledger, eligible: ir.Table, rule_points: ir.Table
) -> ir.Table:
    """Up to four reasons per subject, ranked by points lost against the best attainable,
    equal losses by rule id.

    A merit's shortfall counts for every subject, so merits are crossed with the subjects; a
    demerit loses points only where it scored, so demerits are read from the rule points.
    Ranking sorts one integer per candidate (loss, then the rule's order) and names the rule
    after the cut: sorting text is what made this step slow."""
    reason_rules = ledger.constant(compiled.reason_rules)
    merits = reason_rules.filter(reason_rules.best > 0)
    demerits = reason_rules.filter(reason_rules.best <= 0)
    candidates = eligible.select("subject").cross_join(merits)
    joined = candidates.left_join(
        rule_points,
        [candidates.subject == rule_points.subject, candidates.rule == rule_points.rule],
    )
    short = joined.select(
        subject=candidates.subject,
        order=candidates.order,
        points_lost=(candidates.best - rule_points.points.fill_null(0)).cast("int64"),
    )
    scored = rule_points.join(demerits, rule_points.rule == demerits.rule)
    docked = scored.select(
        subject=rule_points.subject,
        order=demerits.order,
        points_lost=(demerits.best - rule_points.points).cast("int64"),
    )
    lost = short.union(docked)
    lost = lost.filter(lost.points_lost > 0)
    places = compiled.reason_rules.num_rows
    key = lost.points_lost * places + (places - 1 - lost.order)
    rank = ibis.row_number().over(group_by=lost.subject, order_by=ibis.desc(key))
    ranked = lost.mutate(rank=(rank + 1).cast("int64"))
    ranked = ranked.filter(ranked.rank <= 4)
    named = ranked.join(reason_rules, ranked.order == reason_rules.order)
    return named.select(
        ranked.subject, reason_rules.rule, reason_rules.factor, ranked.points_lost, ranked.rank
    )


def rules_of(program: Program) -> dict[str, Rule]:
    """The program's rules by id."""
    return {r.id: r for r in program.rules}
