"""What `socialcredit ingest` and the demo say about an ingest: totals per kind of row, the
first rejected rows, and where the reject file went."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine

from socialcredit.cli.wording import plural
from socialcredit.services.ingest import IngestSummary, UnreadableFile
from socialcredit.store.database import sqlite_file

REJECTS_FOLDER = "rejects"
"""The folder beside a SQLite store (or here, for PostgreSQL) that reject files go to."""

EXIT_REJECTED = 3
"""`ingest`'s exit status when the good rows were stored but some rows were rejected."""


def rejects_folder(engine: Engine, chosen: Path | None = None) -> Path:
    """Where reject files go: the chosen folder, else rejects/ beside the SQLite store's file,
    else rejects/ here; so that a user finds them next to the data they concern."""
    if chosen is not None:
        return chosen
    file = sqlite_file(engine)
    return (file.parent if file is not None else Path()) / REJECTS_FOLDER


def kind_lines(summary: IngestSummary) -> list[str]:
    """One line per kind of row (records, relations, registry, furnishers), so that the numbers
    of each add up on their own."""
    return [
        f"{k.kind}: {k.accepted:,} accepted, {k.duplicates:,} duplicates, {k.rejected:,} rejected"
        for k in summary.by_kind()
    ]


def report_ingest(summary: IngestSummary, console: Console) -> None:
    """The totals per kind, then the first rejected rows and the reject file's path."""
    for line in kind_lines(summary):
        console.print(line, highlight=False, soft_wrap=True)
    report_rejects(summary, console)


def report_rejects(summary: IngestSummary, console: Console) -> None:
    """The first rejected rows (file, line, reason) and where all of them are."""
    if not summary.rejected:
        return
    shown = len(summary.first_rejects)
    heading = "rejected rows" if shown == summary.rejected else f"the first {shown} of "
    if shown != summary.rejected:
        heading += f"{summary.rejected:,} rejected rows"
    console.print(f"{heading}:", highlight=False)
    for row in summary.first_rejects:
        console.print(
            f"  {row.file} line {row.line}: {row.reason}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    console.print(
        f"all rejected rows, with line numbers and reasons: {summary.reject_file}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def unreadable_note(exc: UnreadableFile) -> str:
    """What was stored when a file turned out unreadable: nothing, or the files before it."""
    partial = exc.partial
    if partial is None or not partial.files:
        return "nothing was stored"
    note = (
        f"nothing from that file was stored; the {plural(len(partial.files), 'file')} before "
        "it were: "
        f"{partial.accepted:,} rows accepted, {partial.duplicates:,} duplicates, "
        f"{partial.rejected:,} rejected"
    )
    if partial.reject_file:
        note += f" (in {partial.reject_file})"
    return note
