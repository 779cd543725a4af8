"""How the lab's attacks meet the defences.

Reports of breaches meet the platform's own rules (`domain.reports`): a filing past the
reporter's rate limit is refused (`next_report_at`), and every filed report goes to an
adjudicator with its flags (`flags`: reporter and target related, a ring of reports). Flags
inform, they do not decide: the lab's adjudicator upholds a false report with probability
`adjudicator_error`, or `flagged_error` when a flag warns it. Only an upheld report becomes a
record. The burst rule for Sybil rings is the lab's own (the platform does not run it); the
phoenix attack meets the platform's flag (`domain.lists.phoenix_reason`, in `attacks`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from socialcredit.domain.reports import Filing, ReportSettings, Tie, flags, next_report_at
from socialcredit.lab.population import DAY_US, Population, Relations, datetimes, moment_of

__all__ = [
    "RATE_LIMIT",
    "Reports",
    "ScreenResult",
    "adjudicate",
    "relation_bursts",
    "screen_reports",
]

RATE_LIMIT = "rate_limit"
BURST = "burst of relations from new identities"


@dataclass(frozen=True)
class Reports:
    """Reports of breaches, in filing order: who reported whom, on which day (all false in the
    lab's attacks)."""

    reporter: np.ndarray
    target: np.ndarray
    day: np.ndarray

    def __len__(self) -> int:
        return len(self.reporter)


@dataclass(frozen=True)
class ScreenResult:
    """Which filings the rate limit refused, which filed reports carry a flag, and the rules
    that fired (flag codes, and `rate_limit`)."""

    refused: np.ndarray
    flagged: np.ndarray
    rules: list[str]

    @property
    def caught(self) -> bool:
        return bool(self.rules)


def screen_reports(
    reports: Reports,
    relations: Relations,
    population: Population,
    settings: ReportSettings,
    day: int,
) -> ScreenResult:
    """The platform's rules on each report, in filing order (a second apart within a day)."""
    ids = population.ids
    names = population.relation_kinds.names
    involved = np.union1d(reports.reporter, reports.target)
    near = relations.active(day) & (
        np.isin(relations.subject, involved) | np.isin(relations.other, involved)
    )
    ties = [
        Tie(ids[a], ids[b], names[r])
        for a, b, r in zip(
            relations.subject[near].tolist(),
            relations.other[near].tolist(),
            relations.relation[near].tolist(),
            strict=True,
        )
    ]
    moments = datetimes(moment_of(reports.day, 0) + np.arange(len(reports)) * 1_000_000)
    refused = np.zeros(len(reports), bool)
    flagged = np.zeros(len(reports), bool)
    filed_by: dict[int, list[datetime]] = defaultdict(list)
    filings: list[Filing] = []
    for i, (reporter, target, at) in enumerate(
        zip(reports.reporter.tolist(), reports.target.tolist(), moments, strict=True)
    ):
        if next_report_at(filed_by[reporter], at, settings) is not None:
            refused[i] = True
            continue
        filed_by[reporter].append(at)
        filings.append(Filing(i, ids[reporter], ids[target], at))
    codes = {RATE_LIMIT} if refused.any() else set()
    for filing in filings:
        found = flags(filing, ties, filings, settings.ring_window)
        flagged[filing.id] = bool(found)
        codes.update(f.code for f in found)
    return ScreenResult(refused=refused, flagged=flagged, rules=sorted(codes))


def adjudicate(
    draw: np.ndarray, flagged: np.ndarray, error: float, flagged_error: float
) -> np.ndarray:
    """Which false reports an adjudicator wrongly upholds, given one uniform draw per report:
    each with probability `error`, or `flagged_error` where a flag warns it."""
    return draw < np.where(flagged, flagged_error, error)


def relation_bursts(
    relations: Relations,
    first_day: np.ndarray,
    young_days: int,
    limit: int,
    span_days: int = 30,
) -> set[int]:
    """Subjects that gained at least `limit` confirmed relations within `span_days` from
    identities known for less than `young_days` when the relation started."""
    start_day = relations.start // DAY_US
    mask = relations.confirmed
    found: set[int] = set()
    for mine, theirs in (
        (relations.subject, relations.other),
        (relations.other, relations.subject),
    ):
        young = mask & (start_day - first_day[theirs] < young_days)
        key = mine[young] * np.int64(1 << 24) + start_day[young] // span_days
        unique, counts = np.unique(key, return_counts=True)
        found.update(int(s) for s in (unique[counts >= limit] >> 24).tolist())
    return found
