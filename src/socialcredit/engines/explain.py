"""Turn an engine's result tables into one explanation document per scored subject.

An explanation holds the base, the points per factor, every contribution with its rule and
records, the clamp, and the reasons; score = base + sum(contributions) - clamp, exactly.
"""

from __future__ import annotations

import polars as pl

from socialcredit.engines.definition import CAP_RULE_PREFIX, RELATIONSHIPS_RULE
from socialcredit.engines.run import ProgramResult

EXPLANATION_COLUMNS = ("subject", "explanation")


def _rule_order(result: ProgramResult) -> dict[str, int]:
    program = result.program.program
    factor_rank = {f.id: i for i, f in enumerate(program.factors)}
    order = {r.id: factor_rank[r.factor] * 1000 + i for i, r in enumerate(program.rules)}
    for factor in program.factors:
        order[CAP_RULE_PREFIX + factor.id] = factor_rank[factor.id] * 1000 + 999
    order[RELATIONSHIPS_RULE] = len(program.factors) * 1000
    return order


def _record_lists(result: ProgramResult) -> pl.DataFrame:
    records = pl.from_arrow(result.contribution_records)
    assert isinstance(records, pl.DataFrame)
    return records.group_by("subject", "rule").agg(pl.col("record_id").sort().alias("record_ids"))


def explanations(result: ProgramResult) -> pl.DataFrame:
    """A frame of (subject, explanation JSON text) for every scored subject."""
    program = result.program.program
    order = _rule_order(result)
    record_lists = _record_lists(result)
    empty_ids = pl.lit([], dtype=pl.List(pl.Int64))

    contributions = pl.from_arrow(result.contributions)
    assert isinstance(contributions, pl.DataFrame)
    contributions = (
        contributions.join(record_lists, on=["subject", "rule"], how="left")
        .with_columns(
            pl.col("record_ids").fill_null(empty_ids),
            pl.col("rule")
            .replace_strict(order, default=10**9, return_dtype=pl.Int64)
            .alias("_order"),
        )
        .sort("subject", "_order")
    )
    per_subject = contributions.group_by("subject").agg(
        pl.struct("rule", "factor", "points", "record_ids").alias("contributions")
    )
    factor_totals = contributions.group_by("subject").agg(
        [
            pl.col("points").filter(pl.col("factor") == f.id).sum().alias(f.id)
            for f in program.factors
        ]
    )
    factor_totals = factor_totals.select(
        "subject", pl.struct([f.id for f in program.factors]).alias("factors")
    )

    texts = {r.id: r.reason for r in program.rules}
    reasons = pl.from_arrow(result.reasons)
    assert isinstance(reasons, pl.DataFrame)
    reasons = (
        reasons.join(record_lists, on=["subject", "rule"], how="left")
        .with_columns(
            pl.col("record_ids").fill_null(empty_ids),
            pl.col("rule").alias("code"),
            pl.col("rule").replace_strict(texts, return_dtype=pl.String).alias("text"),
        )
        .sort("subject", "rank")
        .group_by("subject", maintain_order=True)
        .agg(pl.struct("code", "factor", "points_lost", "record_ids", "text").alias("reasons"))
    )

    scores = pl.from_arrow(result.scores)
    assert isinstance(scores, pl.DataFrame)
    scored = scores.filter(pl.col("status") == "scored").select("subject", "clamp")
    frame = (
        scored.join(factor_totals, on="subject", how="left")
        .join(per_subject, on="subject", how="left")
        .join(reasons, on="subject", how="left")
    )
    zero_factors = pl.struct([pl.lit(0, dtype=pl.Int64).alias(f.id) for f in program.factors])
    frame = frame.with_columns(
        pl.col("factors").fill_null(zero_factors),
        pl.col("contributions").fill_null(pl.lit([], dtype=frame.schema["contributions"])),
        pl.col("reasons").fill_null(pl.lit([], dtype=frame.schema["reasons"])),
        pl.lit(program.base, dtype=pl.Int64).alias("base"),
    )
    document = pl.struct("base", "factors", "contributions", "clamp", "reasons")
    return frame.select("subject", document.struct.json_encode().alias("explanation"))
