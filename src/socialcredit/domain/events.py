"""Domain events: what changed about a subject, committed in the same transaction as the change
itself, so that what follows from it (rescoring, notices) survives any crash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    """The kinds of change that reach the outbox."""

    RECORD_ACCEPTED = "record.accepted"
    RELATION_ACCEPTED = "relation.accepted"
    DISPUTE_DECIDED = "dispute.decided"
    REPORT_UPHELD = "report.upheld"
    RECORD_PURGED = "record.purged"
    REPAIR_GRANTED = "repair.granted"


RESCORING = frozenset(
    {
        EventKind.RECORD_ACCEPTED,
        EventKind.RELATION_ACCEPTED,
        EventKind.DISPUTE_DECIDED,
        EventKind.REPORT_UPHELD,
        EventKind.RECORD_PURGED,
    }
)
"""Events after which the subject's scores are to be redone. A granted repair ends a list
entry's publication; lists are derived when read, so it leaves no score stale."""


@dataclass(frozen=True)
class Event:
    """One pending event about one subject. `ledger_position` is the last ledger id when the
    change committed: a score that reflects that position (and was computed after the event)
    has taken the change in."""

    id: int
    kind: str
    subject: str
    ledger_position: int
    created_at: datetime
