"""What ingest checks beyond a row's own fields: no re-aging, nothing past retention.

A correction (a record whose `replaces` names an earlier record of the same furnisher) of an
adverse record may not move the first-delinquency date later: that would keep the delinquency
shown and stored longer than the rules allow. And a record already past its retention period
may not enter the ledger (so a purged record cannot be sent back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.records import Record, RowError
from socialcredit.domain.retention import Retention, past_retention_refusal, reaging_refusal
from socialcredit.domain.tiers import Tier, add_months
from socialcredit.policy.retention import shipped_retention
from socialcredit.store import tables

_LONGEST_CHAIN = 100
_CLIPPED_DAYS = 4  # add_months clips at most 3 days (31 Mar - 1 month = 28 Feb)

_RECORD_BY_KEY = sa.select(
    tables.records.c.kind, tables.records.c.occurred_at, tables.records.c.replaces
).where(
    tables.records.c.furnisher == sa.bindparam("furnisher"),
    tables.records.c.external_id == sa.bindparam("external_id"),
)

Known = tuple[str, datetime, str | None]  # kind, occurred_at, replaces
T = TypeVar("T")


class RecordScreen:
    """Checks each parsed record of one ingest against the ledger (read through the ingest's
    own transaction) and the records parsed since the last append."""

    def __init__(
        self,
        connection: sa.Connection,
        catalogue: Catalogue,
        now: datetime,
        retention: Retention | None = None,
    ) -> None:
        self.connection = connection
        self.catalogue = catalogue
        self.now = now
        self.retention = retention or shipped_retention()
        self.pending: dict[tuple[str, str], Known] = {}
        self._kinds: dict[str, tuple[Tier | None, datetime | None]] = {}

    def check(self, record: Record) -> Record:
        """The record, or RowError saying why the ledger may not take it."""
        kind = record.kind
        known = self._kinds.get(kind)
        if known is None:
            known = self._kinds[kind] = self._kind(kind)
        tier, safe_after = known
        if safe_after is not None and record.occurred_at < safe_after:
            refusal = past_retention_refusal(
                self.retention, kind, tier, record.occurred_at, self.now
            )
            if refusal:
                raise RowError(refusal)
        replaces = record.replaces
        if replaces is not None and tier is not None:
            first = self.first_delinquency(record.furnisher, replaces)
            if first is not None:
                refusal = reaging_refusal(kind, record.occurred_at, replaces, first)
                if refusal:
                    raise RowError(refusal)
        if tier is not None or replaces is not None:  # what a chain can lead through
            self.pending[(record.furnisher, record.external_id)] = (
                kind,
                record.occurred_at,
                replaces,
            )
        return record

    def appended(self, result: T) -> T:
        """Forget the records parsed so far: they are in the ledger now. Returns `result`."""
        self.pending.clear()
        return result

    def _kind(self, kind: str) -> tuple[Tier | None, datetime | None]:
        """A kind's tier, and the time after which a record of it is surely within retention
        (None: it is kept without limit), so that almost no record needs calendar arithmetic."""
        tier = self.catalogue.tier(kind)
        months = self.retention.period(kind, tier).months
        if months is None:
            return tier, None
        return tier, add_months(self.now, -months) + timedelta(days=_CLIPPED_DAYS)

    def first_delinquency(self, furnisher: str, external_id: str) -> datetime | None:
        """When the delinquency a correction names first occurred: the date of the nearest
        adverse record up its chain of replacements (through retractions and corrections to
        other kinds); None when there is none."""
        key: str | None = external_id
        for _ in range(_LONGEST_CHAIN):
            if key is None:
                return None
            known = self._known(furnisher, key)
            if known is None:
                return None
            kind, occurred_at, replaces = known
            if self.catalogue.tier(kind) is not None:
                return occurred_at
            key = replaces
        return None

    def _known(self, furnisher: str, external_id: str) -> Known | None:
        found = self.pending.get((furnisher, external_id))
        if found is not None:
            return found
        row = self.connection.execute(
            _RECORD_BY_KEY, {"furnisher": furnisher, "external_id": external_id}
        ).first()
        return None if row is None else (row.kind, row.occurred_at, row.replaces)
