"""The record catalogue: kinds of records, their categories, and who may send them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from socialcredit.domain.tiers import TIERS, Tier

RETRACTION_KIND = "record.retracted"
REPORT_FURNISHER_TYPE = "verified_report"
"""The furnisher type of records that adjudicated reports establish."""


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: its category, the furnisher types allowed to send it, and for an
    adverse kind its severity tier (which bounds how long it is shown; positive kinds have
    none)."""

    name: str
    category: str
    furnishers: tuple[str, ...]
    description: str = ""
    value: str | None = None
    tier: Tier | None = None
    reportable: bool = False  # a subject may report another's breach of this kind


@dataclass(frozen=True)
class Catalogue:
    """Record kinds, categories, furnisher types and relation types, with what is prohibited."""

    kinds: dict[str, RecordKind]
    categories: dict[str, str]
    prohibited: dict[str, str]
    furnisher_types: dict[str, str]
    relations: tuple[str, ...]
    prohibited_relations: tuple[str, ...] = field(default=())

    def kind(self, name: str) -> RecordKind | None:
        """The kind called `name`, or None."""
        return self.kinds.get(name)

    def tier(self, kind_name: str) -> Tier | None:
        """The severity tier of an adverse kind; None for positive, administrative or unknown."""
        kind = self.kinds.get(kind_name)
        return None if kind is None else kind.tier

    def refusal(self, kind_name: str) -> str | None:
        """Why a kind may never be scored or sent, or None when it may."""
        kind = self.kinds.get(kind_name)
        if kind is None:
            return None
        return self.prohibited.get(kind.category)

    def may_send(self, furnisher_type: str, kind_name: str) -> str | None:
        """None when a furnisher of this type may send this kind, else why not."""
        kind = self.kinds.get(kind_name)
        if kind is None:
            return f"unknown record kind {kind_name!r}"
        refusal = self.prohibited.get(kind.category)
        if refusal:
            return f"kind {kind_name!r} is refused: {refusal}"
        if kind.name == RETRACTION_KIND:
            return None
        if furnisher_type not in kind.furnishers:
            return f"a {furnisher_type} furnisher may not send {kind_name!r}"
        return None

    def reportable_kinds(self) -> list[str]:
        """Kinds a subject may report another subject for (never a prohibited category)."""
        return sorted(
            k.name
            for k in self.kinds.values()
            if k.reportable and k.category not in self.prohibited
        )

    def scorable_kinds(self) -> list[str]:
        """Kinds a program may score: known, not prohibited, not administrative."""
        return sorted(
            k.name
            for k in self.kinds.values()
            if k.category not in self.prohibited and k.name != RETRACTION_KIND
        )


def _reportable(name: str, spec: dict[str, Any], category: str, prohibited: dict[str, str]) -> bool:
    """Whether reports may establish a kind: never one of a prohibited category, and only one
    that the verified_report furnisher type may send."""
    reportable = spec.get("reportable", False)
    if not isinstance(reportable, bool):
        raise ValueError(f"kind {name!r}: reportable must be true or false")
    if reportable and category in prohibited:
        raise ValueError(
            f"kind {name!r} is in the prohibited category {category!r}: never reportable"
        )
    if reportable and REPORT_FURNISHER_TYPE not in spec.get("furnishers", []):
        raise ValueError(
            f"reportable kind {name!r} must list {REPORT_FURNISHER_TYPE!r} as a furnisher"
        )
    return reportable


def _tier(name: str, category: str, value: object, prohibited: dict[str, str]) -> Tier | None:
    """A kind's severity tier, checked: known, and only on kinds that can be sent and scored."""
    if value is None:
        return None
    if value not in TIERS:
        raise ValueError(f"kind {name!r} has unknown tier {value!r}; tiers: {', '.join(TIERS)}")
    if name == RETRACTION_KIND or category in prohibited:
        raise ValueError(f"kind {name!r} cannot have a tier: it is never shown or scored")
    return Tier(str(value))


def catalogue_from_dict(data: dict[str, object]) -> Catalogue:
    """Build a catalogue from its parsed file, checking that it is self-consistent."""
    categories = dict(data.get("categories", {}))  # type: ignore[call-overload]
    prohibited = dict(data.get("prohibited", {}))  # type: ignore[call-overload]
    furnisher_types = dict(data.get("furnisher_types", {}))  # type: ignore[call-overload]
    relations = dict(data.get("relations", {}))  # type: ignore[call-overload]
    kinds: dict[str, RecordKind] = {}
    for name, spec in dict(data.get("kinds", {})).items():  # type: ignore[call-overload]
        category = spec["category"]
        if category not in categories and category not in prohibited:
            raise ValueError(f"kind {name!r} has unknown category {category!r}")
        for ftype in spec.get("furnishers", []):
            if ftype not in furnisher_types:
                raise ValueError(f"kind {name!r} names unknown furnisher type {ftype!r}")
        kinds[name] = RecordKind(
            name=name,
            category=category,
            furnishers=tuple(spec.get("furnishers", [])),
            description=spec.get("description", ""),
            value=spec.get("value"),
            tier=_tier(name, category, spec.get("tier"), prohibited),
            reportable=_reportable(name, spec, category, prohibited),
        )
    return Catalogue(
        kinds=kinds,
        categories=categories,
        prohibited=prohibited,
        furnisher_types=furnisher_types,
        relations=tuple(relations.get("allowed", [])),
        prohibited_relations=tuple(relations.get("prohibited", [])),
    )
