"""The lab's decision cutoffs: the measures of the catalogue that a program's score decides.

A measure is a cutoff when its test reads the score of its service's program: a score test
(`at_least`, `below`, `grades`), or a list entered by that program's score (`honest_aaa`).
Whether it applies is worked out by the platform's own decision (`domain.measures.decide`) once
for every score the program can give and once for a subject without a score, so the lab audits
exactly the rule relying parties get. Measures keyed on lists entered by records, or on recent
records, do not depend on the program: `lab.listed` audits them from each world's records.
What neither decides (flags, a list entered by another program's score) is listed as not
audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from socialcredit.domain.lists import ListDefinition, ScoreFact, entry_of
from socialcredit.domain.measures import Effect, Measure, Service, SubjectFacts, Test, decide
from socialcredit.domain.programs import Program
from socialcredit.lab.listed import audit_effect, from_records
from socialcredit.policy.loader import shipped_programs
from socialcredit.policy.measures import MeasuresCatalogue, load_measures

__all__ = [
    "Cutoff",
    "CutoffError",
    "Unaudited",
    "cutoffs_for",
    "lab_catalogue",
    "unaudited_for",
]

# A fixed moment for the decisions that tabulate a cutoff: score tests and score-entered lists
# read only the score and grade, never the date.
_AS_OF = datetime(2000, 1, 1)


class CutoffError(ValueError):
    """A measure the lab cannot audit under the program it is given."""


@dataclass(frozen=True, eq=False)
class Cutoff:
    """A measure decided by a program's score: whether it applies at each score.

    `effect` is `reward` for a grant (those it applies to get the perk) and `restriction` for a
    deny or a condition (those it applies to are refused or conditioned). A subject is approved
    when it gets the favourable answer: the grant applies, or the restriction does not.
    """

    service: str
    measure: str
    program: str
    action: Effect
    rule: str
    title: str
    source: str
    minimum: int
    applies_at: np.ndarray
    applies_unscored: bool

    @property
    def name(self) -> str:
        """`service:measure`, as decision traces name the rule."""
        return f"{self.service}:{self.measure}"

    @property
    def effect(self) -> str:
        """What the audit calls it (`audit_effect`)."""
        return audit_effect(self.action)

    def applies(self, scored: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Whether the measure applies to each subject (unscored subjects as decide says)."""
        index = np.clip(score - self.minimum, 0, len(self.applies_at) - 1)
        return np.where(scored, self.applies_at[index], self.applies_unscored)

    def approved(self, scored: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Whether each subject gets the favourable answer."""
        applies = self.applies(scored, score)
        return applies if self.action is Effect.GRANT else ~applies

    @property
    def marks(self) -> list[int]:
        """The scores at which the measure starts or stops applying."""
        flips = np.flatnonzero(self.applies_at[1:] != self.applies_at[:-1]) + 1
        return [self.minimum + int(i) for i in flips]


@dataclass(frozen=True)
class Unaudited:
    """A measure of the program's services that neither its score nor records decide."""

    service: str
    measure: str
    test: str

    @property
    def name(self) -> str:
        """`service:measure`."""
        return f"{self.service}:{self.measure}"


def _score_list(service: Service, measure: Measure, lists: dict[str, ListDefinition]) -> bool:
    """Whether the measure is keyed on a list entered by the service's program's score."""
    name = measure.when.on_list
    definition = lists.get(name) if name is not None else None
    return (
        definition is not None
        and definition.score is not None
        and definition.score.program == service.program
    )


def _rule(measure: Measure, lists: dict[str, ListDefinition]) -> str:
    """The measure's test in words; a score-entered list adds its criterion."""
    when = measure.when
    if when.on_list is None:
        return when.describe()
    criterion = lists[when.on_list].score
    assert criterion is not None
    test = Test(grades=criterion.grades, at_least=criterion.at_least, below=criterion.below)
    return f"{when.describe()} ({test.describe()})"


def _applies(
    alone: Service, measure: Measure, lists: dict[str, ListDefinition], fact: ScoreFact | None
) -> bool:
    """Whether the platform's decision applies the measure to a subject with this score."""
    entries = {}
    if measure.when.on_list is not None:
        found = entry_of(lists[measure.when.on_list], "subject", [], _AS_OF, score=fact)
        if found is not None:
            entries[found.list] = found
    facts = SubjectFacts(subject="subject", entries=entries, score=fact)
    decision = decide(alone, facts, _AS_OF)
    return decision.applied(measure.id)


def _check_grades(service: Service, measure: Measure, program: Program, grades: list[str]) -> None:
    known = {b.grade for b in program.bands}
    for grade in grades:
        if grade not in known:
            raise CutoffError(
                f"measure {service.name}:{measure.id} needs grade {grade!r}, which program "
                f"{program.id!r} does not have"
            )


def _cutoff(
    service: Service, measure: Measure, lists: dict[str, ListDefinition], program: Program
) -> Cutoff:
    if measure.when.on_list is not None:
        criterion = lists[measure.when.on_list].score
        _check_grades(service, measure, program, criterion.grades if criterion else [])
    else:
        _check_grades(service, measure, program, measure.when.grades)
    alone = replace(service, measures=[measure])
    scores = range(program.min_score, program.max_score + 1)
    applies_at = np.array(
        [
            _applies(alone, measure, lists, ScoreFact(program.id, "", _AS_OF, s, program.grade(s)))
            for s in scores
        ],
        bool,
    )
    return Cutoff(
        service=service.name,
        measure=measure.id,
        program=program.id,
        action=measure.effect,
        rule=_rule(measure, lists),
        title=measure.title,
        source=measure.source,
        minimum=program.min_score,
        applies_at=applies_at,
        applies_unscored=_applies(alone, measure, lists, None),
    )


def _measures_of(
    catalogue: MeasuresCatalogue, program: Program
) -> Iterable[tuple[Service, Measure, bool]]:
    """Each measure of the program's services, and whether its score decides it."""
    for service in catalogue.services.values():
        if service.program != program.id:
            continue
        for measure in service.measures:
            decided = measure.when.uses_score or _score_list(service, measure, catalogue.lists)
            yield service, measure, decided


def cutoffs_for(catalogue: MeasuresCatalogue, program: Program) -> list[Cutoff]:
    """The cutoffs a program decides (raises CutoffError for a grade it does not have)."""
    return [
        _cutoff(service, measure, catalogue.lists, program)
        for service, measure, decided in _measures_of(catalogue, program)
        if decided
    ]


def unaudited_for(catalogue: MeasuresCatalogue, program: Program) -> list[Unaudited]:
    """The measures of the program's services that neither its score nor records decide (flags,
    lists entered by another program's score)."""
    return [
        Unaudited(service.name, measure.id, measure.when.describe())
        for service, measure, decided in _measures_of(catalogue, program)
        if not decided and not from_records(measure, catalogue.lists)
    ]


def lab_catalogue(
    measures: Path | None = None,
    lists: Path | None = None,
    programs: Iterable[Program] = (),
) -> MeasuresCatalogue:
    """The measures catalogue to audit: the shipped files, or the ones given, checked against
    the shipped programs and the programs under test (raises PolicyError)."""
    known = {p.program.id: p.program for p in shipped_programs()}
    known.update({p.id: p for p in programs})
    return load_measures(lists, measures, programs=known)
