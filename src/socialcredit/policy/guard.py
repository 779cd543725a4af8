"""The guard: a program may score only catalogued kinds, and never a prohibited category.

It runs on every program before it is used, whatever the file asks for.
"""

from __future__ import annotations

from socialcredit.domain.catalogue import RETRACTION_KIND, Catalogue
from socialcredit.policy.loader import LoadedProgram, PolicyError, Problem, locate


def check(loaded: LoadedProgram, catalogue: Catalogue) -> list[Problem]:
    """Every reason the guard refuses this program; empty when it may run."""
    program, text, source = loaded.program, loaded.text, loaded.source
    problems: list[Problem] = []

    def refuse(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(source, locate(text, loc), ".".join(map(str, loc)), message))

    for r, rule in enumerate(program.rules):
        for k, kind_name in enumerate(rule.kinds):
            loc: tuple[str | int, ...] = ("rules", r, "kinds", k)
            kind = catalogue.kind(kind_name)
            if kind is None:
                refuse(loc, f"{kind_name!r} is not in the record catalogue")
            elif kind.category in catalogue.prohibited:
                refuse(
                    loc,
                    f"refused: {kind_name!r} is in the prohibited category {kind.category!r}: "
                    f"{catalogue.prohibited[kind.category]}",
                )
            elif kind_name == RETRACTION_KIND:
                refuse(loc, "retractions withdraw records; they are not scored")
    for f, factor in enumerate(program.factors):
        if factor.propagation is None:
            continue
        for i, relation in enumerate(factor.propagation.relations):
            where = ("factors", f, "propagation", "relations", i)
            if relation in catalogue.prohibited_relations:
                refuse(
                    where,
                    f"refused: relation {relation!r} is family: "
                    + catalogue.prohibited.get("relatives_conduct", "family ties are never scored"),
                )
            elif relation not in catalogue.relations:
                refuse(where, f"relation {relation!r} is not in the catalogue")
    return problems


def guarded(loaded: LoadedProgram, catalogue: Catalogue) -> LoadedProgram:
    """The program itself when the guard lets it run (raises PolicyError otherwise)."""
    problems = check(loaded, catalogue)
    if problems:
        raise PolicyError(problems)
    return loaded
