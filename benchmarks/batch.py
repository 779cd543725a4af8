"""Benchmark a full rescoring of the Sesame-style program on a synthetic Parquet ledger.

Generates a ledger of --subjects x --records-per-subject records (and --relations-per-subject
relations) in the export layout (subjects/, records/, relations/ of Parquet files), written in
chunks so that hundreds of millions of records never sit in memory at once; a folder that
already holds a ledger of that size (--data) is reused. Then times, each in a fresh
subprocess so that peak memory (RSS of the whole process tree) is measured per step:

- each engine (--engines duckdb,spark): a lake scoring of the compiled program on the ledger
  (`write_scoring`, as `score --ledger --details` runs it): all four outputs written to
  Parquet by the engine, the scores gathered into one file (Spark's session start is
  reported apart);
- (a) pandas: a straightforward pandas implementation of the same program;
- (b) polars: a hand-written Polars lazy implementation of the same program;
- (c) floor: reading the same columns once and summing them with numpy.

The two baselines document docs/scoring.md a second time, for benchmarking only; `--check`
asserts, at a small size, that they give exactly the engines' scores and reasons per subject.
`--only-relationships` times the relationship factor alone, over the subjects and relations,
with each subject's standing before the factor drawn at random (population.parquet).

Run by hand:
    python benchmarks/batch.py --subjects 500000 --records-per-subject 20 --runs 3
    python benchmarks/batch.py --check --engines duckdb,spark
    python benchmarks/batch.py --explain --subjects 50000
    python benchmarks/batch.py --only-relationships --subjects 1000000 \\
        --records-per-subject 0 --relations-per-subject 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

AS_OF = date(2026, 1, 1)
PROGRAM = "sesame"
CHUNK_ROWS = 5_000_000
FURNISHERS = 32
GIB = 1024**3

# Record kinds and their shares: the Sesame program's kinds, some it does not score, and
# retractions (which, like corrections, point at an earlier record of the same furnisher).
KIND_SHARES = {
    "commerce.order_completed": 30,
    "loan.repaid_on_time": 15,
    "utility.payment_late": 8,
    "tax.filed_on_time": 6,
    "card.overdue": 5,
    "employment.verified": 5,
    "loan.arrears_cycle": 4,
    "traffic.fine_unpaid": 4,
    "identity.phone_verified": 3,
    "identity.address_verified": 3,
    "education.degree_verified": 2,
    "contract.breached": 2,
    "blood.donation": 2,
    "volunteer.hours": 2,
    "tax.arrears": 1,
    "contract.lawsuit_lost": 0.5,
    "court.judgment_unfulfilled": 0.5,
    "court.judgment_fulfilled": 0.5,
    "record.retracted": 0.5,
    "loan.private_lending_breach": 0.3,
    "guarantee.breached": 0.3,
    "commerce.counterfeit_goods": 0.2,
    "traffic.drunk_driving": 0.2,
    "finance.illegal_fundraising": 0.1,
    "utility.theft": 0.1,
    "utility.equipment_destroyed": 0.1,
    "heroic_act.recognised": 0.1,
}
RELATION_SHARES = {"contact": 0.6, "guarantor": 0.15, "co_borrower": 0.1, "colleague": 0.15}
CORRECTION_SHARE = 0.01
# pandas needs about this many bytes of RSS per record (measured here at 1M-10M records);
# above the memory available, the pandas baseline is reported as skipped, not run.
PANDAS_BYTES_PER_RECORD = 700


# --------------------------------------------------------------------------- the ledger


def _ids(prefix: str, index: np.ndarray, width: int) -> pa.Array:
    padded = pc.utf8_lpad(pa.array(index).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, padded, "")


def _subject_ids(index: np.ndarray) -> pa.Array:
    return _ids("P", index, 10)


def _timestamps(days: np.ndarray, rng: np.random.Generator) -> pa.Array:
    micros = days.astype(np.int64) * 86_400_000_000 + rng.integers(0, 86_400, len(days)) * 1_000_000
    return pa.array(micros, type=pa.int64()).cast(pa.timestamp("us"))


def _meta(subjects: int, per_subject: int, relations: int) -> dict[str, int]:
    return {"subjects": subjects, "records_per_subject": per_subject, "relations": relations}


def ensure_ledger(folder: Path, subjects: int, per_subject: int, relations_per: int) -> dict:
    """Generate the ledger in `folder` unless it already holds one of this size."""
    meta = _meta(subjects, per_subject, subjects * relations_per)
    stamp = folder / "ledger.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("size") == meta:
        return json.loads(stamp.read_text())
    started = time.perf_counter()
    for name in ("subjects", "records", "relations"):
        shutil.rmtree(folder / name, ignore_errors=True)
        (folder / name).mkdir(parents=True)
    stamp.unlink(missing_ok=True)
    rng = np.random.default_rng(20260101)
    as_of_day = (AS_OF - date(1970, 1, 1)).days

    # Subjects: one in twenty is an organisation (outside the Sesame program's scope).
    for part, start in enumerate(range(0, subjects, CHUNK_ROWS)):
        index = np.arange(start, min(start + CHUNK_ROWS, subjects))
        kind = np.where(index % 20 == 0, "organisation", "person")
        table = pa.table({"id": _subject_ids(index), "kind": pa.array(kind, pa.string())})
        pq.write_table(table, folder / "subjects" / f"part-{part:05d}.parquet")

    from socialcredit.store.ledger import LEDGER_SCHEMAS

    kinds = pa.array(list(KIND_SHARES), pa.string())
    shares = np.array(list(KIND_SHARES.values()), dtype=float)
    shares /= shares.sum()
    retraction = list(KIND_SHARES).index("record.retracted")
    total = subjects * per_subject
    for part, start in enumerate(range(0, total, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, total - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        kind = rng.choice(len(shares), size=n, p=shares)
        back = ids - FURNISHERS * rng.integers(1, 200, n)
        corrects = ((kind == retraction) | (rng.random(n) < CORRECTION_SHARE)) & (back >= 0)
        replaces = pc.if_else(
            pa.array(corrects), pa.array(back).cast(pa.string()), pa.nulls(n, pa.string())
        )
        table = pa.table(
            {
                "id": pa.array(ids),
                "furnisher": _ids("F", ids % FURNISHERS, 2),
                "external_id": pa.array(ids).cast(pa.string()),
                "subject": _subject_ids(rng.integers(0, subjects, n)),
                "kind": kinds.take(pa.array(kind)),
                "occurred_at": _timestamps(as_of_day - rng.integers(-30, 2200, n), rng),
                "value": pa.array(np.round(rng.gamma(2.0, 150.0, n), 2)),
                "replaces": replaces,
            },
            schema=LEDGER_SCHEMAS["records"],
        )
        pq.write_table(table, folder / "records" / f"part-{part:05d}.parquet")
    if total == 0:
        pq.write_table(
            LEDGER_SCHEMAS["records"].empty_table(), folder / "records" / "part-00000.parquet"
        )

    names = pa.array(list(RELATION_SHARES), pa.string())
    relation_p = np.array(list(RELATION_SHARES.values()))
    total = meta["relations"]
    for part, start in enumerate(range(0, max(total, 1), CHUNK_ROWS)):
        n = min(CHUNK_ROWS, total - start)
        begin = as_of_day - rng.integers(-30, 3000, n)
        ended = rng.random(n) < 0.2
        end = _timestamps(begin + rng.integers(1, 2000, n), rng)
        table = pa.table(
            {
                "subject": _subject_ids(rng.integers(0, subjects, n)),
                "other": _subject_ids(rng.integers(0, subjects, n)),
                "relation": names.take(pa.array(rng.choice(len(names), size=n, p=relation_p))),
                "start": _timestamps(begin, rng),
                "end": pc.if_else(pa.array(ended), end, pa.nulls(n, pa.timestamp("us"))),
                "confirmed": pa.array(rng.random(n) < 0.85),
            },
            schema=LEDGER_SCHEMAS["relations"],
        )
        pq.write_table(table, folder / "relations" / f"part-{part:05d}.parquet")

    # Standings before the relationship factor, for --only-relationships.
    index = np.arange(subjects)
    persons = index[index % 20 != 0]
    population = pa.table(
        {
            "subject": _subject_ids(persons),
            "history": pa.array(rng.integers(-1, 3000, len(persons))),
            "pre": pa.array(rng.integers(350, 950, len(persons))),
        }
    )
    pq.write_table(population, folder / "population.parquet")
    info = {"size": meta, "generate_seconds": round(time.perf_counter() - started, 1)}
    stamp.write_text(json.dumps(info))
    return info


# --------------------------------------------------------------------- shared arithmetic


def compiled_program() -> Any:
    from socialcredit.services.scoring import active_programs

    return next(c for c in active_programs() if c.id == PROGRAM)


def as_of_day() -> int:
    return (AS_OF - date(1970, 1, 1)).days


def round_half_away(x: np.ndarray) -> np.ndarray:
    """round() as SQL engines do it: halves away from zero (numpy's own rounds to even)."""
    whole = np.trunc(x)
    frac = x - whole
    return (whole + np.where(frac >= 0.5, 1.0, 0.0) - np.where(frac <= -0.5, 1.0, 0.0)).astype(
        np.int64
    )


def whole_points(milli: np.ndarray) -> np.ndarray:
    """Thousandths to whole points, halves away from zero."""
    magnitude = np.floor((np.abs(milli) + 500).astype(np.float64) / 1000.0).astype(np.int64)
    return np.where(milli < 0, -magnitude, magnitude)


def standing(program: Any, pre: np.ndarray) -> np.ndarray:
    up = max(program.max_score - program.base, 1)
    above = np.maximum(pre - program.base, 0).astype(np.float64) * 1e6
    return np.floor(above / float(up)).astype(np.int64)


def percentile(rank0: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Share of the same kind strictly below, floored to one decimal."""
    return np.floor((rank0 * 1000).astype(np.float64) / size.astype(np.float64)) / 10.0


def grade(program: Any, score: np.ndarray) -> np.ndarray:
    out = np.full(len(score), None, dtype=object)
    for band in reversed(program.bands):  # lowest first, so the highest reached wins
        out[score >= band.min] = band.grade
    return out


def check_supported(program: Any) -> None:
    tiers = [r.id for r in program.rules if r.value_tiers or r.sum_tiers]
    if tiers:
        raise SystemExit(f"the baselines do not implement value or sum tiers (rules {tiers})")


# ------------------------------------------------------------------ (a) pandas baseline


def pandas_relationship_points(program: Any, relations: Any, pre: Any, day: int) -> Any:
    """The relationship factor in pandas: pre has subject, history, pre."""
    import pandas as pd

    factor = program.relationship_factor
    prop = factor.propagation
    rel = relations.copy()
    rel["start_day"] = rel["start"].values.astype("datetime64[D]").astype(np.int64)
    end = rel["end"].values.astype("datetime64[D]")
    rel["end_day"] = np.where(np.isnat(end), np.iinfo(np.int64).max, end.astype(np.int64))
    rel = rel[
        rel["confirmed"]
        & rel["relation"].isin(prop.relations)
        & (rel["start_day"] <= day)
        & (rel["end_day"] > day)
    ]
    pairs = pd.concat(
        [
            pd.DataFrame({"a": rel["subject"].values, "b": rel["other"].values}),
            pd.DataFrame({"a": rel["other"].values, "b": rel["subject"].values}),
        ]
    )
    established = pre.loc[pre["history"] >= prop.seed_history_days, "subject"]
    edges = pairs[pairs["a"].isin(pre["subject"]) & pairs["b"].isin(established)]
    edges = edges.drop_duplicates()
    degree = edges.groupby("a").size()

    state = pre[["subject"]].copy()
    state["v"] = np.where(
        pre["history"] >= prop.seed_history_days, standing(program, pre["pre"].values), 0
    )
    deg = state["subject"].map(degree).fillna(0).astype(np.int64)
    state["norm"] = np.maximum(deg, prop.min_degree).astype(np.float64)
    state["x"] = state["v"]

    def neighbour_sum(state: Any) -> np.ndarray:
        joined = edges.merge(state[["subject", "x"]], left_on="b", right_on="subject")
        sums = joined.groupby("a")["x"].sum()
        return state["subject"].map(sums).fillna(0).astype(np.int64).values

    for _ in range(prop.iterations):
        spread = neighbour_sum(state).astype(np.float64) * prop.damping / state["norm"].values
        passed_on = np.floor(spread + 0.5).astype(np.int64)
        state["x"] = np.maximum(state["v"].values, passed_on)
    signal = np.floor(neighbour_sum(state).astype(np.float64) / state["norm"].values + 0.5)
    _, high = program.factor_bounds(factor)
    points = np.floor(signal * float(high or 0) / 1e6 + 0.5).astype(np.int64)
    out = pd.DataFrame(
        {
            "subject": state["subject"].values,
            "rule": "relationships",
            "factor": factor.id,
            "points": points,
        }
    )
    return out[out["points"] != 0]


def pandas_program(folder: Path, compiled: Any) -> dict[str, Any]:
    """The program in pandas, the way a data scientist would write it."""
    import pandas as pd

    program = compiled.program
    check_supported(program)
    day = as_of_day()
    subjects = pd.read_parquet(folder / "subjects")
    records = pd.read_parquet(folder / "records")
    rules = compiled.rules_by_kind.to_pandas()
    caps = compiled.rule_caps.to_pandas()

    # Records in force: not replaced by a record of the same furnisher, not retractions,
    # not in the future; of subjects in scope.
    replaced = records.loc[records["replaces"].notna(), ["furnisher", "replaces"]]
    replaced = replaced.drop_duplicates().rename(columns={"replaces": "external_id"})
    live = records.merge(replaced, on=["furnisher", "external_id"], how="left", indicator=True)
    live = live[(live["_merge"] == "left_only") & (live["kind"] != "record.retracted")]
    live = live.drop(columns="_merge")
    live["day"] = live["occurred_at"].values.astype("datetime64[D]").astype(np.int64)
    live = live[live["day"] <= day]
    population = subjects[subjects["kind"].isin(program.subjects)]
    live = live[live["subject"].isin(population["id"])]
    first_day = live.groupby("subject")["day"].min()

    # Points per record, decayed, in thousandths.
    scored = live.merge(rules, on="kind")
    scored["age"] = day - scored["day"]
    scored = scored[scored["age"] < scored["display_days"]]
    hl = scored["half_life_days"].values
    decay = np.where(np.isnan(hl), 1.0, 0.5 ** (scored["age"].values / hl))
    scored["milli"] = round_half_away(scored["points"].values.astype(np.float64) * 1000.0 * decay)

    # Per subject and rule: whole points, then the rule's cap.
    each = scored.groupby(["subject", "rule"], as_index=False)["milli"].sum()
    each = each.merge(caps, on="rule")
    raw = whole_points(each["milli"].values)
    cap = each["rule_cap"].values
    each["points"] = np.where(
        np.isnan(cap), raw, np.where(raw > 0, np.minimum(raw, cap), np.maximum(raw, -cap))
    ).astype(np.int64)

    # Who has enough data.
    status = population.rename(columns={"id": "subject", "kind": "subject_kind"})
    status["n"] = status["subject"].map(scored.groupby("subject").size()).fillna(0).astype(int)
    status["history"] = (day - status["subject"].map(first_day)).fillna(-1).astype(np.int64)
    enough = (status["n"] >= program.minimum.records) & (
        status["history"] >= program.minimum.history_days
    )
    status["status"] = np.where(enough, "scored", "insufficient_data")
    eligible = status[enough]
    rule_points = each[each["subject"].isin(eligible["subject"])]
    rule_points = rule_points[["subject", "rule", "factor", "points"]]
    records_behind = scored.loc[
        scored["subject"].isin(eligible["subject"]), ["subject", "rule", "id"]
    ].rename(columns={"id": "record_id"})

    # Factor bounds: where one cuts, the cut is its own contribution.
    totals = rule_points.groupby(["subject", "factor"], as_index=False)["points"].sum()
    bounded = totals["points"].copy()
    for factor in program.factors:
        low, high = program.factor_bounds(factor)
        mine = totals["factor"] == factor.id
        bounded[mine] = bounded[mine].clip(lower=low, upper=high)
    totals["cut"] = bounded - totals["points"]
    cuts = totals[totals["cut"] != 0]
    cuts = pd.DataFrame(
        {
            "subject": cuts["subject"],
            "rule": "cap:" + cuts["factor"],
            "factor": cuts["factor"],
            "points": cuts["cut"],
        }
    )
    contributions = pd.concat([rule_points, cuts], ignore_index=True)

    if program.relationship_factor is not None:
        relations = pd.read_parquet(folder / "relations")
        before = contributions.groupby("subject")["points"].sum()
        pre = eligible[["subject", "history"]].copy()
        pre["pre"] = program.base + pre["subject"].map(before).fillna(0).astype(np.int64)
        related = pandas_relationship_points(program, relations, pre, day)
        contributions = pd.concat([contributions, related], ignore_index=True)

    # Score, clamp, grade, percentile.
    total = status["subject"].map(contributions.groupby("subject")["points"].sum())
    raw_score = program.base + total.fillna(0).astype(np.int64)
    scored_now = status["status"] == "scored"
    clamped = raw_score.clip(program.min_score, program.max_score)
    scores = status[["subject", "subject_kind", "status"]].copy()
    scores["score"] = clamped.where(scored_now).astype("Int64")
    scores["clamp"] = (raw_score - clamped).where(scored_now, 0)
    scores["grade"] = grade(program, clamped.values)
    scores.loc[~scored_now, "grade"] = None
    groups = scores.groupby(["subject_kind", "status"])["score"]
    rank0 = (groups.rank(method="min") - 1).fillna(0).astype(np.int64).values
    size = groups.transform("size").values
    scores["percentile"] = np.where(scored_now, percentile(rank0, size), np.nan)

    # Reasons: the four rules with the most points lost against the best attainable.
    reason_rules = compiled.reason_rules.to_pandas()
    candidates = eligible[["subject"]].merge(reason_rules, how="cross")
    lost = candidates.merge(
        rule_points[["subject", "rule", "points"]], on=["subject", "rule"], how="left"
    )
    lost["points_lost"] = lost["best"] - lost["points"].fillna(0).astype(np.int64)
    lost = lost[lost["points_lost"] > 0].sort_values(
        ["subject", "points_lost", "rule"], ascending=[True, False, True]
    )
    lost["rank"] = lost.groupby("subject").cumcount() + 1
    reasons = lost.loc[lost["rank"] <= 4, ["subject", "rule", "factor", "points_lost", "rank"]]
    return {
        "scores": scores,
        "contributions": contributions,
        "contribution_records": records_behind,
        "reasons": reasons,
    }


# ------------------------------------------------------------------ (b) polars baseline


def _pl_round_half_away(x: Any) -> Any:
    import polars as pl

    whole = x.cast(pl.Int64)  # truncates toward zero
    frac = x - whole.cast(pl.Float64)
    return pl.when(frac >= 0.5).then(whole + 1).when(frac <= -0.5).then(whole - 1).otherwise(whole)


def polars_relationship_points(program: Any, relations: Any, pre: Any, day: int) -> Any:
    """The relationship factor in Polars: pre (lazy) has subject, history, pre."""
    import polars as pl

    factor = program.relationship_factor
    prop = factor.propagation
    up = float(max(program.max_score - program.base, 1))
    daynum = lambda c: pl.col(c).dt.epoch("s") // 86400  # noqa: E731
    rel = relations.filter(
        pl.col("confirmed")
        & pl.col("relation").is_in(prop.relations)
        & (daynum("start") <= day)
        & (pl.col("end").is_null() | (daynum("end") > day))
    )
    pairs = pl.concat([rel.select(a="subject", b="other"), rel.select(a="other", b="subject")])
    established = pre.filter(pl.col("history") >= prop.seed_history_days).select(b="subject")
    edges = (
        pairs.join(pre.select(a="subject"), on="a", how="semi")
        .join(established, on="b", how="semi")
        .unique()
        .collect()
    )
    degree = edges.lazy().group_by("a").agg(deg=pl.len())
    seed = pl.col("history") >= prop.seed_history_days
    above = pl.max_horizontal(pl.col("pre") - program.base, 0).cast(pl.Float64) * 1e6 / up
    state = (
        pre.join(degree, left_on="subject", right_on="a", how="left")
        .select(
            "subject",
            v=pl.when(seed).then(above.floor().cast(pl.Int64)).otherwise(0),
            norm=pl.max_horizontal(pl.col("deg").fill_null(0), prop.min_degree).cast(pl.Float64),
        )
        .with_columns(x=pl.col("v"))
        .collect()
    )

    def neighbour_sum(state: pl.DataFrame) -> pl.LazyFrame:
        sums = (
            edges.lazy()
            .join(state.lazy().select(b="subject", x="x"), on="b")
            .group_by("a")
            .agg(s=pl.col("x").sum())
        )
        return (
            state.lazy()
            .join(sums, left_on="subject", right_on="a", how="left")
            .with_columns(s=pl.col("s").fill_null(0).cast(pl.Float64))
        )

    for _ in range(prop.iterations):
        spread = pl.col("s") * prop.damping / pl.col("norm")
        passed_on = (spread + 0.5).floor().cast(pl.Int64)
        state = (
            neighbour_sum(state)
            .select("subject", "v", "norm", x=pl.max_horizontal("v", passed_on))
            .collect()
        )
    _, high = program.factor_bounds(factor)
    signal = (pl.col("s") / pl.col("norm") + 0.5).floor()
    points = (signal * float(high or 0) / 1e6 + 0.5).floor().cast(pl.Int64)
    return (
        neighbour_sum(state)
        .select("subject", rule=pl.lit("relationships"), factor=pl.lit(factor.id), points=points)
        .filter(pl.col("points") != 0)
    )


def polars_program(folder: Path, compiled: Any) -> dict[str, Any]:
    """The program as hand-written Polars lazy queries."""
    import polars as pl

    program = compiled.program
    check_supported(program)
    day = as_of_day()
    subjects = pl.scan_parquet(folder / "subjects" / "*.parquet")
    records = pl.scan_parquet(folder / "records" / "*.parquet")
    rules = pl.from_arrow(compiled.rules_by_kind).lazy()
    caps = pl.from_arrow(compiled.rule_caps).lazy()

    population = subjects.filter(pl.col("kind").is_in(program.subjects)).select(
        subject="id", subject_kind="kind"
    )
    replaced = (
        records.filter(pl.col("replaces").is_not_null())
        .select("furnisher", external_id="replaces")
        .unique()
    )
    live = (
        records.join(replaced, on=["furnisher", "external_id"], how="anti")
        .filter(pl.col("kind") != "record.retracted")
        .with_columns(day=pl.col("occurred_at").dt.epoch("s") // 86400)
        .filter(pl.col("day") <= day)
        .join(population, on="subject", how="semi")
    )
    first_day = live.group_by("subject").agg(first_day=pl.col("day").min())

    age = pl.col("age").cast(pl.Float64)
    decay = (
        pl.when(pl.col("half_life_days").is_null())
        .then(1.0)
        .otherwise(pl.lit(0.5).pow(age / pl.col("half_life_days")))
    )
    scored = (
        live.join(rules, on="kind")
        .with_columns(age=day - pl.col("day"))
        .filter(pl.col("age") < pl.col("display_days"))
        .select(
            "id",
            "subject",
            "rule",
            milli=_pl_round_half_away(pl.col("points").cast(pl.Float64) * 1000.0 * decay),
        )
        .collect()
    )
    milli = pl.col("milli")
    whole = ((milli.abs() + 500).cast(pl.Float64) / 1000.0).floor().cast(pl.Int64)
    raw = pl.when(milli < 0).then(-whole).otherwise(whole)
    cap = pl.col("rule_cap")
    rule_points = (
        scored.lazy()
        .group_by("subject", "rule")
        .agg(milli=milli.sum())
        .join(caps, on="rule")
        .with_columns(raw=raw)
        .select(
            "subject",
            "rule",
            "factor",
            points=pl.when(cap.is_null())
            .then(pl.col("raw"))
            .when(pl.col("raw") > 0)
            .then(pl.min_horizontal("raw", cap))
            .otherwise(pl.max_horizontal("raw", -cap))
            .cast(pl.Int64),
        )
    )
    status = (
        population.join(scored.lazy().group_by("subject").agg(n=pl.len()), on="subject", how="left")
        .join(first_day, on="subject", how="left")
        .select(
            "subject",
            "subject_kind",
            n=pl.col("n").fill_null(0),
            history=(day - pl.col("first_day")).fill_null(-1),
        )
    )
    enough = (pl.col("n") >= program.minimum.records) & (
        pl.col("history") >= program.minimum.history_days
    )
    status = status.with_columns(
        status=pl.when(enough).then(pl.lit("scored")).otherwise(pl.lit("insufficient_data"))
    ).collect()
    eligible = status.lazy().filter(pl.col("status") == "scored")
    rule_points = rule_points.join(eligible, on="subject", how="semi").collect()
    records_behind = (
        scored.lazy()
        .join(eligible, on="subject", how="semi")
        .select("subject", "rule", record_id="id")
    )

    bounded = pl.col("raw")
    for factor in program.factors:
        low, high = program.factor_bounds(factor)
        clipped = pl.col("raw").clip(low, high)
        bounded = pl.when(pl.col("factor") == factor.id).then(clipped).otherwise(bounded)
    cuts = (
        rule_points.lazy()
        .group_by("subject", "factor")
        .agg(raw=pl.col("points").sum())
        .with_columns(points=(bounded - pl.col("raw")).cast(pl.Int64))
        .filter(pl.col("points") != 0)
        .select("subject", rule=pl.lit("cap:") + pl.col("factor"), factor="factor", points="points")
    )
    contributions = pl.concat([rule_points.lazy(), cuts])
    if program.relationship_factor is not None:
        before = contributions.group_by("subject").agg(total=pl.col("points").sum())
        pre = eligible.join(before, on="subject", how="left").select(
            "subject", "history", pre=program.base + pl.col("total").fill_null(0)
        )
        relations = pl.scan_parquet(folder / "relations" / "*.parquet")
        related = polars_relationship_points(program, relations, pre, day)
        contributions = pl.concat([contributions, related])
    contributions = contributions.collect()

    totals = contributions.lazy().group_by("subject").agg(total=pl.col("points").sum())
    raw_score = program.base + pl.col("total").fill_null(0)
    clamped = raw_score.clip(program.min_score, program.max_score)
    is_scored = pl.col("status") == "scored"
    grade_of = pl.lit(None, pl.String)
    for band in reversed(program.bands):
        grade_of = pl.when(pl.col("score") >= band.min).then(pl.lit(band.grade)).otherwise(grade_of)
    groups = ["subject_kind", "status"]
    rank0 = pl.col("score").rank("min").over(groups) - 1
    share = ((rank0 * 1000).cast(pl.Float64) / pl.len().over(groups).cast(pl.Float64)).floor()
    scores = (
        status.lazy()
        .join(totals, on="subject", how="left")
        .select(
            "subject",
            "subject_kind",
            "status",
            score=pl.when(is_scored).then(clamped),
            clamp=pl.when(is_scored).then(raw_score - clamped).otherwise(0),
        )
        # Polars divides by a literal as a multiplication by its reciprocal, which is not
        # always the IEEE quotient (53 / 10 != 53 * 0.1): divide by a column of tens instead.
        .with_columns(ten=(pl.len().over(groups) * 0 + 10).cast(pl.Float64))
        .with_columns(grade=grade_of, percentile=pl.when(is_scored).then(share / pl.col("ten")))
        .drop("ten")
    )
    reasons = (
        eligible.select("subject")
        .join(pl.from_arrow(compiled.reason_rules).lazy(), how="cross")
        .join(
            rule_points.lazy().select("subject", "rule", "points"),
            on=["subject", "rule"],
            how="left",
        )
        .select(
            "subject", "rule", "factor", points_lost=pl.col("best") - pl.col("points").fill_null(0)
        )
        .filter(pl.col("points_lost") > 0)
        .sort(["subject", "points_lost", "rule"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("subject"))
        .filter(pl.col("rank") <= 4)
    )
    scores, records_behind, reasons = pl.collect_all([scores, records_behind, reasons])
    return {
        "scores": scores,
        "contributions": contributions,
        "contribution_records": records_behind,
        "reasons": reasons,
    }


# ------------------------------------------------------------------------ (c) the floor


def floor_program(folder: Path) -> dict[str, Any]:
    """Read every column the program reads, once, and sum it with numpy."""
    total = 0.0
    for name in ("subjects", "records", "relations"):
        for path in sorted((folder / name).glob("*.parquet")):
            table = pq.read_table(path)
            for column in table.columns:
                for chunk in column.chunks:
                    if pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
                        data = chunk.buffers()[2]
                        if data is not None:
                            total += float(np.frombuffer(data, np.uint8).sum(dtype=np.uint64))
                    elif pa.types.is_boolean(chunk.type):
                        total += float(pc.sum(chunk).as_py() or 0)
                    else:
                        values = (
                            chunk.cast(pa.int64()) if pa.types.is_timestamp(chunk.type) else chunk
                        )
                        total += float(np.sum(values.to_numpy(zero_copy_only=False)))
            del table
    return {"checksum": total}


# -------------------------------------------------------------------------- the engines


def engine_ledger(engine: str, folder: Path) -> tuple[Any, float]:
    from socialcredit.engines import backends

    if engine == "duckdb":
        return backends.duckdb_parquet_ledger(folder), 0.0
    if engine == "spark":
        started = time.perf_counter()
        session = backends.spark_session()
        return backends.spark_ledger(session, folder), time.perf_counter() - started
    raise SystemExit(f"unknown engine {engine}")


def engine_program(engine: str, folder: Path, compiled: Any, out: Path) -> dict:
    """Score the ledger with an engine, the results written under `out` (scores.parquet and
    details/<program>/<output>/)."""
    from socialcredit.services.scoring import write_scoring

    ledger, start_seconds = engine_ledger(engine, folder)
    started = time.perf_counter()
    write_scoring(ledger, out / "scores.parquet", AS_OF, [compiled], details=out / "details")
    seconds = time.perf_counter() - started
    return {"session_start_seconds": round(start_seconds, 2), "seconds": seconds}


def engine_outputs(out: Path, program: str) -> dict[str, pa.Table]:
    """An engine's scores, reasons and contributions, read back from where it wrote them."""
    return {
        "scores": pq.read_table(out / "scores.parquet"),
        "reasons": pq.read_table(out / "details" / program / "reasons"),
        "contributions": pq.read_table(out / "details" / program / "contributions"),
    }


def engine_relationships(engine: str, folder: Path, compiled: Any) -> dict:
    from socialcredit.engines.definition import _relationship_points

    ledger, start_seconds = engine_ledger(engine, folder)
    backend = ledger.subjects.get_backend()
    pre = backend.read_parquet(str(folder / "population.parquet"))
    started = time.perf_counter()
    out = _relationship_points(compiled.program, ledger, pre, as_of_day()).to_pyarrow()
    return {
        "seconds": time.perf_counter() - started,
        "session_start_seconds": round(start_seconds, 2),
        "rows": out.num_rows,
    }


# ---------------------------------------------------------------- steps in subprocesses


class TreePeak:
    """Peak RSS of this process and its descendants (Spark's JVM), sampled every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo.extend(children.get(pid, []))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(self.peak, own)


def run_step(step: str, folder: Path, only_relationships: bool) -> dict:
    """One measurement, in this (fresh) process."""
    compiled = compiled_program()
    peak = TreePeak()
    out: dict[str, Any] = {}
    if only_relationships:
        if step.startswith("engine:"):
            out = engine_relationships(step.split(":", 1)[1], folder, compiled)
        else:
            started = time.perf_counter()
            out["rows"] = relationships_baseline(step, folder, compiled)
            out["seconds"] = time.perf_counter() - started
    elif step.startswith("engine:"):
        with tempfile.TemporaryDirectory(prefix="results-", dir=folder) as results:
            out = engine_program(step.split(":", 1)[1], folder, compiled, Path(results))
    else:
        started = time.perf_counter()
        if step == "pandas":
            pandas_program(folder, compiled)
        elif step == "polars":
            polars_program(folder, compiled)
        elif step == "floor":
            floor_program(folder)
        out["seconds"] = time.perf_counter() - started
    out["peak_rss_bytes"] = peak.stop()
    return out


def relationships_baseline(step: str, folder: Path, compiled: Any) -> int:
    if step == "pandas":
        import pandas as pd

        pre = pd.read_parquet(folder / "population.parquet")
        relations = pd.read_parquet(folder / "relations")
        return len(pandas_relationship_points(compiled.program, relations, pre, as_of_day()))
    if step == "polars":
        import polars as pl

        pre = pl.scan_parquet(folder / "population.parquet")
        relations = pl.scan_parquet(folder / "relations" / "*.parquet")
        out = polars_relationship_points(compiled.program, relations, pre, as_of_day())
        return out.collect().height
    if step == "floor":
        table = pq.read_table(folder / "population.parquet")
        total = sum(float(np.sum(table[c].to_numpy())) for c in ("history", "pre"))
        for path in sorted((folder / "relations").glob("*.parquet")):
            rel = pq.read_table(path)
            total += sum(
                float(np.sum(rel[c].cast(pa.int64()).to_numpy(zero_copy_only=False)))
                for c in ("start",)
            )
        return int(total > 0)
    raise SystemExit(f"unknown step {step}")


def spawn(step: str, folder: Path, only_relationships: bool, timeout: float) -> dict:
    command = [sys.executable, __file__, "--step", step, "--data", str(folder)]
    if only_relationships:
        command.append("--only-relationships")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def available_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------------------- explain


def explain_spark(folder: Path) -> None:
    """Spark's physical plan of every stage the engine materialises, with its shuffles, and
    of the scores and reasons outputs (`explain("formatted")`)."""
    import dataclasses
    import re

    from socialcredit.engines.definition import score_program

    ledger, _ = engine_ledger("spark", folder)
    backend = ledger.subjects.get_backend()
    from socialcredit.engines.backends import spark_session

    session = spark_session()  # the session the ledger was opened on (getOrCreate)
    stages: list[tuple[float, str]] = []

    def materialise(table: Any) -> Any:
        plan = session.sql(backend.compile(table))._jdf.queryExecution().executedPlan()
        started = time.perf_counter()
        out = ledger.materialise(table)
        stages.append((time.perf_counter() - started, plan.toString()))
        return out

    scoring = score_program(
        compiled_program(), dataclasses.replace(ledger, materialise=materialise), AS_OF
    )
    for i, (seconds, plan) in enumerate(stages):
        exchanges = re.findall(r"Exchange [^\n]*", plan)
        print(f"==== stage {i}: {seconds:.2f} s, {len(exchanges)} exchanges")
        for line in exchanges:
            print("   ", line[:200])
    for name in ("scores", "reasons"):
        frame = session.sql(backend.compile(getattr(scoring, name)))
        started = time.perf_counter()
        rows = frame.count()
        print(f"==== output {name}: {rows:,} rows in {time.perf_counter() - started:.2f} s")
        frame.explain("formatted")


# --------------------------------------------------------------------------------- check


def _sorted_frame(table: pa.Table, columns: list[str], keys: list[str]) -> Any:
    import polars as pl

    frame = pl.from_arrow(table.select(columns))
    return frame.with_columns(pl.col(pl.Int32, pl.UInt32, pl.UInt64).cast(pl.Int64)).sort(keys)


def check(engines: list[str], folder: Path) -> None:
    """Baseline scores and reasons equal the engines', per subject, exactly."""
    import pandas as pd
    import polars as pl

    compiled = compiled_program()
    score_cols = ["subject", "subject_kind", "status", "score", "clamp", "grade", "percentile"]
    reason_cols = ["subject", "rule", "points_lost", "rank"]
    contribution_cols = ["subject", "rule", "points"]
    outputs: dict[str, dict[str, Any]] = {}
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="results-", dir=folder) as results:
            engine_program(engine, folder, compiled, Path(results))
            outputs[engine] = engine_outputs(Path(results), compiled.id)
    for name, run in (("pandas", pandas_program), ("polars", polars_program)):
        out = run(folder, compiled)
        converted = {}
        for key in ("scores", "reasons", "contributions"):
            frame = out[key]
            if isinstance(frame, pd.DataFrame):
                frame = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
            else:
                frame = frame.to_arrow()
            converted[key] = frame
        outputs[name] = converted
    reference = engines[0]
    specs = {
        "scores": (score_cols, ["subject"]),
        "reasons": (reason_cols, ["subject", "rank"]),
        "contributions": (contribution_cols, ["subject", "rule"]),
    }
    for key, (cols, keys) in specs.items():
        expected = _sorted_frame(outputs[reference][key], cols, keys)
        for name, out in outputs.items():
            got = _sorted_frame(out[key], cols, keys)
            if not got.equals(expected):
                diff = got.join(expected, on=keys, how="full", suffix="_ref")
                raise AssertionError(f"{name} {key} differ from {reference}:\n{diff.head(10)}")
            print(f"check: {name} {key} == {reference} ({got.height:,} rows)")
    scores = outputs[reference]["scores"]
    scored = pl.from_arrow(scores).filter(pl.col("status") == "scored")
    related = pl.from_arrow(outputs[reference]["contributions"]).filter(
        pl.col("rule") == "relationships"
    )
    print(
        f"check passed: {scores.num_rows:,} subjects, {scored.height:,} scored, "
        f"{related.height:,} with relationship points, {outputs[reference]['reasons'].num_rows:,}"
        " reasons"
    )


# ---------------------------------------------------------------------------------- main


def _gib(n: float | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=50_000)
    parser.add_argument("--records-per-subject", type=int, default=20)
    parser.add_argument("--relations-per-subject", type=int, default=3)
    parser.add_argument("--engines", default="duckdb")
    parser.add_argument("--baselines", default="pandas,polars,floor")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, help="ledger folder (generated, or reused)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="baselines == engines, small size")
    parser.add_argument("--only-relationships", action="store_true")
    parser.add_argument("--explain", action="store_true", help="Spark's plans, with shuffles")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per step, seconds")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:
        out = run_step(args.step, args.data, args.only_relationships)
        print(json.dumps(out))
        return

    engines = [e for e in args.engines.split(",") if e]
    baselines = [b for b in args.baselines.split(",") if b]
    folder = args.data or Path(tempfile.gettempdir()) / (
        f"socialcredit-ledger-{args.subjects}x{args.records_per_subject}"
        f"x{args.relations_per_subject}"
    )
    info = ensure_ledger(
        folder, args.subjects, args.records_per_subject, args.relations_per_subject
    )
    n_records = args.subjects * args.records_per_subject
    n_relations = args.subjects * args.relations_per_subject
    if not args.json:
        print(
            f"ledger {folder}: {args.subjects:,} subjects, {n_records:,} records, "
            f"{n_relations:,} relations (generated in {info.get('generate_seconds')} s)"
        )
    if args.check:
        check(engines, folder)
        return
    if args.explain:
        explain_spark(folder)
        return

    steps = [f"engine:{e}" for e in engines] + baselines
    results: dict[str, dict] = {}
    for step in steps:
        name = step.split(":", 1)[-1]
        if step == "pandas" and not args.only_relationships:
            need = n_records * PANDAS_BYTES_PER_RECORD
            if need > 0.9 * available_bytes():
                results[name] = {"skipped": f"would need ~{need / GIB:.0f} GiB"}
                continue
        runs = [
            spawn(step, folder, args.only_relationships, args.timeout) for _ in range(args.runs)
        ]
        good = [r for r in runs if "error" not in r]
        if not good:
            results[name] = {"skipped": runs[0]["error"]}
            continue
        results[name] = {
            "seconds": statistics.median(r["seconds"] for r in good),
            "all_seconds": [round(r["seconds"], 3) for r in good],
            "peak_rss_bytes": statistics.median(r["peak_rss_bytes"] for r in good),
            "session_start_seconds": good[0].get("session_start_seconds"),
        }

    def seconds(name: str) -> float | None:
        return results.get(name, {}).get("seconds")

    report = {
        "mode": "relationships" if args.only_relationships else "full",
        "subjects": args.subjects,
        "records": n_records,
        "relations": n_relations,
        "runs": args.runs,
        "engine_seconds": {e: seconds(e) for e in engines},
        "pandas_seconds": seconds("pandas"),
        "polars_seconds": seconds("polars"),
        "floor_seconds": seconds("floor"),
        "peak_rss_bytes": {k: v.get("peak_rss_bytes") for k, v in results.items()},
        "all_seconds": {k: v.get("all_seconds") for k, v in results.items()},
        "spark_session_start_seconds": results.get("spark", {}).get("session_start_seconds"),
        "skipped": {k: v["skipped"] for k, v in results.items() if "skipped" in v},
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"median of {args.runs} runs, each in a fresh process (noisy machine)")
    print(
        f"{'step':<8} {'wall s':>9} {'records/s':>13} {'subjects/s':>12} {'peak RSS':>11}"
        "   x pandas  x polars  x floor"
    )
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:<8} skipped: {r['skipped']}")
            continue
        s = r["seconds"]
        ratios = []
        for base in ("pandas", "polars", "floor"):
            b = seconds(base)
            ratios.append(f"{b / s:8.2f}x" if b else f"{'-':>9}")
        print(
            f"{name:<8} {s:9.2f} {n_records / s:13,.0f} {args.subjects / s:12,.0f} "
            f"{_gib(r['peak_rss_bytes']):>11} {' '.join(ratios)}"
        )
    print("x base = base's time / this step's time (above 1: this step is faster)")


if __name__ == "__main__":
    main()
