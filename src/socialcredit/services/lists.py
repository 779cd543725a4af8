"""Lists at the moment asked: a subject's entries, a whole list, the public search, phoenix
flags and credit repair. Entries are derived from the ledger each time, never stored."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.events import EventKind
from socialcredit.domain.identifiers import InvalidIdentifier, identify, masked
from socialcredit.domain.lists import (
    LedgerRecord,
    ListDefinition,
    ListEntry,
    ListKind,
    Representation,
    ScoreFact,
    entry_of,
    kinds_read,
    phoenix_reason,
    repair_refusal,
)
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.policy.measures import MeasuresCatalogue, shipped_measures
from socialcredit.services.errors import InvalidRequest, NotAllowed, NotFound
from socialcredit.services.notices import add_notice
from socialcredit.services.principals import utc_now
from socialcredit.services.social import public_read
from socialcredit.store import access, files, outbox
from socialcredit.store import lists as store
from socialcredit.store.writers import one_writer


def _definitions(catalogue: MeasuresCatalogue, names: Sequence[str] | None) -> list[ListDefinition]:
    if names is None:
        return list(catalogue.lists.values())
    unknown = [n for n in names if n not in catalogue.lists]
    if unknown:
        raise NotFound(f"no list {unknown[0]!r}; lists: {', '.join(catalogue.lists)}")
    return [catalogue.lists[n] for n in names]


@dataclass(frozen=True)
class ListInputs:
    """What entries are derived from, read at once for some subjects: their records in force of
    the kinds asked, their newest snapshots of the programs asked, and their granted repairs."""

    records: dict[str, list[LedgerRecord]]
    scores: dict[tuple[str, str], Any]
    repairs: dict[tuple[str, str], datetime]

    def score(self, subject: str, program: str, blacklist: bool | None = None) -> ScoreFact | None:
        row = self.scores.get((subject, program))
        return None if row is None else store.score_fact(row, blacklist)


def read_inputs(
    connection: sa.Connection,
    subjects: Sequence[str],
    kinds: Iterable[str],
    programs: Iterable[str],
    now: datetime,
) -> ListInputs:
    """Three queries, whatever the number of subjects."""
    return ListInputs(
        records=store.records_by_subject(connection, kinds, now, subjects),
        scores=store.latest_score_rows(connection, subjects, programs),
        repairs=store.granted_repairs(connection, subjects),
    )


def score_programs(definitions: Iterable[ListDefinition]) -> set[str]:
    """The programs whose scores these lists read."""
    return {d.score.program for d in definitions if d.score is not None}


def entries_from(
    inputs: ListInputs, definitions: Iterable[ListDefinition], subject: str, now: datetime
) -> dict[str, ListEntry]:
    """The subject's entries on these lists at `now`, by list."""
    records = inputs.records.get(subject, [])
    out: dict[str, ListEntry] = {}
    for d in definitions:
        score = None
        if d.score is not None:
            score = inputs.score(subject, d.score.program, d.kind is ListKind.BLACKLIST)
        repaired = inputs.repairs.get((subject, d.name))
        entry = entry_of(d, subject, records, now, score=score, repaired_at=repaired)
        if entry is not None:
            out[d.name] = entry
    return out


def subject_entries(
    connection: sa.Connection,
    subject: str,
    now: datetime,
    *,
    catalogue: MeasuresCatalogue | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, ListEntry]:
    """The subject's entries at `now`, by list (only the lists in `names` when given)."""
    catalogue = catalogue or shipped_measures()
    definitions = _definitions(catalogue, names)
    if not definitions:
        return {}
    inputs = read_inputs(
        connection, [subject], kinds_read(definitions), score_programs(definitions), now
    )
    return entries_from(inputs, definitions, subject, now)


def population_entries(
    connection: sa.Connection,
    definitions: Sequence[ListDefinition],
    now: datetime,
    subjects: Sequence[str] | None = None,
) -> list[ListEntry]:
    """Everyone on these lists at `now` (or those of `subjects`), by list and subject; the
    ledger is read once for all of them."""
    repairs = store.granted_repairs(connection, subjects)
    by_subject = store.records_by_subject(connection, kinds_read(definitions), now, subjects)
    entries: list[ListEntry] = []
    for definition in definitions:
        if definition.score is not None:
            criterion, blacklist = definition.score, definition.kind is ListKind.BLACKLIST
            rows = store.latest_rows_of_program(connection, criterion.program)
            wanted = rows if subjects is None else {s: rows[s] for s in subjects if s in rows}
            holders = {s: r for s, r in wanted.items() if criterion.holds(r.score, r.grade)}
            texts = store.explanations(connection, [r.id for r in holders.values()])
            found = (
                entry_of(
                    definition,
                    subject,
                    [],
                    now,
                    score=store.score_fact(row, blacklist, texts[row.id]),
                    repaired_at=repairs.get((subject, definition.name)),
                )
                for subject, row in holders.items()
            )
        else:
            found = (
                entry_of(
                    definition,
                    subject,
                    records,
                    now,
                    repaired_at=repairs.get((subject, definition.name)),
                )
                for subject, records in by_subject.items()
            )
        entries.extend(e for e in found if e is not None)
    return sorted(entries, key=lambda e: (e.list, e.subject))


def list_entries(
    engine: sa.Engine,
    name: str | None = None,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> list[ListEntry]:
    """Entries of one list, or of every list, at `now`, by list and subject."""
    catalogue = catalogue or shipped_measures()
    definitions = _definitions(catalogue, None if name is None else [name])
    with engine.connect() as connection:
        out = population_entries(connection, definitions, now or utc_now())
    return out if limit is None else out[:limit]


@dataclass(frozen=True)
class ListPage:
    """Some entries of one list or of every list, how many there are in all, and the registry
    names of the subjects shown (a reader wants who, not only an id)."""

    entries: list[ListEntry]
    total: int
    names: dict[str, str | None]

    def as_json(self) -> list[dict[str, Any]]:
        """The entries shown, each with its subject's name."""
        return [entry_json(e, self.names.get(e.subject)) for e in self.entries]


def list_page(
    engine: sa.Engine,
    name: str | None = None,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> ListPage:
    """At most `limit` entries, by list and subject, with the total (every entry is derived
    anyway, so counting costs nothing) and the names of only the subjects shown."""
    catalogue = catalogue or shipped_measures()
    definitions = _definitions(catalogue, None if name is None else [name])
    with engine.connect() as connection:
        found = population_entries(connection, definitions, now or utc_now())
        shown = found if limit is None else found[:limit]
        names = store.names(connection, sorted({e.subject for e in shown}))
    return ListPage(shown, len(found), names)


def entry_json(entry: ListEntry, name: str | None = None) -> dict[str, Any]:
    """An entry as the CLI and the API show it."""
    return {
        "subject": entry.subject,
        "name": name,
        "list": entry.list,
        "kind": entry.kind.value,
        "tier": entry.tier.value,
        "since": entry.since.isoformat(),
        "until": entry.until.isoformat(),
        "record_ids": list(entry.record_ids),
        "cases": [
            {
                "start": c.start.isoformat(),
                "until": c.until.isoformat(),
                "record_ids": list(c.record_ids),
                "case": c.evidence,
            }
            for c in entry.cases
        ],
        "how_to_leave": entry.how_to_leave,
        "repairable_from": entry.repairable_from.isoformat(),
        "public": entry.public,
    }


def public_entry_json(entry: ListEntry, name: str | None, full_ids: bool = False) -> dict[str, Any]:
    """Only what a public list shows: who (a resident ID with its birth date hidden, unless
    the list's policy shows `full_ids`), which list, since, until, the case numbers."""
    return {
        "subject": entry.subject if full_ids else masked(entry.subject),
        "name": name,
        "list": entry.list,
        "since": entry.since.date().isoformat(),
        "until": entry.until.date().isoformat(),
        "cases": [c.evidence for c in entry.cases if c.evidence],
    }


def search_public(
    engine: sa.Engine,
    name: str,
    query: str | None,
    *,
    limit: int = 50,
    endpoint: str = "GET /v1/public/lists/{name}",
    now: datetime | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> list[dict[str, Any]]:
    """Search a public list by a subject's id or name, as the court's public site allows.
    A list that is not public is not found. Each subject shown sees the read in its access
    log, as a read by anyone."""
    catalogue = catalogue or shipped_measures()
    definition = catalogue.lists.get(name)
    if definition is None or not definition.public:
        public = ", ".join(n for n, d in catalogue.lists.items() if d.public)
        raise NotFound(f"no public list {name!r}; public lists: {public}")
    now = now or utc_now()
    text = (query or "").strip()
    with engine.connect() as connection:
        subjects: list[str] | None = None
        if text:
            try:
                subjects = [identify(text)[0]]
            except InvalidIdentifier:
                if len(text) < 2:
                    message = "search by an id or at least 2 letters of a name"
                    raise InvalidRequest(message) from None
                subjects = store.subjects_named(connection, text, 1000)
            if not subjects:
                return []
        entries = population_entries(connection, [definition], now, subjects)[:limit]
        shown = store.names(connection, [e.subject for e in entries])
    items = [public_entry_json(e, shown.get(e.subject), definition.full_ids) for e in entries]
    reads = [
        public_read(e.subject, at=now, what="list", endpoint=endpoint, returned=_shown(e))
        for e in entries
    ]
    _log_reads(engine, reads)
    return items


def _shown(entry: ListEntry) -> dict[str, Any]:
    """What a read of a list entry returned, for the subject's access log."""
    return {"list": entry.list, "record_ids": list(entry.record_ids)}


def _log_reads(engine: sa.Engine, entries: Sequence[dict[str, Any]]) -> None:
    """Append reads of subjects' entries to their access logs, before the answer leaves."""
    if entries:
        with one_writer(engine), engine.begin() as connection:
            access.append_accesses(connection, entries)


def official_list(
    engine: sa.Engine,
    principal: Principal,
    name: str,
    *,
    limit: int,
    endpoint: str = "GET /v1/lists/{name}",
    now: datetime | None = None,
) -> ListPage:
    """Everyone on a list now, for adjudicators and admins; each subject shown sees the read
    in its access log."""
    require_role(principal, Role.ADJUDICATOR, Role.ADMIN)
    now = now or utc_now()
    page = list_page(engine, name, now=now, limit=limit)
    _log_reads(
        engine,
        [
            access.read_by(
                principal, e.subject, at=now, what="list", endpoint=endpoint, returned=_shown(e)
            )
            for e in page.entries
        ],
    )
    return page


def official_phoenix_flags(
    engine: sa.Engine,
    principal: Principal,
    *,
    endpoint: str = "GET /v1/flags/phoenix",
    now: datetime | None = None,
) -> dict[str, str]:
    """The organisations flagged as possible phoenixes, for adjudicators and admins; each
    organisation flagged sees the read in its access log."""
    require_role(principal, Role.ADJUDICATOR, Role.ADMIN)
    now = now or utc_now()
    with engine.connect() as connection:
        flags = phoenix_flags(connection, now)
    _log_reads(
        engine,
        [
            access.read_by(
                principal,
                subject,
                at=now,
                what="phoenix flag",
                endpoint=endpoint,
                returned={"why": why},
            )
            for subject, why in sorted(flags.items())
        ],
    )
    return flags


def public_lists(catalogue: MeasuresCatalogue | None = None) -> list[dict[str, Any]]:
    """The public lists: name, title, kind, tier, how to get off."""
    catalogue = catalogue or shipped_measures()
    return [
        {
            "name": d.name,
            "title": d.title,
            "kind": d.kind.value,
            "tier": d.tier.value,
            "how_to_leave": d.how_to_leave,
            "source": d.source,
        }
        for d in catalogue.lists.values()
        if d.public
    ]


def phoenix_flags(
    connection: sa.Connection,
    now: datetime,
    organisations: Sequence[str] | None = None,
    *,
    catalogue: MeasuresCatalogue | None = None,
) -> dict[str, str]:
    """Organisations flagged for review as possible phoenixes of blacklisted ones, with why."""
    catalogue = catalogue or shipped_measures()
    if organisations is None:
        rows = store.representatives(connection)
    else:
        own = store.representatives(connection, organisations)
        rows = store.represented_by(connection, sorted({p for p, _, _, _ in own}))
    representations = [Representation(p, o, start) for p, o, start, _ in rows]
    others = sorted({r.organisation for r in representations})
    if not others:
        return {}
    blacklists = [d for d in catalogue.lists.values() if d.kind is ListKind.BLACKLIST]
    blacklisted: dict[str, ListEntry] = {}
    for entry in population_entries(connection, blacklists, now, others):
        blacklisted.setdefault(entry.subject, entry)
    if not blacklisted:
        return {}
    addresses = store.addresses(connection, others)
    candidates = organisations if organisations is not None else others
    flags = {}
    for organisation in candidates:
        reason = phoenix_reason(organisation, representations, addresses, blacklisted)
        if reason is not None:
            flags[organisation] = reason
    return flags


@dataclass(frozen=True)
class RepairOutcome:
    """A repair application and what was decided."""

    id: str
    subject: str
    list: str
    status: str
    reason: str
    applied_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "list": self.list,
            "status": self.status,
            "reason": self.reason,
            "applied_at": self.applied_at.isoformat(),
        }


def apply_for_repair(
    engine: sa.Engine,
    principal: Principal,
    list_name: str,
    commitment: str,
    *,
    subject: str | None = None,
    now: datetime | None = None,
    catalogue: MeasuresCatalogue | None = None,
) -> RepairOutcome:
    """A listed subject applies for credit repair with a credit commitment. The rules decide at
    once (listed, the tier's minimum display period passed, the obligation met) and the outcome
    is recorded; a granted repair ends the entry for every decision from now on."""
    require_role(principal, Role.SUBJECT, Role.ADMIN)
    subject = subject or principal.subject
    if subject is None:
        raise InvalidRequest("name the subject applying")
    try:
        subject = identify(subject)[0]
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    if principal.role is Role.SUBJECT and principal.subject != subject:
        raise NotAllowed("a subject may apply for repair of its own entries only")
    catalogue = catalogue or shipped_measures()
    definition = _definitions(catalogue, [list_name])[0]
    now = now or utc_now()
    with one_writer(engine), engine.begin() as connection:
        if files.subject_kind(connection, subject) is None:
            raise NotFound(f"no subject {subject} in the store")
        entry = subject_entries(connection, subject, now, catalogue=catalogue, names=[list_name])
        records = store.subject_records(connection, subject, kinds_read([definition]), now)
        refusal = repair_refusal(definition, entry.get(list_name), records, commitment, now)
        outcome = RepairOutcome(
            id="rep_" + secrets.token_hex(8),
            subject=subject,
            list=list_name,
            status="refused" if refusal else "granted",
            reason=refusal or "the rules for repair are met; publication of the entry ends now",
            applied_at=now,
        )
        if outcome.status == "granted":
            outbox.add_events(connection, EventKind.REPAIR_GRANTED, [subject], now)
        store.add_repair(
            connection,
            {
                "id": outcome.id,
                "subject": subject,
                "list": list_name,
                "applied_at": now,
                "commitment": commitment.strip(),
                "status": outcome.status,
                "reason": outcome.reason,
                "decided_by": "rules",
            },
        )
        add_notice(
            connection,
            subject,
            f"repair.{outcome.status}",
            f"Your repair of the {list_name} entry was {outcome.status}: {outcome.reason}",
            {"repair": outcome.id, "list": list_name},
            now,
        )
    return outcome
