"""Ingest: rejects with lines and reasons, all-or-nothing files, idempotency, order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import (
    FURNISHERS,
    NOW,
    bad_check,
    count,
    furnisher_rows,
    new_store,
    record_row,
    registry_row,
    relation_row,
    resident_id,
    table_rows,
    uscc,
    write_rows,
)
from socialcredit.domain.records import RECORD_FIELDS
from socialcredit.services import ingest
from socialcredit.services.ingest import (
    BadLine,
    UnreadableFile,
    count_rows,
    detect_kind,
    ingest_files,
    ingest_tables,
    read_rows,
)

FORMATS = ("csv", "ndjson", "parquet")
RECORD_COLUMNS = (
    "furnisher",
    "external_id",
    "subject",
    "kind",
    "occurred_at",
    "value",
    "attributes",
    "replaces",
)


pytestmark = pytest.mark.usefixtures("store_backend")


def rejects_of(path: str | Path | None) -> list[dict[str, Any]]:
    assert path is not None
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def registered(tmp_path: Path) -> sa.Engine:
    """A store with the test furnishers registered."""
    engine = new_store(tmp_path)
    path = write_rows(tmp_path / "furnishers.csv", furnisher_rows())
    summary = ingest_files(engine, [path], now=NOW, rejects=tmp_path / "furnishers.rejects")
    assert summary.accepted == len(FURNISHERS) and summary.reject_file is None
    return engine


def store_state(engine: sa.Engine) -> dict[str, set[tuple[Any, ...]]]:
    return {
        "records": table_rows(engine, "records", RECORD_COLUMNS),
        "subjects": table_rows(engine, "subjects"),
        "relations": table_rows(
            engine,
            "relations",
            ("furnisher", "external_id", "subject", "other", "relation", "start", "end"),
        ),
        "registry": table_rows(engine, "registry"),
        "furnishers": table_rows(engine, "furnishers", ("id", "type", "name")),
    }


# ------------------------------------------------------------------------------ bad rows

GOOD_1 = record_row(external_id="ok-1", value=12.5, attributes={"months": 3})
# Each item: a row (or a raw NDJSON line) and a phrase of the reason it is rejected for.
CASES: list[tuple[dict[str, Any] | str, str | None]] = [
    (GOOD_1, None),
    ("this is not json", "not valid JSON"),
    (record_row(external_id=None), "missing field 'external_id'"),
    ("", None),  # a blank line: skipped, but it still counts as a line of the file
    (record_row(external_id="e-kind", kind="loan.nonsense"), "unknown record kind"),
    (record_row(external_id="e-subj", subject=bad_check(resident_id(5))), "check character"),
    (record_row(external_id="e-may", kind="tax.arrears"), "may not send 'tax.arrears'"),
    (record_row(external_id="e-future", occurred_at="2027-01-01T00:00:00"), "in the future"),
    ("[1, 2]", "not a JSON object"),
    (record_row(external_id="e-value", value="abc"), "'value' must be a number"),
    (record_row(external_id="e-attrs", attributes=[1, 2]), "'attributes' must be a JSON object"),
    (record_row(external_id="e-retract", kind="record.retracted"), "retraction must name"),
    (record_row(external_id="e-unreg", furnisher="bank-x"), "register it"),
    (
        record_row(
            external_id="ok-2",
            subject=uscc(3),
            furnisher="court-a",
            kind="court.judgment_unfulfilled",
        ),
        None,
    ),
    (record_row(external_id="ok-3", kind="record.retracted", replaces="ok-1"), None),
    (dict(GOOD_1), None),  # the same row again: a duplicate, not a reject
]


def expected_lines(fmt: str) -> tuple[list[dict[str, Any] | str], dict[int, str]]:
    """The items written for a format and {line: reason phrase} for the rejected ones."""
    items: list[dict[str, Any] | str] = []
    reasons: dict[int, str] = {}
    for item, reason in CASES:
        if isinstance(item, str) and fmt != "ndjson":
            continue
        items.append(item)
        line = len(items) + (1 if fmt == "csv" else 0)
        if reason is not None:
            reasons[line] = reason
    return items, reasons


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_rows_land_in_the_reject_file_and_good_rows_are_committed(
    tmp_path: Path, fmt: str
) -> None:
    engine = registered(tmp_path)
    items, reasons = expected_lines(fmt)
    path = write_rows(tmp_path / f"records-bank.{fmt}", items, columns=RECORD_FIELDS)
    reject_path = tmp_path / "rejects.ndjson"

    summary = ingest_files(engine, [path], now=NOW, rejects=reject_path)

    assert summary.reject_file == str(reject_path)
    rejects = rejects_of(summary.reject_file)
    assert [r["line"] for r in rejects] == sorted(reasons)
    for entry in rejects:
        assert reasons[entry["line"]] in entry["reason"], entry
        assert entry["file"] == str(path)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, len(reasons))
    assert summary.files[0].rows == 3 + 1 + len(reasons)
    stored = {row[1] for row in table_rows(engine, "records", RECORD_COLUMNS)}
    assert stored == {"ok-1", "ok-2", "ok-3"}

    by_id = {r["row"]["external_id"]: r for r in rejects if isinstance(r["row"], dict)}
    assert by_id["e-value"]["row"]["value"] == "abc"
    assert by_id["e-subj"]["row"]["subject"] == bad_check(resident_id(5))
    with engine.connect() as connection:
        attributes = connection.execute(
            sa.text("SELECT attributes FROM records WHERE external_id = 'ok-1'")
        ).scalar_one()
    assert json.loads(attributes) == {"months": 3}


def test_reject_rows_are_json_safe_and_keep_parquet_times(tmp_path: Path) -> None:
    engine = registered(tmp_path)
    rows = [
        record_row(external_id="ok", occurred_at=datetime(2026, 1, 2, 3, 4, 5)),
        record_row(external_id="late", occurred_at=NOW + timedelta(days=1)),
    ]
    path = write_rows(tmp_path / "records.parquet", rows)
    assert pq.read_schema(path).field("occurred_at").type == pa.timestamp("us")

    summary = ingest_files(engine, [path], now=NOW, rejects=tmp_path / "r.ndjson")

    assert (summary.accepted, summary.rejected) == (1, 1)
    (entry,) = rejects_of(summary.reject_file)
    assert entry["line"] == 2
    assert entry["row"]["occurred_at"] == (NOW + timedelta(days=1)).isoformat()
    occurred = table_rows(engine, "records", ("occurred_at",))
    assert occurred == {(datetime(2026, 1, 2, 3, 4, 5),)}


def test_csv_empty_cells_are_none_and_short_lines_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    header = ",".join(RECORD_FIELDS)
    good = f"{resident_id(1)},bank-a,loan.repaid_on_time,2026-01-01,x-1,,,,"
    path.write_text(f"{header}\n{good}\n\n{resident_id(1)},bank-a\n", encoding="utf-8")

    rows = list(read_rows(path))

    assert rows[0][0] == 2
    first = rows[0][1]
    assert isinstance(first, dict) and first["value"] is None and first["external_id"] == "x-1"
    line, short = rows[1]
    assert line == 4 and isinstance(short, BadLine) and "2 cells" in short.reason


def test_ndjson_lines_are_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "records.ndjson"
    path.write_bytes(b'\n{"kind": "a"}\n\n  \nnot json\n{"kind": "b"}\n\xff\xfe\n')

    rows = list(read_rows(path))

    assert [line for line, _ in rows] == [2, 5, 6, 7]
    assert isinstance(rows[1][1], BadLine) and isinstance(rows[3][1], BadLine)
    assert rows[2][1] == {"kind": "b"}


# ------------------------------------------------------------------------------ all or nothing


def test_truncated_parquet_raises_and_changes_nothing(tmp_path: Path) -> None:
    engine = registered(tmp_path)
    good = write_rows(tmp_path / "good.csv", [record_row(external_id="g")])
    path = write_rows(
        tmp_path / "records.parquet", [record_row(external_id=f"r-{i}") for i in range(50)]
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = store_state(engine)

    with pytest.raises(UnreadableFile) as caught:
        ingest_files(engine, [good, path], now=NOW, rejects=tmp_path / "r.ndjson")

    assert caught.value.path == str(path)
    assert store_state(engine) == before
    assert not (tmp_path / "r.ndjson").exists()


def test_parquet_corrupt_midway_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = registered(tmp_path)
    first = write_rows(tmp_path / "a.csv", [record_row(external_id="a", kind="bad.kind")])
    rows = [record_row(external_id=f"r-{i}") for i in range(10)]
    rows[0] = record_row(external_id="r-0", value="abc")  # a reject that must be taken back
    path = write_rows(tmp_path / "records.parquet", rows)
    pq.write_table(pq.read_table(path), path, row_group_size=4)
    column = pq.ParquetFile(path).metadata.row_group(2).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    monkeypatch.setattr(ingest, "BATCH_ROWS", 2)
    before_records, before_subjects = count(engine, "records"), count(engine, "subjects")
    seen: list[int] = []

    with pytest.raises(UnreadableFile, match="Parquet") as caught:
        ingest_files(
            engine, [first, path], now=NOW, rejects=tmp_path / "r.ndjson", progress=seen.append
        )

    assert sum(seen) >= 2  # batches were appended before the corrupt row group was reached
    assert (count(engine, "records"), count(engine, "subjects")) == (
        before_records,
        before_subjects,
    )
    partial = caught.value.partial
    assert partial is not None and [f.path for f in partial.files] == [str(first)]
    assert partial.reject_file == str(tmp_path / "r.ndjson")
    assert [r["file"] for r in rejects_of(partial.reject_file)] == [str(first)]


def test_csv_not_utf8_midway_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = registered(tmp_path)
    path = write_rows(
        tmp_path / "records.csv", [record_row(external_id=f"r-{i}") for i in range(400)]
    )
    with path.open("ab") as handle:
        handle.write(b"\xff\xfe\xfd,bank-a\n")
    monkeypatch.setattr(ingest, "BATCH_ROWS", 10)
    seen: list[int] = []

    with pytest.raises(UnreadableFile, match="UTF-8"):
        ingest_files(engine, [path], now=NOW, rejects=tmp_path / "r.ndjson", progress=seen.append)

    assert sum(seen) > 0
    assert count(engine, "records") == 0 and count(engine, "subjects") == 0


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("records.txt", b"kind\n", "unknown file type"),
        ("records.csv", b"", "empty"),
        ("records.ndjson", b"", "empty"),
        ("records.parquet", b"", "Parquet"),
        ("records.parquet", b"PAR1 this is not parquet", "Parquet"),
        ("records.ndjson", b"nonsense\n[1]\n", "no JSON object"),
        ("records.csv", f"{resident_id(1)},bank-a,loan.repaid_on_time\n".encode(), "expected"),
        ("records.csv", b"kind,kind,subject\n", "repeats"),
        ("records.ndjson", b'{"colour": "blue"}\n', "cannot tell"),
    ],
)
def test_unreadable_files_raise_and_change_nothing(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    engine = registered(tmp_path)
    good = write_rows(tmp_path / "good.ndjson", [record_row(external_id="g")])
    path = tmp_path / name
    path.write_bytes(content)
    before = store_state(engine)

    with pytest.raises(UnreadableFile, match=reason):
        ingest_files(engine, [good, path], now=NOW, rejects=tmp_path / "r.ndjson")

    assert store_state(engine) == before


def test_unknown_columns_name_the_expected_ones(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "x.csv", [{"colour": "blue"}])

    with pytest.raises(UnreadableFile) as caught:
        detect_kind(path)

    for column in ("kind", "relation", "type", "furnisher", "subject", "name"):
        assert column in caught.value.reason


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="cannot open"):
        ingest_files(new_store(tmp_path), [tmp_path / "nowhere.csv"], now=NOW)


# ------------------------------------------------------------------------------ idempotency


@pytest.mark.parametrize("fmt", FORMATS)
def test_ingesting_a_file_twice_changes_nothing(tmp_path: Path, fmt: str) -> None:
    engine = registered(tmp_path)
    rows = [record_row(external_id=f"r-{i}", subject=resident_id(i)) for i in range(30)]
    path = write_rows(tmp_path / f"records.{fmt}", rows)

    first = ingest_files(engine, [path], now=NOW)
    full = table_rows(engine, "records")
    subjects = table_rows(engine, "subjects")
    second = ingest_files(engine, [path], now=NOW + timedelta(hours=1))

    assert (first.accepted, first.duplicates, first.rejected) == (30, 0, 0)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 30, 0)
    assert first.reject_file is None and second.reject_file is None
    assert table_rows(engine, "records") == full
    assert table_rows(engine, "subjects") == subjects


def test_furnishers_registry_and_relations_are_idempotent_too(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    paths = [
        write_rows(tmp_path / "furnishers.csv", furnisher_rows()),
        write_rows(tmp_path / "registry.ndjson", [registry_row(), registry_row(subject=uscc(1))]),
        write_rows(tmp_path / "relations.parquet", [relation_row()]),
    ]

    first = ingest_files(engine, paths, now=NOW)
    state = store_state(engine)
    second = ingest_files(engine, paths, now=NOW)

    assert [(f.kind, f.accepted) for f in first.files] == [
        ("furnishers", 4),
        ("registry", 2),
        ("relations", 1),
    ]
    assert (second.accepted, second.duplicates) == (0, 7)
    assert store_state(engine) == state


def conflict(received: datetime) -> str:
    return (
        f"conflict: differs from the record received {received.isoformat()}Z; "
        "send a correction with replaces"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_changed_resend_is_a_conflict_on_its_line(tmp_path: Path, fmt: str) -> None:
    engine = registered(tmp_path)
    first = [record_row(external_id=f"r-{i}", value=float(i)) for i in range(3)]
    ingest_files(engine, [write_rows(tmp_path / f"first.{fmt}", first)], now=NOW)
    stored = table_rows(engine, "records")
    later = NOW + timedelta(hours=1)
    second = [
        record_row(external_id="r-0", value=0.0),  # as it was: a duplicate
        record_row(external_id="r-1", value=7.0),  # changed: a conflict
        record_row(external_id="r-3", value=3.0),
        record_row(external_id="r-3", value=4.0),  # changed within the file: a conflict too
        record_row(external_id="r-2", value=2.0, attributes={"note": "added"}),
    ]
    path = write_rows(tmp_path / f"second.{fmt}", second, columns=RECORD_FIELDS)

    summary = ingest_files(engine, [path], now=later, rejects=tmp_path / "rejects.ndjson")

    assert (summary.accepted, summary.duplicates, summary.rejected) == (1, 1, 3)
    header = 1 if fmt == "csv" else 0
    rejects = {r["line"] - header: r for r in rejects_of(summary.reject_file)}
    assert {line: r["reason"] for line, r in rejects.items()} == {
        2: conflict(NOW),
        4: conflict(later),
        5: conflict(NOW),
    }
    assert rejects[2]["row"]["value"] in (7.0, "7.0")  # CSV cells are text
    assert stored < table_rows(engine, "records") and count(engine, "records") == 4


def test_corrections_are_stored_with_the_chain_they_join(tmp_path: Path) -> None:
    engine = registered(tmp_path)
    first = [
        record_row(external_id="c-1", replaces="o"),  # before the record it names
        record_row(external_id="o"),
        record_row(external_id="c-2", replaces="c-1"),
        record_row(external_id="u-1", replaces="unknown"),
    ]
    ingest_files(engine, [write_rows(tmp_path / "first.ndjson", first)], now=NOW)
    second = [
        record_row(external_id="c-3", replaces="c-1"),
        record_row(external_id="c-4", replaces="c-3", kind="record.retracted"),
        record_row(external_id="p"),
    ]
    ingest_files(engine, [write_rows(tmp_path / "second.ndjson", second)], now=NOW)

    chains = dict(table_rows(engine, "records", ("external_id", "chain")))
    assert chains == {
        "o": None,
        "c-1": "o",
        "c-2": "o",
        "c-3": "o",
        "c-4": "o",
        "u-1": "unknown",
        "p": None,
    }


# ------------------------------------------------------------------------------ order


def order_files() -> list[tuple[str, list[dict[str, Any]]]]:
    """A small city in files: every kind of file, a retraction, a duplicate across files."""
    shared = record_row(external_id="shared", subject=resident_id(9), value=3.0)
    return [
        ("furnishers.csv", furnisher_rows()),
        ("registry.ndjson", [registry_row(subject=resident_id(i)) for i in range(4)]),
        (
            "relations.parquet",
            [
                relation_row(external_id="g-1"),
                relation_row(external_id="c-1", relation="contact", other=uscc(2)),
            ],
        ),
        (
            "records-bank.csv",
            [
                record_row(external_id=f"b-{i}", subject=resident_id(i), value=float(i))
                for i in range(4)
            ]
            + [shared, record_row(external_id="bad", value="abc")],
        ),
        (
            "records-court.ndjson",
            [
                record_row(
                    external_id=f"c-{i}",
                    furnisher="court-a",
                    kind="court.judgment_unfulfilled",
                    subject=uscc(i),
                    attributes={"case": f"({i})"},
                )
                for i in range(3)
            ]
            + [
                record_row(
                    external_id="c-retract",
                    furnisher="court-a",
                    kind="record.retracted",
                    subject=uscc(0),
                    replaces="c-0",
                )
            ],
        ),
        (
            "records-tax.parquet",
            [
                record_row(
                    external_id=f"t-{i}",
                    furnisher="tax-a",
                    kind="tax.arrears",
                    subject=resident_id(10 + i),
                    value=100.0 * i,
                    occurred_at=datetime(2026, 2, 1 + i, 9),
                )
                for i in range(3)
            ]
            + [shared],
        ),
    ]


_BASELINE: dict[str, dict[str, set[tuple[Any, ...]]]] = {}


def ingest_in_order(
    directory: Path,
    files: list[tuple[str, list[dict[str, Any]]]],
    *,
    one_call: bool,
) -> dict[str, set[tuple[Any, ...]]]:
    directory.mkdir(parents=True, exist_ok=True)
    engine = new_store(directory)
    paths = [write_rows(directory / name, rows) for name, rows in files]
    if one_call:
        ingest_files(engine, paths, now=NOW, rejects=directory / "r.ndjson")
    else:
        furnishers = [p for p in paths if p.name.startswith("furnishers")]
        ingest_files(engine, furnishers, now=NOW, rejects=directory / "f.ndjson")
        for i, path in enumerate(p for p in paths if p not in furnishers):
            ingest_files(engine, [path], now=NOW, rejects=directory / f"r{i}.ndjson")
    state = store_state(engine)
    engine.dispose()
    return state


def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[Any, ...]]]:
    if "state" not in _BASELINE:
        directory = tmp_path_factory.mktemp("baseline")
        _BASELINE["state"] = ingest_in_order(directory, order_files(), one_call=True)
    return _BASELINE["state"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), one_call=st.booleans())
def test_ingest_order_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, one_call: bool
) -> None:
    files = order_files()
    expected = baseline(tmp_path_factory)
    order = data.draw(st.permutations(range(len(files))), label="file order")
    shuffled = [
        (files[i][0], data.draw(st.permutations(files[i][1]), label=files[i][0])) for i in order
    ]

    state = ingest_in_order(tmp_path_factory.mktemp("order"), shuffled, one_call=one_call)

    assert state == expected
    assert len(state["records"]) == 4 + 1 + 4 + 3
    assert len(state["relations"]) == 2


# ------------------------------------------------------------------------------ registration


def test_furnisher_file_then_records_in_one_call(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    records = write_rows(tmp_path / "records.csv", [record_row(external_id="r")])
    furnishers = write_rows(tmp_path / "furnishers.ndjson", furnisher_rows())

    summary = ingest_files(engine, [records, furnishers], now=NOW)

    assert [f.kind for f in summary.files] == ["furnishers", "records"]
    assert (summary.accepted, summary.rejected, summary.reject_file) == (5, 0, None)


def test_records_before_their_furnisher_is_registered_are_rejected(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    path = write_rows(tmp_path / "records.csv", [record_row(external_id="r")])
    relations = write_rows(tmp_path / "relations.csv", [relation_row()])

    summary = ingest_files(engine, [path, relations], now=NOW, rejects=tmp_path / "r.ndjson")

    assert (summary.accepted, summary.rejected) == (0, 2)
    reasons = [r["reason"] for r in rejects_of(summary.reject_file)]
    assert all("register" in reason for reason in reasons)
    assert count(engine, "records") == 0 and count(engine, "subjects") == 0


def test_bad_furnisher_registry_and_relation_rows_are_rejected(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    paths = [
        write_rows(
            tmp_path / "furnishers.csv",
            [*furnisher_rows(), {"furnisher": "x", "type": "astrologer", "name": "X"}],
        ),
        write_rows(
            tmp_path / "registry.csv",
            [registry_row(), registry_row(subject="12345", name="Nobody")],
        ),
        write_rows(
            tmp_path / "relations.ndjson",
            [
                relation_row(),
                relation_row(external_id="s", relation="spouse"),
                relation_row(external_id="self", other=resident_id(1)),
            ],
        ),
    ]

    summary = ingest_files(engine, paths, now=NOW, rejects=tmp_path / "r.ndjson")

    assert [(f.kind, f.accepted, f.rejected) for f in summary.files] == [
        ("furnishers", 4, 1),
        ("registry", 1, 1),
        ("relations", 1, 2),
    ]
    reasons = [(r["line"], r["reason"]) for r in rejects_of(summary.reject_file)]
    assert "astrologer" in reasons[0][1] and reasons[0][0] == 6
    assert reasons[1][0] == 3
    assert "refused" in reasons[2][1] and reasons[2][0] == 2
    assert "itself" in reasons[3][1] and reasons[3][0] == 3


# ------------------------------------------------------------------------------ the rest


def test_default_reject_file_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = registered(tmp_path)
    good = write_rows(tmp_path / "good.csv", [record_row(external_id="g")])
    bad = write_rows(tmp_path / "bad.csv", [record_row(external_id="b", kind="nope")])

    clean = ingest_files(engine, [good], now=NOW)
    dirty = ingest_files(engine, [bad], now=NOW)

    assert clean.reject_file is None
    assert dirty.reject_file is not None
    reject = Path(dirty.reject_file)
    assert reject.parent == tmp_path and reject.name.startswith("rejects-")
    assert [p.name for p in tmp_path.glob("rejects-*.ndjson")] == [reject.name]


def test_summary_json_and_progress(tmp_path: Path) -> None:
    engine = registered(tmp_path)
    path = write_rows(
        tmp_path / "records.ndjson",
        [record_row(external_id=f"r-{i}") for i in range(5)] + [record_row(kind="nope")],
    )
    seen: list[int] = []

    summary = ingest_files(
        engine, [path], now=NOW, rejects=tmp_path / "r.ndjson", progress=seen.append
    )

    data = summary.as_json()
    assert {"accepted", "rejected", "duplicates", "reject_file", "files"} <= set(data)
    assert (data["accepted"], data["rejected"], data["duplicates"]) == (5, 1, 0)
    assert data["files"][0]["kind"] == "records" and data["files"][0]["rows"] == 6
    assert sum(seen) == 6
    json.dumps(data)


def test_default_now_refuses_the_future_and_stamps_received_at(tmp_path: Path) -> None:
    engine = registered(tmp_path)
    soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2)
    path = write_rows(
        tmp_path / "records.csv",
        [record_row(external_id="past"), record_row(external_id="soon", occurred_at=soon)],
    )
    before = datetime.now(UTC).replace(tzinfo=None)

    summary = ingest_files(engine, [path], rejects=tmp_path / "r.ndjson")

    assert (summary.accepted, summary.rejected) == (1, 1)
    ((received,),) = table_rows(engine, "records", ("received_at",))
    assert before - timedelta(seconds=1) <= received <= datetime.now(UTC).replace(tzinfo=None)


def test_tables_take_the_same_path_as_files(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    records = pa.table(
        {
            "subject": [resident_id(1), resident_id(2), "nobody"],
            "furnisher": ["bank-a", "bank-a", "bank-a"],
            "kind": ["loan.repaid_on_time"] * 3,
            "occurred_at": pa.array(
                [datetime(2026, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("ns", tz="UTC")
            ),
            "external_id": ["a", "b", "c"],
            "value": pa.array([Decimal("1.50"), None, None], pa.decimal128(5, 2)),
            "attributes": ['{"x": 1}', None, None],
        }
    )
    seen: list[int] = []

    summary = ingest_tables(
        engine,
        pa.table({"furnisher": ["bank-a"], "type": ["lender"], "name": ["Bank A"]}),
        pa.table({"subject": [resident_id(1)], "name": ["Wang"]}),
        None,
        iter([records, records.slice(0, 1)]),
        NOW,
        seen.append,
        rejects=tmp_path / "r.ndjson",
    )

    assert [(f.path, f.accepted, f.duplicates, f.rejected) for f in summary.files] == [
        ("<furnishers>", 1, 0, 0),
        ("<registry>", 1, 0, 0),
        ("<records 1>", 2, 0, 1),
        ("<records 2>", 0, 1, 0),
    ]
    (entry,) = rejects_of(summary.reject_file)
    assert (entry["file"], entry["line"]) == ("<records 1>", 3)
    assert entry["row"]["occurred_at"].startswith("2026-01-01T00:00:00")
    assert ("a", datetime(2026, 1, 1), 1.5) in table_rows(
        engine, "records", ("external_id", "occurred_at", "value")
    )
    assert sum(seen) == 6


def test_count_rows_and_detect_kind(tmp_path: Path) -> None:
    rows = [record_row(external_id=f"r-{i}") for i in range(7)]
    for fmt in FORMATS:
        path = write_rows(tmp_path / f"records.{fmt}", rows)
        assert count_rows(path) == 7
        assert detect_kind(path) == "records"
    assert detect_kind(write_rows(tmp_path / "f.parquet", furnisher_rows())) == "furnishers"
    assert detect_kind(write_rows(tmp_path / "g.csv", [registry_row()])) == "registry"
    assert detect_kind(write_rows(tmp_path / "h.jsonl", [relation_row()])) == "relations"
