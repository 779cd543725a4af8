"""Reading a subject's file on behalf of a principal: who may read what, the relying party's
consent, and the access log entry, committed before the answer leaves.

Parts: `scores` (exactly what `socialcredit show --json` prints), `history` (every snapshot),
`records`, `relations`, `lists` (the entries the subject is on now), and `access-log` (the
subject's own only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain.consents import PURPOSES
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.domain.principals import (
    SUBJECT_PARTS,
    NotAllowed,
    Principal,
    Role,
    reading_refusal,
)
from socialcredit.services.consents import check_consent
from socialcredit.services.errors import InvalidRequest
from socialcredit.services.lists import entry_json, subject_entries
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.services.subjects import SubjectNotFound, latest_scores
from socialcredit.services.submissions import records_json
from socialcredit.store import access, files
from socialcredit.store.writers import one_writer

Reader = Callable[[sa.Connection, str, str, PageRequest], tuple[dict[str, Any], dict[str, Any]]]


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def _scores(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    scores = latest_scores(connection, subject)
    body = {"subject": subject, "kind": kind, "scores": scores}
    summary = {
        "programs": [
            {
                "program": s["program"],
                "policy_version": s["policy_version"],
                "status": s["status"],
                "score": s["score"],
                "grade": s["grade"],
            }
            for s in scores
        ]
    }
    return body, summary


def _history(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = files.score_history(
        connection, subject, int_cursor("history", page.cursor), page.limit + 1
    )
    cursor = next_cursor("history", rows, page.limit, "id")
    items = [
        {
            **row,
            "as_of": row["as_of"].date().isoformat(),
            "computed_at": _stamp(row["computed_at"]),
        }
        for row in rows
    ]
    body = {"subject": subject, "kind": kind, "items": items, "next_cursor": cursor}
    return body, {"items": len(items), "snapshot_ids": [i["id"] for i in items]}


def _records(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = files.subject_records(
        connection, subject, int_cursor("records", page.cursor), page.limit + 1
    )
    cursor = next_cursor("records", rows, page.limit, "id")
    items = records_json(connection, rows)
    body = {"subject": subject, "kind": kind, "items": items, "next_cursor": cursor}
    return body, {"items": len(items), "record_ids": [i["id"] for i in items]}


def _relations(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    key = int_cursor("relations", page.cursor)
    rows = files.subject_relations(connection, subject, key, page.limit + 1)
    cursor = next_cursor("relations", rows, page.limit, "id")
    items = [
        {
            **row,
            "confirmed": bool(row["confirmed"]),
            "start": _stamp(row["start"]),
            "end": _stamp(row["end"]),
            "received_at": _stamp(row["received_at"]),
        }
        for row in rows
    ]
    body = {"subject": subject, "kind": kind, "items": items, "next_cursor": cursor}
    return body, {"items": len(items), "relation_ids": [i["id"] for i in items]}


def _access_log(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    key = int_cursor("access-log", page.cursor)
    rows = access.access_entries(connection, subject, key, page.limit + 1)
    cursor = next_cursor("access-log", rows, page.limit, "id")
    items = [
        {
            "id": row["id"],
            "at": _stamp(row["at"]),
            "principal": row["principal"],
            "principal_name": row["principal_name"],
            "role": row["role"],
            "purpose": row["purpose"],
            "what": row["what"],
            "endpoint": row["endpoint"],
            "consent": row["consent"],
            "returned": row["returned"],
        }
        for row in rows
    ]
    body = {"subject": subject, "kind": kind, "items": items, "next_cursor": cursor}
    return body, {"items": len(items)}


def _lists(
    connection: sa.Connection, subject: str, kind: str, page: PageRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    entries = subject_entries(connection, subject, utc_now())
    items = [entry_json(e) for e in entries.values()]
    body = {"subject": subject, "kind": kind, "items": items}
    return body, {"lists": [i["list"] for i in items]}


READERS: dict[str, Reader] = {
    "scores": _scores,
    "history": _history,
    "records": _records,
    "relations": _relations,
    "lists": _lists,
    "access-log": _access_log,
}


def read_subject(
    engine: sa.Engine,
    principal: Principal,
    subject: str,
    part: str,
    *,
    endpoint: str,
    purpose: str | None = None,
    consent_token: str | None = None,
    page: PageRequest | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Read one part of a subject's file as `principal`, and log the read where the subject
    sees it. Raises NotAllowed, ConsentRefused, InvalidRequest or SubjectNotFound."""
    if part not in SUBJECT_PARTS:
        raise InvalidRequest(f"unknown part {part!r}; parts: {', '.join(SUBJECT_PARTS)}")
    if principal.role not in (Role.SUBJECT, Role.RELYING_PARTY):
        refusal = reading_refusal(principal, subject, part)
        assert refusal is not None
        raise NotAllowed(refusal)
    try:
        subject_id, subject_kind = identify(subject)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"not a subject id: {exc}") from None
    refusal = reading_refusal(principal, subject_id, part)
    if refusal:
        raise NotAllowed(refusal)
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidRequest(f"unknown purpose {purpose!r}; purposes: {', '.join(PURPOSES)}")
    now = now or utc_now()
    page = page or PageRequest()
    with engine.connect() as connection:
        consent = None
        if principal.role is Role.RELYING_PARTY:
            consent = check_consent(
                connection,
                principal,
                consent_token,
                subject=subject_id,
                purpose=purpose,
                scope=part,
                now=now,
            )
        kind = files.subject_kind(connection, subject_id)
        if kind is None:
            if part != "access-log":
                raise SubjectNotFound(f"no subject {subject_id} in the store")
            kind = subject_kind
        body, summary = READERS[part](connection, subject_id, kind, page)
    consent_id = None if consent is None else consent.id
    entries = [
        access.read_by(
            principal,
            subject,
            at=now,
            what=what,
            endpoint=endpoint,
            returned=returned,
            purpose=purpose,
            consent=consent_id,
        )
        for subject, what, returned in _reads(principal, subject_id, part, body, summary)
    ]
    # The read is logged (and committed) before anything of it is returned.
    with one_writer(engine), engine.begin() as connection:
        access.append_accesses(connection, entries)
    return body


def _reads(
    principal: Principal, subject: str, part: str, body: dict[str, Any], summary: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """Whose data a read returned, as (subject, what, summary): the subject's, and, when
    anyone but a subject reads relations, each other party a relation names (a subject's own
    relations are its own file)."""
    reads = [(subject, part, summary)]
    if part == "relations" and principal.role is not Role.SUBJECT:
        named: dict[str, list[int]] = {}
        for item in body["items"]:
            other = item["other"] if item["subject"] == subject else item["subject"]
            named.setdefault(other, []).append(item["id"])
        for other, ids in sorted(named.items()):
            reads.append((other, "relation", {"relation_ids": ids}))
    return reads
