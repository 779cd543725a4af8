"""Load the lists and the measures catalogue, check them against the record catalogue and the
programs, and find what `policy check` should warn about.

Errors (a measure on a list its service does not name, a prohibited category, an unknown kind,
grade or program) refuse the files. Warnings flag what is lawful to load but suspect: a service
restricted by a list from an unrelated context (the pattern EU AI Act art. 5(1)(c) forbids), a
measure heavier than its list's tier, an extension the tier's maximum display period cuts short.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.consents import PURPOSES
from socialcredit.domain.lists import ListDefinition, ListKind
from socialcredit.domain.measures import Service
from socialcredit.domain.programs import Program
from socialcredit.domain.tiers import DISPLAY_PERIODS, heavier
from socialcredit.policy.loader import (
    PolicyError,
    Problem,
    _parse,
    _problems,
    content_hash,
    locate,
    shipped_catalogue,
    shipped_programs,
)

_LISTS = TypeAdapter(dict[str, ListDefinition])
_SERVICES = TypeAdapter(dict[str, Service])


@dataclass(frozen=True)
class MeasuresCatalogue:
    """The lists and the services with their measures, under one version (a content hash of
    both files), which every decision carries."""

    lists: dict[str, ListDefinition]
    services: dict[str, Service]
    version: str
    warnings: tuple[Problem, ...] = ()

    def service(self, name: str) -> Service | None:
        return self.services.get(name)


@dataclass(frozen=True)
class _Source:
    text: str
    name: str
    data: dict[str, Any]


def _named(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The tables under `key`, each given its own name as `name`."""
    section = data.get(key, {})
    if not isinstance(section, dict):
        return {}
    return {k: {**v, "name": k} if isinstance(v, dict) else v for k, v in section.items()}


def _validate(adapter: TypeAdapter[Any], source: _Source, key: str) -> Any:
    unknown = sorted(set(source.data) - {key})
    if unknown:
        raise PolicyError(
            [Problem(source.name, None, u, f"unknown section; only [{key}.*]") for u in unknown]
        )
    try:
        return adapter.validate_python(_named(source.data, key))
    except ValidationError as exc:
        problems = []
        for problem in _problems(exc, source.text, source.name):
            loc = (key, *problem.field.split("."))
            problems.append(
                Problem(source.name, locate(source.text, loc), ".".join(loc), problem.message)
            )
        raise PolicyError(problems) from None


class _Checker:
    """Collects the problems and warnings of one catalogue, each at its file and line."""

    def __init__(self, lists: _Source, measures: _Source) -> None:
        self.lists, self.measures = lists, measures
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def _at(self, source: _Source, loc: tuple[str | int, ...], message: str) -> Problem:
        return Problem(source.name, locate(source.text, loc), ".".join(map(str, loc)), message)

    def error(self, source: _Source, loc: tuple[str | int, ...], message: str) -> None:
        self.errors.append(self._at(source, loc, message))

    def warn(self, source: _Source, loc: tuple[str | int, ...], message: str) -> None:
        self.warnings.append(self._at(source, loc, message))


def _check_kinds(
    check: _Checker,
    source: _Source,
    loc: tuple[str | int, ...],
    kinds: list[str],
    catalogue: Catalogue,
    allowed_categories: list[str] | None,
) -> None:
    for kind_name in kinds:
        kind = catalogue.kind(kind_name)
        if kind is None:
            check.error(source, loc, f"{kind_name!r} is not in the record catalogue")
        elif kind.category in catalogue.prohibited:
            check.error(
                source,
                loc,
                f"refused: {kind_name!r} is in the prohibited category {kind.category!r}: "
                f"{catalogue.prohibited[kind.category]}",
            )
        elif allowed_categories is not None and kind.category not in allowed_categories:
            check.error(
                source,
                loc,
                f"{kind_name!r} is in category {kind.category!r}, which the service does not "
                "name in categories (context binding)",
            )


def _check_program_grades(
    check: _Checker,
    source: _Source,
    loc: tuple[str | int, ...],
    program_name: str,
    grades: list[str],
    programs: dict[str, Program],
) -> None:
    program = programs.get(program_name)
    if program is None:
        check.error(source, loc, f"no program {program_name!r}; programs: {', '.join(programs)}")
        return
    known = {b.grade for b in program.bands}
    for grade in grades:
        if grade not in known:
            check.error(source, loc, f"program {program_name!r} has no grade {grade!r}")


def _check_lists(
    check: _Checker,
    lists: dict[str, ListDefinition],
    catalogue: Catalogue,
    programs: dict[str, Program],
) -> None:
    src = check.lists
    for name, d in lists.items():
        loc: tuple[str | int, ...] = ("lists", name)
        if d.category in catalogue.prohibited:
            check.error(src, (*loc, "category"), f"refused: {catalogue.prohibited[d.category]}")
        elif d.category not in catalogue.categories:
            check.error(src, (*loc, "category"), f"unknown category {d.category!r}")
        kinds = list(d.removal) + list(d.obligation)
        if d.records is not None:
            kinds += d.records.kinds
        if d.extension is not None:
            kinds.append(d.extension.kind)
        _check_kinds(check, src, loc, kinds, catalogue, None)
        if d.score is not None:
            _check_program_grades(
                check, src, (*loc, "score"), d.score.program, d.score.grades, programs
            )
        period = DISPLAY_PERIODS[d.tier]
        if d.kind is ListKind.REDLIST:
            continue  # display periods bound adverse items only
        if d.duration_months > period.maximum_months:
            check.error(
                src,
                (*loc, "duration_months"),
                f"{d.duration_months} months is past the {d.tier.value} tier's maximum display "
                f"period of {period.maximum_months} months",
            )
        elif d.extension is not None:
            longest = d.duration_months + 12 * d.extension.max_years
            if longest > period.maximum_months:
                check.warn(
                    src,
                    (*loc, "extension"),
                    f"extensions could reach {longest} months; publication stops at the "
                    f"{d.tier.value} tier's maximum of {period.maximum_months} months",
                )


def _check_services(
    check: _Checker,
    services: dict[str, Service],
    lists: dict[str, ListDefinition],
    catalogue: Catalogue,
    programs: dict[str, Program],
) -> None:
    src = check.measures
    for name, service in services.items():
        loc: tuple[str | int, ...] = ("services", name)
        for purpose in service.purposes:
            if purpose not in PURPOSES:
                check.error(src, (*loc, "purposes"), f"unknown purpose {purpose!r}")
        for category in service.categories:
            if category in catalogue.prohibited:
                check.error(src, (*loc, "categories"), f"refused: {catalogue.prohibited[category]}")
            elif category not in catalogue.categories:
                check.error(src, (*loc, "categories"), f"unknown category {category!r}")
        _check_program_grades(check, src, (*loc, "program"), service.program, [], programs)
        for list_name in service.lists:
            definition = lists.get(list_name)
            if definition is None:
                check.error(src, (*loc, "lists"), f"no list {list_name!r}")
            elif definition.category not in service.categories:
                check.warn(
                    src,
                    (*loc, "lists"),
                    f"list {list_name!r} comes from the unrelated context "
                    f"{definition.category!r} (the service's categories: "
                    f"{', '.join(service.categories) or 'none'}); punishing in one context for "
                    "conduct in another is what EU AI Act art. 5(1)(c) forbids",
                )
        for m, measure in enumerate(service.measures):
            mloc = (*loc, "measures", m)
            when = measure.when
            if when.records is not None:
                _check_kinds(
                    check, src, mloc, when.records.kinds, catalogue, list(service.categories)
                )
            if when.uses_score:
                _check_program_grades(check, src, mloc, service.program, when.grades, programs)
            definition = lists.get(when.on_list) if when.on_list else None
            if definition is not None and heavier(measure.severity, definition.tier):
                check.warn(
                    src,
                    (*mloc, "severity"),
                    f"measure {measure.id!r} is {measure.severity.value}, heavier than the "
                    f"{definition.tier.value} tier of list {definition.name!r} allows",
                )


def load_measures_text(
    lists_text: str,
    measures_text: str,
    *,
    lists_source: str = "lists.toml",
    measures_source: str = "measures.toml",
    catalogue: Catalogue | None = None,
    programs: dict[str, Program] | None = None,
) -> MeasuresCatalogue:
    """Validate the lists and measures files together (raises PolicyError)."""
    lists_src = _Source(lists_text, lists_source, _parse(lists_text, lists_source))
    measures_src = _Source(measures_text, measures_source, _parse(measures_text, measures_source))
    lists: dict[str, ListDefinition] = _validate(_LISTS, lists_src, "lists")
    services: dict[str, Service] = _validate(_SERVICES, measures_src, "services")
    catalogue = catalogue or shipped_catalogue()
    if programs is None:
        programs = {p.program.id: p.program for p in shipped_programs()}
    check = _Checker(lists_src, measures_src)
    _check_lists(check, lists, catalogue, programs)
    _check_services(check, services, lists, catalogue, programs)
    if check.errors:
        raise PolicyError(check.errors)
    version = content_hash({"lists": lists_src.data, "services": measures_src.data})
    return MeasuresCatalogue(lists, services, version, tuple(check.warnings))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None


def _shipped_text(name: str) -> str:
    return (resources.files("socialcredit.policy") / "data" / name).read_text(encoding="utf-8")


@cache
def shipped_measures() -> MeasuresCatalogue:
    """The lists and measures catalogue that ship with the platform."""
    return load_measures_text(_shipped_text("lists.toml"), _shipped_text("measures.toml"))


def load_measures(
    lists_path: Path | str | None = None,
    measures_path: Path | str | None = None,
    *,
    programs: dict[str, Program] | None = None,
) -> MeasuresCatalogue:
    """The catalogue from files (a file not given is the shipped one), checked against
    `programs` (default: the shipped ones)."""
    if lists_path is None and measures_path is None and programs is None:
        return shipped_measures()
    lists_text = _read(Path(lists_path)) if lists_path else _shipped_text("lists.toml")
    measures_text = _read(Path(measures_path)) if measures_path else _shipped_text("measures.toml")
    return load_measures_text(
        lists_text,
        measures_text,
        lists_source=str(lists_path or "lists.toml"),
        measures_source=str(measures_path or "measures.toml"),
        programs=programs,
    )
