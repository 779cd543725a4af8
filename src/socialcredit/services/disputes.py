"""Disputes (objections): a subject disputes one of its records; the record is flagged at once
and its furnisher verifies it with evidence or retracts it before the deadline; what is not
verified in time is withdrawn automatically; an adjudicator may decide any open dispute.

A withdrawal is a new ledger record (kind record.retracted, from the record's furnisher, naming
the record in `replaces`), appended in the same transaction that closes the dispute, logs who
did it and tells the subject; the subject is rescored right after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain import disputes as rules
from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.disputes import Dispute, DisputeRules, Outcome, Status
from socialcredit.domain.events import EventKind
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import NotAllowed, Principal, Role
from socialcredit.domain.records import RowError
from socialcredit.policy.disputes import shipped_dispute_rules
from socialcredit.services.errors import Conflict, InvalidRequest, NotFound
from socialcredit.services.notices import add_notice
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.services.records import append_records
from socialcredit.services.scoring import rescore_subjects
from socialcredit.store import access
from socialcredit.store import disputes as store
from socialcredit.store.writers import one_writer

Rescore = Callable[[sa.Engine, list[str]], list[str]]
"""Rescore some subjects; returns the programs rescored (as ApiSettings.rescore)."""


# ---------------------------------------------------------------------------- who acts


@dataclass(frozen=True)
class Actor:
    """Who did something to a case, as the due-process log keeps it."""

    id: str
    name: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.id, principal.name, principal.role.value)


DEADLINE = Actor("system", "the dispute deadline", "system")
"""The actor of automatic withdrawals."""


def log_entry(
    actor: Actor,
    at: datetime,
    subject: str,
    action: str,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
    **case: int,
) -> dict[str, Any]:
    """One due-process log entry (`case`: dispute=ID or review=ID)."""
    return {
        "at": at,
        "subject": subject,
        "principal": actor.id,
        "principal_name": actor.name,
        "role": actor.role,
        "action": action,
        "reason": reason,
        "detail": dict(detail or {}),
        **case,
    }


# ---------------------------------------------------------------------------- rendering


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def dispute_json(
    dispute: Dispute, now: datetime, log: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A dispute as the API shows it; `log` (who did what, when and why) when given."""
    body: dict[str, Any] = {
        "id": dispute.id,
        "record": dispute.record,
        "furnisher": dispute.furnisher,
        "external_id": dispute.external_id,
        "subject": dispute.subject,
        "kind": dispute.kind,
        "occurred_at": _stamp(dispute.occurred_at),
        "reason": dispute.reason,
        "evidence": dispute.evidence,
        "statement": dispute.statement,
        "opened_at": _stamp(dispute.opened_at),
        "deadline": _stamp(dispute.deadline),
        "overdue": rules.is_overdue(dispute, now),
        "status": dispute.status.value,
        "outcome": None if dispute.outcome is None else dispute.outcome.value,
        "closed_at": _stamp(dispute.closed_at),
        "closed_by": dispute.closed_by,
        "closing_reason": dispute.closing_reason,
        "closing_evidence": dispute.closing_evidence,
        "retraction": dispute.retraction,
        "reinserted": dispute.reinserted,
    }
    if log is not None:
        body["log"] = [
            {
                "at": _stamp(e["at"]),
                "principal": e["principal"],
                "principal_name": e["principal_name"],
                "role": e["role"],
                "action": e["action"],
                "reason": e["reason"],
                "detail": e["detail"],
            }
            for e in log
        ]
    return body


NO_DISPUTE: dict[str, Any] = {"disputed": False, "dispute": None, "statement": None}
"""What a record that was never disputed carries."""


def record_marks(
    connection: sa.Connection, records: Iterable[Mapping[str, Any]]
) -> dict[int, dict[str, Any]]:
    """For each disputed record among `records` (stored rows with id, furnisher, external_id):
    whether a dispute is open, the latest dispute, and the subject's statement, which stays
    with the record (and with a record that put it back) unless the record is withdrawn."""
    rows = {int(r["id"]): r for r in records}
    found = store.disputes_of_records(connection, rows)
    if not found:
        return {}
    disputed = {d.record for d in found} | {d.reinserted for d in found}
    keys = {(r["furnisher"], r["external_id"]) for i, r in rows.items() if i in disputed}
    withdrawn = store.retracted(connection, keys)
    marks: dict[int, dict[str, Any]] = {}
    for record_id, row in rows.items():
        mine = [d for d in found if record_id in (d.record, d.reinserted)]
        if not mine:
            continue
        latest = mine[-1]
        statement = next((d.statement for d in reversed(mine) if d.statement), None)
        if (row["furnisher"], row["external_id"]) in withdrawn:
            statement = None
        marks[record_id] = {
            "disputed": latest.status is Status.OPEN,
            "dispute": {
                "id": latest.id,
                "status": latest.status.value,
                "outcome": None if latest.outcome is None else latest.outcome.value,
                "deadline": _stamp(latest.deadline),
            },
            "statement": statement,
        }
    return marks


def marked_records(engine: sa.Engine, subject: str) -> list[dict[str, Any]]:
    """The subject's records that are disputed now or carry its statement, with their marks
    (what `socialcredit show` lists under the scores)."""
    with engine.connect() as connection:
        found = store.list_disputes(connection, store.DisputeFilter(subject=subject), None, 100_000)
        ids = {d.record for d in found} | {d.reinserted for d in found if d.reinserted}
        rows = [row for i in sorted(ids) if (row := store.record_by_id(connection, i))]
        marks = record_marks(connection, rows)
    return [
        {"record": record, **mark}
        for record, mark in sorted(marks.items())
        if mark["disputed"] or mark["statement"]
    ]


# ---------------------------------------------------------------------------- helpers


def _now(now: datetime | None) -> datetime:
    return now or utc_now()


def _rescorer(as_of: date) -> Rescore:
    def rescore(engine: sa.Engine, subjects: list[str]) -> list[str]:
        return [run.program for run in rescore_subjects(engine, subjects, as_of)]

    return rescore


def _found(connection: sa.Connection, dispute_id: int) -> Dispute:
    if not rules.valid_id(dispute_id):
        raise NotFound(f"no dispute {dispute_id}")
    dispute = store.dispute_by_id(connection, dispute_id)
    if dispute is None:
        raise NotFound(f"no dispute {dispute_id}")
    return dispute


def _record_label(dispute: Dispute) -> str:
    return (
        f"record {dispute.record} ({dispute.kind} of {dispute.occurred_at.date().isoformat()}, "
        f"from {dispute.furnisher})"
    )


def _text(name: str, value: str | None, limit: int, required: bool = False) -> str | None:
    value = rules.clean_text(value)
    refusal = rules.text_refusal(name, value, limit, required)
    if refusal:
        raise InvalidRequest(refusal)
    return value


def retraction_id(dispute_id: int) -> str:
    """The external id of the retraction record a dispute's withdrawal appends."""
    return f"dispute-{dispute_id}-withdrawal"


def _append_retraction(
    connection: sa.Connection, dispute: Dispute, outcome: Outcome, actor: Actor, at: datetime
) -> str:
    """Append the record that withdraws the disputed one, validated like any ingested row."""
    external_id = retraction_id(dispute.id)
    row = {
        "subject": dispute.subject,
        "furnisher": dispute.furnisher,
        "kind": RETRACTION_KIND,
        "occurred_at": at,
        "external_id": external_id,
        "replaces": dispute.external_id,
        "attributes": {
            "dispute": dispute.id,
            "outcome": outcome.value,
            "automatic": outcome is Outcome.NOT_VERIFIED,
            "by": actor.role,
        },
    }
    try:
        appended = append_records(connection, [row], at, event=EventKind.DISPUTE_DECIDED)
    except RowError as exc:  # pragma: no cover - the row is built from a stored record
        raise InvalidRequest(f"cannot withdraw record {dispute.record}: {exc}") from None
    if appended != 1:
        raise Conflict(
            f"record {dispute.furnisher}/{external_id} exists already; the withdrawal of "
            f"dispute {dispute.id} was not appended"
        )
    return external_id


OUTCOME_TEXT = {
    Outcome.VERIFIED: "{furnisher} verified {record} with evidence: {evidence}. The record "
    "stands; your statement stays with it.",
    Outcome.RETRACTED: "{furnisher} withdrew {record} after your dispute {dispute}. It no "
    "longer counts towards your scores.",
    Outcome.NOT_VERIFIED: "{furnisher} did not verify {record} by the deadline ({deadline}). "
    "It was withdrawn automatically and no longer counts towards your scores.",
    Outcome.UPHELD: "An adjudicator ({by}) decided your dispute {dispute}: {record} stands. "
    "Why: {reason}",
    Outcome.OVERTURNED: "An adjudicator ({by}) decided your dispute {dispute}: {record} is "
    "withdrawn and no longer counts towards your scores. Why: {reason}",
}


def _close(
    connection: sa.Connection,
    dispute: Dispute,
    outcome: Outcome,
    actor: Actor,
    at: datetime,
    reason: str | None,
    evidence: str | None = None,
) -> None:
    """Close an open dispute: withdraw the record when the outcome says so, log it, and tell
    the subject, all in the caller's transaction (raises Conflict when it closed meanwhile)."""
    retraction = None
    if outcome in rules.WITHDRAWING:
        # Replaced or withdrawn by the furnisher's own record meanwhile: nothing to append.
        retraction = store.replaced_by(connection, dispute.furnisher, dispute.external_id)
        if retraction is None:
            retraction = _append_retraction(connection, dispute, outcome, actor, at)
    closed = store.close_dispute(
        connection,
        dispute.id,
        outcome=outcome,
        at=at,
        by=actor.id,
        reason=reason,
        evidence=evidence,
        retraction=retraction,
    )
    if not closed:
        raise Conflict(f"dispute {dispute.id} was closed meanwhile")
    detail = {"record": dispute.record, "outcome": outcome.value}
    if retraction:
        detail["retraction"] = retraction
    if evidence:
        detail["evidence"] = evidence
    store.log_action(
        connection,
        log_entry(actor, at, dispute.subject, outcome.value, reason, detail, dispute=dispute.id),
    )
    text = OUTCOME_TEXT[outcome].format(
        furnisher=dispute.furnisher,
        record=_record_label(dispute),
        dispute=dispute.id,
        evidence=evidence,
        deadline=_stamp(dispute.deadline),
        by=actor.name,
        reason=reason,
    )
    refs: dict[str, Any] = {"dispute": dispute.id, "record": dispute.record}
    if retraction:
        refs["retraction"] = retraction
    add_notice(connection, dispute.subject, f"dispute.{outcome.value}", text, refs, at)


def _finish(
    engine: sa.Engine,
    dispute_id: int,
    outcome: Outcome,
    actor: Actor,
    now: datetime,
    reason: str | None,
    evidence: str | None,
    check: Callable[[Dispute], None],
    rescore: Rescore | None,
) -> Dispute:
    """Load a dispute, `check` it, close it, then rescore the subject if the record went."""
    with one_writer(engine), engine.begin() as connection:
        dispute = _found(connection, dispute_id)
        check(dispute)
        _close(connection, dispute, outcome, actor, now, reason, evidence)
        closed = store.dispute_by_id(connection, dispute_id)
    assert closed is not None
    if outcome in rules.WITHDRAWING:
        (rescore or _rescorer(now.date()))(engine, [closed.subject])
    return closed


# ---------------------------------------------------------------------------- use cases


def open_dispute(
    engine: sa.Engine,
    principal: Principal,
    record: int,
    reason: str,
    evidence: str | None = None,
    statement: str | None = None,
    *,
    now: datetime | None = None,
    settings: DisputeRules | None = None,
) -> Dispute:
    """A subject disputes one of its records: the record is flagged at once and its
    furnisher's deadline starts. Raises NotAllowed, NotFound, InvalidRequest or Conflict."""
    if principal.role is not Role.SUBJECT:
        raise NotAllowed(
            f"only a subject disputes its records; this key has {principal.role.value}"
        )
    settings = settings or shipped_dispute_rules()
    now = _now(now)
    reason_text = _text("reason", reason, rules.REASON_MAX_CHARS, required=True)
    assert reason_text is not None
    evidence_text = _text("evidence", evidence, rules.EVIDENCE_MAX_CHARS)
    statement_text = rules.clean_text(statement)
    refusal = rules.statement_refusal(statement_text, settings)
    if refusal:
        raise InvalidRequest(refusal)
    actor = Actor.of(principal)
    with one_writer(engine), engine.begin() as connection:
        row = (
            store.record_by_id(connection, record)
            if rules.valid_id(record, rules.INT64_MAX)
            else None
        )
        # Another subject's record is answered exactly as a record that does not exist.
        if row is None or rules.opening_refusal(principal, row["subject"]):
            raise NotFound(f"no record {record}")
        withdrawn_by = store.replaced_by(connection, row["furnisher"], row["external_id"])
        refusal = rules.disputable_refusal(row["kind"], withdrawn_by)
        if refusal:
            raise Conflict(refusal)
        open_one = store.open_dispute_of(connection, record)
        if open_one is not None:
            raise Conflict(f"record {record} is disputed already: dispute {open_one.id} is open")
        deadline = rules.deadline(now, settings)
        try:  # the unique index on open disputes settles a race; the transaction is undone
            dispute_id = store.add_dispute(
                connection,
                {
                    "record": record,
                    "furnisher": row["furnisher"],
                    "external_id": row["external_id"],
                    "subject": row["subject"],
                    "kind": row["kind"],
                    "occurred_at": row["occurred_at"],
                    "reason": reason_text,
                    "evidence": evidence_text,
                    "statement": statement_text,
                    "opened_at": now,
                    "opened_by": principal.id,
                    "deadline": deadline,
                },
            )
        except sa.exc.IntegrityError:
            raise Conflict(f"record {record} is disputed already") from None
        detail = {"record": record, "deadline": _stamp(deadline)}
        if statement_text:
            detail["statement"] = statement_text
        store.log_action(
            connection,
            log_entry(
                actor, now, row["subject"], "opened", reason_text, detail, dispute=dispute_id
            ),
        )
        dispute = store.dispute_by_id(connection, dispute_id)
        assert dispute is not None
        add_notice(
            connection,
            dispute.subject,
            "dispute.opened",
            f"You disputed {_record_label(dispute)} (dispute {dispute_id}). It is flagged as "
            f"disputed; {dispute.furnisher} must verify it with evidence or withdraw it by "
            f"{_stamp(deadline)}, or it is withdrawn automatically.",
            {"dispute": dispute_id, "record": record},
            now,
        )
    return dispute


def log_case_reads(
    engine: sa.Engine,
    principal: Principal,
    cases: Iterable[tuple[str, int]],
    what: str,
    endpoint: str,
    now: datetime,
) -> None:
    """Log a read of cases (subject, case id) by anyone but their subject, in each subject's
    access log, so that the subject sees who read its disputes or reviews."""
    if principal.role is Role.SUBJECT:
        return
    by_subject: dict[str, list[int]] = {}
    for subject, case_id in cases:
        by_subject.setdefault(subject, []).append(case_id)
    if not by_subject:
        return
    with one_writer(engine), engine.begin() as connection:
        for subject, ids in sorted(by_subject.items()):
            access.append_access(
                connection,
                access.read_by(
                    principal,
                    subject,
                    at=now,
                    what=what,
                    endpoint=endpoint,
                    returned={"ids": ids},
                ),
            )


def get_dispute(
    engine: sa.Engine,
    principal: Principal,
    dispute_id: int,
    *,
    endpoint: str = "GET /v1/disputes/{id}",
    now: datetime | None = None,
) -> tuple[Dispute, list[dict[str, Any]]]:
    """A dispute and its log, for its subject, its furnisher, adjudicators and admins; anyone
    else's is answered as a dispute that does not exist (NotFound)."""
    now = _now(now)
    refusal = rules.role_refusal(principal)
    if refusal:
        raise NotAllowed(refusal)
    with engine.connect() as connection:
        dispute = _found(connection, dispute_id)
        if rules.reading_refusal(principal, dispute):
            raise NotFound(f"no dispute {dispute_id}")
        log = store.case_log(connection, dispute=dispute_id)
    log_case_reads(engine, principal, [(dispute.subject, dispute.id)], "disputes", endpoint, now)
    return dispute, log


def _filter(
    principal: Principal, furnisher: str | None, subject: str | None, status: Status | None
) -> store.DisputeFilter:
    """What a principal's list may show: a subject its own, a furnisher disputes of its own
    records, an adjudicator or admin all."""
    if furnisher is not None and "\x00" in furnisher:
        raise InvalidRequest("furnisher must not contain NUL characters")
    if subject is not None:
        try:
            subject = identify(subject)[0]
        except InvalidIdentifier as exc:
            raise InvalidRequest(f"subject: {exc}") from None
    role = principal.role
    if role is Role.SUBJECT:
        if subject not in (None, principal.subject):
            raise NotAllowed("a subject lists only its own disputes")
        if furnisher == "me":
            raise InvalidRequest("furnisher=me is for furnisher keys; name a furnisher id")
        return store.DisputeFilter(principal.subject, furnisher, status)
    if role is Role.FURNISHER:
        if furnisher not in (None, "me", principal.furnisher):
            raise NotAllowed("a furnisher lists only disputes of its own records (furnisher=me)")
        return store.DisputeFilter(subject, principal.furnisher, status)
    if role in (Role.ADJUDICATOR, Role.ADMIN):
        if furnisher == "me":
            raise InvalidRequest("furnisher=me is for furnisher keys; name a furnisher id")
        return store.DisputeFilter(subject, furnisher, status)
    raise NotAllowed(f"a principal with role {role.value} may not list disputes")


def list_disputes(
    engine: sa.Engine,
    principal: Principal,
    page: PageRequest,
    *,
    furnisher: str | None = None,
    subject: str | None = None,
    status: Status | None = None,
    endpoint: str = "GET /v1/disputes",
    now: datetime | None = None,
) -> tuple[list[Dispute], str | None]:
    """A page of the disputes `principal` may see, oldest first, with the filters given."""
    where = _filter(principal, furnisher, subject, status)
    after = int_cursor("disputes", page.cursor)
    with engine.connect() as connection:
        found = store.list_disputes(connection, where, after, page.limit + 1)
    cursor = next_cursor("disputes", found, page.limit, "id")
    cases = [(d.subject, d.id) for d in found]
    log_case_reads(engine, principal, cases, "disputes", endpoint, _now(now))
    return found, cursor


def _furnisher_check(principal: Principal, outcome: Outcome, now: datetime) -> Callable:
    """The check of a furnisher's verification or retraction: a role that never acts is
    refused at once; another furnisher's dispute is answered as one that does not exist."""
    refusal = rules.furnisher_role_refusal(principal)
    if refusal:
        raise NotAllowed(refusal)

    def check(dispute: Dispute) -> None:
        if rules.furnisher_refusal(principal, dispute):
            raise NotFound(f"no dispute {dispute.id}")
        refusal = rules.state_refusal(dispute, outcome, now)
        if refusal:
            raise Conflict(refusal)

    return check


def verify_dispute(
    engine: sa.Engine,
    principal: Principal,
    dispute_id: int,
    evidence: str,
    reason: str | None = None,
    *,
    now: datetime | None = None,
) -> Dispute:
    """The furnisher verifies the disputed record with evidence, before the deadline: the
    record stands (and the subject's statement stays with it)."""
    now = _now(now)
    evidence_text = _text("evidence", evidence, rules.EVIDENCE_MAX_CHARS, required=True)
    reason_text = _text("reason", reason, rules.REASON_MAX_CHARS)
    check = _furnisher_check(principal, Outcome.VERIFIED, now)
    return _finish(
        engine,
        dispute_id,
        Outcome.VERIFIED,
        Actor.of(principal),
        now,
        reason_text,
        evidence_text,
        check,
        None,
    )


def retract_disputed(
    engine: sa.Engine,
    principal: Principal,
    dispute_id: int,
    reason: str | None = None,
    *,
    now: datetime | None = None,
    rescore: Rescore | None = None,
) -> Dispute:
    """The furnisher withdraws the disputed record: a retraction record is appended, the
    subject rescored and told."""
    now = _now(now)
    reason_text = _text("reason", reason, rules.REASON_MAX_CHARS)
    check = _furnisher_check(principal, Outcome.RETRACTED, now)
    return _finish(
        engine,
        dispute_id,
        Outcome.RETRACTED,
        Actor.of(principal),
        now,
        reason_text,
        None,
        check,
        rescore,
    )


def decide_dispute(
    engine: sa.Engine,
    principal: Principal,
    dispute_id: int,
    outcome: Outcome,
    reason: str,
    *,
    now: datetime | None = None,
    rescore: Rescore | None = None,
) -> Dispute:
    """An adjudicator decides an open dispute: upheld (the record stands) or overturned (the
    record is withdrawn, the subject rescored). Who decided, when and why is logged."""
    refusal = rules.adjudicator_refusal(principal)
    if refusal:
        raise NotAllowed(refusal)
    if outcome not in rules.ADJUDICATOR_OUTCOMES:
        raise InvalidRequest(f"an adjudicator decides upheld or overturned, not {outcome.value}")
    now = _now(now)
    reason_text = _text("reason", reason, rules.REASON_MAX_CHARS, required=True)

    def check(dispute: Dispute) -> None:
        if dispute.status is not Status.OPEN:
            raise Conflict(f"the dispute is closed already ({dispute.outcome})")

    return _finish(
        engine, dispute_id, outcome, Actor.of(principal), now, reason_text, None, check, rescore
    )


def close_overdue_disputes(
    engine: sa.Engine,
    now: datetime | None = None,
    *,
    rescore: Rescore | None = None,
) -> list[Dispute]:
    """Withdraw every record whose dispute was not verified by its deadline (each dispute in
    its own transaction), tell each subject, then rescore them. Returns the disputes closed."""
    now = _now(now)
    with engine.connect() as connection:
        due = store.overdue_ids(connection, now)
    closed: list[Dispute] = []
    for dispute_id in due:
        with one_writer(engine), engine.begin() as connection:
            dispute = store.dispute_by_id(connection, dispute_id)
            if dispute is None or not rules.is_overdue(dispute, now):
                continue  # decided meanwhile
            reason = f"not verified by the deadline {_stamp(dispute.deadline)}"
            _close(connection, dispute, Outcome.NOT_VERIFIED, DEADLINE, now, reason)
            after = store.dispute_by_id(connection, dispute_id)
        assert after is not None
        closed.append(after)
    subjects = sorted({d.subject for d in closed})
    if subjects:
        (rescore or _rescorer(now.date()))(engine, subjects)
    return closed


def operator(name: str, now: datetime | None = None) -> Principal:
    """An adjudicator acting from the command line, named as the log keeps it."""
    name = name.strip()
    if not name:
        raise InvalidRequest("name who decides (--by)")
    return Principal(id="operator", role=Role.ADJUDICATOR, name=name[:200], created_at=_now(now))
