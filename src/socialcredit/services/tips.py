"""Tips: for a subject, up to three concrete actions per program with their exact effect.

Each candidate action (domain/tips.py) brings one record into the ledger. Its effect is found
by scoring the counterfactual ledger with the same compiled program on the same engine as the
rescoring that would follow that record's arrival (services/scoring.py rescore_subjects): the
subject's neighbourhood (itself and its related subjects), or everyone in a small store. All
candidates are scored in one run: each is a copy of that ledger with its subjects renamed and
its external ids suffixed, so the copies cannot touch one another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import NotAllowed, Principal, Role
from socialcredit.domain.records import Key, chain_starts
from socialcredit.domain.tips import (
    TIPS_PER_PROGRAM,
    Candidate,
    LedgerRecord,
    Tip,
    candidates,
    day_number,
    rank_tips,
)
from socialcredit.engines import backends
from socialcredit.engines.definition import SCORED, score_program
from socialcredit.policy.compile import CompiledProgram
from socialcredit.services.errors import InvalidRequest
from socialcredit.services.principals import utc_now
from socialcredit.services.scoring import FULL_RUN_SHARE, active_programs
from socialcredit.services.subjects import SubjectNotFound
from socialcredit.store import access, files, tables
from socialcredit.store import ledger as ledger_store
from socialcredit.store import sharing as store
from socialcredit.store.ledger import LEDGER_SCHEMAS
from socialcredit.store.writers import one_writer

COPY = "~"  # between a subject id and its copy number; no identifier contains it
TIP_FURNISHER = COPY + "tip"  # the furnisher of a merit in the counterfactual (any will do)

Tables = dict[str, pa.Table]


@dataclass(frozen=True)
class Neighbourhood:
    """The part of the ledger a rescoring of the subject reads, and the subject's records."""

    tables: Tables
    records: list[LedgerRecord]
    kind: str
    wide: bool = True


def _read(connection: sa.Connection, subject: str, wide: bool) -> Tables:
    """What rescore_subjects reads for one subject: everyone when the store is so small that
    it would score everyone, else the subject and its related subjects; only the subject's
    own part when no program at hand scores through relations (`wide` False)."""
    if not wide:
        return ledger_store.read_ledger_of(connection, [subject])
    population = connection.execute(
        sa.select(sa.func.count()).select_from(tables.subjects)
    ).scalar_one()
    wanted = 1  # one subject, as in rescore_subjects(engine, [subject])
    if wanted > FULL_RUN_SHARE * population:
        return ledger_store.read_ledger(connection)
    members = {subject} | ledger_store.neighbours(connection, [subject])
    return ledger_store.read_ledger_of(connection, members)


def _subject_records(connection: sa.Connection, ledger: Tables, subject: str) -> list[LedgerRecord]:
    records = ledger["records"]
    mine = records.filter(pc.equal(records.column("subject"), subject)).to_pylist()
    evidence = store.evidence_of(connection, subject)
    return [
        LedgerRecord(
            id=r["id"],
            furnisher=r["furnisher"],
            external_id=r["external_id"],
            kind=r["kind"],
            day=day_number(r["occurred_at"].date()),
            value=r["value"],
            replaces=r["replaces"],
            evidence=evidence.get(r["id"]),
            chain=r["chain"],
        )
        for r in mine
    ]


def neighbourhood(engine: sa.Engine, subject: str, wide: bool = True) -> Neighbourhood:
    """Read the subject's neighbourhood once for every program (raises SubjectNotFound);
    `wide` False reads its own part only, enough for programs without a relationship factor."""
    with engine.connect() as connection:
        kind = files.subject_kind(connection, subject)
        if kind is None:
            raise SubjectNotFound(f"no subject {subject} in the store")
        ledger = _read(connection, subject, wide)
        return Neighbourhood(ledger, _subject_records(connection, ledger, subject), kind, wide)


def _only(ledger: Tables, subject: str) -> Tables:
    """The subject's own part of the ledger: all a program without a relationship factor
    reads to score it."""
    return {
        "subjects": ledger["subjects"].filter(pc.equal(ledger["subjects"].column("id"), subject)),
        "records": ledger["records"].filter(pc.equal(ledger["records"].column("subject"), subject)),
        "relations": LEDGER_SCHEMAS["relations"].empty_table(),
    }


def _with_suffix(table: pa.Table, columns: Sequence[str], suffix: str) -> pa.Table:
    """The table with `suffix` appended to every value of some text columns (nulls stay)."""
    for name in columns:
        suffixed = pc.binary_join_element_wise(table.column(name), suffix, "")
        table = table.set_column(table.schema.get_field_index(name), name, suffixed)
    return table


def _copy(ledger: Tables, suffix: str) -> Tables:
    """The ledger part with its subjects renamed and its external ids (and what records
    replace, and their chains) suffixed, so copies of it neither meet nor replace one
    another's records."""
    named = ("subject", "external_id", "replaces", "chain")
    return {
        "subjects": _with_suffix(ledger["subjects"], ("id",), suffix),
        "records": _with_suffix(ledger["records"], named, suffix),
        "relations": _with_suffix(ledger["relations"], ("subject", "other"), suffix),
    }


def _named_chains(ledger: Tables, chosen: Sequence[Candidate]) -> dict[Key, Key | None]:
    """The chain (None for an original) of each record a candidate's record names."""
    wanted = {
        (c.brings.furnisher or TIP_FURNISHER, c.brings.replaces)
        for c in chosen
        if c.brings.replaces is not None
    }
    if not wanted:
        return {}
    records = ledger["records"]
    keys = zip(
        records.column("furnisher").to_pylist(),
        records.column("external_id").to_pylist(),
        records.column("chain").to_pylist(),
        strict=True,
    )
    return {(f, e): None if c is None else (f, c) for f, e, c in keys if (f, e) in wanted}


def _brought(
    candidate: Candidate,
    subject: str,
    k: int,
    record_id: int,
    now: datetime,
    chains: dict[Key, Key | None],
) -> dict[str, Any]:
    """The record candidate k brings, in copy k (joining the chain of the record it names,
    whose `chains` are the stored ones)."""
    suffix = f"{COPY}{k}"
    brings = candidate.brings
    furnisher = brings.furnisher or TIP_FURNISHER
    external_id = f"{TIP_FURNISHER}{suffix}"
    chain = None
    if brings.replaces is not None:
        key = (furnisher, external_id)
        chain = chain_starts({key: (furnisher, brings.replaces)}, chains)[key][1] + suffix
    return {
        "id": record_id,
        "furnisher": furnisher,
        "external_id": external_id,
        "subject": subject + suffix,
        "kind": brings.kind,
        "occurred_at": now,
        "value": brings.value,
        "replaces": None if brings.replaces is None else brings.replaces + suffix,
        "chain": chain,
    }


def counterfactuals(
    ledger: Tables, subject: str, chosen: Sequence[Candidate], now: datetime
) -> Tables:
    """Copy 0 of the ledger as it is, and copy k with candidate k's record added."""
    copies = [_copy(ledger, f"{COPY}{k}") for k in range(len(chosen) + 1)]
    ids = ledger["records"].column("id")
    top = int(pc.max(ids).as_py() or 0) if len(ids) else 0
    chains = _named_chains(ledger, chosen)
    extra = [_brought(c, subject, k, top + k, now, chains) for k, c in enumerate(chosen, start=1)]
    records = [c["records"] for c in copies]
    records.append(pa.Table.from_pylist(extra, schema=LEDGER_SCHEMAS["records"]))
    return {
        "subjects": pa.concat_tables([c["subjects"] for c in copies]),
        "records": pa.concat_tables(records),
        "relations": pa.concat_tables([c["relations"] for c in copies]),
    }


def _scores(
    program: CompiledProgram, ledger: Tables, as_of: date, subject: str
) -> dict[int, tuple[str, int | None]]:
    """(status, score) of each copy of the subject, by copy number: one engine run."""
    scored = score_program(program, backends.duckdb_ledger(ledger), as_of).scores
    prefix = subject + COPY
    out: dict[int, tuple[str, int | None]] = {}
    for row in scored.to_pyarrow().to_pylist():
        if row["subject"].startswith(prefix):
            out[int(row["subject"][len(prefix) :])] = (row["status"], row["score"])
    return out


def _brings_json(candidate: Candidate) -> dict[str, Any]:
    b = candidate.brings
    return {
        "kind": b.kind,
        "furnisher": b.furnisher,
        "replaces": b.replaces,
        "value": b.value,
        "evidence": b.evidence,
    }


def tip_json(tip: Tip) -> dict[str, Any]:
    """A tip as the API and `show --json` give it."""
    return {
        "text": tip.text,
        "action": tip.candidate.action,
        "kind": tip.candidate.kind,
        "record": tip.candidate.record,
        "points": tip.points,
        "score": tip.score,
        "grade": tip.grade,
        "brings": _brings_json(tip.candidate),
    }


def program_tips(
    program: CompiledProgram,
    near: Neighbourhood,
    subject: str,
    now: datetime,
    limit: int = TIPS_PER_PROGRAM,
) -> dict[str, Any]:
    """The best actions under one program, each with the score rescoring would give."""
    as_of = now.date()
    rules = program.program
    windows = dict(
        zip(
            program.rules_by_kind.column("kind").to_pylist(),
            program.rules_by_kind.column("display_days").to_pylist(),
            strict=True,
        )
    )
    chosen = candidates(near.records, rules, day_number(as_of), near.kind, windows)
    if rules.relationship_factor is not None:
        if not near.wide:
            raise ValueError("a program with a relationship factor needs the wide neighbourhood")
        ledger = near.tables
    else:
        ledger = _only(near.tables, subject)
    results = _scores(program, counterfactuals(ledger, subject, chosen, now), as_of, subject)
    status, score = results.get(0, ("not_in_scope", None))
    tips: list[Tip] = []
    for k, candidate in enumerate(chosen, start=1):
        after_status, after = results[k]
        if score is not None and after is not None and after_status == SCORED and after > score:
            tips.append(Tip(candidate, after - score, after, rules.grade(after)))
    return {
        "program": program.id,
        "policy_version": program.version,
        "as_of": as_of.isoformat(),
        "status": status,
        "score": score,
        "grade": None if score is None else rules.grade(score),
        "candidates": len(chosen),
        "tips": [tip_json(t) for t in rank_tips(tips, limit)],
    }


def subject_tips(
    engine: sa.Engine,
    subject: str,
    *,
    program: str | None = None,
    programs: Sequence[CompiledProgram] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Tips for a subject under every active program that scores its kind (or one program),
    as of today (`now`). Raises SubjectNotFound."""
    now = now or utc_now()
    compiled = list(programs) if programs is not None else active_programs()
    if program is not None:
        compiled = [p for p in compiled if p.id == program]
        if not compiled:
            raise InvalidRequest(f"unknown program {program!r}")
    try:
        subject_id, _ = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    with engine.connect() as connection:
        kind = files.subject_kind(connection, subject_id)
    if kind is None:
        raise SubjectNotFound(f"no subject {subject_id} in the store")
    in_scope = [p for p in compiled if kind in p.program.subjects]
    wide = any(p.program.relationship_factor is not None for p in in_scope)
    near = neighbourhood(engine, subject_id, wide)
    return [program_tips(p, near, subject_id, now) for p in in_scope]


def tips_for(
    engine: sa.Engine,
    principal: Principal,
    subject: str,
    *,
    program: str | None = None,
    endpoint: str = "GET /v1/subjects/{id}/tips",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Tips for the subject `principal` itself (a relying party never sees them); the read
    is logged in its access log."""
    if principal.role is Role.RELYING_PARTY:
        raise NotAllowed("a relying party never sees a subject's tips")
    if principal.role is not Role.SUBJECT:
        raise NotAllowed(f"tips are for the subject itself, not for a {principal.role.value}")
    try:
        subject_id, _ = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    if principal.subject != subject_id:
        raise NotAllowed("a subject may read only its own tips")
    now = now or utc_now()
    entries = subject_tips(engine, subject_id, program=program, now=now)
    with one_writer(engine), engine.begin() as connection:
        access.append_access(
            connection,
            access.read_by(
                principal,
                subject_id,
                at=now,
                what="tips",
                endpoint=endpoint,
                returned={"tips": {e["program"]: len(e["tips"]) for e in entries}},
            ),
        )
    return {"subject": subject_id, "as_of": now.date().isoformat(), "programs": entries}
