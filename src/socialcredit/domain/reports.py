"""Reports of other subjects' breaches: the rules, without I/O.

A subject reports another's breach of trust with evidence. Nothing changes for the reported
subject until an adjudicator upholds the report; the reported subject is never told who
reported. Reporters are rate-limited, and reports between related subjects or in a ring of
reports are flagged for the adjudicator (flags inform, they do not decide).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.principals import NotAllowed, Principal, Role

DESCRIPTION_MAX = 2000
EVIDENCE_MAX = 500  # what a record's evidence field holds
REASON_MAX = 2000


class Outcome(StrEnum):
    """What an adjudicator decides about a report."""

    UPHELD = "upheld"
    REJECTED = "rejected"
    MALICIOUS = "malicious"


PENDING = "pending"
STATUSES: tuple[str, ...] = (PENDING, *(o.value for o in Outcome))


@dataclass(frozen=True)
class ReportSettings:
    """The reports policy: how often a subject may report, how far back, which reports form a
    ring, and what a decision records (reward and penalty kinds; None records nothing)."""

    furnisher: str
    furnisher_name: str
    max_reports: int
    window_days: int
    max_age_days: int
    ring_days: int
    reward_kind: str | None
    penalty_kind: str | None

    def __post_init__(self) -> None:
        if not self.furnisher.strip():
            raise ValueError("furnisher must be named")
        for name in ("max_reports", "window_days", "max_age_days", "ring_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def ring_window(self) -> timedelta:
        return timedelta(days=self.ring_days)


# ------------------------------------------------------------------------------ filing


def kind_refusal(catalogue: Catalogue, kind: str) -> str | None:
    """Why a report may not establish a record of `kind`, or None when it may."""
    found = catalogue.kind(kind)
    if found is None:
        return f"unknown record kind {kind!r}"
    refusal = catalogue.refusal(kind)
    if refusal:
        return f"kind {kind!r} is refused: {refusal}"
    if kind not in catalogue.reportable_kinds():
        allowed = ", ".join(catalogue.reportable_kinds())
        return f"kind {kind!r} cannot be reported; reportable kinds: {allowed}"
    return None


def target_refusal(reporter: str, target: str) -> str | None:
    """Why `reporter` may not report `target` (itself), or None."""
    if reporter == target:
        return "a subject cannot report itself"
    return None


def occurred_refusal(occurred_at: datetime, now: datetime, max_age_days: int) -> str | None:
    """Why a breach at `occurred_at` cannot be reported at `now`, or None."""
    if occurred_at > now:
        return f"occurred_at is in the future: {occurred_at.isoformat()}"
    if now - occurred_at > timedelta(days=max_age_days):
        return f"occurred_at is more than {max_age_days} days ago: too old to be reported"
    return None


def next_report_at(
    filed: Iterable[datetime], now: datetime, settings: ReportSettings
) -> datetime | None:
    """None when a reporter who filed reports at the times `filed` may file one more at `now`;
    otherwise the first moment it may: when the oldest report that keeps it at the limit leaves
    the window (reports count in the window (now - window_days, now])."""
    window = settings.window
    recent = sorted(t for t in filed if now - window < t <= now)
    if len(recent) < settings.max_reports:
        return None
    return recent[len(recent) - settings.max_reports] + window


# ------------------------------------------------------------------------------ flags


@dataclass(frozen=True)
class Filing:
    """A report as an edge of the graph of who reported whom, and when."""

    id: int
    reporter: str
    target: str
    filed_at: datetime


@dataclass(frozen=True)
class Tie:
    """A relation between two subjects, as the relations table holds it."""

    subject: str
    other: str
    relation: str


@dataclass(frozen=True)
class Flag:
    """Something the adjudicator should weigh: `related` or `ring`, why, and the reports
    involved (for a ring, the reports that form it, this one first)."""

    code: str
    detail: str
    reports: tuple[int, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "reports": list(self.reports)}


def ring(report: Filing, filings: Iterable[Filing], window: timedelta) -> tuple[Filing, ...]:
    """The shortest ring of reports through `report`: it, then the reports that lead from its
    target back to its reporter, all filed within `window` of each other (from the ring's first
    report to its last). Empty when there is none. Ties go to the earliest window, then to the
    lowest report ids, so the answer is deterministic."""
    if report.reporter == report.target:
        return ()
    near = sorted(
        (f for f in filings if f.id != report.id and abs(f.filed_at - report.filed_at) <= window),
        key=lambda f: f.id,
    )
    # A ring whose reports span at most `window` lies in [first, first + window], where first
    # is the filing time of its earliest report: try each such start.
    starts = sorted({report.filed_at, *(f.filed_at for f in near if f.filed_at <= report.filed_at)})
    best: tuple[Filing, ...] = ()
    for first in starts:
        inside = [f for f in near if first <= f.filed_at <= first + window]
        path = _path(report.target, report.reporter, inside)
        if path is not None and (not best or len(path) + 1 < len(best)):
            best = (report, *path)
    return best


def _path(start: str, goal: str, filings: Sequence[Filing]) -> list[Filing] | None:
    """The shortest chain of reports leading from `start` to `goal` (breadth first, in the
    order given), or None."""
    by_reporter: dict[str, list[Filing]] = defaultdict(list)
    for f in filings:
        by_reporter[f.reporter].append(f)
    came: dict[str, Filing] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        for f in by_reporter.get(queue.popleft(), ()):
            if f.target in seen:
                continue
            seen.add(f.target)
            came[f.target] = f
            if f.target == goal:
                path: list[Filing] = []
                node = goal
                while node != start:
                    step = came[node]
                    path.append(step)
                    node = step.reporter
                return path[::-1]
            queue.append(f.target)
    return None


def ring_flag(cycle: Sequence[Filing]) -> Flag | None:
    """The flag for a ring of reports (None when there is none)."""
    if not cycle:
        return None
    subjects = " -> ".join([cycle[0].reporter, *(f.target for f in cycle)])
    ids = tuple(f.id for f in cycle)
    if len(cycle) == 2:
        detail = f"the target also reported the reporter (reports {ids[0]} and {ids[1]}): "
    else:
        detail = f"{len(cycle)} reports form a ring: "
    return Flag("ring", detail + subjects, ids)


def related_flag(reporter: str, target: str, ties: Iterable[Tie]) -> Flag | None:
    """The flag for a reporter and target related to each other in either direction."""
    found = sorted(
        {
            t.relation
            for t in ties
            if {t.subject, t.other} == {reporter, target} and reporter != target
        }
    )
    if not found:
        return None
    return Flag("related", "the reporter and the target are related: " + ", ".join(found))


def flags(
    report: Filing, ties: Iterable[Tie], filings: Iterable[Filing], ring_window: timedelta
) -> tuple[Flag, ...]:
    """Every flag on a report: related subjects, then a ring."""
    found = (
        related_flag(report.reporter, report.target, ties),
        ring_flag(ring(report, filings, ring_window)),
    )
    return tuple(f for f in found if f is not None)


# ------------------------------------------------------------------------------ who sees what


class Audience(StrEnum):
    """Who is looking at a report: its reporter, or an official (adjudicator or admin)."""

    REPORTER = "reporter"
    OFFICIAL = "official"


OFFICIALS = (Role.ADJUDICATOR, Role.ADMIN)


def listing_scope(principal: Principal) -> str | None:
    """Whose reports a principal may list: the subject id of a reporter (its own only), or
    None for an official (all). Raises NotAllowed for any other role."""
    if principal.role is Role.SUBJECT:
        assert principal.subject is not None
        return principal.subject
    if principal.role in OFFICIALS:
        return None
    raise NotAllowed(
        f"reports are read by their reporter (role subject), adjudicators and admins; "
        f"this key has {principal.role.value}"
    )


def audience(principal: Principal, reporter: str) -> Audience | None:
    """How `principal` sees a report filed by `reporter`; None when it may not see it at all
    (the reported subject and every other subject)."""
    scope = listing_scope(principal)
    if scope is None:
        return Audience.OFFICIAL
    return Audience.REPORTER if scope == reporter else None


@dataclass(frozen=True)
class Decision:
    """An adjudicator's decision on a report: who decided, when, why, what it saw and wrote."""

    outcome: Outcome
    reason: str
    decided_by: str
    decided_by_name: str
    decided_at: datetime
    flags: tuple[Flag, ...] = field(default=())
    records: tuple[str, ...] = field(default=())  # external ids of the records it wrote


@dataclass(frozen=True)
class Report:
    """A filed report, with its decision once there is one."""

    id: int
    reporter: str
    target: str
    kind: str
    occurred_at: datetime
    description: str
    evidence: str
    filed_at: datetime
    decision: Decision | None = None

    @property
    def status(self) -> str:
        return PENDING if self.decision is None else self.decision.outcome.value

    @property
    def filing(self) -> Filing:
        return Filing(self.id, self.reporter, self.target, self.filed_at)


def _stamp(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def view(report: Report, seen_by: Audience, current_flags: Sequence[Flag] = ()) -> dict[str, Any]:
    """A report as `seen_by` may see it. Officials see everything: the flags, who decided and
    why, and the records written. The reporter sees its report and the outcome, but not the
    flags (a ring flag would name who reported it) nor the adjudicator's notes about the
    target; only a finding of malice, which is about the reporter, comes with its reason."""
    official = seen_by is Audience.OFFICIAL
    out: dict[str, Any] = {
        "id": report.id,
        "reporter": report.reporter,
        "target": report.target,
        "kind": report.kind,
        "occurred_at": _stamp(report.occurred_at),
        "description": report.description,
        "evidence": report.evidence,
        "filed_at": _stamp(report.filed_at),
        "status": report.status,
        "flags": [f.as_json() for f in current_flags] if official else None,
        "decision": None,
    }
    decision = report.decision
    if decision is not None:
        shows_reason = official or decision.outcome is Outcome.MALICIOUS
        out["decision"] = {
            "outcome": decision.outcome.value,
            "decided_at": _stamp(decision.decided_at),
            "reason": decision.reason if shows_reason else None,
            "decided_by": decision.decided_by if official else None,
            "decided_by_name": decision.decided_by_name if official else None,
            "flags": [f.as_json() for f in decision.flags] if official else None,
            "records": list(decision.records) if official else None,
        }
    return out


# ------------------------------------------------------------------------------ decisions


def target_external_id(report_id: int) -> str:
    """The external id of the record an upheld report establishes for its target."""
    return f"report-{report_id}"


def reporter_external_id(report_id: int, outcome: Outcome) -> str:
    """The external id of the reward (upheld) or penalty (malicious) record for the reporter."""
    return f"report-{report_id}-{outcome.value}"


def rewarding_programs(
    reward_kind: str | None, programs: Iterable[tuple[str, Iterable[str]]]
) -> list[str]:
    """The programs (id, kinds their rules score) that score the reward kind: a reward record
    is written only when one does ("if the program says so")."""
    if reward_kind is None:
        return []
    return sorted(pid for pid, kinds in programs if reward_kind in set(kinds))


def decision_records(
    report: Report,
    outcome: Outcome,
    reason: str,
    settings: ReportSettings,
    reward: bool,
    now: datetime,
) -> list[dict[str, Any]]:
    """The interchange rows a decision writes: for an upheld report, the reported kind for the
    target (the report id as external id, its evidence and the adjudicator's finding, never
    the reporter) and a reward for the reporter when `reward`; for a malicious one, a penalty
    for the reporter with the finding; else none."""
    rows: list[dict[str, Any]] = []
    if outcome is Outcome.UPHELD:
        rows.append(
            {
                "subject": report.target,
                "furnisher": settings.furnisher,
                "kind": report.kind,
                "occurred_at": report.occurred_at,
                "external_id": target_external_id(report.id),
                "attributes": {"report": report.id, "finding": reason},
                "evidence": report.evidence,
            }
        )
        if reward and settings.reward_kind is not None:
            attributes: dict[str, Any] = {"report": report.id}
            rows.append(
                _reporter_row(report, outcome, settings.reward_kind, attributes, settings, now)
            )
    elif outcome is Outcome.MALICIOUS and settings.penalty_kind is not None:
        attributes = {"report": report.id, "finding": reason}
        rows.append(
            _reporter_row(report, outcome, settings.penalty_kind, attributes, settings, now)
        )
    return rows


def _reporter_row(
    report: Report,
    outcome: Outcome,
    kind: str,
    attributes: dict[str, Any],
    settings: ReportSettings,
    now: datetime,
) -> dict[str, Any]:
    return {
        "subject": report.reporter,
        "furnisher": settings.furnisher,
        "kind": kind,
        "occurred_at": now,
        "external_id": reporter_external_id(report.id, outcome),
        "attributes": attributes,
        "evidence": None,
    }


@dataclass(frozen=True)
class Notice:
    """What a decision tells a subject."""

    subject: str
    kind: str
    text: str
    refs: dict[str, Any]


_VERDICTS = {
    Outcome.UPHELD: "upheld",
    Outcome.REJECTED: "rejected",
    Outcome.MALICIOUS: "rejected as malicious",
}


def decision_notices(report: Report, decision: Decision) -> list[Notice]:
    """The notices a decision sends. The reporter learns the outcome; the adjudicator's reason
    only for a finding of malice (it is about the reporter). The target hears only of an upheld
    report, through the record it establishes, and is never told who reported."""
    outcome = decision.outcome
    text = f"Your report {report.id} of a breach ({report.kind}) by {report.target} was "
    text += _VERDICTS[outcome] + "."
    refs: dict[str, Any] = {"report": report.id, "records": list(decision.records)}
    if outcome is Outcome.MALICIOUS:
        text += f" Reason: {decision.reason}"
        if decision.records:
            text += f" A penalty record ({decision.records[-1]}) was added to your file."
    elif outcome is Outcome.UPHELD and len(decision.records) > 1:
        text += f" A reward record ({decision.records[-1]}) was added to your file."
    notices = [Notice(report.reporter, f"report.{outcome.value}", text, refs)]
    if outcome is Outcome.UPHELD:
        record = target_external_id(report.id)
        notices.append(
            Notice(
                report.target,
                "report.record",
                f"An adjudicated report established a record of {report.kind} "
                f"({record}, occurred {report.occurred_at.date().isoformat()}) in your file. "
                f"Finding: {decision.reason} You may dispute the record.",
                {"record": record},
            )
        )
    return notices
