"""Records sent by a furnisher's key: read the request body (one JSON record, or NDJSON),
check what this key may send, ingest through the same validation loop as files, and rescore
the affected subjects before answering (read-your-writes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.domain import nesting
from socialcredit.domain.identifiers import identify
from socialcredit.domain.principals import NotAllowed, Principal, Role, kind_refusal, require_role
from socialcredit.domain.records import RECORD_FIELDS
from socialcredit.services.disputes import NO_DISPUTE, record_marks
from socialcredit.services.errors import InvalidRequest, clipped
from socialcredit.services.ingest import BadLine, ingest_rows, json_type
from socialcredit.services.pages import PageRequest, int_cursor, next_cursor
from socialcredit.services.principals import utc_now
from socialcredit.services.scoring import rescore_subjects
from socialcredit.store import access, files
from socialcredit.store.writers import one_writer

MAX_RECORDS = 100_000
"""Records one request may carry."""

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")

Row = dict[str, Any]

_RAW_LIMIT = 10_000
_TOO_DEEP = nesting.too_deep_message()


class UnreadableBody(InvalidRequest):
    """A body that cannot be read as records at all; nothing from it was stored."""


class TooManyRecords(InvalidRequest):
    """More records than one request may carry; nothing from it was stored."""


class UnsupportedMediaType(InvalidRequest):
    """A body in a format other than JSON or NDJSON."""


def parse_body(body: bytes, media_type: str) -> list[tuple[int, Row | BadLine]]:
    """The records of a request body as (line, row); a line that is no JSON object, or that
    nests deeper than the limit, is a BadLine. Raises UnreadableBody, TooManyRecords or
    UnsupportedMediaType."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES:
        return [(1, _json_record(body))]
    if media_type not in NDJSON_TYPES:
        accepted = ", ".join((*JSON_TYPES, *NDJSON_TYPES))
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media_type or '(none)'!r}; use {accepted}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableBody(f"the body is not UTF-8 text: {exc.reason}") from None
    rows: list[tuple[int, Row | BadLine]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        if len(rows) == MAX_RECORDS:
            raise TooManyRecords(f"at most {MAX_RECORDS:,} records per request")
        rows.append((number, _ndjson_line(line)))
    _check_readable(rows)
    return rows


def _json_record(body: bytes) -> Row:
    """The one record of an application/json body (raises UnreadableBody)."""
    try:
        value = nesting.loads(body)
    except nesting.TooDeep as exc:
        raise UnreadableBody(f"the body is {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableBody(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UnreadableBody(
            f"the body is {json_type(value)}, not a JSON object: send one record as a "
            "JSON object, or many as NDJSON (Content-Type: application/x-ndjson)"
        )
    return value


def _ndjson_line(line: str) -> Row | BadLine:
    """One NDJSON line as a row, or a BadLine saying why it is none."""
    try:
        value = nesting.loads(line)
    except nesting.TooDeep as exc:
        return BadLine(f"line is {exc}", line[:_RAW_LIMIT])
    except ValueError as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        return BadLine(f"line is not valid JSON: {reason}", line[:_RAW_LIMIT])
    if type(value) is dict:
        return value
    return BadLine(f"line is not a JSON object but {json_type(value)}", value)


def _check_readable(rows: list[tuple[int, Row | BadLine]]) -> None:
    """Raise UnreadableBody unless some line of an NDJSON body is a JSON object."""
    if not rows:
        raise UnreadableBody("the body holds no records")
    if any(type(row) is dict for _, row in rows):
        return
    deep = next((n for n, r in rows if type(r) is BadLine and _TOO_DEEP in r.reason), None)
    if deep is not None:
        raise UnreadableBody(f"no line of the body is a JSON object; line {deep} is {_TOO_DEEP}")
    raise UnreadableBody("no line of the body is a JSON object: is it NDJSON?")


@dataclass(frozen=True)
class Submission:
    """What one request contributed, each rejected row's line and reason, and the rescoring."""

    accepted: int
    duplicates: int
    rejected: int
    rejects: list[dict[str, Any]]
    rescored_subjects: int = 0
    rescoring_seconds: float = 0.0
    programs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rows": self.accepted + self.duplicates + self.rejected,
            "rejects": [{**r, "reason": clipped(str(r["reason"]))} for r in self.rejects],
            "rescored": {"subjects": self.rescored_subjects, "programs": self.programs},
        }


def _checked(principal: Principal, row: Row | BadLine) -> Row | BadLine:
    """A row with the principal's furnisher filled in, or a BadLine saying why this key may
    not send it."""
    if type(row) is BadLine:
        return row
    assert isinstance(row, dict)
    unknown = [name for name in row if name not in RECORD_FIELDS]
    if unknown:
        fields = ", ".join(RECORD_FIELDS)
        return BadLine(f"unknown field {unknown[0]!r}; a record has the fields {fields}", row)
    furnisher = row.get("furnisher")
    if isinstance(furnisher, str):
        furnisher = furnisher.strip()
    if furnisher is None or furnisher == "":
        row = {**row, "furnisher": principal.furnisher}
    elif furnisher != principal.furnisher:
        return BadLine(
            f"field 'furnisher' is {furnisher!r}, but this key sends for {principal.furnisher!r}",
            row,
        )
    refusal = kind_refusal(principal, row.get("kind"))
    if refusal:
        return BadLine(refusal, row)
    return row


def submit_records(
    engine: sa.Engine,
    principal: Principal,
    rows: list[tuple[int, Row | BadLine]],
    *,
    now: datetime | None = None,
    rescore: Callable[[sa.Engine, list[str]], list[str]] | None = None,
) -> Submission:
    """Ingest a furnisher's records in one transaction, then rescore the subjects of the rows
    taken (when any record was new), so that the next read shows the new scores."""
    require_role(principal, Role.FURNISHER)
    checked = [(line, _checked(principal, row)) for line, row in rows]
    result = ingest_rows(engine, "records", checked, "<request>", now=now)
    summary = result.summary
    rejected_lines = {entry["line"] for entry in result.rejects}
    subjects: set[str] = set()
    if summary.accepted:
        for line, row in checked:
            if type(row) is dict and line not in rejected_lines:
                subjects.add(identify(row["subject"])[0])
    programs: list[str] = []
    seconds = 0.0
    if subjects:
        start = time.perf_counter()
        programs = (rescore or _rescore)(engine, sorted(subjects))
        seconds = time.perf_counter() - start
    return Submission(
        accepted=summary.accepted,
        duplicates=summary.duplicates,
        rejected=summary.rejected,
        rejects=result.rejects,
        rescored_subjects=len(subjects),
        rescoring_seconds=seconds,
        programs=programs,
    )


def _rescore(engine: sa.Engine, subjects: list[str]) -> list[str]:
    return [run.program for run in rescore_subjects(engine, subjects)]


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def record_json(row: dict[str, Any], mark: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored record as the API shows it (times as ISO 8601 UTC), with its dispute mark:
    whether it is disputed, its latest dispute and the subject's statement."""
    return {
        **row,
        "occurred_at": _stamp(row["occurred_at"]),
        "received_at": _stamp(row["received_at"]),
        **(mark or NO_DISPUTE),
    }


def records_json(connection: sa.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored records as the API shows them, each with its dispute mark."""
    marks = record_marks(connection, rows)
    return [record_json(r, marks.get(r["id"])) for r in rows]


def list_submissions(
    engine: sa.Engine,
    principal: Principal,
    furnisher: str,
    page: PageRequest,
    *,
    endpoint: str = "GET /v1/records",
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A furnisher's own records in ledger order (`furnisher` is "me" or its own id). They
    carry the subjects' dispute marks and statements, so each subject sees the read in its
    access log."""
    require_role(principal, Role.FURNISHER)
    assert principal.furnisher is not None
    if furnisher not in ("me", principal.furnisher):
        raise NotAllowed("a furnisher may read only its own submissions (furnisher=me)")
    after = int_cursor("submissions", page.cursor)
    with engine.connect() as connection:
        rows = files.furnisher_records(connection, principal.furnisher, after, page.limit + 1)
        cursor = next_cursor("submissions", rows, page.limit, "id")
        items = records_json(connection, rows)
    by_subject: dict[str, list[int]] = {}
    for item in items:
        by_subject.setdefault(item["subject"], []).append(item["id"])
    at = now or utc_now()
    reads = [
        access.read_by(
            principal,
            subject,
            at=at,
            what="records",
            endpoint=endpoint,
            returned={"record_ids": ids},
        )
        for subject, ids in sorted(by_subject.items())
    ]
    if reads:
        with one_writer(engine), engine.begin() as connection:
            access.append_accesses(connection, reads)
    return items, cursor
