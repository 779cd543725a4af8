"""Display periods in days, the retention period, and the no-re-aging rule for records.

An adverse record is shown and scored for at most its tier's maximum display period after it
occurred; the ledger keeps it for the retention period, after which `maintain` purges it. A
correction may never move a delinquency's first-delinquency date later (no re-aging).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from socialcredit.domain.tiers import DISPLAY_PERIODS, Tier, add_months


@cache
def shortest_span_days(months: int) -> int:
    """The fewest days any `months` calendar months span (3 months: 89, 12: 365, 36: 1095).

    Checked over a century that holds every pattern of leap years (2100 is not one). A start
    on days 1 to 28 spans the same as on day 1; only days 29 to 31 are clipped."""
    shortest = months * 31
    for year in range(2001, 2101):
        for month in range(1, 13):
            for day in (1, 29, 30, 31):
                if day > calendar.monthrange(year, month)[1]:
                    continue
                moment = datetime(year, month, day)
                shortest = min(shortest, (add_months(moment, months) - moment).days)
    return shortest


def display_days(tier: Tier) -> int:
    """How many days, at most, a record of `tier` counts: the longest whole number of days
    that never passes the tier's maximum display period, whatever day it starts on."""
    return shortest_span_days(DISPLAY_PERIODS[tier].maximum_months)


def day_of(moment: datetime) -> date:
    """The UTC day a time falls on (naive times are UTC)."""
    return moment.date()


def expires_on(tier: Tier, occurred_at: datetime) -> date:
    """The first day a record of `tier` that occurred at `occurred_at` no longer counts: its
    day plus the tier's display days (never after the calendar maximum, display_ends)."""
    return day_of(occurred_at) + timedelta(days=display_days(tier))


@dataclass(frozen=True)
class RetentionPeriod:
    """How long the ledger keeps a record after it occurred (None: no limit), and why."""

    months: int | None
    basis: str = ""


@dataclass(frozen=True)
class Retention:
    """Retention periods: one for adverse kinds (those with a tier), one for the others, and
    overrides by kind. Administrative records (retractions) go with the records they name."""

    adverse: RetentionPeriod
    positive: RetentionPeriod
    kinds: Mapping[str, RetentionPeriod] = field(default_factory=dict)

    def period(self, kind: str, tier: Tier | None) -> RetentionPeriod:
        """The retention period that applies to a kind."""
        if kind in self.kinds:
            return self.kinds[kind]
        return self.adverse if tier is not None else self.positive

    def kept_until(self, kind: str, tier: Tier | None, occurred_at: datetime) -> datetime | None:
        """The moment from which a record may no longer be kept; None when it may be kept."""
        months = self.period(kind, tier).months
        return None if months is None else add_months(occurred_at, months)

    def shortest_months(self) -> int | None:
        """The shortest retention period of any kind (None when nothing is ever purged)."""
        periods = [self.adverse, self.positive, *self.kinds.values()]
        months = [p.months for p in periods if p.months is not None]
        return min(months) if months else None


def past_retention_refusal(
    retention: Retention, kind: str, tier: Tier | None, occurred_at: datetime, now: datetime
) -> str | None:
    """Why a record that is already past its retention period may not enter the ledger, or
    None. (Re-sending a purged record cannot bring it back.)"""
    until = retention.kept_until(kind, tier, occurred_at)
    if until is None or until > now:
        return None
    months = retention.period(kind, tier).months
    return (
        f"the record is past its retention period ({describe_months(months)} after it occurred, "
        f"until {until.date().isoformat()}): the ledger may no longer keep it"
    )


def reaging_refusal(
    kind: str,
    occurred_at: datetime,
    replaced_external_id: str,
    first_delinquency: datetime,
) -> str | None:
    """Why a correction of an adverse record may not be taken, or None: a correction may keep
    or move the first-delinquency date earlier, never later (no re-aging). Days count, as they
    do for display periods: a time later on the same day is the same date."""
    if day_of(occurred_at) <= day_of(first_delinquency):
        return None
    return (
        f"no re-aging: this {kind!r} correction of record {replaced_external_id!r} moves its "
        f"first-delinquency date later, from {day_of(first_delinquency).isoformat()} to "
        f"{day_of(occurred_at).isoformat()}; a correction may keep that date or move it "
        "earlier, and a new delinquency needs a new record"
    )


def describe_months(months: int | None) -> str:
    """A period in words: '5 years', '18 months', 'no limit'."""
    if months is None:
        return "no limit"
    if months % 12 == 0:
        years = months // 12
        return f"{years} year" + ("s" if years != 1 else "")
    return f"{months} month" + ("s" if months != 1 else "")
