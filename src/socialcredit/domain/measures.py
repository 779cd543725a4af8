"""Joint measures: per service, which lists, grades or scores restrict or reward, and the
decision with its trace.

A service decides only from what its catalogue entry names (context binding): the lists in
`lists`, records of the categories in `categories`, and its program's score. Measures fall only
on the subject asked about; nothing about anyone else is an input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from socialcredit.domain.lists import ListEntry, ScoreFact
from socialcredit.domain.programs import FORBID_UNKNOWN_FIELDS
from socialcredit.domain.tiers import Tier


class Effect(StrEnum):
    """What a measure does when its test holds."""

    DENY = "deny"
    CONDITION = "condition"
    GRANT = "grant"


class Outcome(StrEnum):
    """A decision's answer to the relying party."""

    ALLOW = "allow"
    DENY = "deny"
    ALLOW_WITH_CONDITIONS = "allow_with_conditions"


@dataclass(frozen=True)
class RecordTest:
    """At least `min_count` records of these kinds within the last `within_days`."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    kinds: list[str]
    within_days: int
    min_count: int = 1


@dataclass(frozen=True)
class Test:
    """When a measure applies: the subject is on list `on_list`, or its score under the service's
    program has one of `grades` / reaches `at_least` / is `below`, or it carries `flag`, or it
    has recent `records`. Exactly one of list, score (grades/at_least/below), flag, records."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    on_list: str | None = None
    grades: list[str] = field(default_factory=list)
    at_least: int | None = None
    below: int | None = None
    flag: str | None = None
    records: RecordTest | None = None

    def __post_init__(self) -> None:
        scored = bool(self.grades) or self.at_least is not None or self.below is not None
        chosen = [self.on_list is not None, scored, self.flag is not None, self.records is not None]
        if sum(chosen) != 1:
            raise ValueError("a test names exactly one of: on_list, a score test, flag, records")

    @property
    def uses_score(self) -> bool:
        return bool(self.grades) or self.at_least is not None or self.below is not None

    def describe(self) -> str:
        """The test in words, for the trace."""
        if self.on_list is not None:
            return f"on list {self.on_list}"
        if self.flag is not None:
            return f"flagged {self.flag}"
        if self.records is not None:
            kinds = ", ".join(self.records.kinds)
            return (
                f"at least {self.records.min_count} of {kinds} "
                f"in the last {self.records.within_days} days"
            )
        parts = []
        if self.grades:
            parts.append("grade in " + ", ".join(self.grades))
        if self.at_least is not None:
            parts.append(f"score >= {self.at_least}")
        if self.below is not None:
            parts.append(f"score < {self.below}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Measure:
    """One restriction or reward of a service, with its legal or published source. `severity`
    is the least list tier that may justify it; `condition` says what an allow_with_conditions
    or a grant entails."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    id: str
    title: str
    effect: Effect
    when: Test
    severity: Tier = Tier.MINOR
    condition: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.effect is Effect.CONDITION and not self.condition:
            raise ValueError("a condition measure says what the condition is (condition = ...)")


@dataclass(frozen=True)
class Service:
    """A service relying parties decide on: who may ask (purposes), what it may use (lists,
    record categories, program) and its measures. `default` is the answer when no measure
    applies: allow for ordinary services, deny for perks that must be earned."""

    __pydantic_config__: ClassVar[dict[str, str]] = FORBID_UNKNOWN_FIELDS

    name: str
    title: str
    purposes: list[str]
    program: str
    lists: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    default: Outcome = Outcome.ALLOW
    measures: list[Measure] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.default is Outcome.ALLOW_WITH_CONDITIONS:
            raise ValueError("default is allow or deny")
        if not self.purposes:
            raise ValueError("name the purposes a relying party may ask this service for")
        ids = [m.id for m in self.measures]
        if len(ids) != len(set(ids)):
            raise ValueError("measure ids must be unique within a service")
        for m in self.measures:
            if m.when.on_list is not None and m.when.on_list not in self.lists:
                raise ValueError(
                    f"measure {m.id} uses list {m.when.on_list!r}, which the service does not "
                    f"name in lists (context binding)"
                )


@dataclass(frozen=True)
class SubjectFacts:
    """Everything a decision may look at, all about the one subject asked about: its entries
    on the service's lists, its latest score under the service's program, its flags and how
    many recent records of each kind the service's record tests name."""

    subject: str
    entries: dict[str, ListEntry]
    score: ScoreFact | None
    flags: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[tuple[int, datetime]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The answer, the measures applied, and every rule evaluated with its inputs."""

    service: str
    subject: str
    outcome: Outcome
    measures: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    program: str
    policy_version: str | None

    def applied(self, measure: str) -> bool:
        """Whether the decision applied the measure with this id."""
        return any(m["id"] == measure for m in self.measures)


def _entry_inputs(entry: ListEntry | None) -> dict[str, Any]:
    if entry is None:
        return {"on_list": False}
    return {
        "on_list": True,
        "since": entry.since.isoformat(),
        "until": entry.until.isoformat(),
        "record_ids": list(entry.record_ids),
    }


def _evaluate(test: Test, facts: SubjectFacts, now: datetime) -> tuple[bool, dict[str, Any]]:
    """Whether a test holds for the subject, and the inputs it looked at."""
    if test.on_list is not None:
        entry = facts.entries.get(test.on_list)
        return entry is not None, {"list": test.on_list, **_entry_inputs(entry)}
    if test.flag is not None:
        reason = facts.flags.get(test.flag)
        return reason is not None, {"flag": test.flag, "flagged": reason is not None, "why": reason}
    if test.records is not None:
        since = now - timedelta(days=test.records.within_days)
        ids = sorted(
            i for k in test.records.kinds for i, at in facts.records.get(k, []) if at > since
        )
        return len(ids) >= test.records.min_count, {"record_ids": ids, "count": len(ids)}
    score = facts.score
    inputs: dict[str, Any] = {
        "score": None if score is None else score.score,
        "grade": None if score is None else score.grade,
        "as_of": None if score is None else score.as_of.date().isoformat(),
    }
    if score is None or score.score is None:
        return False, inputs
    holds = (
        (not test.grades or score.grade in test.grades)
        and (test.at_least is None or score.score >= test.at_least)
        and (test.below is None or score.score < test.below)
    )
    return holds, inputs


def decide(service: Service, facts: SubjectFacts, now: datetime) -> Decision:
    """Evaluate every measure of the service for the subject. Any deny that applies denies;
    otherwise a default-deny service allows only when a grant applies; conditions (from
    condition measures, and grants that carry one) make it allow_with_conditions."""
    trace: list[dict[str, Any]] = [
        {
            "rule": f"{service.name}:context",
            "inputs": {
                "lists": list(service.lists),
                "categories": list(service.categories),
                "program": service.program,
            },
            "outcome": "only these lists, record categories and program are read",
        }
    ]
    applied: list[Measure] = []
    for measure in service.measures:
        holds, inputs = _evaluate(measure.when, facts, now)
        trace.append(
            {
                "rule": f"{service.name}:{measure.id}",
                "test": measure.when.describe(),
                "effect": measure.effect.value,
                "inputs": inputs,
                "outcome": "applies" if holds else "does not apply",
            }
        )
        if holds:
            applied.append(measure)
    effects = {m.effect for m in applied}
    conditions = [
        m.condition
        for m in applied
        if m.condition and (Effect.DENY not in effects) and m.effect is not Effect.DENY
    ]
    if Effect.DENY in effects or (service.default is Outcome.DENY and Effect.GRANT not in effects):
        outcome = Outcome.DENY
    elif conditions and (Effect.CONDITION in effects or service.default is Outcome.DENY):
        outcome = Outcome.ALLOW_WITH_CONDITIONS
    else:
        outcome = Outcome.ALLOW
    trace.append(
        {
            "rule": f"{service.name}:decision",
            "inputs": {
                "default": service.default.value,
                "applied": [m.id for m in applied],
                "conditions": conditions,
            },
            "outcome": outcome.value,
        }
    )
    return Decision(
        service=service.name,
        subject=facts.subject,
        outcome=outcome,
        measures=[
            {
                "id": m.id,
                "title": m.title,
                "effect": m.effect.value,
                "condition": m.condition or None,
                "source": m.source or None,
            }
            for m in applied
        ],
        trace=trace,
        program=service.program,
        policy_version=None if facts.score is None else facts.score.policy_version,
    )
