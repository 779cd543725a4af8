"""The lab's population: a ledger held as numpy columns keyed by integers, and audit attributes.

Subjects are numbered 0..n-1 in registry order. Records keep their furnisher, kind, time, value,
evidence (the case number a court judgment and its fulfilment share, for the kinds lists read)
and what they replace; their external ids are renumbered to the record id (a correction names
the record it replaces by that id, within the same furnisher, exactly as the engine resolves
it). Audit attributes (region, urban or rural, birth year, sex) are held apart from the ledger
and never reach the engine: `engine_tables` gives it only subjects, records and relations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.records import chain_starts, superseded
from socialcredit.synth.city import City

__all__ = [
    "DAY_US",
    "NO_DAY",
    "Audit",
    "Codes",
    "Population",
    "Records",
    "Relations",
    "Vocabulary",
    "chains_naming",
    "datetimes",
    "day_of",
    "engine_tables",
    "ledger_facts",
    "moment_of",
    "note_first_days",
    "out_of_force",
    "population_from_city",
    "population_from_tables",
]

DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1)
_SEP = "\x1f"


def day_of(moment: date) -> int:
    """Days since 1970-01-01."""
    return (moment - _EPOCH).days


def moment_of(day: np.ndarray | int, hour: int = 12) -> np.ndarray:
    """Microseconds since the epoch at `hour` o'clock on each day."""
    return np.asarray(day, dtype=np.int64) * DAY_US + hour * 3_600_000_000


def datetimes(moments: np.ndarray) -> list[datetime]:
    """Microseconds since the epoch as the naive UTC datetimes the platform's rules read."""
    return list(np.asarray(moments, np.int64).astype("datetime64[us]").astype(object).tolist())


class Vocabulary:
    """Names <-> small integer codes; new names get the next code."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        for name in names:
            self.code(name)

    def code(self, name: str) -> int:
        """The code of `name`, adding it when new."""
        found = self._codes.get(name)
        if found is None:
            found = len(self.names)
            self._codes[name] = found
            self.names.append(name)
        return found

    def codes(self, names: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Codes for an Arrow string column (every name is added)."""
        encoded = pc.dictionary_encode(names)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], pa.string())
            if not pa.types.is_dictionary(encoded.type):
                encoded = pc.dictionary_encode(encoded)
        mapping = np.array([self.code(n) for n in encoded.dictionary.to_pylist()], np.int64)
        index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return mapping[index] if len(mapping) else np.empty(0, np.int64)

    def get(self, name: str) -> int | None:
        """The code of `name`, or None when it is not known."""
        return self._codes.get(name)

    def array(self, codes: np.ndarray) -> pa.Array:
        """Names for codes, as an Arrow string column."""
        return pa.array(self.names, pa.string()).take(pa.array(codes.astype(np.int32)))


@dataclass
class Codes:
    """The vocabularies behind a population's codes; shared by the districts of one city so
    that a code means the same name in every district."""

    kinds: Vocabulary = field(default_factory=Vocabulary)
    furnishers: Vocabulary = field(default_factory=Vocabulary)
    relation_kinds: Vocabulary = field(default_factory=Vocabulary)
    evidence: Vocabulary = field(default_factory=Vocabulary)
    regions: Vocabulary = field(default_factory=Vocabulary)


_RECORD_COLUMNS = (
    "id", "subject", "kind", "furnisher", "time", "value", "replaces", "evidence", "chain",
)  # fmt: skip


@dataclass
class Records:
    """Ledger records as columns; `value` is NaN, `replaces`, `evidence` and `chain` -1 where
    absent.

    `evidence` codes the record's evidence (a court case number) in the population's
    `evidence` vocabulary; only records of the kinds lists read keep it. `chain` is a
    correction's chain (the id of the chain's first record), as the store keeps it."""

    id: np.ndarray
    subject: np.ndarray
    kind: np.ndarray
    furnisher: np.ndarray
    time: np.ndarray
    value: np.ndarray
    replaces: np.ndarray
    evidence: np.ndarray
    chain: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    @staticmethod
    def empty() -> Records:
        return Records.build([], [], [], [], [], [], [])

    @staticmethod
    def build(
        id: object,
        subject: object,
        kind: object,
        furnisher: object,
        time: object,
        value: object,
        replaces: object,
        evidence: object = None,
        chain: object = None,
    ) -> Records:
        ids = np.asarray(id, np.int64)
        return Records(
            id=ids,
            subject=np.asarray(subject, np.int64),
            kind=np.asarray(kind, np.int16),
            furnisher=np.asarray(furnisher, np.int16),
            time=np.asarray(time, np.int64),
            value=np.asarray(value, np.float64),
            replaces=np.asarray(replaces, np.int64),
            evidence=np.full(len(ids), -1, np.int32)
            if evidence is None
            else np.asarray(evidence, np.int32),
            chain=np.full(len(ids), -1, np.int64) if chain is None else np.asarray(chain, np.int64),
        )

    def append(self, other: Records) -> Records:
        return Records(
            *(np.concatenate([getattr(self, n), getattr(other, n)]) for n in _RECORD_COLUMNS)
        )

    def take(self, rows: np.ndarray) -> Records:
        return Records(*(getattr(self, n)[rows] for n in _RECORD_COLUMNS))

    def head(self, count: int) -> Records:
        """The first `count` records (the ledger as it stood when it had that many)."""
        return Records(*(getattr(self, n)[:count] for n in _RECORD_COLUMNS))

    @property
    def day(self) -> np.ndarray:
        return np.asarray(self.time // DAY_US, np.int64)


@dataclass
class Relations:
    """Relations as columns; `end` is -1 while a relation is open."""

    subject: np.ndarray
    other: np.ndarray
    relation: np.ndarray
    start: np.ndarray
    end: np.ndarray
    confirmed: np.ndarray

    def __len__(self) -> int:
        return len(self.subject)

    @staticmethod
    def build(
        subject: object,
        other: object,
        relation: object,
        start: object,
        end: object,
        confirmed: object,
    ) -> Relations:
        return Relations(
            subject=np.asarray(subject, np.int64),
            other=np.asarray(other, np.int64),
            relation=np.asarray(relation, np.int16),
            start=np.asarray(start, np.int64),
            end=np.asarray(end, np.int64),
            confirmed=np.asarray(confirmed, bool),
        )

    def append(self, other: Relations) -> Relations:
        names = ("subject", "other", "relation", "start", "end", "confirmed")
        return Relations(*(np.concatenate([getattr(self, n), getattr(other, n)]) for n in names))

    def copy(self) -> Relations:
        return replace(self, end=self.end.copy())

    def active(self, day: int) -> np.ndarray:
        """Relations in force on a day (started on or before it, not ended by it)."""
        start_day = self.start // DAY_US
        end_day = np.where(self.end < 0, np.iinfo(np.int64).max, self.end // DAY_US)
        return np.asarray((start_day <= day) & (end_day > day), bool)


@dataclass
class Audit:
    """Attributes kept for audits only, never scoring inputs. Codes are -1 where unknown."""

    region: np.ndarray
    regions: list[str]
    urban: np.ndarray
    birth_year: np.ndarray
    sex: np.ndarray
    sexes: list[str] = field(default_factory=lambda: ["F", "M"])

    @staticmethod
    def unknown(n: int) -> Audit:
        return Audit(
            region=np.full(n, -1, np.int16),
            regions=[],
            urban=np.full(n, -1, np.int8),
            birth_year=np.zeros(n, np.int32),
            sex=np.full(n, -1, np.int8),
        )

    def extend(self, n: int) -> Audit:
        """The same attributes for n more subjects, unknown for the new ones."""
        more = Audit.unknown(n)
        return Audit(
            region=np.concatenate([self.region, more.region]),
            regions=self.regions,
            urban=np.concatenate([self.urban, more.urban]),
            birth_year=np.concatenate([self.birth_year, more.birth_year]),
            sex=np.concatenate([self.sex, more.sex]),
            sexes=self.sexes,
        )


NO_DAY = np.iinfo(np.int64).max // 4


@dataclass
class Population:
    """A ledger with integer keys, the vocabularies behind its codes, and audit attributes.

    `records` are the records the lab reads; at scale they are only some of the engine's
    ledger (`Population.keep`), so what the lab needs of the rest is kept beside them: each
    subject's first record day (`first_day`, a large number for none), how often each
    furnisher sent each kind (`sent`, kind by furnisher code), the greatest record id and the
    number of records in the engine's ledger."""

    ids: list[str]
    person: np.ndarray
    records: Records
    relations: Relations
    kinds: Vocabulary
    furnishers: Vocabulary
    relation_kinds: Vocabulary
    audit: Audit
    as_of: date
    evidence: Vocabulary = field(default_factory=Vocabulary)
    first_day: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    sent: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    last_id: int = 0
    ledger_records: int = 0

    @property
    def n(self) -> int:
        return len(self.ids)

    def next_record_id(self) -> int:
        held = int(self.records.id.max()) if len(self.records) else 0
        return max(held, self.last_id) + 1

    def sender(self, kind: int) -> int | None:
        """The furnisher that most often sent records of this kind, or None."""
        if kind >= len(self.sent) or not self.sent[kind].any():
            return None
        return int(self.sent[kind].argmax())

    def keep(self, kinds: Iterable[str]) -> Population:
        """The same population holding only records of these kinds and records that replace
        another (corrections, retractions): what the lab reads, at any scale."""
        codes = [c for k in kinds if (c := self.kinds.get(k)) is not None]
        records = self.records
        wanted = np.isin(records.kind, codes) | (records.replaces >= 0)
        return replace(self, records=records.take(np.flatnonzero(wanted)))


class _Link(NamedTuple):
    """A correction as the in-force rule reads it (the lab's external ids are record ids, which
    no two furnishers share, so one furnisher name serves)."""

    id: int
    furnisher: str
    external_id: str
    replaces: str | None
    chain: str | None
    kind: str


def out_of_force(records: Records) -> np.ndarray:
    """Which records are out of force (domain.records.superseded), read from the corrections
    and retractions: only they put records out of force, so only they are turned into objects."""
    rows = np.flatnonzero(records.replaces >= 0)
    columns = zip(
        records.id[rows].tolist(),
        records.replaces[rows].tolist(),
        records.chain[rows].tolist(),
        strict=True,
    )
    links = [_Link(i, "", str(i), str(r), None if c < 0 else str(c), "") for i, r, c in columns]
    gone = np.array(sorted(int(e) for _, e in superseded(links)), np.int64)
    return np.isin(records.id, gone)


def _chains(record_id: np.ndarray, replaces: np.ndarray) -> np.ndarray:
    """Each record's chain (domain.records.chain_starts), -1 for a record that replaces none."""
    rows = np.flatnonzero(replaces >= 0)
    links = dict(zip(record_id[rows].tolist(), replaces[rows].tolist(), strict=True))
    starts = chain_starts(links, {})
    chain = np.full(len(record_id), -1, np.int64)
    chain[rows] = [starts[i] for i in record_id[rows].tolist()]
    return chain


def chains_naming(records: Records, rows: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """The chains of new records (`new_ids`) that name these rows of `records`, one each
    (domain.records.chain_starts: a named record's chain, or its id when it starts one)."""
    named = records.id[rows].tolist()
    stored = {
        i: None if c < 0 else c for i, c in zip(named, records.chain[rows].tolist(), strict=True)
    }
    links = dict(zip(new_ids.tolist(), named, strict=True))
    starts = chain_starts(links, stored)
    return np.array([starts[i] for i in new_ids.tolist()], np.int64)


class LedgerFacts(NamedTuple):
    """What a population keeps of its whole ledger (see `Population`)."""

    first_day: np.ndarray
    sent: np.ndarray
    last_id: int
    ledger_records: int


def note_first_days(first_day: np.ndarray, records: Records, retraction: int | None) -> None:
    """Lower each subject's first record day to its earliest record among these; a retraction
    (`retraction` is its kind's code) is no record of the subject's own."""
    live = records.kind != (-1 if retraction is None else retraction)
    np.minimum.at(first_day, records.subject[live], records.day[live])


def ledger_facts(records: Records, n: int, retraction: int | None) -> LedgerFacts:
    """The facts of a whole ledger; `retraction` is the retraction kind's code."""
    first = np.full(n, NO_DAY, np.int64)
    note_first_days(first, records, retraction)
    kinds = int(records.kind.max()) + 1 if len(records) else 0
    furnishers = int(records.furnisher.max()) + 1 if len(records) else 0
    sent = np.bincount(
        records.kind.astype(np.int64) * max(furnishers, 1) + records.furnisher,
        minlength=kinds * max(furnishers, 1),
    ).reshape(kinds, max(furnishers, 1))
    last_id = int(records.id.max()) if len(records) else 0
    return LedgerFacts(first, sent, last_id, len(records))


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name)


def _index(values: pa.ChunkedArray | pa.Array, keys: pa.Array, what: str) -> np.ndarray:
    found = pc.fill_null(pc.index_in(values, value_set=keys), -1)
    codes = np.asarray(found.to_numpy(zero_copy_only=False), np.int64)
    if (codes < 0).any():
        raise ValueError(f"{what} names a subject that is not in the subjects table")
    return codes


def _times(column: pa.ChunkedArray) -> np.ndarray:
    cast = pc.cast(column, pa.timestamp("us")).cast(pa.int64())
    return np.asarray(pc.fill_null(cast, -1).to_numpy(zero_copy_only=False), np.int64)


def _audit(registry: pa.Table | None, ids: pa.Array, regions: Vocabulary) -> Audit:
    n = len(ids)
    audit = Audit.unknown(n)
    if registry is None or registry.num_rows == 0:
        return audit
    rows = np.asarray(
        pc.fill_null(
            pc.index_in(ids, value_set=registry.column("subject").combine_chunks()), -1
        ).to_numpy(zero_copy_only=False),
        np.int64,
    )
    have = rows >= 0
    at = rows[have]
    region = regions.codes(pc.fill_null(registry.column("region"), "unknown"))
    audit.region[have] = region[at]
    audit.regions = regions.names
    urban = registry.column("urban")
    urban_code = np.where(
        pc.is_null(urban).to_numpy(zero_copy_only=False),
        -1,
        pc.fill_null(urban, False).to_numpy(zero_copy_only=False).astype(np.int8),
    )
    audit.urban[have] = urban_code[at]
    year = pc.fill_null(registry.column("birth_year"), 0).to_numpy(zero_copy_only=False)
    audit.birth_year[have] = np.asarray(year, np.int32)[at]
    sex = pc.fill_null(registry.column("sex"), "").to_numpy(zero_copy_only=False)
    sex_code = np.select([sex == "F", sex == "M"], [0, 1], -1).astype(np.int8)
    audit.sex[have] = sex_code[at]
    return audit


def _evidence(rec: pa.Table, kinds: Iterable[str] | None, vocabulary: Vocabulary) -> np.ndarray:
    """Evidence codes of records of these kinds (every kind when None), -1 elsewhere."""
    codes = np.full(rec.num_rows, -1, np.int64)
    if "evidence" not in rec.column_names or rec.num_rows == 0:
        return codes
    wanted = pc.is_valid(rec.column("evidence"))
    if kinds is not None:
        chosen = pa.array(sorted(set(kinds)), pa.string())
        wanted = pc.and_(wanted, pc.is_in(rec.column("kind"), value_set=chosen))
    keep = np.asarray(pc.fill_null(wanted, False).to_numpy(zero_copy_only=False), bool)
    if keep.any():
        codes[keep] = vocabulary.codes(pc.filter(rec.column("evidence"), wanted))
    return codes


def population_from_tables(
    tables: dict[str, pa.Table],
    as_of: date,
    registry: pa.Table | None = None,
    evidence_kinds: Iterable[str] | None = None,
    codes: Codes | None = None,
) -> Population:
    """A population from ledger tables with text ids (LEDGER_SCHEMAS or a city's columns),
    coded with `codes` (new vocabularies when None).

    `records` needs furnisher, external_id, subject, kind, occurred_at, value and replaces
    (an `id` column is kept when present, and an `evidence` column for the records of
    `evidence_kinds`, or of every kind when None); `relations` needs subject, other, relation,
    start, end and confirmed.
    """
    subjects = tables["subjects"]
    ids = subjects.column("id").combine_chunks()
    person = np.asarray(pc.equal(subjects.column("kind"), "person").to_numpy(), bool)

    rec = tables["records"]
    n = rec.num_rows
    codes = codes or Codes()
    kinds, furnishers, relation_kinds = codes.kinds, codes.furnishers, codes.relation_kinds
    evidence = codes.evidence
    if "id" in rec.column_names:
        record_id = np.asarray(rec.column("id").to_numpy(), np.int64)
    else:
        record_id = np.arange(1, n + 1, dtype=np.int64)
    furnisher = _column(rec, "furnisher")
    key = pc.binary_join_element_wise(furnisher, _column(rec, "external_id"), _SEP)
    wanted = pc.binary_join_element_wise(furnisher, _column(rec, "replaces"), _SEP)
    target = np.asarray(
        pc.fill_null(pc.index_in(wanted, value_set=key.combine_chunks()), -1).to_numpy(
            zero_copy_only=False
        ),
        np.int64,
    )
    replaces = np.where(target >= 0, record_id[np.maximum(target, 0)], -1) if n else target
    value = pc.fill_null(pc.cast(_column(rec, "value"), pa.float64()), float("nan"))
    records = Records.build(
        record_id,
        _index(_column(rec, "subject"), ids, "a record"),
        kinds.codes(_column(rec, "kind")),
        furnishers.codes(furnisher),
        _times(_column(rec, "occurred_at")),
        value.to_numpy(zero_copy_only=False) if n else np.empty(0),
        replaces,
        _evidence(rec, evidence_kinds, evidence),
        _chains(record_id, replaces),
    )
    rel = tables["relations"]
    relations = Relations.build(
        _index(_column(rel, "subject"), ids, "a relation"),
        _index(_column(rel, "other"), ids, "a relation"),
        relation_kinds.codes(_column(rel, "relation")),
        _times(_column(rel, "start")),
        _times(_column(rel, "end")),
        pc.fill_null(_column(rel, "confirmed"), False).to_numpy(zero_copy_only=False)
        if rel.num_rows
        else np.empty(0, bool),
    )
    return Population(
        ids=ids.to_pylist(),
        person=person,
        records=records,
        relations=relations,
        kinds=kinds,
        furnishers=furnishers,
        relation_kinds=relation_kinds,
        audit=_audit(registry, ids, codes.regions),
        as_of=as_of,
        evidence=evidence,
        **ledger_facts(records, len(ids), kinds.get(RETRACTION_KIND))._asdict(),
    )


def population_from_city(
    city: City, evidence_kinds: Iterable[str] | None = None, codes: Codes | None = None
) -> Population:
    """The population of a generated city, as of the day the city was generated for; records
    of `evidence_kinds` (every kind when None) keep their evidence."""
    if city.as_of is None:
        raise ValueError("the city needs an as-of date")
    registry = city.registry
    kind = pc.if_else(pc.is_valid(registry.column("birth_year")), "person", "organisation")
    subjects = pa.table({"id": registry.column("subject"), "kind": kind})
    columns = ["furnisher", "external_id", "subject", "kind", "occurred_at", "value"]
    columns += ["replaces", "evidence"]
    records = pa.concat_tables(t.select(columns) for t in city.records.values())
    tables = {"subjects": subjects, "records": records, "relations": city.relations}
    return population_from_tables(tables, city.as_of, registry, evidence_kinds, codes)


def engine_tables(population: Population) -> dict[str, pa.Table]:
    """The three ledger tables the engine reads, keyed by integers; no audit attribute."""
    return {
        "subjects": subject_table(population, 0, population.n),
        "records": record_table(population.records, population),
        "relations": relation_table(population.relations, population),
    }


def subject_table(population: Population, first: int, stop: int) -> pa.Table:
    kinds = pc.if_else(pa.array(population.person[first:stop]), "person", "organisation")
    return pa.table({"id": pa.array(np.arange(first, stop, dtype=np.int64)), "kind": kinds})


def record_table(records: Records, population: Population) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(records.id),
            "furnisher": population.furnishers.array(records.furnisher),
            "external_id": pa.array(records.id),
            "subject": pa.array(records.subject),
            "kind": population.kinds.array(records.kind),
            "occurred_at": pa.array(records.time, pa.timestamp("us")),
            "value": pa.array(records.value, pa.float64(), mask=np.isnan(records.value)),
            "replaces": pa.array(records.replaces, pa.int64(), mask=records.replaces < 0),
            "chain": pa.array(records.chain, pa.int64(), mask=records.chain < 0),
        }
    )


def relation_table(relations: Relations, population: Population) -> pa.Table:
    return pa.table(
        {
            "subject": pa.array(relations.subject),
            "other": pa.array(relations.other),
            "relation": population.relation_kinds.array(relations.relation),
            "start": pa.array(relations.start, pa.timestamp("us")),
            "end": pa.array(
                np.maximum(relations.end, 0), pa.timestamp("us"), mask=relations.end < 0
            ),
            "confirmed": pa.array(relations.confirmed, pa.bool_()),
        }
    )
