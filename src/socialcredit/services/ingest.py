"""Ingest furnisher files (CSV, NDJSON, Parquet) or Arrow tables into the ledger.

Each file is one transaction: its rows are validated with the domain parsers in batches, the good
ones are appended through the ledger repository, and the bad ones are written to a reject file
(one JSON object per bad row, naming the file, the line and the reason). A file that cannot be
read at all changes nothing. Appends are idempotent, so re-sending a file is a no-op, and files
are taken in a fixed order of kinds (furnishers, registry, relations, records), so the order in
which they are given changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from socialcredit.domain import nesting
from socialcredit.domain.catalogue import Catalogue
from socialcredit.domain.events import EventKind
from socialcredit.domain.records import (
    FURNISHER_FIELDS,
    RECORD_FIELDS,
    REGISTRY_FIELDS,
    RELATION_FIELDS,
    parse_furnisher,
    parse_record,
    parse_registry,
    parse_relation,
)
from socialcredit.policy.loader import shipped_catalogue
from socialcredit.services.corrections import RecordScreen
from socialcredit.services.failpoints import failpoint
from socialcredit.services.reinsertions import guard_reinsertions
from socialcredit.store import ledger, outbox

__all__ = [
    "BATCH_ROWS",
    "FILE_KINDS",
    "REQUIRED_COLUMNS",
    "SAMPLE_REJECTS",
    "BadLine",
    "FileSummary",
    "IngestSummary",
    "KindTotals",
    "RejectedRow",
    "RowsResult",
    "UnreadableFile",
    "column_problem",
    "count_rows",
    "detect_kind",
    "file_format",
    "ingest_files",
    "ingest_rows",
    "ingest_tables",
    "kind_of_columns",
    "read_rows",
]

BATCH_ROWS = 20_000
"""Rows validated and appended at a time."""

FILE_KINDS = ("furnishers", "registry", "relations", "records")
"""The kinds of file, in the order they are ingested."""

EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "furnishers": FURNISHER_FIELDS,
    "registry": REGISTRY_FIELDS,
    "relations": RELATION_FIELDS,
    "records": RECORD_FIELDS,
}

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "furnishers": ("furnisher", "type"),
    "registry": ("subject",),
    "relations": ("furnisher", "external_id", "subject", "other", "relation", "start", "confirmed"),
    "records": ("subject", "furnisher", "kind", "occurred_at", "external_id"),
}
"""The columns every row of a kind needs; a file without one of them is refused whole."""

SAMPLE_REJECTS = 5
"""How many rejected rows a summary quotes (line and reason); the reject file has them all."""

SPOOL_BYTES = 16 * 1024 * 1024
"""Rejected rows of a file held in memory until its transaction commits; more go to disk."""

_FORMATS = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_SNIFF_LINES = 1_000
_RAW_LIMIT = 10_000

Row = dict[str, Any]


class UnreadableFile(Exception):
    """A file that cannot be read at all; nothing from it was stored."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        # What earlier files of the same ingest committed before this one failed, if any.
        self.partial: IngestSummary | None = None
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class BadLine:
    """A line of a file that is not a row at all (e.g. NDJSON that is not a JSON object)."""

    reason: str
    raw: Any


@dataclass(frozen=True)
class FileSummary:
    """What one file (or in-memory table) contributed."""

    path: str
    kind: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class KindTotals:
    """What the files of one kind (records, relations, registry, furnishers) contributed."""

    kind: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class RejectedRow:
    """One rejected row as a summary quotes it: where it was and why."""

    file: str
    line: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class IngestSummary:
    """Totals over all files, the reject file (None when no row was rejected), each file, and
    the first few rejected rows (SAMPLE_REJECTS)."""

    accepted: int
    duplicates: int
    rejected: int
    reject_file: str | None
    files: list[FileSummary] = field(default_factory=list)
    first_rejects: list[RejectedRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.accepted + self.duplicates + self.rejected

    def by_kind(self) -> list[KindTotals]:
        """Totals per kind of row, in ingest order, so that records are not counted with the
        relations, registry rows and furnishers that came with them."""
        totals = []
        for kind in FILE_KINDS:
            files = [f for f in self.files if f.kind == kind]
            if files:
                totals.append(
                    KindTotals(
                        kind,
                        sum(f.rows for f in files),
                        sum(f.accepted for f in files),
                        sum(f.duplicates for f in files),
                        sum(f.rejected for f in files),
                    )
                )
        return totals

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rows": self.rows,
            "reject_file": self.reject_file,
            "kinds": [k.as_json() for k in self.by_kind()],
            "first_rejects": [r.as_json() for r in self.first_rejects],
            "files": [f.as_json() for f in self.files],
        }


# ------------------------------------------------------------------------------------ reading

# A batch: the line numbers and the rows (a BadLine stands for a line that is not a row).
Batch = tuple[Sequence[int], list[Row | BadLine]]


def file_format(path: str | Path) -> str:
    """The file's format from its extension: csv, ndjson or parquet (raises UnreadableFile)."""
    suffix = Path(path).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise UnreadableFile(path, f"unknown file type {suffix or '(none)'!r}; expected {known}")
    return fmt


def _open_binary(path: Path) -> IO[bytes]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(path, f"cannot open: {exc.strerror or exc}") from None
    return handle


def _csv_header(reader: Iterator[list[str]], path: Path) -> list[str]:
    for cells in reader:
        if cells and any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            named = [h for h in header if h]
            if len(set(named)) != len(named):
                dupes = sorted({h for h in named if named.count(h) > 1})
                raise UnreadableFile(path, f"the header repeats columns: {', '.join(dupes)}")
            return header
    raise UnreadableFile(path, "empty file: no header line")


def _csv_batches(path: Path, size: int) -> Iterator[Batch]:
    handle = _open_binary(path)
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = _csv_header(reader, path)
        width = len(header)
        lines: list[int] = []
        rows: list[Row | BadLine] = []
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not cells:
                continue
            if len(cells) == width:
                rows.append(
                    {h: (c if c != "" else None) for h, c in zip(header, cells, strict=True)}
                )
            elif any(c.strip() for c in cells):
                reason = f"line has {len(cells)} cells, the header has {width}"
                rows.append(BadLine(reason, cells))
            else:  # a line holding only whitespace
                continue
            lines.append(start)
            if len(rows) >= size:
                yield lines, rows
                lines, rows = [], []
        if rows:
            yield lines, rows
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, f"not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise UnreadableFile(path, f"not valid CSV near line {reader.line_num}: {exc}") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc}") from None
    finally:
        text.close()


def _ndjson_row(raw: bytes) -> Row | BadLine:
    try:
        value = nesting.loads(raw)  # a line nested past the limit is a bad line, not a crash
    except ValueError as exc:
        text = raw.decode("utf-8", errors="replace").strip()
        reason = getattr(exc, "msg", None) or str(exc)
        return BadLine(f"line is not valid JSON: {reason}", text[:_RAW_LIMIT])
    if not isinstance(value, dict):
        return BadLine(f"line is not a JSON object but {json_type(value)}", value)
    return value


def json_type(value: Any) -> str:
    """What a JSON value that should have been an object is, in words, for a reject reason."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _ndjson_batches(path: Path, size: int) -> Iterator[Batch]:
    handle = _open_binary(path)
    try:
        lines: list[int] = []
        rows: list[Row | BadLine] = []
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            lines.append(number)
            rows.append(_ndjson_row(raw))
            if len(rows) >= size:
                yield lines, rows
                lines, rows = [], []
        if rows:
            yield lines, rows
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc}") from None
    finally:
        handle.close()


def _plain_type(dtype: pa.DataType) -> pa.DataType | None:
    """The type to cast a column to before it becomes Python values, or None to keep it."""
    if pa.types.is_timestamp(dtype) and dtype.unit == "ns":
        return pa.timestamp("us", tz=dtype.tz)
    if pa.types.is_decimal(dtype):
        return pa.float64()
    if pa.types.is_dictionary(dtype):
        return _plain_type(dtype.value_type) or dtype.value_type
    return None


def _arrow_rows(batch: pa.RecordBatch) -> list[Row | BadLine]:
    """A record batch as row dicts, with nanosecond times and decimals made plain."""
    casts = {i: t for i, f in enumerate(batch.schema) if (t := _plain_type(f.type)) is not None}
    if casts:
        columns = [
            batch.column(i).cast(casts[i], safe=False) if i in casts else batch.column(i)
            for i in range(batch.num_columns)
        ]
        batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    rows: list[Row | BadLine] = batch.to_pylist()
    return rows


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except FileNotFoundError as exc:
        raise UnreadableFile(path, f"cannot open: {exc.strerror or exc}") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnreadableFile(path, f"not a valid Parquet file: {exc}") from None


def _parquet_batches(path: Path, size: int) -> Iterator[Batch]:
    parquet = _parquet_file(path)
    try:
        line = 1
        for record_batch in parquet.iter_batches(batch_size=size):
            rows = _arrow_rows(record_batch)
            yield range(line, line + len(rows)), rows
            line += len(rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnreadableFile(path, f"not a valid Parquet file: {exc}") from None
    finally:
        parquet.close()


def _batches(path: Path, size: int | None = None) -> Iterator[Batch]:
    size = size or BATCH_ROWS
    fmt = file_format(path)
    if fmt == "csv":
        return _csv_batches(path, size)
    if fmt == "ndjson":
        return _ndjson_batches(path, size)
    return _parquet_batches(path, size)


def read_rows(path: str | Path) -> Iterator[tuple[int, Row | BadLine]]:
    """(line number, row) for each row of a file; a line that is no row comes as a BadLine.

    CSV: the header is line 1 and empty cells are None. NDJSON: the physical line; blank lines
    are skipped. Parquet: the row index + 1. Raises UnreadableFile for a file that cannot be
    read at all (also midway, e.g. a corrupt Parquet page).
    """
    for lines, rows in _batches(Path(path)):
        yield from zip(lines, rows, strict=True)


def _columns(path: Path) -> list[str]:
    """The columns a file declares: its CSV header, Parquet schema or NDJSON keys."""
    fmt = file_format(path)
    if fmt == "parquet":
        parquet = _parquet_file(path)
        try:
            names: list[str] = parquet.schema_arrow.names
        finally:
            parquet.close()
        return names
    if fmt == "csv":
        text = io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")
        try:
            return [h for h in _csv_header(csv.reader(text), path) if h]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UnreadableFile(path, f"cannot read the header: {exc}") from None
        finally:
            text.close()
    keys: dict[str, None] = {}
    objects = 0
    for _, rows in _ndjson_batches(path, _SNIFF_LINES):
        for row in rows:
            if isinstance(row, dict):
                objects += 1
                keys.update(dict.fromkeys(row))
        break
    if not objects:
        if path.stat().st_size == 0:
            raise UnreadableFile(path, "empty file")
        raise UnreadableFile(path, f"no JSON object in its first {_SNIFF_LINES} lines")
    return list(keys)


def kind_of_columns(columns: Iterable[str]) -> str | None:
    """The kind of file these columns make, or None."""
    names = set(columns)
    if "kind" in names:
        return "records"
    if "relation" in names:
        return "relations"
    if "type" in names and "furnisher" in names:
        return "furnishers"
    if "name" in names and "subject" in names:
        return "registry"
    return None


def _expected() -> str:
    return "; ".join(f"{kind}: {', '.join(cols)}" for kind, cols in EXPECTED_COLUMNS.items())


def _closest_kind(columns: Sequence[str]) -> str | None:
    """The kind the columns come nearest to (at least two of its columns, then the larger share
    of its required ones), or None when that is not one kind."""
    names = set(columns)

    def nearness(kind: str) -> tuple[int, float]:
        need = REQUIRED_COLUMNS[kind]
        return len(names & set(EXPECTED_COLUMNS[kind])), len(names & set(need)) / len(need)

    ranked = sorted(FILE_KINDS, key=nearness, reverse=True)
    best, runner_up = nearness(ranked[0]), nearness(ranked[1])
    return ranked[0] if best[0] >= 2 and best != runner_up else None


def _expected_of(kind: str) -> str:
    need = REQUIRED_COLUMNS[kind]
    optional = [c for c in EXPECTED_COLUMNS[kind] if c not in need]
    return f"a {kind} file has {', '.join(need)}" + (
        f" and optionally {', '.join(optional)}" if optional else ""
    )


def column_problem(columns: Sequence[str], kind: str) -> str | None:
    """Why a file with these columns cannot be a file of `kind` (its missing required columns
    and its unknown ones, with the expected ones), or None when it can."""
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in columns]
    if not missing:
        return None
    unknown = [c for c in columns if c not in EXPECTED_COLUMNS[kind]]
    return (
        f"not a {kind} file: missing column(s) {', '.join(missing)}; unknown column(s) "
        f"{', '.join(unknown) or 'none'}; {_expected_of(kind)}"
    )


def detect_kind(path: str | Path) -> str:
    """What a file holds, from its columns: furnishers, registry, relations or records.

    Raises UnreadableFile when the kind cannot be told or a column every row needs is missing,
    so that such a file is refused whole instead of row by row."""
    path = Path(path)
    columns = _columns(path)
    kind = kind_of_columns(columns) or _closest_kind(columns)
    if kind is None:
        found = ", ".join(columns) or "none"
        raise UnreadableFile(
            path,
            f"cannot tell what the file holds from its columns ({found}); expected {_expected()}",
        )
    problem = column_problem(columns, kind)
    if problem is not None:
        raise UnreadableFile(path, problem)
    return kind


def count_rows(path: str | Path) -> int:
    """About how many rows a file holds (exact for Parquet; lines for CSV and NDJSON)."""
    path = Path(path)
    fmt = file_format(path)
    if fmt == "parquet":
        parquet = _parquet_file(path)
        try:
            return int(parquet.metadata.num_rows)
        finally:
            parquet.close()
    lines = 0
    last = b"\n"
    with _open_binary(path) as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


# ------------------------------------------------------------------------------------ rejects


def _json_safe(value: Any) -> Any:
    """A value as JSON can hold it: times as ISO text, odd numbers as text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


class _Rejects:
    """The reject file: created when the first rejected rows are kept (in `folder`, made then,
    unless a file is chosen). A file's rejected rows wait in a spool until its transaction has
    committed (`keep`) and are dropped if it fails (`drop`), so the reject file never lists rows
    of a transaction that did not commit, even when the process dies. The first few rows are
    kept for the summary."""

    def __init__(self, path: Path | None, folder: Path | None = None) -> None:
        self._chosen = path
        self._folder = folder
        self.path: Path | None = None
        self._handle: IO[str] | None = None
        self._spool: IO[str] | None = None
        self._first: list[RejectedRow] = []
        self._pending_first: list[RejectedRow] = []

    def _open(self) -> IO[str]:
        if self._handle is None:
            if self._chosen is not None:
                self.path = Path(self._chosen)
                self._handle = self.path.open("w", encoding="utf-8")
            else:
                folder = self._folder if self._folder is not None else Path.cwd()
                folder.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                for n in range(1000):
                    suffix = "" if n == 0 else f"-{n}"
                    candidate = folder / f"rejects-{stamp}{suffix}.ndjson"
                    try:
                        self._handle = candidate.open("x", encoding="utf-8")
                    except FileExistsError:
                        continue
                    self.path = candidate
                    break
                else:
                    raise FileExistsError(f"rejects-{stamp}.ndjson and its variants exist")
        return self._handle

    def add(self, source: str, line: int, reason: str, row: Any) -> None:
        if len(self._first) + len(self._pending_first) < SAMPLE_REJECTS:
            self._pending_first.append(RejectedRow(source, line, reason))
        entry = {"file": source, "line": line, "reason": reason, "row": _json_safe(row)}
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(SPOOL_BYTES, "w+", encoding="utf-8")  # noqa: SIM115 - closed by keep, drop or close
        self._spool.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def keep(self) -> None:
        """The rows rejected since the last keep or drop go to the reject file: their
        transaction has committed."""
        if self._spool is not None:
            self._spool.seek(0)
            shutil.copyfileobj(self._spool, self._open())
            self._handle.flush()  # type: ignore[union-attr]
            self._spool.close()
            self._spool = None
        self._first += self._pending_first
        self._pending_first = []

    def drop(self) -> None:
        """Forget the rows rejected since the last keep: their transaction did not commit."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._pending_first = []

    def first(self) -> list[RejectedRow]:
        """The first rejected rows in the file, at most SAMPLE_REJECTS."""
        return list(self._first)

    def close(self) -> str | None:
        """Close the file; None (and no file left behind) when nothing was rejected."""
        self.drop()
        if self._handle is None or self.path is None:
            return None
        empty = self._handle.tell() == 0
        self._handle.close()
        self._handle = None
        if empty:
            self.path.unlink(missing_ok=True)
            return None
        return str(self.path)


# ------------------------------------------------------------------------------------ the loop


@dataclass
class _Run:
    """What every file of one ingest shares."""

    engine: sa.Engine
    catalogue: Catalogue
    now: datetime
    rejects: _Rejects
    progress: Callable[[int], None] | None
    files: list[FileSummary] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        engine: sa.Engine,
        catalogue: Catalogue | None,
        now: datetime | None,
        rejects: _Rejects,
        progress: Callable[[int], None] | None,
    ) -> _Run:
        """A run with the shipped catalogue and the current time unless others are given."""
        return cls(engine, catalogue or shipped_catalogue(), _naive_utc(now), rejects, progress)

    def summary(self, reject_file: str | None) -> IngestSummary:
        return IngestSummary(
            accepted=sum(f.accepted for f in self.files),
            duplicates=sum(f.duplicates for f in self.files),
            rejected=sum(f.rejected for f in self.files),
            reject_file=reject_file,
            files=list(self.files),
            first_rejects=self.rejects.first(),
        )


Parser = Callable[[Row], Any]
Appender = Callable[[sa.Connection, list[Any]], ledger.Appended]


def _handlers(kind: str, run: _Run, connection: sa.Connection) -> tuple[Parser, Appender]:
    catalogue, now = run.catalogue, run.now
    if kind == "records":
        types = ledger.furnisher_types(connection)
        screen = RecordScreen(connection, catalogue, now)  # no re-aging, none past retention
        return guard_reinsertions(  # a record withdrawn after a dispute goes back certified
            connection,
            lambda row: screen.check(parse_record(row, catalogue, types, now)),
            lambda conn, items: screen.appended(ledger.add_records(conn, items, now)),
            now,
        )
    if kind == "relations":
        types = ledger.furnisher_types(connection)
        return (
            lambda row: parse_relation(row, catalogue, types, now),
            lambda conn, items: ledger.Appended(ledger.add_relations(conn, items, now)),
        )
    if kind == "furnishers":
        return (
            lambda row: parse_furnisher(row, catalogue),
            lambda conn, items: ledger.Appended(ledger.add_furnishers(conn, items, now)),
        )
    if kind == "registry":
        return parse_registry, lambda conn, items: ledger.Appended(ledger.add_registry(conn, items))
    raise ValueError(f"unknown kind of file {kind!r}; expected one of {', '.join(FILE_KINDS)}")


def _add_events(connection: sa.Connection, kind: str, taken: list[Any], now: datetime) -> None:
    """The outbox events of a batch that added something, in its transaction: every subject of
    its rows (both ends of a relation) is to be rescored. Duplicates among the rows only add a
    subject whose rescoring changes nothing."""
    if kind == "records":
        outbox.add_events(connection, EventKind.RECORD_ACCEPTED, (r.subject for r in taken), now)
    elif kind == "relations":
        ends = [end for r in taken for end in (r.subject, r.other)]
        outbox.add_events(connection, EventKind.RELATION_ACCEPTED, ends, now)


def _ingest_source(run: _Run, source: str, kind: str, batches: Iterator[Batch]) -> FileSummary:
    """Validate and append one file's batches in one transaction; roll back if it is unreadable."""
    rows = accepted = duplicates = rejected = 0
    add_reject = run.rejects.add
    try:
        with run.engine.begin() as connection:
            parse, append = _handlers(kind, run, connection)
            for lines, batch in batches:
                good: list[Any] = []
                keep = good.append
                taken: list[tuple[int, Any]] = []  # the line and row of each good row
                for line, row in zip(lines, batch, strict=True):
                    if type(row) is BadLine:
                        add_reject(source, line, row.reason, row.raw)
                        continue
                    try:
                        keep(parse(row))  # type: ignore[arg-type]
                    except (ValueError, TypeError) as exc:
                        add_reject(source, line, str(exc), row)
                    else:
                        taken.append((line, row))
                appended = append(connection, good) if good else ledger.Appended(0)
                for i, reason in appended.conflicts:  # re-sent with other content
                    add_reject(source, taken[i][0], reason, taken[i][1])
                new, conflicts = appended.new, len(appended.conflicts)
                if new:
                    _add_events(connection, kind, good, run.now)
                rows += len(batch)
                accepted += new
                duplicates += len(good) - new - conflicts
                rejected += len(batch) - len(good) + conflicts
                if run.progress is not None:
                    run.progress(len(batch))
            failpoint("ingest.before_commit")
    except BaseException:
        run.rejects.drop()
        raise
    run.rejects.keep()
    failpoint("ingest.after_commit")
    summary = FileSummary(source, kind, rows, accepted, duplicates, rejected)
    run.files.append(summary)
    return summary


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return _utc_now()
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _rejects_to(file: str | Path | None, folder: str | Path | None) -> _Rejects:
    """Rejects for a chosen file, or for a new file in a folder (default: here)."""
    return _Rejects(None if file is None else Path(file), None if folder is None else Path(folder))


def ingest_files(
    engine: sa.Engine,
    paths: Sequence[str | Path],
    *,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
    rejects: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    reject_dir: str | Path | None = None,
) -> IngestSummary:
    """Ingest furnisher files into the ledger, each file in its own transaction.

    Files are taken furnishers first, then registry, relations and records, whatever order they
    are given in. `now` (default: the current UTC time) is the limit for dates in the future
    and every new row's received_at. Bad rows go to the file `rejects`, or else to a new
    rejects-<UTC time>.ndjson in `reject_dir` (default: the working directory); either is
    created only when a row is rejected. Raises UnreadableFile, before anything is stored, if
    any file cannot be opened, its kind cannot be told or it lacks a required column; a file
    that turns out unreadable midway is rolled back entirely, and the error carries in
    `partial` what the files before it committed.
    """
    files = [Path(p) for p in paths]
    kinds = {path: detect_kind(path) for path in files}
    order = sorted(files, key=lambda p: FILE_KINDS.index(kinds[p]))
    run = _Run.start(engine, catalogue, now, _rejects_to(rejects, reject_dir), progress)
    try:
        for path in order:
            _ingest_source(run, str(path), kinds[path], _batches(path))
    except UnreadableFile as exc:
        exc.partial = run.summary(run.rejects.close())
        raise
    except BaseException:
        run.rejects.close()
        raise
    return run.summary(run.rejects.close())


def _table_batches(table: pa.Table | pa.RecordBatch, size: int | None = None) -> Iterator[Batch]:
    size = size or BATCH_ROWS
    line = 1
    batches = [table] if isinstance(table, pa.RecordBatch) else table.to_batches(size)
    for batch in batches:
        for start in range(0, batch.num_rows, size):
            rows = _arrow_rows(batch.slice(start, size))
            yield range(line, line + len(rows)), rows
            line += len(rows)


def ingest_tables(
    engine: sa.Engine,
    furnishers: pa.Table | None = None,
    registry: pa.Table | None = None,
    relations: pa.Table | None = None,
    records: Iterable[pa.Table] = (),
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    catalogue: Catalogue | None = None,
    rejects: str | Path | None = None,
    reject_dir: str | Path | None = None,
) -> IngestSummary:
    """Ingest in-memory Arrow tables (same columns as the files) exactly as files are ingested.

    Each table is one transaction; reject entries name it "<furnishers>", "<registry>",
    "<relations>" or "<records N>" (N counting from 1) with the row number as the line. Rejects
    go where ingest_files puts them.
    """
    run = _Run.start(engine, catalogue, now, _rejects_to(rejects, reject_dir), progress)
    try:
        for kind, table in (
            ("furnishers", furnishers),
            ("registry", registry),
            ("relations", relations),
        ):
            if table is not None:
                _ingest_source(run, f"<{kind}>", kind, _table_batches(table))
        for number, table in enumerate(records, start=1):
            _ingest_source(run, f"<records {number}>", "records", _table_batches(table))
    except BaseException:
        run.rejects.close()
        raise
    return run.summary(run.rejects.close())


@dataclass(frozen=True)
class RowsResult:
    """What ingesting rows contributed, and each rejected row's line and reason, in order."""

    summary: FileSummary
    rejects: list[dict[str, Any]]


class _MemoryRejects(_Rejects):
    """Rejects kept in memory (line and reason), for callers that answer with them."""

    def __init__(self) -> None:
        super().__init__(None)
        self.entries: list[dict[str, Any]] = []
        self.kept = 0

    def add(self, source: str, line: int, reason: str, row: Any) -> None:
        self.entries.append({"line": line, "reason": reason})

    def keep(self) -> None:
        self.kept = len(self.entries)

    def drop(self) -> None:
        del self.entries[self.kept :]

    def close(self) -> str | None:
        return None


def _row_batches(rows: Iterable[tuple[int, Row | BadLine]], size: int) -> Iterator[Batch]:
    lines: list[int] = []
    batch: list[Row | BadLine] = []
    for line, row in rows:
        lines.append(line)
        batch.append(row)
        if len(batch) >= size:
            yield lines, batch
            lines, batch = [], []
    if batch:
        yield lines, batch


def ingest_rows(
    engine: sa.Engine,
    kind: str,
    rows: Iterable[tuple[int, Row | BadLine]],
    source: str = "<rows>",
    *,
    now: datetime | None = None,
    catalogue: Catalogue | None = None,
) -> RowsResult:
    """Ingest rows already read, as (line number, row dict or BadLine), exactly as a file's
    rows are ingested: the same validation and append loop, in one transaction. Rejected rows
    come back with their line and reason instead of going to a reject file."""
    rejects = _MemoryRejects()
    run = _Run.start(engine, catalogue, now, rejects, None)
    summary = _ingest_source(run, source, kind, _row_batches(rows, BATCH_ROWS))
    return RowsResult(summary, rejects.entries)
