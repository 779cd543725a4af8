"""Records, relations, furnishers and registry entries, and the rules for accepting them.

Every parser takes one row of the interchange format (a dict from JSON, CSV or Parquet) and
returns the domain object or raises RowError with a reason a furnisher can act on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

from socialcredit.domain import nesting
from socialcredit.domain.catalogue import RETRACTION_KIND, Catalogue
from socialcredit.domain.identifiers import InvalidIdentifier, identify

RECORD_FIELDS = (
    "subject",
    "furnisher",
    "kind",
    "occurred_at",
    "external_id",
    "value",
    "attributes",
    "evidence",
    "replaces",
)
RELATION_FIELDS = (
    "furnisher",
    "external_id",
    "subject",
    "other",
    "relation",
    "start",
    "end",
    "confirmed",
)
FURNISHER_FIELDS = ("furnisher", "type", "name")
REGISTRY_FIELDS = ("subject", "name", "region", "urban", "birth_year", "sex", "address")


Key = tuple[str, str]
"""A record's furnisher and external id: what `replaces` names, within the furnisher."""

K = TypeVar("K", bound=Hashable)


class Replaceable(Protocol):
    """What the in-force rule needs of a record: its ledger id (the order the ledger received
    records in), its key, the record it replaces, its chain and its kind."""

    @property
    def id(self) -> int: ...
    @property
    def furnisher(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def replaces(self) -> str | None: ...
    @property
    def chain(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


R = TypeVar("R", bound=Replaceable)


def chain_starts(links: Mapping[K, K], stored: Mapping[K, K | None]) -> dict[K, K]:
    """The chain of each correction in `links` (its key -> the key its `replaces` names): the
    key of the chain's first record. A correction joins the chain of the record it names: a
    stored record's (`stored`: its chain, None for an original), else, through `links`, that
    of a correction among these; a record that corrects nothing, or is unknown, starts one."""
    starts: dict[K, K] = {}
    for key in links:
        path: list[K] = []
        at = key
        while at not in starts:
            path.append(at)
            named = links[at]
            if named in stored:
                chain = stored[named]
                start = named if chain is None else chain
                break
            if named not in links or named in path:
                start = named
                break
            at = named
        else:
            start = starts[at]
        for member in path:
            starts[member] = start
    return starts


def chain_of(record: Replaceable) -> str | None:
    """The chain a record belongs to (None for an original); a correction stored without its
    chain is taken to start at the record it names."""
    return record.replaces if record.chain is None else record.chain


def superseded(records: Iterable[Replaceable]) -> set[Key]:
    """The keys of the records these put out of force: every record one of them names in
    `replaces`, and, of each chain's corrections that no record names, all but the latest
    received (the highest ledger id). Only corrections put records out of force, so only they
    are read."""
    corrections = [r for r in records if r.replaces is not None]
    named = {(r.furnisher, r.replaces) for r in corrections if r.replaces is not None}
    latest: dict[tuple[str, str | None], Replaceable] = {}
    for r in corrections:
        if (r.furnisher, r.external_id) not in named:
            chain = (r.furnisher, chain_of(r))
            best = latest.get(chain)
            if best is None or r.id > best.id:
                latest[chain] = r
    ends = {(r.furnisher, r.external_id) for r in latest.values()}
    return named | ({(r.furnisher, r.external_id) for r in corrections} - ends)


def in_force(records: Iterable[R], keep: Callable[[R], bool]) -> list[R]:
    """Records in force among those `keep` accepts (those that occurred by the day asked): a
    chain of corrections resolves to its latest received record that no record names, none
    when that is a retraction; a record nothing corrects stands. The scoring definition
    applies the same rule (engines.definition.effective_records)."""
    every = list(records)
    gone = superseded(every)
    return [
        r
        for r in every
        if (r.furnisher, r.external_id) not in gone and r.kind != RETRACTION_KIND and keep(r)
    ]


def conflict_reason(received_at: datetime) -> str:
    """Why a re-sent record (a stored furnisher and external id) with other content is refused."""
    stamp = received_at.isoformat() + "Z"
    return f"conflict: differs from the record received {stamp}; send a correction with replaces"


class RowError(ValueError):
    """A row that cannot be accepted, with the reason."""


@dataclass(frozen=True)
class Record:
    """One fact a furnisher reports about a subject. Never changed once stored."""

    subject: str
    subject_kind: str
    furnisher: str
    kind: str
    occurred_at: datetime
    external_id: str
    value: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    evidence: str | None = None
    replaces: str | None = None


@dataclass(frozen=True)
class Relation:
    """A relation between two subjects, as a furnisher reports it."""

    furnisher: str
    external_id: str
    subject: str
    subject_kind: str
    other: str
    other_kind: str
    relation: str
    start: datetime
    end: datetime | None
    confirmed: bool


@dataclass(frozen=True)
class Furnisher:
    """A data furnisher and its type, which decides the kinds it may send."""

    id: str
    type: str
    name: str


@dataclass(frozen=True)
class RegistryEntry:
    """Name, region and audit attributes of a subject: never scoring inputs."""

    subject: str
    name: str | None
    region: str | None
    urban: bool | None
    birth_year: int | None
    sex: str | None
    address: str | None = None


def _text(row: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = row.get(name)
    if type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
        return value  # the common case, without the checks below
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = None
    elif not isinstance(value, str):
        if isinstance(value, bool | dict | list):
            raise RowError(f"field {name!r} must be text")
        value = str(value)
    if value is not None:
        value = value.strip()
    if not value:
        if required:
            raise RowError(f"missing field {name!r}")
        return None
    return value


def parse_time(value: Any, name: str, now: datetime) -> datetime:
    """An ISO 8601 date or time as naive UTC; refuses times after `now`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RowError(f"field {name!r} is not an ISO 8601 date: {value!r}") from None
    elif value is None or value == "":
        raise RowError(f"missing field {name!r}")
    else:
        raise RowError(f"field {name!r} must be an ISO 8601 date, got {type(value).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment > now:
        raise RowError(f"field {name!r} is in the future: {moment.isoformat()}")
    return moment


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(f"field {name!r} must be a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise RowError(f"field {name!r} must be a number, got {value!r}") from None
    else:
        raise RowError(f"field {name!r} must be a number, got {type(value).__name__}")
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise RowError(f"field {name!r} must be finite")
    return number


def _attributes(value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == "{}":
        return {}
    # Attributes sit one level down in their record, which may nest MAX_DEPTH levels.
    inner = nesting.MAX_DEPTH - 1
    too_deep = f"field 'attributes' makes the record {nesting.too_deep_message()}"
    if isinstance(value, str):
        try:
            value = nesting.loads(value, inner)
        except nesting.TooDeep:
            raise RowError(too_deep) from None
        except json.JSONDecodeError:
            raise RowError("field 'attributes' is not valid JSON") from None
    elif nesting.too_deep(value, inner):
        raise RowError(too_deep)
    if not isinstance(value, dict):
        raise RowError("field 'attributes' must be a JSON object")
    return value


def _subject(value: Any, name: str) -> tuple[str, str]:
    try:
        return identify(value)
    except InvalidIdentifier as exc:
        raise RowError(f"field {name!r}: {exc}") from None


def parse_record(
    row: Mapping[str, Any],
    catalogue: Catalogue,
    furnisher_types: Mapping[str, str],
    now: datetime,
) -> Record:
    """Validate one interchange row into a Record (raises RowError)."""
    furnisher = _text(row, "furnisher")
    assert furnisher is not None
    kind = _text(row, "kind")
    assert kind is not None
    external_id = _text(row, "external_id")
    assert external_id is not None
    subject, subject_kind = _subject(row.get("subject"), "subject")
    ftype = furnisher_types.get(furnisher)
    if ftype is None:
        raise RowError(f"unknown furnisher {furnisher!r}: register it before it sends records")
    refusal = catalogue.may_send(ftype, kind)
    if refusal:
        raise RowError(refusal)
    replaces = _text(row, "replaces", required=False)
    if kind == RETRACTION_KIND and replaces is None:
        raise RowError("a retraction must name the record it withdraws in 'replaces'")
    if replaces == external_id:
        raise RowError("a record cannot replace itself")
    return Record(
        subject=subject,
        subject_kind=subject_kind,
        furnisher=furnisher,
        kind=kind,
        occurred_at=parse_time(row.get("occurred_at"), "occurred_at", now),
        external_id=external_id,
        value=_number(row.get("value"), "value"),
        attributes=_attributes(row.get("attributes")),
        evidence=_text(row, "evidence", required=False),
        replaces=replaces,
    )


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise RowError(f"field {name!r} must be true or false")


def parse_relation(
    row: Mapping[str, Any],
    catalogue: Catalogue,
    furnisher_types: Mapping[str, str],
    now: datetime,
) -> Relation:
    """Validate one relation row (raises RowError)."""
    furnisher = _text(row, "furnisher")
    assert furnisher is not None
    if furnisher not in furnisher_types:
        raise RowError(f"unknown furnisher {furnisher!r}: register it before it sends relations")
    relation = _text(row, "relation")
    assert relation is not None
    if relation in catalogue.prohibited_relations:
        raise RowError(
            f"relation {relation!r} is refused: {catalogue.prohibited['relatives_conduct']}"
        )
    if relation not in catalogue.relations:
        raise RowError(f"unknown relation {relation!r}")
    subject, subject_kind = _subject(row.get("subject"), "subject")
    other, other_kind = _subject(row.get("other"), "other")
    if subject == other:
        raise RowError("a subject cannot be related to itself")
    start = parse_time(row.get("start"), "start", now)
    end_raw = row.get("end")
    end = None if end_raw in (None, "") else parse_time(end_raw, "end", datetime.max)
    if end is not None and end < start:
        raise RowError("field 'end' is before 'start'")
    external_id = _text(row, "external_id")
    assert external_id is not None
    return Relation(
        furnisher=furnisher,
        external_id=external_id,
        subject=subject,
        subject_kind=subject_kind,
        other=other,
        other_kind=other_kind,
        relation=relation,
        start=start,
        end=end,
        confirmed=_bool(row.get("confirmed"), "confirmed"),
    )


def parse_furnisher(row: Mapping[str, Any], catalogue: Catalogue) -> Furnisher:
    """Validate one furnisher row (raises RowError)."""
    fid = _text(row, "furnisher")
    ftype = _text(row, "type")
    assert fid is not None and ftype is not None
    if ftype not in catalogue.furnisher_types:
        raise RowError(f"unknown furnisher type {ftype!r}")
    return Furnisher(id=fid, type=ftype, name=_text(row, "name", required=False) or fid)


def parse_registry(row: Mapping[str, Any]) -> RegistryEntry:
    """Validate one registry row (raises RowError)."""
    subject, _ = _subject(row.get("subject"), "subject")
    urban_raw = row.get("urban")
    year = _number(row.get("birth_year"), "birth_year")
    return RegistryEntry(
        subject=subject,
        name=_text(row, "name", required=False),
        region=_text(row, "region", required=False),
        urban=None if urban_raw in (None, "") else _bool(urban_raw, "urban"),
        birth_year=None if year is None else int(year),
        sex=_text(row, "sex", required=False),
        address=_text(row, "address", required=False),
    )
