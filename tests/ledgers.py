"""Small in-memory ledgers for engine tests, built from plain tuples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa

from socialcredit.domain.identifiers import resident_id_check, uscc_check
from socialcredit.domain.records import chain_starts
from socialcredit.engines.run import ProgramResult, connect, load_ledger, run_program
from socialcredit.policy.compile import CompiledProgram
from socialcredit.store.ledger import LEDGER_SCHEMAS

AS_OF = date(2026, 6, 30)


def person(n: int) -> str:
    """A valid resident ID, distinct for each n."""
    prefix = f"3710821980{1 + n // 28 % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return prefix + resident_id_check(prefix)


def organisation(n: int) -> str:
    """A valid USCC, distinct for each n."""
    prefix = f"91371082MA{n:07d}"
    return prefix + uscc_check(prefix)


@dataclass(frozen=True)
class Rec:
    """A record `days` days before AS_OF."""

    subject: str
    kind: str
    days: int
    value: float | None = None
    external_id: str | None = None
    replaces: str | None = None
    furnisher: str = "f"
    evidence: str | None = None


@dataclass(frozen=True)
class Rel:
    """A relation that started `days` days before AS_OF."""

    subject: str
    other: str
    relation: str = "contact"
    days: int = 400
    confirmed: bool = True


def moment(days: int) -> datetime:
    return datetime(AS_OF.year, AS_OF.month, AS_OF.day, 12) - timedelta(days=days)


def build(
    records: Sequence[Rec], relations: Sequence[Rel] = (), *, evidence: bool = False
) -> dict[str, pa.Table]:
    """The ledger tables the engines read, for these records and relations (with `evidence`,
    the records also carry an evidence column, as the store and the synthetic city do)."""
    kinds: dict[str, str] = {}
    for r in records:
        kinds[r.subject] = "person" if r.subject[:17].isdigit() else "organisation"
    for rel in relations:
        for s in (rel.subject, rel.other):
            kinds.setdefault(s, "person" if s[:17].isdigit() else "organisation")
    keys = [(r.furnisher, r.external_id or f"x{i + 1}") for i, r in enumerate(records)]
    links = {k: (k[0], r.replaces) for k, r in zip(keys, records, strict=True) if r.replaces}
    chains = chain_starts(links, {})  # as ingest resolves them
    rows: list[dict[str, Any]] = [
        {
            "id": i + 1,
            "furnisher": r.furnisher,
            "external_id": key[1],
            "subject": r.subject,
            "kind": r.kind,
            "occurred_at": moment(r.days),
            "value": r.value,
            "replaces": r.replaces,
            "chain": chains[key][1] if key in chains else None,
        }
        for i, (r, key) in enumerate(zip(records, keys, strict=True))
    ]
    table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMAS["records"])
    if evidence:
        table = table.append_column(
            "evidence", pa.array([r.evidence for r in records], pa.string())
        )
    return {
        "subjects": pa.Table.from_pylist(
            [{"id": s, "kind": k} for s, k in sorted(kinds.items())],
            schema=LEDGER_SCHEMAS["subjects"],
        ),
        "records": table,
        "relations": pa.Table.from_pylist(
            [
                {
                    "subject": rel.subject,
                    "other": rel.other,
                    "relation": rel.relation,
                    "start": moment(rel.days),
                    "end": None,
                    "confirmed": rel.confirmed,
                }
                for rel in relations
            ],
            schema=LEDGER_SCHEMAS["relations"],
        ),
    }


_BACKEND = connect("duckdb")


def run(
    program: CompiledProgram, tables: dict[str, pa.Table], as_of: date = AS_OF
) -> ProgramResult:
    """Score a ledger on DuckDB."""
    return run_program(program, load_ledger(_BACKEND, tables), as_of)


def scores(result: ProgramResult) -> dict[str, int | None]:
    """Score by subject."""
    return {r["subject"]: r["score"] for r in result.scores.to_pylist()}
