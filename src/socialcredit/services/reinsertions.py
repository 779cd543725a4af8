"""Putting back a record withdrawn after a dispute: only with the furnisher's certification
(who certifies and why, in attributes.certification), and the subject is told.

A record puts back a withdrawn one when, from the same furnisher, it names the withdrawn record
or its retraction in `replaces`, or says the very same thing again under a new external id
(same subject, kind, time, value, evidence and attributes). Ingest asks this guard for every
record row, whatever the channel (files, Arrow tables, the API), so no channel bypasses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.disputes import (
    CERTIFICATION_FIELD,
    Certification,
    Dispute,
    certification_of,
)
from socialcredit.domain.records import Record, RowError
from socialcredit.services.disputes import Actor, log_entry
from socialcredit.services.notices import add_notice
from socialcredit.store import disputes as store
from socialcredit.store.ledger import Appended

Parse = Callable[[dict[str, Any]], Record]
Append = Callable[[sa.Connection, list[Record]], Appended]
Key = tuple[str, str]


Content = tuple[float | None, str | None, dict[str, Any]]


def _content(value: float | None, evidence: str | None, attributes: dict[str, Any]) -> Content:
    """What a record says besides who, whom, what and when (its certification aside)."""
    rest = {k: v for k, v in attributes.items() if k != CERTIFICATION_FIELD}
    return value, evidence, rest


class ReinsertionGuard:
    """The records withdrawn after disputes, to check incoming records against."""

    def __init__(self, withdrawn: Sequence[tuple[Dispute, Content | None]]) -> None:
        self._by_reference: dict[Key, Dispute] = {}
        self._by_fact: dict[tuple[str, str, str, datetime], list[tuple[Dispute, Content]]] = {}
        self._originals: set[Key] = set()
        for dispute, content in withdrawn:
            self._by_reference[(dispute.furnisher, dispute.external_id)] = dispute
            if dispute.retraction:
                self._by_reference[(dispute.furnisher, dispute.retraction)] = dispute
            if content is not None:  # None: the record was purged; only references count
                fact = (dispute.furnisher, dispute.subject, dispute.kind, dispute.occurred_at)
                self._by_fact.setdefault(fact, []).append((dispute, content))
            self._originals.add((dispute.furnisher, dispute.external_id))
        self.pending: dict[Key, tuple[Dispute, Certification]] = {}

    @classmethod
    def load(cls, connection: sa.Connection) -> ReinsertionGuard:
        withdrawn = store.withdrawn_disputes(connection)
        contents = store.record_contents(connection, [d.record for d in withdrawn])
        return cls(
            [
                (d, _content(*contents[d.record]) if d.record in contents else None)
                for d in withdrawn
            ]
        )

    def __bool__(self) -> bool:
        return bool(self._by_reference)

    def withdrawn_by(self, record: Record) -> Dispute | None:
        """The dispute whose withdrawn record this one puts back, or None: it names the
        withdrawn record or its retraction, or says the very same thing again."""
        if record.kind == RETRACTION_KIND:
            return None
        if (record.furnisher, record.external_id) in self._originals:
            return None  # the withdrawn record itself, re-sent: a duplicate, changes nothing
        if record.replaces is not None:
            found = self._by_reference.get((record.furnisher, record.replaces))
            if found is not None:
                return found
        fact = (record.furnisher, record.subject, record.kind, record.occurred_at)
        candidates = self._by_fact.get(fact)
        if candidates:
            said = _content(record.value, record.evidence, record.attributes)
            for dispute, content in candidates:
                if content == said:
                    return dispute
        return None

    def check(self, record: Record) -> Record:
        """The record, or RowError when it puts back a withdrawn record uncertified."""
        dispute = self.withdrawn_by(record)
        if dispute is None:
            return record
        certification = certification_of(record.attributes)
        if isinstance(certification, str):
            raise RowError(
                f"record {record.external_id} puts back record {dispute.external_id}, which was "
                f"withdrawn after dispute {dispute.id} ({dispute.outcome}): {certification}"
            )
        self.pending[(record.furnisher, record.external_id)] = (dispute, certification)
        return record

    def append(
        self, connection: sa.Connection, items: list[Record], append: Append, now: datetime
    ) -> Appended:
        """Append the records; for each new one that puts a withdrawn record back, note it on
        the dispute, log it and tell the subject."""
        keys = list(
            dict.fromkeys(k for r in items if (k := (r.furnisher, r.external_id)) in self.pending)
        )
        known = {k for k in keys if store.record_id(connection, *k) is not None}
        added = append(connection, items)
        for key in keys:
            dispute, certification = self.pending.pop(key)
            if key in known:
                continue
            record = store.record_id(connection, *key)
            assert record is not None
            self._note(connection, dispute, certification, key[1], record, now)
        return added

    @staticmethod
    def _note(
        connection: sa.Connection,
        dispute: Dispute,
        certification: Certification,
        external_id: str,
        record: int,
        now: datetime,
    ) -> None:
        store.mark_reinserted(connection, dispute.id, record)
        actor = Actor(dispute.furnisher, certification.by, "furnisher")
        detail = {
            "record": dispute.record,
            "reinserted": record,
            "external_id": external_id,
            "certified_by": certification.by,
        }
        store.log_action(
            connection,
            log_entry(
                actor,
                now,
                dispute.subject,
                "reinserted",
                certification.reason,
                detail,
                dispute=dispute.id,
            ),
        )
        add_notice(
            connection,
            dispute.subject,
            "dispute.reinserted",
            f"{dispute.furnisher} put back record {dispute.record} ({dispute.kind} of "
            f"{dispute.occurred_at.date().isoformat()}), withdrawn after your dispute "
            f"{dispute.id}, as record {record}. {certification.by} certified it as accurate: "
            f"{certification.reason}. It counts again; you may dispute it.",
            {"dispute": dispute.id, "record": dispute.record, "reinserted": record},
            now,
        )


def guard_reinsertions(
    connection: sa.Connection, parse: Parse, append: Append, now: datetime
) -> tuple[Parse, Append]:
    """Ingest's record parser and appender, checking re-insertions (unchanged when no record
    was ever withdrawn after a dispute)."""
    guard = ReinsertionGuard.load(connection)
    if not guard:
        return parse, append
    return (
        lambda row: guard.check(parse(row)),
        lambda conn, items: guard.append(conn, items, append, now),
    )
