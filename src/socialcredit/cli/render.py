"""Terminal rendering for the CLI: score histograms, grade counts, a subject's explanation."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from socialcredit.domain.programs import Program

BAR_WIDTH = 40


def histogram(scores: list[int], program: Program, bins: int = 12) -> Table:
    """Scores binned over the range actually used, drawn as horizontal bars."""
    table = Table(title=f"{program.name}: score distribution", show_header=True, box=None)
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("subjects", justify="right")
    if not scores:
        table.add_row("-", "no scored subjects", "0")
        return table
    low, high = min(scores), max(scores)
    width = max(1, -(-(high - low + 1) // bins))
    counts = Counter((s - low) // width for s in scores)
    peak = max(counts.values())
    for i in range(max(counts) + 1):
        n = counts.get(i, 0)
        start = low + i * width
        bar = "█" * max(1 if n else 0, round(BAR_WIDTH * n / peak))
        table.add_row(f"{start}-{start + width - 1}", Text(bar, style="cyan"), f"{n:,}")
    return table


def grade_counts(grades: list[str | None], program: Program) -> Table:
    """How many subjects hold each grade, from the highest band down."""
    counts = Counter(grades)
    table = Table(title=f"{program.name}: grades", box=None)
    table.add_column("grade")
    table.add_column("subjects", justify="right")
    table.add_column("share", justify="right")
    total = sum(counts.values()) or 1
    for band in program.bands:
        n = counts.get(band.grade, 0)
        table.add_row(band.grade, f"{n:,}", f"{100 * n / total:.1f}%")
    if counts.get(None):
        n = counts[None]
        table.add_row("insufficient data", f"{n:,}", f"{100 * n / total:.1f}%")
    return table


def score_panel(entry: dict[str, Any]) -> Panel:
    """One program's score for a subject, with every contribution and reason."""
    title = f"{entry['program']} ({entry['policy_version']}), as of {entry['as_of']}"
    if entry["score"] is None:
        body: Any = Text(f"No score: {entry['status'].replace('_', ' ')}.")
        return Panel(body, title=title)
    lines = Table(box=None, show_header=True)
    lines.add_column("rule")
    lines.add_column("factor")
    lines.add_column("points", justify="right")
    lines.add_column("records")
    lines.add_row("base", "", str(entry["base"]), "")
    for c in entry["contributions"]:
        ids = ", ".join(map(str, c["record_ids"][:6])) + (" …" if len(c["record_ids"]) > 6 else "")
        lines.add_row(c["rule"], c["factor"], f"{c['points']:+d}", ids)
    if entry["clamp"]:
        lines.add_row("clamp to range", "", f"{-entry['clamp']:+d}", "")
    lines.add_row(Text("score", style="bold"), "", Text(str(entry["score"]), style="bold"), "")
    header = Text(
        f"score {entry['score']}  grade {entry['grade']}  "
        f"higher than {entry['percentile']}% of subjects  as of {entry['as_of']}",
        style="bold",
    )
    return Panel(Group(header, lines, _reasons(entry["reasons"])), title=title)


def _reasons(reasons: list[dict[str, Any]]) -> Table | Text:
    if not reasons:
        return Text("No reasons: no points lost against the best attainable.")
    table = Table(box=None, show_header=True, title="reasons")
    table.add_column("code")
    table.add_column("points lost", justify="right")
    table.add_column("why")
    for r in reasons:
        table.add_row(r["code"], str(r["points_lost"]), r["text"])
    return table


def subject_report(view: dict[str, Any], console: Console) -> None:
    """Print a subject's scores with full explanations."""
    console.print(f"[bold]{view['subject']}[/bold] ({view['kind']})")
    if not view["scores"]:
        console.print("Not scored yet: run `socialcredit score`.")
    for entry in view["scores"]:
        console.print(score_panel(entry))
