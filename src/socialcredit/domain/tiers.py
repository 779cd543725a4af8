"""Severity tiers and their display periods (national rules in force 2026): how long an adverse
item may be shown, and from when it may be repaired."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Tier(StrEnum):
    """How serious an adverse item is; it bounds how long the item is shown."""

    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"


TIERS = tuple(t.value for t in Tier)


@dataclass(frozen=True)
class DisplayPeriod:
    """The least and the most months an item of a tier is shown. Repair is possible after the
    least (once the obligation is met); publication stops by itself at the most."""

    minimum_months: int
    maximum_months: int


DISPLAY_PERIODS: dict[Tier, DisplayPeriod] = {
    Tier.MINOR: DisplayPeriod(0, 3),
    Tier.GENERAL: DisplayPeriod(3, 12),
    Tier.SERIOUS: DisplayPeriod(12, 36),
}

TIER_ORDER = {Tier.MINOR: 0, Tier.GENERAL: 1, Tier.SERIOUS: 2}


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, the day clipped to the month's last (31 Jan + 1 = 28 Feb)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def display_ends(tier: Tier, start: datetime) -> datetime:
    """When an item of `tier` shown since `start` stops being published, whatever else holds."""
    return add_months(start, DISPLAY_PERIODS[tier].maximum_months)


def repairable_from(tier: Tier, start: datetime) -> datetime:
    """The earliest moment an item of `tier` shown since `start` may be repaired."""
    return add_months(start, DISPLAY_PERIODS[tier].minimum_months)


def heavier(a: Tier, b: Tier) -> bool:
    """Whether tier `a` is more serious than tier `b`."""
    return TIER_ORDER[a] > TIER_ORDER[b]
