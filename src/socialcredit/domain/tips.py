"""Tips: concrete actions a subject can take, and the record each would bring into the ledger.

Candidates come from the subject's own adverse records that an action resolves (a fine paid, a
judgment performed) and from merits the program rewards that the subject can still earn. What
a candidate is worth is never estimated here: the service rescores the counterfactual ledger.
Plain rules, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.identifiers import ORGANISATION, PERSON
from socialcredit.domain.programs import Program, Rule
from socialcredit.domain.records import in_force

TIPS_PER_PROGRAM = 3
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Resolution:
    """How an adverse record is resolved, and the record its furnisher then sends: a
    retraction naming it (the obligation is met, the record is withdrawn), or a new record of
    another kind that stands beside it (a performed judgment)."""

    kind: str
    verb: str
    resolving_kind: str
    unit: str | None = None

    @property
    def withdraws(self) -> bool:
        """True when the resolving record withdraws the adverse one."""
        return self.resolving_kind == RETRACTION_KIND


# Adverse kinds that an action of the subject resolves. A bill already paid late, a breach or a
# conviction cannot be undone, so they have no entry: no tip can honestly offer to remove them.
RESOLUTIONS: dict[str, Resolution] = {
    r.kind: r
    for r in (
        Resolution("traffic.fine_unpaid", "pay traffic fine", RETRACTION_KIND, "yuan"),
        Resolution("tax.arrears", "pay tax arrears", RETRACTION_KIND, "yuan"),
        Resolution("loan.arrears_cycle", "clear loan arrears", RETRACTION_KIND),
        Resolution("card.overdue", "pay overdue card statement", RETRACTION_KIND),
        Resolution(
            "court.judgment_unfulfilled", "perform court judgment", "court.judgment_fulfilled"
        ),
    )
}


@dataclass(frozen=True)
class Merit:
    """A merit a subject of some kinds can set out to earn, and the least time between two."""

    kind: str
    verb: str
    unit: str | None = None
    min_interval_days: int = 0
    subjects: tuple[str, ...] = (PERSON,)


# Merits within a subject's own reach. Not offered: heroic acts (not planned), and buying,
# borrowing or working more (a score should not tell people to spend or take on debt).
MERITS: dict[str, Merit] = {
    m.kind: m
    for m in (
        Merit("volunteer.hours", "volunteer", "hours"),
        # Whole blood may be given every six months at most (China's blood donation rules).
        Merit("blood.donation", "donate blood", "ml", min_interval_days=180),
        Merit(
            "identity.phone_verified",
            "have your phone number verified by your operator",
            subjects=(PERSON, ORGANISATION),
        ),
        Merit(
            "identity.address_verified",
            "have your address confirmed by the civil registry",
            subjects=(PERSON, ORGANISATION),
        ),
    )
}


@dataclass(frozen=True)
class LedgerRecord:
    """A record of the subject as the tips see it: enough to find what an action resolves."""

    id: int
    furnisher: str
    external_id: str
    kind: str
    day: int  # days since 1970-01-01
    value: float | None = None
    replaces: str | None = None
    evidence: str | None = None
    chain: str | None = None


@dataclass(frozen=True)
class NewRecord:
    """The record an action brings: the furnisher (None: any of the kind's furnishers),
    what it replaces, its value and evidence."""

    kind: str
    furnisher: str | None = None
    replaces: str | None = None
    value: float | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An action the subject could take, what it is about, and the record it brings."""

    action: str
    kind: str
    record: int | None
    brings: NewRecord


def day_number(moment: date) -> int:
    """Days since 1970-01-01 (the engines' integer clock)."""
    return (moment - EPOCH).days


def live_records(records: Iterable[LedgerRecord], as_of_day: int) -> list[LedgerRecord]:
    """Records in force on the day (as the scoring definition sees them)."""
    return in_force(records, lambda r: r.day <= as_of_day)


Windows = Mapping[str, int]
"""Days a record of each kind counts, as the compiled program has them (a kind's display
period may cut its rule's window); a kind left out counts for its rule's `display_days`."""


def _rules_by_kind(program: Program) -> dict[str, Rule]:
    return {kind: rule for rule in program.rules for kind in rule.kinds}


def _counts(r: LedgerRecord, rule: Rule, as_of_day: int, windows: Windows | None) -> bool:
    """Whether the record still counts on the day (within its kind's window)."""
    window = (windows or {}).get(r.kind, rule.display_days)
    return as_of_day - r.day < window


def _amount(value: float | None, unit: str | None) -> str:
    if value is None or unit is None:
        return ""
    return f" ({value:g} {unit})"


def _answers(adverse: LedgerRecord, answer: LedgerRecord) -> bool:
    """Whether `answer` (say a performed judgment) resolves `adverse`: the same furnisher's,
    for the same case (`evidence`), or, where no case is named, one naming none, of that day
    or later."""
    if answer.furnisher != adverse.furnisher:
        return False
    if adverse.evidence is not None:
        return answer.evidence == adverse.evidence
    return answer.evidence is None and answer.day >= adverse.day


def already_resolved(records: Sequence[LedgerRecord]) -> set[int]:
    """Adverse records whose resolving record of another kind is already in the ledger, each
    resolving record answering one adverse record (cases named first, then by day)."""
    done: set[int] = set()
    for resolution in RESOLUTIONS.values():
        if resolution.withdraws:
            continue
        pending = [r for r in records if r.kind == resolution.kind]
        pending.sort(key=lambda r: (r.evidence is None, r.day, r.id))
        answers = [r for r in records if r.kind == resolution.resolving_kind]
        for adverse in pending:
            found = next((a for a in answers if _answers(adverse, a)), None)
            if found is not None:
                answers.remove(found)
                done.add(adverse.id)
    return done


def resolution_candidates(
    records: Sequence[LedgerRecord],
    program: Program,
    as_of_day: int,
    windows: Windows | None = None,
) -> list[Candidate]:
    """One candidate per adverse record in force that the program still counts, that an
    action of the subject resolves, and that is not resolved already."""
    rules = _rules_by_kind(program)
    live = live_records(records, as_of_day)
    done = already_resolved(live)
    out = []
    for r in live:
        resolution = RESOLUTIONS.get(r.kind)
        rule = rules.get(r.kind)
        if resolution is None or rule is None or not _counts(r, rule, as_of_day, windows):
            continue
        if r.id in done:
            continue
        action = f"{resolution.verb} {r.id}{_amount(r.value, resolution.unit)}"
        if resolution.withdraws:
            brings = NewRecord(RETRACTION_KIND, r.furnisher, replaces=r.external_id)
        else:
            brings = NewRecord(resolution.resolving_kind, r.furnisher, evidence=r.evidence)
        out.append(Candidate(action, r.kind, r.id, brings))
    return out


def merit_candidates(
    records: Sequence[LedgerRecord],
    program: Program,
    as_of_day: int,
    subject_kind: str = PERSON,
    windows: Windows | None = None,
) -> list[Candidate]:
    """Merits the program rewards that a subject of this kind can still set out to earn: the
    amount to the next tier of a summed rule, or one more record (at its best tier's value)."""
    rules = _rules_by_kind(program)
    live = live_records(records, as_of_day)
    out = []
    for kind, merit in MERITS.items():
        rule = rules.get(kind)
        if rule is None or not rule.gives or subject_kind not in merit.subjects:
            continue
        counted = [r for r in live if r.kind == kind and _counts(r, rule, as_of_day, windows)]
        if merit.min_interval_days and any(
            as_of_day - r.day < merit.min_interval_days for r in live if r.kind == kind
        ):
            continue
        if rule.sum_tiers:
            total = sum(r.value or 0.0 for r in counted)
            above = [t for t in rule.sum_tiers if t.at > total]
            if not above:
                continue
            needed = float(math.ceil(above[0].at - total))
            action = f"{merit.verb} {needed:g} more {merit.unit or 'units'}"
            out.append(Candidate(action, kind, None, NewRecord(kind, value=needed)))
            continue
        value = max((t.at for t in rule.value_tiers), default=None)
        action = f"{merit.verb}{_amount(value, merit.unit)}"
        out.append(Candidate(action, kind, None, NewRecord(kind, value=value)))
    return out


def candidates(
    records: Sequence[LedgerRecord],
    program: Program,
    as_of_day: int,
    subject_kind: str = PERSON,
    windows: Windows | None = None,
) -> list[Candidate]:
    """Every action worth rescoring for a subject under a program."""
    return resolution_candidates(records, program, as_of_day, windows) + merit_candidates(
        records, program, as_of_day, subject_kind, windows
    )


@dataclass(frozen=True)
class Tip:
    """An action with its exact effect: points gained and the score it leads to."""

    candidate: Candidate
    points: int
    score: int
    grade: str

    @property
    def text(self) -> str:
        points = "point" if self.points == 1 else "points"
        return f"{self.candidate.action}: +{self.points} {points}, to {self.score}"


def rank_tips(tips: Iterable[Tip], limit: int = TIPS_PER_PROGRAM) -> list[Tip]:
    """The tips that gain points, most points first (ties: in the order of the action's
    text, then the record), at most `limit`."""
    gaining = [t for t in tips if t.points > 0]
    gaining.sort(key=lambda t: (-t.points, t.candidate.action, t.candidate.record or 0))
    return gaining[:limit]
