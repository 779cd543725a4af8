"""Test helpers shared by test modules: valid identifiers, interchange rows, files and stores."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from socialcredit.domain.identifiers import resident_id_check, uscc_check
from socialcredit.domain.records import (
    FURNISHER_FIELDS,
    RECORD_FIELDS,
    REGISTRY_FIELDS,
    RELATION_FIELDS,
)
from socialcredit.services.enrolments import issue_enrolment, operator, redeem_enrolment
from socialcredit.services.principals import NewPrincipal
from socialcredit.store.database import connect, migrate

# A fixed "now" for ingest tests: every default time below lies before it.
NOW = datetime(2026, 6, 30, 12, 0, 0)

# (furnisher id, furnisher type, name)
FURNISHERS: tuple[tuple[str, str, str], ...] = (
    ("bank-a", "lender", "Bank A"),
    ("court-a", "court", "Court A"),
    ("tax-a", "tax_bureau", "Tax Bureau A"),
    ("shop-a", "shop", "Shop A"),
)


def resident_id(n: int) -> str:
    """A valid resident ID, distinct for each n from 0 to about 18 million."""
    born = date(1960, 1, 1) + timedelta(days=n // 1000)
    prefix = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return prefix + resident_id_check(prefix)


def uscc(n: int) -> str:
    """A valid Unified Social Credit Code, distinct for each n below 10 million."""
    prefix = f"91110105MA{n:07d}"
    return prefix + uscc_check(prefix)


def bad_check(identifier: str) -> str:
    """The identifier with a wrong check character."""
    wrong = "1" if identifier[-1] != "1" else "2"
    return identifier[:-1] + wrong


def record_row(**overrides: Any) -> dict[str, Any]:
    """A valid record row (bank-a reports a loan repaid on time), with fields overridden."""
    row: dict[str, Any] = {
        "subject": resident_id(1),
        "furnisher": "bank-a",
        "kind": "loan.repaid_on_time",
        "occurred_at": "2026-01-15T10:00:00",
        "external_id": "r-1",
        "value": None,
        "attributes": None,
        "evidence": None,
        "replaces": None,
    }
    row.update(overrides)
    return row


def relation_row(**overrides: Any) -> dict[str, Any]:
    """A valid relation row (bank-a: a confirmed guarantor), with fields overridden."""
    row: dict[str, Any] = {
        "furnisher": "bank-a",
        "external_id": "g-1",
        "subject": resident_id(1),
        "other": resident_id(2),
        "relation": "guarantor",
        "start": "2025-03-01T00:00:00",
        "end": None,
        "confirmed": True,
    }
    row.update(overrides)
    return row


def registry_row(**overrides: Any) -> dict[str, Any]:
    """A valid registry row, with fields overridden."""
    row: dict[str, Any] = {
        "subject": resident_id(1),
        "name": "Wang Wei",
        "region": "Rongcheng",
        "urban": True,
        "birth_year": 1960,
        "sex": "M",
    }
    row.update(overrides)
    return row


def furnisher_rows(furnishers: Iterable[tuple[str, str, str]] = FURNISHERS) -> list[dict[str, Any]]:
    """Rows of a furnishers file."""
    return [{"furnisher": f, "type": t, "name": n} for f, t, n in furnishers]


COLUMNS = {
    "records": RECORD_FIELDS,
    "relations": RELATION_FIELDS,
    "furnishers": FURNISHER_FIELDS,
    "registry": REGISTRY_FIELDS,
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _arrow_column(values: list[Any]) -> pa.Array:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, datetime) for v in present):
        return pa.array(values, pa.timestamp("us"))
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.float64())
    return pa.array([None if v is None else _cell(v) for v in values], pa.string())


def write_rows(
    path: Path,
    rows: Sequence[Mapping[str, Any] | str],
    columns: Sequence[str] | None = None,
) -> Path:
    """Write rows to a CSV, NDJSON or Parquet file, by the path's extension.

    A str item is written as a raw line (NDJSON only), to test lines that are not rows.
    Columns default to the union of the rows' keys, in order of appearance. In Parquet, a
    column whose values are all datetimes becomes a timestamp, all booleans a boolean, all
    numbers a float; any other column is text (dicts as JSON text).
    """
    path = Path(path)
    if columns is None:
        names: dict[str, None] = {}
        for row in rows:
            if not isinstance(row, str):
                names.update(dict.fromkeys(row))
        columns = list(names)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                if isinstance(row, str):
                    raise ValueError("raw lines are only for NDJSON")
                writer.writerow([_cell(row.get(c)) for c in columns])
    elif suffix in (".ndjson", ".jsonl", ".json"):
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                if isinstance(row, str):
                    handle.write(row + "\n")
                else:
                    data = {c: row[c] for c in columns if c in row}
                    handle.write(json.dumps(data, default=_json_default) + "\n")
    elif suffix == ".parquet":
        dicts = [r for r in rows if not isinstance(r, str)]
        if len(dicts) != len(rows):
            raise ValueError("raw lines are only for NDJSON")
        table = pa.table({c: _arrow_column([r.get(c) for r in dicts]) for c in columns})
        pq.write_table(table, path)
    else:
        raise ValueError(f"unknown extension {suffix!r}")
    return path


_BACKEND: dict[str, str | None] = {"name": "sqlite", "server": None}


def use_backend(name: str, server: str | None) -> None:
    """Make new_store create stores on this backend (the store_backend fixture sets it)."""
    _BACKEND.update(name=name, server=server)


def new_store(tmp_path: Path, name: str = "t.db") -> sa.Engine:
    """A migrated, empty store: a SQLite file in tmp_path, or a new PostgreSQL database."""
    server = _BACKEND["server"]
    if _BACKEND["name"] == "postgresql" and server is not None:
        database = f"t_{uuid.uuid4().hex[:16]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {database}"))
        admin.dispose()
        engine = connect(server.rsplit("/", 1)[0] + "/" + database)
    else:
        engine = connect(f"sqlite:///{tmp_path}/{name}")
    migrate(engine)
    return engine


def table_rows(
    engine: sa.Engine, table: str, columns: Sequence[str] | None = None
) -> set[tuple[Any, ...]]:
    """The rows of a store table as a set of tuples (of the given columns, default all)."""
    meta = sa.MetaData()
    reflected = sa.Table(table, meta, autoload_with=engine)
    selected = [reflected.c[c] for c in columns] if columns else list(reflected.c)
    with engine.connect() as connection:
        return {tuple(row) for row in connection.execute(sa.select(*selected))}


def count(engine: sa.Engine, table: str) -> int:
    """How many rows a store table holds."""
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def enrol_subject(engine: sa.Engine, subject: str, name: str) -> NewPrincipal:
    """A key for `subject` the way a subject gets one: an operator issues an enrolment code and
    the subject redeems it (both in the subject's access log and notices)."""
    issued = issue_enrolment(engine, operator(), subject, name)
    return redeem_enrolment(engine, issued.code)
