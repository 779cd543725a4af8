"""Records the platform writes itself (a withdrawal after a dispute, an upheld report's record,
its reward or penalty), validated as ingest validates a furnisher's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.events import EventKind
from socialcredit.domain.records import parse_record
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.store import ledger, outbox


def append_records(
    connection: sa.Connection,
    rows: Iterable[Mapping[str, Any]],
    at: datetime,
    catalogue: Catalogue | None = None,
    event: EventKind = EventKind.RECORD_ACCEPTED,
) -> int:
    """Validate the rows and append them in the caller's transaction, so they stand or fall
    with the decision that wrote them, together with the `event` that has their subjects
    rescored. Raises RowError; returns how many were new (a record already stored, with the
    same content or not, is not)."""
    catalogue = catalogue or shipped_catalogue()
    types = ledger.furnisher_types(connection)
    records = [parse_record(row, catalogue, types, at) for row in rows]
    new = ledger.add_records(connection, records, at).new
    if new:
        outbox.add_events(connection, event, (r.subject for r in records), at)
    return new
