"""Flag rules the lab runs against report and Sybil attacks (modelled here; not yet part of the
platform). The phoenix attack meets the platform's own flag (`domain.lists.phoenix_reason`).

The lab models the DESIGN.md defence "reports adjudicated before they count" with a screen of
its own: a report is screened by simple rules, a flagged reporter's reports are held, and the
rest go to an adjudicator who upholds a false report with probability `adjudicator_error`; only
an upheld report becomes a record. The platform's reports (`domain.reports`) differ: a filing
past the rate limit is refused, and flags inform the adjudicator rather than hold a report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcredit.lab.population import DAY_US, Relations

__all__ = [
    "RECIPROCAL",
    "RELATED",
    "REPORTER_RATE",
    "Reports",
    "ScreenResult",
    "adjudicate",
    "relation_bursts",
    "screen_reports",
]

RELATED = "report between related subjects"
RECIPROCAL = "reciprocal reports"
REPORTER_RATE = "reporter over the monthly limit"
BURST = "burst of relations from new identities"


@dataclass(frozen=True)
class Reports:
    """Reports of breaches: who reported whom, on which day (all false in the lab's attacks)."""

    reporter: np.ndarray
    target: np.ndarray
    day: np.ndarray

    def __len__(self) -> int:
        return len(self.reporter)


@dataclass(frozen=True)
class ScreenResult:
    """Which reports are held, and the rules that flagged each reporter."""

    held: np.ndarray
    reasons: dict[int, list[str]]

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    def rules(self) -> list[str]:
        return sorted({r for reasons in self.reasons.values() for r in reasons})


def _pairs(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(np.minimum(a, b) * np.int64(n) + np.maximum(a, b), np.int64)


def screen_reports(
    reports: Reports,
    relations: Relations,
    n: int,
    max_per_month: int,
    day: int,
) -> ScreenResult:
    """Flag reporters who report a related subject, trade reports, or report too often.

    Every report of a flagged reporter is held: it never reaches the adjudicator.
    """
    reasons: dict[int, list[str]] = {}

    def flag(reporters: np.ndarray, rule: str) -> None:
        for r in np.unique(reporters).tolist():
            reasons.setdefault(int(r), []).append(rule)

    related = _pairs(relations.subject, relations.other, n)[relations.active(day)]
    keys = _pairs(reports.reporter, reports.target, n)
    flag(reports.reporter[np.isin(keys, related)], RELATED)
    forward = reports.reporter * np.int64(n) + reports.target
    backward = reports.target * np.int64(n) + reports.reporter
    flag(reports.reporter[np.isin(backward, forward)], RECIPROCAL)
    month = reports.day // 30
    per = reports.reporter * np.int64(1 << 20) + month
    unique, counts = np.unique(per, return_counts=True)
    flag(unique[counts > max_per_month] >> 20, REPORTER_RATE)
    held = np.isin(reports.reporter, np.array(sorted(reasons), np.int64))
    return ScreenResult(held=held, reasons=reasons)


def adjudicate(rng: np.random.Generator, count: int, error: float) -> np.ndarray:
    """Which of `count` false reports an adjudicator wrongly upholds."""
    return rng.random(count) < error


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
