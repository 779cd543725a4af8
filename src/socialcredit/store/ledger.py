"""The ledger repository: append records, relations, furnishers and registry entries; read the
ledger back as Arrow tables for the engines.

Appends are idempotent: a row whose (furnisher, external_id) is already stored with the same
content is skipped, so re-sending a file changes nothing; one with other content is a conflict,
refused with the reason. Nothing here updates or deletes a record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from socialcredit.domain.records import (
    Furnisher,
    Key,
    Record,
    RegistryEntry,
    Relation,
    chain_starts,
    conflict_reason,
)
from socialcredit.store import tables
from socialcredit.store.bulk import append_new, append_rows, time_writer


def _json(attributes: dict[str, Any]) -> str:
    """Attributes as canonical JSON text, so the same record stores the same bytes."""
    return json.dumps(attributes, sort_keys=True, separators=(",", ":")) if attributes else "{}"


def furnisher_types(connection: sa.Connection) -> dict[str, str]:
    """Each registered furnisher's type, by furnisher id."""
    rows = connection.execute(sa.select(tables.furnishers.c.id, tables.furnishers.c.type))
    return {row.id: row.type for row in rows}


def add_furnishers(connection: sa.Connection, items: Iterable[Furnisher], now: datetime) -> int:
    """Register furnishers; one already registered is left as it is."""
    at = time_writer(connection)(now)
    rows = [(f.id, f.type, f.name, at) for f in items]
    return append_rows(connection, tables.furnishers, ("id", "type", "name", "registered_at"), rows)


def _add_subjects(connection: sa.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    append_rows(connection, tables.subjects, ("id", "kind"), list(dict(pairs).items()))


RECORD_COLUMNS = (
    "furnisher", "external_id", "subject", "kind", "occurred_at", "received_at", "value",
    "attributes", "evidence", "replaces", "chain",
)  # fmt: skip
RELATION_COLUMNS = (
    "furnisher", "external_id", "subject", "other", "relation", "start", "end", "confirmed",
    "received_at",
)  # fmt: skip
REGISTRY_COLUMNS = ("subject", "name", "region", "urban", "birth_year", "sex", "address")


@dataclass(frozen=True)
class Appended:
    """What appending records did: how many were new, and each conflict (a stored furnisher and
    external id sent with other content) as its position among the items and the reason."""

    new: int
    conflicts: list[tuple[int, str]] = field(default_factory=list)


_R = tables.records
_CHUNK_KEYS = 500


def _stored(
    connection: sa.Connection, keys: Iterable[Key], *columns: sa.ColumnElement[Any]
) -> dict[Key, sa.Row[Any]]:
    """Stored records with these keys, by key: their furnisher, external id and `columns`."""
    by_furnisher: dict[str, list[str]] = {}
    for furnisher, external_id in set(keys):
        by_furnisher.setdefault(furnisher, []).append(external_id)
    found: dict[Key, sa.Row[Any]] = {}
    for furnisher, ids in sorted(by_furnisher.items()):
        ids.sort()
        for start in range(0, len(ids), _CHUNK_KEYS):
            query = sa.select(_R.c.furnisher, _R.c.external_id, *columns).where(
                _R.c.furnisher == furnisher, _R.c.external_id.in_(ids[start : start + _CHUNK_KEYS])
            )
            found.update(
                ((row.furnisher, row.external_id), row) for row in connection.execute(query)
            )
    return found


def _chains(connection: sa.Connection, items: Sequence[Record]) -> dict[Key, str]:
    """The chain of each correction among the items (domain.records.chain_starts), through
    these items and the records stored before: the external id of its chain's first record."""
    links: dict[Key, Key] = {}
    seen: set[Key] = set()
    for r in items:
        key = (r.furnisher, r.external_id)
        if key not in seen:  # a repeated key is skipped, so only its first row counts
            seen.add(key)
            if r.replaces is not None:
                links[key] = (r.furnisher, r.replaces)
    if not links:
        return {}
    rows = _stored(connection, links.values(), _R.c.chain)
    stored = {
        key: None if row.chain is None else (row.furnisher, row.chain) for key, row in rows.items()
    }
    return {key: start[1] for key, start in chain_starts(links, stored).items()}


# What a record says, as positions in RECORD_COLUMNS: subject, kind, occurred_at, value,
# attributes, evidence and replaces.
_CONTENT = itemgetter(2, 3, 4, 6, 7, 8, 9)
_CONTENT_SQL = (
    "SELECT furnisher, external_id, received_at, subject, kind, occurred_at, value, attributes, "
    "evidence, replaces FROM records WHERE furnisher = {0} AND "
)
_CHUNK_CONTENT = 5_000


def _stored_content(connection: sa.Connection, keys: Iterable[Key]) -> dict[Key, Sequence[Any]]:
    """The stored records with these keys as the driver hands them back (furnisher, external
    id, receipt time, then their content): the values as they were written, so no conversion
    stands between the two."""
    by_furnisher: dict[str, list[str]] = {}
    for furnisher, external_id in set(keys):
        by_furnisher.setdefault(furnisher, []).append(external_id)
    sqlite = connection.dialect.name == "sqlite"
    marker = "?" if sqlite else "%s"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    found: dict[Key, Sequence[Any]] = {}
    try:
        for furnisher, ids in sorted(by_furnisher.items()):
            for start in range(0, len(ids), _CHUNK_CONTENT):
                part = ids[start : start + _CHUNK_CONTENT]
                if sqlite:
                    within = f"external_id IN ({', '.join(marker for _ in part)})"
                    cursor.execute(_CONTENT_SQL.format(marker) + within, (furnisher, *part))
                else:  # one array parameter: PostgreSQL plans a long IN list slowly
                    cursor.execute(
                        _CONTENT_SQL.format(marker) + "external_id = ANY(%s)", (furnisher, part)
                    )
                found.update(((row[0], row[1]), row) for row in cursor.fetchall())
    finally:
        cursor.close()
    return found


def _received(value: Any) -> datetime:
    """A receipt time as the driver hands it back (SQLite: the text it was written as)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _conflicts(
    connection: sa.Connection, rows: Sequence[Sequence[Any]], skipped: list[int]
) -> list[tuple[int, str]]:
    """The skipped rows whose content differs from the stored record of their key."""
    keys = [(rows[i][0], rows[i][1]) for i in skipped]
    stored = _stored_content(connection, keys)
    found = []
    for i, key in zip(skipped, keys, strict=True):
        row = stored[key]
        if _CONTENT(rows[i]) != tuple(row[3:]):
            found.append((i, conflict_reason(_received(row[2]))))
    return found


def add_records(
    connection: sa.Connection, items: Sequence[Record], received_at: datetime
) -> Appended:
    """Append records (and open a file for each new subject), each correction with its chain;
    a re-sent record is skipped, or refused as a conflict when its content differs."""
    _add_subjects(connection, ((r.subject, r.subject_kind) for r in items))
    time = time_writer(connection)
    received = time(received_at)
    chains = _chains(connection, items)
    rows = [
        (
            r.furnisher,
            r.external_id,
            r.subject,
            r.kind,
            time(r.occurred_at),
            received,
            r.value,
            _json(r.attributes),
            r.evidence,
            r.replaces,
            None if r.replaces is None else chains.get((r.furnisher, r.external_id)),
        )
        for r in items
    ]
    skipped = append_new(connection, tables.records, RECORD_COLUMNS, rows, RECORD_COLUMNS[:2])
    conflicts = _conflicts(connection, rows, skipped) if skipped else []
    return Appended(len(items) - len(skipped), conflicts)


def add_relations(
    connection: sa.Connection, items: Sequence[Relation], received_at: datetime
) -> int:
    """Append relations (opening files for new subjects); returns how many were new."""
    _add_subjects(
        connection,
        [(r.subject, r.subject_kind) for r in items] + [(r.other, r.other_kind) for r in items],
    )
    time = time_writer(connection)
    received = time(received_at)
    rows = [
        (
            r.furnisher,
            r.external_id,
            r.subject,
            r.other,
            r.relation,
            time(r.start),
            None if r.end is None else time(r.end),
            r.confirmed,
            received,
        )
        for r in items
    ]
    return append_rows(connection, tables.relations, RELATION_COLUMNS, rows)


def add_registry(connection: sa.Connection, items: Sequence[RegistryEntry]) -> int:
    """Store registry entries; an entry already stored for a subject is kept."""
    rows = [(e.subject, e.name, e.region, e.urban, e.birth_year, e.sex, e.address) for e in items]
    return append_rows(connection, tables.registry, REGISTRY_COLUMNS, rows)


LEDGER_SCHEMAS = {
    "subjects": pa.schema([("id", pa.string()), ("kind", pa.string())]),
    "records": pa.schema(
        [
            ("id", pa.int64()),
            ("furnisher", pa.string()),
            ("external_id", pa.string()),
            ("subject", pa.string()),
            ("kind", pa.string()),
            ("occurred_at", pa.timestamp("us")),
            ("value", pa.float64()),
            ("replaces", pa.string()),
            ("chain", pa.string()),
        ]
    ),
    "relations": pa.schema(
        [
            ("subject", pa.string()),
            ("other", pa.string()),
            ("relation", pa.string()),
            ("start", pa.timestamp("us")),
            ("end", pa.timestamp("us")),
            ("confirmed", pa.bool_()),
        ]
    ),
}


def _column(values: Sequence[Any], field: pa.Field) -> pa.Array:
    """One column from driver values; SQLite hands back times as text and booleans as 0/1."""
    if pa.types.is_timestamp(field.type) or pa.types.is_boolean(field.type):
        raw = pa.array(values)
        return raw if raw.type == field.type else raw.cast(field.type)
    return pa.array(values, type=field.type)


def _arrow(
    connection: sa.Connection,
    name: str,
    where: str = "",
    params: Sequence[Any] = (),
    chunk: int = 200_000,
) -> pa.Table:
    """One ledger table as Arrow, read through the driver in chunks."""
    schema = LEDGER_SCHEMAS[name]
    quote = connection.dialect.identifier_preparer.quote
    sql = f"SELECT {', '.join(quote(n) for n in schema.names)} FROM {quote(name)} {where}"
    if name == "records":
        sql += " ORDER BY id"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    batches = []
    try:
        cursor.execute(sql, tuple(params))
        while rows := cursor.fetchmany(chunk):
            columns = zip(*rows, strict=True)
            arrays = [_column(c, f) for c, f in zip(columns, schema, strict=True)]
            batches.append(pa.record_batch(arrays, schema=schema))
    finally:
        cursor.close()
    return pa.Table.from_batches(batches, schema=schema)


def read_ledger(connection: sa.Connection) -> dict[str, pa.Table]:
    """The whole ledger as Arrow tables: subjects, records and relations."""
    return {name: _arrow(connection, name) for name in LEDGER_SCHEMAS}


_CHUNK = 5_000


def neighbours(connection: sa.Connection, subjects: Iterable[str]) -> set[str]:
    """Subjects related to any of `subjects` (in either direction), besides themselves."""
    rel = tables.relations
    ids = sorted(set(subjects))
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        found.update(
            connection.execute(sa.select(rel.c.other).where(rel.c.subject.in_(part))).scalars()
        )
        found.update(
            connection.execute(sa.select(rel.c.subject).where(rel.c.other.in_(part))).scalars()
        )
    return found - set(ids)


def read_ledger_of(connection: sa.Connection, subjects: Iterable[str]) -> dict[str, pa.Table]:
    """The part of the ledger about some subjects: their records, and relations among them."""
    ids = sorted(set(subjects))
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    parts: dict[str, list[pa.Table]] = {name: [] for name in LEDGER_SCHEMAS}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        within = ", ".join(marker for _ in part)
        parts["subjects"].append(_arrow(connection, "subjects", f"WHERE id IN ({within})", part))
        parts["records"].append(_arrow(connection, "records", f"WHERE subject IN ({within})", part))
    member = set(ids)
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        within = ", ".join(marker for _ in part)
        rels = _arrow(connection, "relations", f"WHERE subject IN ({within})", part)
        keep = [other in member for other in rels.column("other").to_pylist()]
        parts["relations"].append(rels.filter(pa.array(keep, type=pa.bool_())))
    return {
        name: pa.concat_tables(tables_) if tables_ else LEDGER_SCHEMAS[name].empty_table()
        for name, tables_ in parts.items()
    }


def has_records(connection: sa.Connection) -> bool:
    """Whether the ledger holds any record at all (without counting them)."""
    first = connection.execute(sa.select(tables.records.c.id).limit(1)).first()
    return first is not None
