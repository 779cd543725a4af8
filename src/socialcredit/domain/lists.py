"""Blacklists and redlists: what puts a subject on a list, how long it stays, what takes it off.

Entries are never stored: they are derived from the ledger (and granted repairs) at the moment
asked, so a fulfilment record removes an entry in the same transaction that stores it, and an
entry stops counting at its expiry without anyone running anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from socialcredit.domain.programs import FORBID_UNKNOWN_FIELDS
from socialcredit.domain.tiers import Tier, add_months, display_ends, repairable_from


class ListKind(StrEnum):
    """A blacklist restricts; a redlist rewards."""

    BLACKLIST = "blacklist"
    REDLIST = "redlist"


@dataclass(frozen=True)
class RecordCriterion:
    """Records that put a subject on a list.

    Without `within_days` each qualifying record opens its own case (a court's listing order,
    one per judgment). With it, the subject is listed while the records inside the window reach
    `min_count` records or `min_total` in value (volunteer hours, donations)."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    kinds: list[str]
    min_value: float | None = None
    within_days: int | None = None
    min_count: int = 1
    min_total: float | None = None

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ValueError("name at least one record kind")
        if self.within_days is None and (self.min_count != 1 or self.min_total is not None):
            raise ValueError("min_count and min_total need within_days")
        if self.within_days is not None and self.within_days <= 0:
            raise ValueError("within_days must be positive")


@dataclass(frozen=True)
class ScoreCriterion:
    """A program's latest score puts a subject on a list: a grade, or a score threshold."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    program: str
    grades: list[str] = field(default_factory=list)
    at_least: int | None = None
    below: int | None = None

    def __post_init__(self) -> None:
        if not self.grades and self.at_least is None and self.below is None:
            raise ValueError("name grades, at_least or below")

    def holds(self, score: int | None, grade: str | None) -> bool:
        """Whether a score and grade meet the criterion (no score meets none)."""
        if score is None:
            return False
        if self.grades and grade not in self.grades:
            return False
        if self.at_least is not None and score < self.at_least:
            return False
        return self.below is None or score < self.below


@dataclass(frozen=True)
class Extension:
    """A record that extends a case's listing by its value in years, up to `max_years`."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    kind: str
    max_years: int


@dataclass(frozen=True)
class ListDefinition:
    """One list, as its policy file states it."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    name: str
    title: str
    kind: ListKind
    tier: Tier
    category: str
    public: bool
    duration_months: int
    how_to_leave: str
    records: RecordCriterion | None = None
    score: ScoreCriterion | None = None
    removal: list[str] = field(default_factory=list)
    match: str | None = None
    extension: Extension | None = None
    obligation: list[str] = field(default_factory=list)
    source: str = ""
    full_ids: bool = False
    """A public list shows persons' resident IDs whole; by default their birth date is hidden."""

    def __post_init__(self) -> None:
        if (self.records is None) == (self.score is None):
            raise ValueError("a list is entered by records or by a score, exactly one")
        if self.duration_months <= 0:
            raise ValueError("duration_months must be positive")
        if self.match not in (None, "evidence"):
            raise ValueError("match may only be 'evidence' (the case number)")
        if self.score is not None and (self.removal or self.extension or self.match):
            raise ValueError("removal, match and extension apply to record-entered lists")


@dataclass(frozen=True)
class LedgerRecord:
    """A record in force, as lists see it."""

    id: int
    kind: str
    occurred_at: datetime
    value: float | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class ScoreFact:
    """A subject's latest snapshot under one program, as lists see it."""

    program: str
    policy_version: str
    as_of: datetime
    score: int | None
    grade: str | None
    record_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Case:
    """One reason a subject is on a list (a listing order, or a window of records)."""

    start: datetime
    until: datetime
    record_ids: tuple[int, ...]
    evidence: str | None = None


@dataclass(frozen=True)
class ListEntry:
    """A subject on a list now: since when, until when, the records that put it there, the way
    off, and when repair becomes possible."""

    subject: str
    list: str
    kind: ListKind
    tier: Tier
    since: datetime
    until: datetime
    record_ids: tuple[int, ...]
    cases: tuple[Case, ...]
    how_to_leave: str
    repairable_from: datetime
    public: bool


def _case_until(definition: ListDefinition, start: datetime, extended_years: int) -> datetime:
    """The end of a case: its duration plus extensions, and a blacklist's never past its tier's
    maximum display period."""
    end = add_months(start, definition.duration_months + 12 * extended_years)
    if definition.kind is ListKind.BLACKLIST:
        end = min(end, display_ends(definition.tier, start))
    return end


def _same_case(definition: ListDefinition, listing: LedgerRecord, other: LedgerRecord) -> bool:
    if other.occurred_at < listing.occurred_at:
        return False
    return definition.match is None or (
        listing.evidence is not None and other.evidence == listing.evidence
    )


def _order_cases(definition: ListDefinition, records: Sequence[LedgerRecord]) -> list[Case]:
    """One case per listing record, closed by a removal record of the same case."""
    assert definition.records is not None
    criterion = definition.records
    cases = []
    for listing in records:
        if listing.kind not in criterion.kinds:
            continue
        if criterion.min_value is not None and (listing.value or 0.0) < criterion.min_value:
            continue
        removals = [
            r.occurred_at
            for r in records
            if r.kind in definition.removal and _same_case(definition, listing, r)
        ]
        extensions = [
            r
            for r in records
            if definition.extension is not None
            and r.kind == definition.extension.kind
            and _same_case(definition, listing, r)
        ]
        years = sum(max(0, int(r.value or 0)) for r in extensions)
        if definition.extension is not None:
            years = min(years, definition.extension.max_years)
        until = _case_until(definition, listing.occurred_at, years)
        if removals:
            until = min(until, min(removals))
        ids = (listing.id, *(r.id for r in extensions))
        cases.append(Case(listing.occurred_at, until, ids, listing.evidence))
    return cases


def _window_case(
    definition: ListDefinition, records: Sequence[LedgerRecord], now: datetime
) -> Case | None:
    """The case of a windowed list: records in the window reaching the count or total."""
    criterion = definition.records
    assert criterion is not None and criterion.within_days is not None
    window = timedelta(days=criterion.within_days)
    inside = sorted(
        (r for r in records if r.kind in criterion.kinds and now - window < r.occurred_at <= now),
        key=lambda r: (r.occurred_at, r.id),
    )

    def enough(chosen: Sequence[LedgerRecord]) -> bool:
        if len(chosen) < criterion.min_count:
            return False
        total = sum(r.value or 0.0 for r in chosen)
        return criterion.min_total is None or total >= criterion.min_total

    if not enough(inside):
        return None
    since = next(r.occurred_at for i, r in enumerate(inside) if enough(inside[: i + 1]))
    # It lapses when the oldest records leave the window and what is left no longer suffices.
    lapse = next(r.occurred_at for i, r in enumerate(inside) if not enough(inside[i + 1 :]))
    until = min(lapse + window, add_months(since, definition.duration_months))
    return Case(since, until, tuple(r.id for r in inside))


def _score_case(definition: ListDefinition, fact: ScoreFact | None) -> Case | None:
    criterion = definition.score
    assert criterion is not None
    if fact is None or not criterion.holds(fact.score, fact.grade):
        return None
    until = add_months(fact.as_of, definition.duration_months)
    return Case(fact.as_of, until, fact.record_ids)


def entry_of(
    definition: ListDefinition,
    subject: str,
    records: Sequence[LedgerRecord],
    now: datetime,
    *,
    score: ScoreFact | None = None,
    repaired_at: datetime | None = None,
) -> ListEntry | None:
    """The subject's entry on one list at `now`, or None.

    `records` are the subject's records in force; `score` its latest snapshot under the list's
    program; `repaired_at` when a repair of this list was granted (cases begun before it end)."""
    if definition.score is not None:
        found = _score_case(definition, score)
        cases = [found] if found else []
    elif definition.records is not None and definition.records.within_days is not None:
        found = _window_case(definition, records, now)
        cases = [found] if found else []
    else:
        cases = _order_cases(definition, records)
    live = [
        c
        for c in cases
        if c.start <= now < c.until and (repaired_at is None or c.start >= repaired_at)
    ]
    if not live:
        return None
    since = min(c.start for c in live)
    ids = tuple(sorted({i for c in live for i in c.record_ids}))
    return ListEntry(
        subject=subject,
        list=definition.name,
        kind=definition.kind,
        tier=definition.tier,
        since=since,
        until=max(c.until for c in live),
        record_ids=ids,
        cases=tuple(sorted(live, key=lambda c: (c.start, c.record_ids))),
        how_to_leave=definition.how_to_leave,
        repairable_from=repairable_from(definition.tier, since),
        public=definition.public,
    )


def kinds_read(definitions: Iterable[ListDefinition]) -> set[str]:
    """Every record kind these lists look at (entry, removal, extension)."""
    kinds: set[str] = set()
    for d in definitions:
        if d.records is not None:
            kinds.update(d.records.kinds)
        kinds.update(d.removal)
        kinds.update(d.obligation)
        if d.extension is not None:
            kinds.add(d.extension.kind)
    return kinds


def repair_refusal(
    definition: ListDefinition,
    entry: ListEntry | None,
    records: Sequence[LedgerRecord],
    commitment: str,
    now: datetime,
) -> str | None:
    """Why a repair of this entry cannot be granted now, or None when it can: the subject is
    listed, the tier's minimum display period has passed, the obligation is met (a record of an
    obligation kind after the listing, where the list names any) and a commitment is given."""
    if entry is None:
        return f"the subject is not on {definition.name}"
    if definition.kind is ListKind.REDLIST:
        return "a redlist entry is not repaired"
    if not commitment.strip():
        return "a repair needs a credit commitment: what the subject undertakes from now on"
    if now < entry.repairable_from:
        return (
            f"a {definition.tier.value} entry may be repaired from "
            f"{entry.repairable_from.date().isoformat()} (the tier's minimum display period)"
        )
    if definition.obligation:
        met = any(r.kind in definition.obligation and r.occurred_at >= entry.since for r in records)
        if not met:
            kinds = ", ".join(definition.obligation)
            return f"the obligation is not met yet: no {kinds} record since the listing"
    return None


@dataclass(frozen=True)
class Representation:
    """A person is (or was) an organisation's legal representative from `start`."""

    person: str
    organisation: str
    start: datetime


def _same_address(a: str | None, b: str | None) -> bool:
    def norm(text: str) -> str:
        return " ".join(text.casefold().replace(",", " ").split())

    return a is not None and b is not None and norm(a) == norm(b)


def phoenix_reason(
    organisation: str,
    representations: Sequence[Representation],
    addresses: dict[str, str],
    blacklisted: dict[str, ListEntry],
) -> str | None:
    """Why an organisation looks like a phoenix of a blacklisted one, or None: it shares a legal
    representative and its registered address with an organisation on a blacklist, and that
    representative took it on after the other was listed. A flag asks for review; it is not a
    measure."""
    mine = [r for r in representations if r.organisation == organisation]
    for own in mine:
        for other in representations:
            entry = blacklisted.get(other.organisation)
            if (
                other.organisation == organisation
                or other.person != own.person
                or entry is None
                or own.start < entry.since
            ):
                continue
            if _same_address(addresses.get(organisation), addresses.get(other.organisation)):
                return (
                    f"shares legal representative {own.person} and its address with "
                    f"{other.organisation}, on {entry.list} since {entry.since.date().isoformat()}"
                )
    return None
