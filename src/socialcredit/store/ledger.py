"""The ledger repository: append records, relations, furnishers and registry entries; read the
ledger back as Arrow tables for the engines.

Appends are idempotent: a row whose (furnisher, external_id) is already stored is skipped, so
re-sending a file changes nothing. Nothing here updates or deletes a record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from socialcredit.domain.records import Furnisher, Record, RegistryEntry, Relation
from socialcredit.store import tables

_BATCH = 5_000


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that skips rows whose unique key is already stored."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"the store does not support {dialect}")


def _append(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping duplicates; returns how many were new."""
    if not rows:
        return 0
    before = _count(connection, table)
    statement = _insert(connection, table)
    for start in range(0, len(rows), _BATCH):
        connection.execute(statement, list(rows[start : start + _BATCH]))
    return _count(connection, table) - before


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def furnisher_types(connection: sa.Connection) -> dict[str, str]:
    """Each registered furnisher's type, by furnisher id."""
    rows = connection.execute(sa.select(tables.furnishers.c.id, tables.furnishers.c.type))
    return {row.id: row.type for row in rows}


def add_furnishers(connection: sa.Connection, items: Iterable[Furnisher], now: datetime) -> int:
    """Register furnishers; one already registered is left as it is."""
    rows = [{"id": f.id, "type": f.type, "name": f.name, "registered_at": now} for f in items]
    return _append(connection, tables.furnishers, rows)


def _add_subjects(connection: sa.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    rows = [{"id": sid, "kind": kind} for sid, kind in dict(pairs).items()]
    if rows:
        statement = _insert(connection, tables.subjects)
        for start in range(0, len(rows), _BATCH):
            connection.execute(statement, rows[start : start + _BATCH])


def add_records(connection: sa.Connection, items: Sequence[Record], received_at: datetime) -> int:
    """Append records (and open a file for each new subject); returns how many were new."""
    _add_subjects(connection, ((r.subject, r.subject_kind) for r in items))
    rows = [
        {
            "furnisher": r.furnisher,
            "external_id": r.external_id,
            "subject": r.subject,
            "kind": r.kind,
            "occurred_at": r.occurred_at,
            "received_at": received_at,
            "value": r.value,
            "attributes": json.dumps(r.attributes, sort_keys=True, separators=(",", ":")),
            "evidence": r.evidence,
            "replaces": r.replaces,
        }
        for r in items
    ]
    return _append(connection, tables.records, rows)


def add_relations(
    connection: sa.Connection, items: Sequence[Relation], received_at: datetime
) -> int:
    """Append relations (opening files for new subjects); returns how many were new."""
    _add_subjects(
        connection,
        [(r.subject, r.subject_kind) for r in items] + [(r.other, r.other_kind) for r in items],
    )
    rows = [
        {
            "furnisher": r.furnisher,
            "external_id": r.external_id,
            "subject": r.subject,
            "other": r.other,
            "relation": r.relation,
            "start": r.start,
            "end": r.end,
            "confirmed": r.confirmed,
            "received_at": received_at,
        }
        for r in items
    ]
    return _append(connection, tables.relations, rows)


def add_registry(connection: sa.Connection, items: Sequence[RegistryEntry]) -> int:
    """Store registry entries; an entry already stored for a subject is kept."""
    rows = [
        {
            "subject": e.subject,
            "name": e.name,
            "region": e.region,
            "urban": e.urban,
            "birth_year": e.birth_year,
            "sex": e.sex,
        }
        for e in items
    ]
    return _append(connection, tables.registry, rows)


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


def _arrow(connection: sa.Connection, name: str) -> pa.Table:
    schema = LEDGER_SCHEMAS[name]
    table = tables.metadata.tables[name]
    query = sa.select(*(table.c[f] for f in schema.names))
    if name == "records":
        query = query.order_by(table.c.id)
    rows = connection.execute(query).all()
    columns: list[Sequence[Any]] = (
        list(zip(*rows, strict=True)) if rows else [[] for _ in schema.names]
    )
    return pa.table(
        [pa.array(list(col), type=field.type) for col, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def read_ledger(connection: sa.Connection) -> dict[str, pa.Table]:
    """The whole ledger as Arrow tables: subjects, records and relations."""
    return {name: _arrow(connection, name) for name in LEDGER_SCHEMAS}
