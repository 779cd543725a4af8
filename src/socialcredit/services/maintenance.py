"""`maintain`: close overdue disputes, let records past their display period drop out of the
current scores, and purge records past their retention period, logging each purge.

Scoring already ignores a record past its tier's display period (the compiler cuts every
window to it), so expiry needs no mark in the ledger: what maintain does is rescore the
subjects whose newest snapshot still counted such a record, so their current scores are
right. A run remembers the moment it maintained the store for; the next run counts only what
expired after it. Running twice for the same moment changes nothing the second time.
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.catalogue import RETRACTION_KIND, Catalogue
from socialcredit.domain.events import EventKind
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import NotAllowed, Principal, Role, require_role
from socialcredit.domain.records import superseded
from socialcredit.domain.retention import Retention, describe_months, display_days
from socialcredit.domain.tiers import Tier, add_months
from socialcredit.policy.compile import CompiledProgram
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.policy.retention import shipped_retention
from socialcredit.services.disputes import close_overdue_disputes
from socialcredit.services.errors import InvalidRequest
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.services.scoring import rescore_subjects
from socialcredit.services.subjects import SubjectNotFound
from socialcredit.store import access, files, outbox
from socialcredit.store import purges as store
from socialcredit.store.purges import PurgeEntry, StoredRecord
from socialcredit.store.writers import one_writer

Key = tuple[str, str]
Advance = Callable[[int], None]
Progress = Callable[[str, int], Advance]
"""Starts a named stage of `total` steps; returns the function that advances it."""

PURGE_BATCH = 1_000
"""Records purged per transaction."""
RESCORE_BATCH = 20_000
"""Subjects rescored per call (for progress; each call is one partial run)."""
_CLIPPED_DAYS = 4


class MaintenanceBusy(RuntimeError):
    """Another maintenance run holds the store."""


@dataclass
class MaintenanceReport:
    """What one run did."""

    as_of: datetime
    since: datetime | None
    run_id: int = 0
    disputes_closed: list[int] = field(default_factory=list)
    expired: int = 0
    expired_by_tier: dict[str, int] = field(default_factory=dict)
    rescored: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    purged: int = 0
    purged_chains: int = 0
    purged_subjects: int = 0
    purged_by_kind: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "as_of": _stamp(self.as_of),
            "since": _stamp(self.since),
            "disputes": {"closed": len(self.disputes_closed), "ids": self.disputes_closed},
            "expired": {"records": self.expired, "by_tier": self.expired_by_tier},
            "rescored": {"subjects": len(self.rescored), "programs": self.programs},
            "purged": {
                "records": self.purged,
                "chains": self.purged_chains,
                "subjects": self.purged_subjects,
                "by_kind": self.purged_by_kind,
            },
        }


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def _quiet(_stage: str, _total: int) -> Advance:
    return lambda _n: None


# ------------------------------------------------------------------------------ one at a time

_running: weakref.WeakKeyDictionary[sa.Engine, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()
_ADVISORY_KEY = zlib.crc32(b"socialcredit.maintain")


@contextmanager
def _exclusive(engine: sa.Engine) -> Iterator[None]:
    """Hold the store for one maintenance run: a lock in this process and, on PostgreSQL, an
    advisory lock for every process. Raises MaintenanceBusy when another run holds it."""
    with _guard:
        lock = _running.setdefault(engine, threading.Lock())
    if not lock.acquire(blocking=False):
        raise MaintenanceBusy("another maintenance run is under way in this process")
    try:
        if engine.dialect.name != "postgresql":
            yield
            return
        with engine.connect() as connection:
            held = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
            ).scalar_one()
            connection.commit()
            if not held:
                raise MaintenanceBusy("another maintenance run is under way on this store")
            try:
                yield
            finally:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY}
                )
                connection.commit()
    finally:
        lock.release()


# ------------------------------------------------------------------------------ expiry


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _expired_records(
    connection: sa.Connection,
    catalogue: Catalogue,
    replaced: set[Key],
    since: date | None,
    today: date,
) -> list[tuple[StoredRecord, Tier, date]]:
    """Records in force whose display period ended after the day `since` (None: ever) and by
    `today`, with their tier and the first day they no longer count."""
    by_tier: dict[Tier, list[str]] = {}
    for kind in catalogue.kinds.values():
        if kind.tier is not None:
            by_tier.setdefault(kind.tier, []).append(kind.name)
    found = []
    for tier, kinds in sorted(by_tier.items()):
        days = timedelta(days=display_days(tier))
        # A record of day d stops counting on d + days: wanted since < d + days <= today.
        before = _midnight(today - days + timedelta(days=1))
        after = None if since is None else _midnight(since - days + timedelta(days=1))
        for record in store.occurred_between(connection, sorted(kinds), after, before):
            if record.key not in replaced:
                found.append((record, tier, record.occurred_at.date() + days))
    return found


def _stale_subjects(connection: sa.Connection, expiries: dict[str, date]) -> list[str]:
    """Subjects whose newest snapshot (of some program) was computed before one of their
    records stopped counting."""
    newest = store.newest_snapshot_days(connection, sorted(expiries))
    return sorted(s for s, day in newest.items() if day.date() < expiries[s])


# ------------------------------------------------------------------------------ purge


@dataclass
class _Chains:
    """Corrections and retractions tie records into chains, which are purged whole."""

    replaces: dict[Key, Key] = field(default_factory=dict)
    replaced_by: dict[Key, list[Key]] = field(default_factory=dict)
    out_of_force: set[Key] = field(default_factory=set)

    @classmethod
    def load(cls, connection: sa.Connection) -> _Chains:
        chains = cls()
        corrections = store.corrections(connection)
        for c in corrections:
            new, old = (c.furnisher, c.external_id), (c.furnisher, c.replaces)
            chains.replaces[new] = old
            chains.replaced_by.setdefault(old, []).append(new)
        chains.out_of_force = superseded(corrections)
        return chains

    def replaced(self) -> set[Key]:
        """Records out of force: replaced, withdrawn, or a correction a later one superseded."""
        return self.out_of_force

    def chain(self, start: Key) -> set[Key]:
        """Every key tied to `start` by replacements, either way."""
        seen = {start}
        queue = deque([start])
        while queue:
            key = queue.popleft()
            linked = list(self.replaced_by.get(key, ()))
            if key in self.replaces:
                linked.append(self.replaces[key])
            for other in linked:
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        return seen


def _retention_reason(
    retention: Retention, catalogue: Catalogue, record: StoredRecord, now: datetime
) -> str | None:
    """Why a record is past its retention period at `now`, or None when it is not."""
    if record.kind == RETRACTION_KIND:
        period = retention.adverse
        what = "a retraction"
    else:
        tier = catalogue.tier(record.kind)
        period = retention.period(record.kind, tier)
        what = (
            f"kind {record.kind}"
            if record.kind in retention.kinds
            else (f"an adverse record ({tier.value})" if tier is not None else "a positive record")
        )
    if period.months is None:
        return None
    until = add_months(record.occurred_at, period.months)
    if until > now:
        return None
    return (
        f"retention: {what} is kept {describe_months(period.months)} after it occurred; "
        f"this one occurred {record.occurred_at.date().isoformat()}, kept until "
        f"{until.date().isoformat()}"
    )


def _due_chain(
    members: list[StoredRecord], retention: Retention, catalogue: Catalogue, now: datetime
) -> list[PurgeEntry] | None:
    """The purge entries of a chain whose every record is past retention, else None.
    Retractions go with the records they withdraw; alone, they keep the adverse period."""
    facts = [m for m in members if m.kind != RETRACTION_KIND]
    entries = []
    for member in facts or members:
        reason = _retention_reason(retention, catalogue, member, now)
        if reason is None:
            return None
        entries.append(PurgeEntry(member, reason))
    if facts:
        for member in members:
            if member.kind == RETRACTION_KIND:
                reason = (
                    f"goes with record {member.replaces} of {member.furnisher}, which it withdrew"
                )
                entries.append(PurgeEntry(member, reason))
    return sorted(entries, key=lambda e: e.record.id)


def _purge_kinds(retention: Retention, catalogue: Catalogue) -> list[str]:
    """Kinds that have a retention period, with retractions (kept for the adverse period)."""
    kinds = [
        name
        for name, kind in catalogue.kinds.items()
        if retention.period(name, kind.tier).months is not None
    ]
    if retention.adverse.months is not None and RETRACTION_KIND not in kinds:
        kinds.append(RETRACTION_KIND)
    return sorted(kinds)


def _due_chains(
    connection: sa.Connection,
    chains: _Chains,
    retention: Retention,
    catalogue: Catalogue,
    now: datetime,
) -> list[list[PurgeEntry]]:
    """Every chain of records due for purging at `now`."""
    shortest = retention.shortest_months()
    if shortest is None:
        return []
    before = add_months(now, -shortest) + timedelta(days=_CLIPPED_DAYS)
    candidates = store.occurred_between(
        connection, _purge_kinds(retention, catalogue), None, before
    )
    known = {r.key: r for r in candidates}
    groups: list[set[Key]] = []
    grouped: set[Key] = set()
    for record in candidates:
        if record.key not in grouped:
            group = chains.chain(record.key)
            grouped |= group
            groups.append(group)
    missing = {k for g in groups for k in g if k not in known}
    known.update((r.key, r) for r in store.records_by_key(connection, missing))
    due = []
    for group in groups:
        members = sorted((known[k] for k in group if k in known), key=lambda r: r.id)
        entries = _due_chain(members, retention, catalogue, now) if members else None
        if entries:
            due.append(entries)
    return due


def _purge(
    engine: sa.Engine, run: int, due: list[list[PurgeEntry]], now: datetime, progress: Progress
) -> list[PurgeEntry]:
    """Purge the chains in batches, each batch logged under the run and deleted in one
    transaction."""
    advance = progress("purging records past retention", sum(len(c) for c in due))
    purged: list[PurgeEntry] = []
    batch: list[PurgeEntry] = []

    def flush() -> None:
        if batch:
            with _superseded(engine, run), one_writer(engine), engine.begin() as connection:
                store.purge(connection, run, batch, now)
                subjects = (e.record.subject for e in batch)
                outbox.add_events(connection, EventKind.RECORD_PURGED, subjects, now)
            purged.extend(batch)
            advance(len(batch))
            batch.clear()

    for chain in due:
        batch.extend(chain)
        if len(batch) >= PURGE_BATCH:
            flush()
    flush()
    return purged


@contextmanager
def _superseded(engine: sa.Engine, run: int) -> Iterator[None]:
    """Raise MaintenanceBusy for a purge the store refused because another run started since
    this one (another process, on SQLite: only the latest run started may purge)."""
    try:
        yield
    except sa.exc.IntegrityError:
        with engine.connect() as connection:
            latest = store.latest_start(connection)
        if latest == run:
            raise
        raise MaintenanceBusy(f"maintenance run {latest} started while run {run} purged") from None


# ------------------------------------------------------------------------------ the run


def maintain(
    engine: sa.Engine,
    now: datetime | None = None,
    *,
    catalogue: Catalogue | None = None,
    retention: Retention | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    progress: Progress | None = None,
) -> MaintenanceReport:
    """One maintenance run for the moment `now` (default: the current UTC time), logged as
    started first and as finished last: close overdue disputes, purge records past retention
    (logging each), rescore the subjects whose current scores still count a record past its
    display period. Raises MaintenanceBusy when another run holds the store."""
    now = now or utc_now()
    catalogue = catalogue or shipped_catalogue()
    retention = retention or shipped_retention()
    progress = progress or _quiet
    started = utc_now()
    with _exclusive(engine):
        with engine.connect() as connection:
            last = store.last_run(connection)
        since = None if last is None else last["as_of"]
        report = MaintenanceReport(as_of=now, since=since)
        with one_writer(engine), engine.begin() as connection:  # before it may purge anything
            report.run_id = store.start_run(connection, now, started)

        step = progress("closing overdue disputes", 1)
        report.disputes_closed = [d.id for d in close_overdue_disputes(engine, now)]
        step(1)

        today = now.date()
        with engine.connect() as connection:
            chains = _Chains.load(connection)
            expired = _expired_records(
                connection,
                catalogue,
                chains.replaced(),
                None if since is None else since.date(),
                today,
            )
            due = _due_chains(connection, chains, retention, catalogue, now)
        report.expired = len(expired)
        report.expired_by_tier = dict(sorted(Counter(t.value for _, t, _ in expired).items()))
        purged = _purge(engine, report.run_id, due, now, progress)
        report.purged = len(purged)
        report.purged_chains = len(due)
        report.purged_subjects = len({e.record.subject for e in purged})
        report.purged_by_kind = dict(sorted(Counter(e.record.kind for e in purged).items()))

        expiries: dict[str, date] = {}
        for record, _tier, ends in expired:
            expiries[record.subject] = max(expiries.get(record.subject, ends), ends)
        for entry in purged:  # a purged record that could still count changes scores too
            kind = entry.record.kind
            if catalogue.tier(kind) is None and kind != RETRACTION_KIND:
                subject, soon = entry.record.subject, today + timedelta(days=1)
                expiries[subject] = max(expiries.get(subject, soon), soon)
        with engine.connect() as connection:
            stale = _stale_subjects(connection, expiries)
        report.rescored, report.programs = _rescore(engine, stale, today, programs, progress)

        with one_writer(engine), engine.begin() as connection:
            store.finish_run(
                connection,
                report.run_id,
                {
                    "as_of": now,
                    "started_at": started,
                    "finished_at": utc_now(),
                    "disputes_closed": len(report.disputes_closed),
                    "expired": report.expired,
                    "rescored": len(report.rescored),
                    "purged": report.purged,
                    "details": report.as_json(),
                },
            )
    return report


def _rescore(
    engine: sa.Engine,
    subjects: list[str],
    as_of: date,
    programs: Sequence[CompiledProgram] | None,
    progress: Progress,
) -> tuple[list[str], list[str]]:
    """Rescore subjects as of a day, in batches; returns them and the programs run."""
    advance = progress("rescoring subjects", len(subjects))
    ran: set[str] = set()
    for start in range(0, len(subjects), RESCORE_BATCH):
        part = subjects[start : start + RESCORE_BATCH]
        ran.update(run.program for run in rescore_subjects(engine, part, as_of, programs))
        advance(len(part))
    return subjects, sorted(ran)


# ------------------------------------------------------------------------------ reading the log


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "purged_at": _stamp(row["purged_at"]),
        "occurred_at": _stamp(row["occurred_at"]),
    }


def _log_reads(
    connection: sa.Connection,
    principal: Principal,
    items: list[dict[str, Any]],
    endpoint: str,
    now: datetime,
) -> None:
    """One access-log entry per subject whose purges an admin read."""
    by_subject: dict[str, list[int]] = {}
    for item in items:
        by_subject.setdefault(item["subject"], []).append(item["id"])
    for subject, ids in sorted(by_subject.items()):
        access.append_access(
            connection,
            access.read_by(
                principal,
                subject,
                at=now,
                what="purges",
                endpoint=endpoint,
                returned={"items": len(ids), "purge_ids": ids},
            ),
        )


def list_purges(
    engine: sa.Engine,
    principal: Principal,
    page: PageRequest | None = None,
    *,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The purge log in order (admins). Each subject named is told, in its access log."""
    require_role(principal, Role.ADMIN)
    page = page or PageRequest()
    with engine.connect() as connection:
        rows = store.purge_page(connection, None, int_cursor("purges", page.cursor), page.limit + 1)
    cursor = next_cursor("purges", rows, page.limit, "id")
    items = [_item(r) for r in rows]
    if items:
        with one_writer(engine), engine.begin() as connection:
            _log_reads(connection, principal, items, "GET /v1/purges", now or utc_now())
    return items, cursor


def subject_purges(
    engine: sa.Engine,
    principal: Principal,
    subject: str,
    page: PageRequest | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The purges of a subject's records: for the subject, and for admins (logged where the
    subject sees it). Raises NotAllowed, InvalidRequest or SubjectNotFound."""
    if principal.role not in (Role.SUBJECT, Role.ADMIN):
        raise NotAllowed("only the subject and admins may read a subject's purges")
    try:
        subject_id, kind = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    if principal.role is Role.SUBJECT and principal.subject != subject_id:
        raise NotAllowed("a subject may read only its own file")
    page = page or PageRequest()
    with engine.connect() as connection:
        stored_kind = files.subject_kind(connection, subject_id)
        if stored_kind is None and not store.has_purges(connection, subject_id):
            raise SubjectNotFound(f"no subject {subject_id} in the store")
        rows = store.purge_page(
            connection, subject_id, int_cursor("subject-purges", page.cursor), page.limit + 1
        )
    cursor = next_cursor("subject-purges", rows, page.limit, "id")
    items = [_item(r) for r in rows]
    if principal.role is not Role.SUBJECT:
        with one_writer(engine), engine.begin() as connection:
            access.append_access(
                connection,
                access.read_by(
                    principal,
                    subject_id,
                    at=now or utc_now(),
                    what="purges",
                    endpoint="GET /v1/subjects/{id}/purges",
                    returned={"items": len(items), "purge_ids": [i["id"] for i in items]},
                ),
            )
    return {
        "subject": subject_id,
        "kind": stored_kind or kind,
        "items": items,
        "next_cursor": cursor,
    }
