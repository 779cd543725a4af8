"""Reports of other subjects' breaches: a subject files one, officials read them with their
flags, an adjudicator decides. Only an upheld report changes anything for the reported subject:
a record from the verified_report furnisher, stored through the normal ingest path, and a
rescoring; the reporter may earn a reward record, or a penalty record for a malicious report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain import reports as rules
from socialcredit.domain.catalogue import REPORT_FURNISHER_TYPE, Catalogue
from socialcredit.domain.events import EventKind
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import Principal, Role, require_role
from socialcredit.domain.records import Furnisher, RowError, parse_record, parse_time
from socialcredit.domain.reports import Audience, Decision, Outcome, Report, ReportSettings
from socialcredit.policy.compile import CompiledProgram
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.policy.reports import shipped_report_settings
from socialcredit.services.errors import InvalidRequest, NotFound
from socialcredit.services.notices import add_notice
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.services.records import append_records
from socialcredit.services.scoring import active_programs, rescore_subjects
from socialcredit.store import access, ledger
from socialcredit.store import reports as store
from socialcredit.store.writers import one_writer

Rescore = Callable[[sa.Engine, list[str]], list[str]]


class ReportLimitReached(Exception):
    """The reporter has filed as many reports as the window allows; `next_report_at` says when
    it may file the next one."""

    def __init__(self, next_report_at: datetime, settings: ReportSettings) -> None:
        self.next_report_at = next_report_at
        super().__init__(
            f"a subject may file at most {settings.max_reports} reports in {settings.window_days}"
            f" days; the next report is possible at {next_report_at.isoformat()}Z"
        )


class AlreadyDecided(InvalidRequest):
    """The report has been decided already; a decision is never replaced here."""


@dataclass(frozen=True)
class Decider:
    """Who decides: an adjudicator's principal, or an operator at the command line."""

    id: str
    name: str

    @classmethod
    def of(cls, principal: Principal) -> Decider:
        """An adjudicator principal as the decider (raises NotAllowed for any other role)."""
        require_role(principal, Role.ADJUDICATOR)
        return cls(principal.id, principal.name)


# ------------------------------------------------------------------------------ filing


def _text(value: str, name: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidRequest(f"{name} is required")
    if len(text) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters")
    if "\x00" in text:
        raise InvalidRequest(f"{name} must not contain NUL characters")
    return text


def file_report(
    engine: sa.Engine,
    principal: Principal,
    *,
    target: str,
    kind: str,
    occurred_at: str | datetime,
    description: str,
    evidence: str,
    now: datetime | None = None,
    settings: ReportSettings | None = None,
    catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """A subject reports another's breach of `kind`. Nothing changes for the target. Any
    well-formed id is taken, in the store or not, and counts against the reporter's limit
    alike: the answer never tells a reporter who is in the store (an adjudicator sees it).
    Raises NotAllowed (not a subject), InvalidRequest (itself, a kind that cannot be reported,
    bad fields) or ReportLimitReached."""
    require_role(principal, Role.SUBJECT)
    assert principal.subject is not None
    settings = settings or shipped_report_settings()
    catalogue = catalogue or shipped_catalogue()
    now = now or utc_now()
    try:
        target_id, _ = identify(target)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"target: {exc}") from None
    refusal = rules.target_refusal(principal.subject, target_id) or rules.kind_refusal(
        catalogue, kind
    )
    if refusal:
        raise InvalidRequest(refusal)
    try:
        occurred = parse_time(occurred_at, "occurred_at", now)
    except RowError as exc:
        raise InvalidRequest(str(exc)) from None
    refusal = rules.occurred_refusal(occurred, now, settings.max_age_days)
    if refusal:
        raise InvalidRequest(refusal)
    values = {
        "reporter": principal.subject,
        "principal": principal.id,
        "target": target_id,
        "kind": kind,
        "occurred_at": occurred,
        "description": _text(description, "description", rules.DESCRIPTION_MAX),
        "evidence": _text(evidence, "evidence", rules.EVIDENCE_MAX),
        "filed_at": now,
    }
    with one_writer(engine), engine.begin() as connection:
        store.serialize_reporter(connection, principal.subject)
        filed = store.filed_since(connection, principal.subject, now - settings.window)
        wait_until = rules.next_report_at(filed, now, settings)
        if wait_until is not None:
            raise ReportLimitReached(wait_until, settings)
        report_id = store.add_report(connection, values)
        report = store.get_report(connection, report_id)
    assert report is not None
    return rules.view(report, Audience.REPORTER)


# ------------------------------------------------------------------------------ reading


def _current_flags(
    connection: sa.Connection, reports: Sequence[Report], settings: ReportSettings
) -> dict[int, tuple[rules.Flag, ...]]:
    """The flags on each report as things stand now (relations and reports filed since)."""
    if not reports:
        return {}
    start = min(r.filed_at for r in reports) - settings.ring_window
    end = max(r.filed_at for r in reports) + settings.ring_window
    filings = store.filings_between(connection, start, end)
    ties = store.ties_among(connection, {s for r in reports for s in (r.reporter, r.target)})
    return {r.id: rules.flags(r.filing, ties, filings, settings.ring_window) for r in reports}


def _log_official_reads(
    engine: sa.Engine, principal: Principal, reports: Iterable[Report], endpoint: str, now: datetime
) -> None:
    """An official's read of reports is a read of the reporter's and the target's data: each
    sees it in its access log (the target's entry never names the reporter)."""
    entries = [
        access.read_by(
            principal,
            subject,
            at=now,
            what="report",
            endpoint=endpoint,
            returned={"report": r.id, "as": side, "status": r.status},
        )
        for r in reports
        for subject, side in ((r.reporter, "reporter"), (r.target, "target"))
    ]
    if not entries:
        return
    with one_writer(engine), engine.begin() as connection:
        for entry in entries:
            access.append_access(connection, entry)


def _status(status: str | None) -> str | None:
    if status is not None and status not in rules.STATUSES:
        raise InvalidRequest(f"unknown status {status!r}; statuses: {', '.join(rules.STATUSES)}")
    return status


def list_reports(
    engine: sa.Engine,
    principal: Principal,
    *,
    status: str | None = None,
    page: PageRequest | None = None,
    endpoint: str = "GET /v1/reports",
    now: datetime | None = None,
    settings: ReportSettings | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Reports in the order filed: a subject's own, or (adjudicators, admins) all of them with
    their flags; `status` filters. Officials' reads are logged for reporter and target."""
    reporter = rules.listing_scope(principal)
    settings = settings or shipped_report_settings()
    page = page or PageRequest()
    after = int_cursor("reports", page.cursor)
    with engine.connect() as connection:
        found = store.list_reports(
            connection,
            reporter=reporter,
            status=_status(status),
            after=after,
            limit=page.limit + 1,
        )
        cursor = next_cursor("reports", found, page.limit, "id")
        current = _current_flags(connection, found, settings) if reporter is None else {}
    seen_by = Audience.REPORTER if reporter is not None else Audience.OFFICIAL
    if seen_by is Audience.OFFICIAL:
        _log_official_reads(engine, principal, found, endpoint, now or utc_now())
    return [rules.view(r, seen_by, current.get(r.id, ())) for r in found], cursor


def read_report(
    engine: sa.Engine,
    principal: Principal,
    report_id: int,
    *,
    endpoint: str = "GET /v1/reports/{id}",
    now: datetime | None = None,
    settings: ReportSettings | None = None,
) -> dict[str, Any]:
    """One report as `principal` may see it. Raises NotAllowed for roles that never read
    reports, and NotFound for a report that does not exist or is not the subject's own (the
    reported subject cannot tell that a report about it exists)."""
    rules.listing_scope(principal)
    settings = settings or shipped_report_settings()
    with engine.connect() as connection:
        report = store.get_report(connection, report_id)
        seen_by = None if report is None else rules.audience(principal, report.reporter)
        if report is None or seen_by is None:
            raise NotFound(f"no report {report_id}")
        current = _current_flags(connection, [report], settings).get(report.id, ())
    if seen_by is Audience.OFFICIAL:
        _log_official_reads(engine, principal, [report], endpoint, now or utc_now())
    return rules.view(report, seen_by, current)


def operator_reports(
    engine: sa.Engine, status: str | None = None, settings: ReportSettings | None = None
) -> list[dict[str, Any]]:
    """Every report (of a status) with its flags, as an official sees it: for the operators'
    command line."""
    settings = settings or shipped_report_settings()
    with engine.connect() as connection:
        found = store.list_reports(
            connection, reporter=None, status=_status(status), after=None, limit=10**9
        )
        current = _current_flags(connection, found, settings)
    return [rules.view(r, Audience.OFFICIAL, current[r.id]) for r in found]


# ------------------------------------------------------------------------------ deciding


def _rewarding(reward_kind: str | None, programs: Sequence[CompiledProgram]) -> list[str]:
    return rules.rewarding_programs(
        reward_kind,
        ((p.id, (k for rule in p.program.rules for k in rule.kinds)) for p in programs),
    )


def _ensure_furnisher(engine: sa.Engine, settings: ReportSettings, now: datetime) -> None:
    """Register the reports' furnisher on first use; refuse one registered with another type."""
    with one_writer(engine), engine.begin() as connection:
        known = ledger.furnisher_types(connection).get(settings.furnisher)
        if known is None:
            furnisher = Furnisher(
                settings.furnisher, REPORT_FURNISHER_TYPE, settings.furnisher_name
            )
            ledger.add_furnishers(connection, [furnisher], now)
        elif known != REPORT_FURNISHER_TYPE:
            raise InvalidRequest(
                f"furnisher {settings.furnisher!r} is registered as a {known}, not a "
                f"{REPORT_FURNISHER_TYPE}: fix `furnisher` in the reports policy"
            )


def _default_rescore(now: datetime, programs: Sequence[CompiledProgram]) -> Rescore:
    def rescore(engine: sa.Engine, subjects: list[str]) -> list[str]:
        runs = rescore_subjects(engine, subjects, now.date(), programs)
        return [run.program for run in runs]

    return rescore


def decide_report(
    engine: sa.Engine,
    decider: Decider,
    report_id: int,
    outcome: Outcome | str,
    reason: str,
    *,
    now: datetime | None = None,
    settings: ReportSettings | None = None,
    catalogue: Catalogue | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    rescore: Rescore | None = None,
) -> dict[str, Any]:
    """Decide a pending report, log who decided, why and the flags seen, and write what the
    outcome calls for through the normal ingest path; then rescore the subjects written about.

    Upheld: a record of the reported kind for the target (the report's id as external id, its
    evidence) and, when an active program scores the reward kind, a reward for the reporter.
    Malicious: a penalty record for the reporter. Rejected: nothing for anyone. Raises NotFound,
    AlreadyDecided or InvalidRequest."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        outcomes = ", ".join(o.value for o in Outcome)
        raise InvalidRequest(f"unknown outcome {outcome!r}; outcomes: {outcomes}") from None
    reason = _text(reason, "reason", rules.REASON_MAX)
    settings = settings or shipped_report_settings()
    catalogue = catalogue or shipped_catalogue()
    compiled = list(programs) if programs is not None else active_programs(catalogue=catalogue)
    now = now or utc_now()
    with engine.connect() as connection:
        report = store.get_report(connection, report_id)
        if report is None:
            raise NotFound(f"no report {report_id}")
        seen = _current_flags(connection, [report], settings)[report.id]
    if report.decision is not None:
        raise AlreadyDecided(f"report {report_id} was decided already ({report.status})")
    reward = bool(_rewarding(settings.reward_kind, compiled))
    rows = rules.decision_records(report, chosen, reason, settings, reward, now)
    _check_rows(rows, settings, catalogue, now)
    decision = Decision(
        outcome=chosen,
        reason=reason,
        decided_by=decider.id,
        decided_by_name=decider.name,
        decided_at=now,
        flags=seen,
        records=tuple(row["external_id"] for row in rows),
    )
    if rows:
        _ensure_furnisher(engine, settings, now)
    # The decision, its notices and its records stand or fall together.
    try:
        with one_writer(engine), engine.begin() as connection:
            store.add_decision(connection, report.id, decision)
            _tell(connection, report, decision, now)
            written = _write(connection, rows, catalogue, now)
    except sa.exc.IntegrityError:
        raise AlreadyDecided(f"report {report_id} was decided already") from None
    subjects = sorted({row["subject"] for row in rows})
    rescored = (rescore or _default_rescore(now, compiled))(engine, subjects) if subjects else []
    decided = _stored(engine, report.id)
    return {
        "report": rules.view(decided, Audience.OFFICIAL, seen),
        "records": written,
        "rescored": {"subjects": len(subjects), "programs": rescored},
    }


def _check_rows(
    rows: list[dict[str, Any]], settings: ReportSettings, catalogue: Catalogue, now: datetime
) -> None:
    """Apply the checks ingest applies to the decision's records before anything is stored."""
    types = {settings.furnisher: REPORT_FURNISHER_TYPE}
    for row in rows:
        try:
            parse_record(row, catalogue, types, now)
        except RowError as exc:
            raise InvalidRequest(f"the decision cannot write its record: {exc}") from None


def _tell(connection: sa.Connection, report: Report, decision: Decision, now: datetime) -> None:
    """Notices: the reporter learns the outcome (and, for malice, why); the target learns of an
    upheld report's record, never who reported."""
    for notice in rules.decision_notices(report, decision):
        add_notice(connection, notice.subject, notice.kind, notice.text, notice.refs, now)


def _write(
    connection: sa.Connection, rows: list[dict[str, Any]], catalogue: Catalogue, now: datetime
) -> list[dict[str, Any]]:
    """Append the decision's records (checked beforehand by _check_rows)."""
    append_records(connection, rows, now, catalogue, EventKind.REPORT_UPHELD)
    return [
        {"subject": row["subject"], "kind": row["kind"], "external_id": row["external_id"]}
        for row in rows
    ]


def _stored(engine: sa.Engine, report_id: int) -> Report:
    """A stored report with its decision (raises NotFound)."""
    with engine.connect() as connection:
        report = store.get_report(connection, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    return report
