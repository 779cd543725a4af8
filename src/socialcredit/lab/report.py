"""The lab report: figures.json and a self-contained report.html (inline SVG, no scripts)."""

from __future__ import annotations

import json
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any

from socialcredit.lab.gate import GateResult, gate, ratio_text
from socialcredit.lab.svg import (
    MUTED,
    PALETTE,
    Bar,
    Series,
    bar_chart,
    grade_colors,
    line_chart,
    stacked_bars,
)

__all__ = ["render_html", "write_report"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #111827;
       line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { margin-top: 2.2rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .2rem; }
h3 { margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #e5e7eb; padding: .25rem .5rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f9fafb; }
.flag { color: #b91c1c; font-weight: 600; }
.ok { color: #047857; font-weight: 600; }
.verdict { padding: .8rem 1rem; border-radius: .4rem; margin: 1rem 0; }
.verdict.pass { background: #ecfdf5; border: 1px solid #a7f3d0; }
.verdict.fail { background: #fef2f2; border: 1px solid #fecaca; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.note { color: #4b5563; font-size: .9rem; }
figure { margin: .5rem 0; }
"""


def _is_number(cell: object) -> bool:
    text = str(cell).replace(",", "").replace("%", "").lstrip("+-")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(
            f"<td{' class=num' if _is_number(c) else ''}>"
            f"{c if isinstance(c, _Html) else escape(str(c))}</td>"
            for c in row
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Html(str):
    """Text already escaped."""


MAX_LISTED = 12


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if 0 < abs(value) < 0.01 else f"{value:.1%}"


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def _signed(value: int | None) -> str:
    return "-" if value is None else f"{value:+d}"


def _unaudited(measures: list[dict[str, Any]]) -> str:
    """The program's measures neither its score nor records decide, in one sentence."""
    if not measures:
        return ""
    names = ", ".join(f"{m['service']}:{m['measure']}" for m in measures)
    return (
        f"<br><span class='note'>Not audited ({len(measures)} measure(s) keyed on flags, or on "
        f"lists entered by another program's score): {escape(names)}</span>"
    )


def _list_measures(measures: list[dict[str, Any]]) -> str:
    """The measures records decide, in one sentence."""
    if not measures:
        return ""
    lists = sorted({m["list"] or "recent records" for m in measures})
    return (
        f"<p>Also audited in every world: {len(measures)} measure(s) decided by records, not "
        f"by a score ({escape(', '.join(lists))}); see section 6.</p>"
    )


def _meta(figures: dict[str, Any], verdict: GateResult) -> str:
    meta = figures["meta"]
    programs = "".join(
        f"<li><b>{escape(p['id'])}</b> ({escape(p['name'])}), version "
        f"<code>{escape(p['version'])}</code>; measures catalogue "
        f"<code>{escape(p['measures_version'])}</code>; cutoffs: "
        + (
            ", ".join(escape(f"{c['service']}:{c['measure']} ({c['rule']})") for c in p["cutoffs"])
            or "none"
        )
        + _unaudited(p["not_audited"])
        + "</li>"
        for p in meta["programs"]
    )
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in meta["seconds"].items())
    status = "pass" if verdict.passed else "fail"
    items = verdict.failures if verdict.failures else verdict.checks
    shown = items[:MAX_LISTED]
    listing = "".join(f"<li>{escape(item)}</li>" for item in shown)
    if len(items) > len(shown):
        listing += f"<li>... and {len(items) - len(shown)} more (section 2 lists them all)</li>"
    headline = (
        "The gate passes: no adverse impact ratio under the four-fifths threshold, and the "
        "Sybil ring stays within the limit."
        if verdict.passed
        else f"The gate fails ({len(verdict.failures)} failure(s)):"
    )
    return (
        f"<p>{meta['subjects']:,} synthetic subjects ({meta['persons']:,} persons), "
        f"{meta['records_at_start']:,} records at the start, simulated for {meta['months']} "
        f"month(s) from {meta['start']} with seed {meta['seed']}.</p><ul>{programs}</ul>"
        + _list_measures(meta.get("list_measures", []))
        + f'<div class="verdict {status}" id="gate"><b>{escape(headline)}</b>'
        f"<ul>{listing}</ul></div>"
        f'<p class="note">Run time: {escape(seconds)}.</p>'
    )


def _distribution(figures: dict[str, Any]) -> str:
    parts = ["<h2 id='distribution'>1. Score distribution</h2>"]
    for i, dist in enumerate(figures["distribution"]):
        pid = dist["program"]
        months = [r for r in dist["months"] if r["quantiles"]]
        color = PALETTE[i % len(PALETTE)]
        fan = line_chart(
            [
                Series(
                    "median, p25-75",
                    [r["month"] for r in months],
                    [r["quantiles"]["p50"] for r in months],
                    color,
                    low=[r["quantiles"]["p25"] for r in months],
                    high=[r["quantiles"]["p75"] for r in months],
                ),
                Series(
                    "p5",
                    [r["month"] for r in months],
                    [r["quantiles"]["p5"] for r in months],
                    PALETTE[7],
                    dashed=True,
                ),
                Series(
                    "p95",
                    [r["month"] for r in months],
                    [r["quantiles"]["p95"] for r in months],
                    PALETTE[7],
                    dashed=True,
                ),
            ],
            title=f"{pid}: scores by month",
            x_label="month",
            y_label="score",
            integer_x=True,
        )
        first, last = dist["months"][0], dist["months"][-1]
        edges = first["histogram"]["edges"]
        mids = [(a + b) / 2 for a, b in pairwise(edges)]
        hist = line_chart(
            [
                Series("month 0", mids, first["histogram"]["counts"], PALETTE[7], dashed=True),
                Series(f"month {last['month']}", mids, last["histogram"]["counts"], color),
            ],
            title=f"{pid}: histogram, first and last month",
            x_label="score",
            y_label="subjects",
        )
        grades = list(first["grades"])
        labels = [*grades, "insufficient data"]
        columns = []
        for row in dist["months"]:
            total = row["subjects"] or 1
            shares = [row["grades"][g] / total for g in grades] + [row["insufficient_share"]]
            columns.append((str(row["month"]), shares))
        colors = [*grade_colors(len(grades)), MUTED]
        stacked = stacked_bars(
            columns, labels, title=f"{pid}: grade shares by month", colors=colors
        )
        migration = dist["migration"]
        states = migration["states"]
        rows = [
            [s, *[f"{c:,}" for c in counts]]
            for s, counts in zip(states, migration["counts"], strict=True)
        ]
        parts.append(
            f"<h3>{escape(pid)}</h3><div class='charts'><figure>{fan}</figure>"
            f"<figure>{hist}</figure><figure>{stacked}</figure></div>"
            f"<p>Insufficient data: {_pct(first['insufficient_share'])} in month 0, "
            f"{_pct(last['insufficient_share'])} in month {last['month']}. Mean score "
            f"{_num(first['mean'])} then {_num(last['mean'])}.</p>"
            f"<p>Grade migration from {escape(migration['from'])} (rows) to "
            f"{escape(migration['to'])} (columns):</p>" + _table(["from \\ to", *states], rows)
        )
    return "".join(parts)


def _adverse(figures: dict[str, Any]) -> str:
    section = figures["adverse_impact_ratios"]
    threshold = section["threshold"]
    parts = [
        "<h2 id='adverse-impact'>2. Adverse impact (four-fifths screen)</h2>",
        f"<p class='note'>For each decision cutoff and audit group: the share of persons the "
        f"cutoff approves, and its ratio to the best group's share in the same dimension. A "
        f"ratio under {threshold} is flagged. Groups under {section['min_group']} persons, and "
        f"cutoffs that approve fewer than {section['min_group']} persons in all, are shown but "
        "not judged. Audit attributes are never inputs to scoring.</p>",
    ]
    unjudged = sorted(
        {
            f"{s['program']}: {s['service']}:{s['measure']} in month {s['month']} "
            f"({s['approved']} approved)"
            for s in section["screens"]
            if not s["judged"]
        }
    )
    if unjudged:
        parts.append(
            "<p class='note'>Not judged, too few approved: " + escape("; ".join(unjudged)) + "</p>"
        )
    flagged = section["flagged"]
    if flagged:
        rows = [
            [
                f["program"],
                f"{f['service']}:{f['measure']}",
                f["month"],
                f["dimension"],
                f["group"],
                _pct(f["rate"]),
                ratio_text(f["ratio"], threshold),
                "yes" if f["significant"] else "no",
            ]
            for f in flagged
        ]
        header = ["program", "measure", "month", "dimension", "group", "approved", "ratio"]
        parts.append(
            f"<p class='flag'>{len(flagged)} group rate(s) under the threshold (significant: the "
            "gap to the best group is larger than chance, two-proportion z-test at 5%):</p>"
            + _table([*header, "significant"], rows)
        )
    else:
        parts.append("<p class='ok'>No group rate under the threshold.</p>")
    last_month = max((s["month"] for s in section["screens"]), default=0)
    charts = []
    for screen in section["screens"]:
        if screen["month"] != last_month:
            continue
        bars = [
            Bar(
                row["group"],
                row["rate"],
                row["dimension"],
                flagged=row["flagged"],
                note="" if row["ratio"] is None else f"ratio {ratio_text(row['ratio'], threshold)}",
            )
            for row in screen["groups"]
        ]
        best = max((r["rate"] for r in screen["groups"] if not r["small"]), default=0.0)
        charts.append(
            "<figure>"
            + bar_chart(
                bars,
                title=f"{screen['program']}: {screen['service']}:{screen['measure']} "
                f"({screen['rule']}), "
                f"month {screen['month']}",
                maximum=1.0,
                marker=best * threshold,
                marker_label=f"{threshold} x best",
            )
            + "</figure>"
        )
    parts.append(f"<div class='charts'>{''.join(charts)}</div>")
    return "".join(parts)


def _contagion(figures: dict[str, Any]) -> str:
    series = []
    rows = []
    for i, c in enumerate(figures["contagion"]):
        series.append(
            Series(
                c["program"],
                [r["month"] for r in c["by_month"]],
                [r["mean_points"] for r in c["by_month"]],
                PALETTE[i % len(PALETTE)],
            )
        )
        rows.append(
            [
                c["program"],
                "yes" if c["has_relationship_factor"] else "no",
                c["ceiling"],
                f"{c['average_points']:.2f}",
                c["largest_points"],
                f"{c['average_monthly_change']:.3f}",
                _signed(c["largest_monthly_gain"]),
                _signed(c["largest_monthly_loss"]),
            ]
        )
    chart = line_chart(
        series,
        title="Mean points from others (relationship factor)",
        x_label="month",
        y_label="points",
        integer_x=True,
    )
    return (
        "<h2 id='contagion'>3. Contagion through the relationship factor</h2>"
        "<p class='note'>The relationship factor's points come only from neighbours' standing, so "
        "they are what a subject gains from others' records; their change from month to month is "
        "what others' new records (and cut contacts) moved.</p>"
        f"<figure>{chart}</figure>"
        + _table(
            [
                "program",
                "factor",
                "ceiling",
                "average points",
                "largest",
                "average monthly change",
                "largest monthly gain",
                "largest monthly loss",
            ],
            rows,
        )
    )


def _relations(figures: dict[str, Any]) -> str:
    series = []
    rows = []
    for i, r in enumerate(figures["relations_cut"]):
        series.append(
            Series(
                r["program"],
                [m["month"] for m in r["by_month"]],
                [m["pairs_cut"] for m in r["by_month"]],
                PALETTE[i % len(PALETTE)],
            )
        )
        for group in ("low_scorers", "others"):
            g = r[group]
            rows.append(
                [
                    r["program"],
                    group.replace("_", " "),
                    f"{g['subjects']:,}",
                    f"{g['mean_degree_start']:.2f}",
                    f"{g['mean_degree_end']:.2f}",
                    _pct(g["isolated_share_start"]),
                    _pct(g["isolated_share_end"]),
                    _pct(g["relations_lost_share"]),
                ]
            )
    chart = line_chart(
        series, title="Contacts cut per month", x_label="month", y_label="pairs cut", integer_x=True
    )
    totals = "; ".join(
        f"{r['program']}: {r['pairs_cut']:,} relations cut by {r['cutters']:,} subject-months"
        + (
            f", cutters' relationship points changed by {r['cutters_mean_gain']:+.2f} on "
            f"average that month (others: {r['others_mean_change']:+.2f})"
            if r["cutters_mean_gain"] is not None and r["others_mean_change"] is not None
            else ""
        )
        + ("" if r["has_relationship_factor"] else " (no relationship factor, so no reason to cut)")
        for r in figures["relations_cut"]
    )
    return (
        "<h2 id='relations-cut'>4. Relations cut to protect a score</h2>"
        "<p class='note'>Subjects may follow the tip to drop contacts whose standing is zero. Low "
        "scorers are those whose score before the relationship factor was at or below the base "
        "in month 0; degree counts distinct others with active confirmed relations of the "
        "factor's kinds.</p>"
        f"<p>{escape(totals)}.</p><figure>{chart}</figure>"
        + _table(
            [
                "program",
                "group",
                "subjects",
                "mean degree, start",
                "mean degree, end",
                "isolated, start",
                "isolated, end",
                "relations lost",
            ],
            rows,
        )
    )


def _attacks(figures: dict[str, Any]) -> str:
    rows = []
    classes = []
    for a in figures["attacks"]:
        moved = a["points_moved"]
        unscreened = a.get("points_moved_unscreened")
        caught = "-" if a["caught"] is None else ("yes" if a["caught"] else "no")
        rows.append(
            [
                a["program"],
                a["attack"],
                _Html(f"<span class='text'>{escape(a['description'])}</span>"),
                "n/a" if not a["applicable"] else _signed(moved),
                _signed(unscreened) if unscreened is not None else "",
                caught,
                ", ".join(a["flags"]) or ("-" if a["applicable"] else a.get("note", "")),
            ]
        )
        classes.append(
            "flag" if a["applicable"] and moved and abs(moved) > 0 and not a["caught"] else ""
        )
    return (
        "<h2 id='attacks'>5. Attacks</h2>"
        "<p class='note'>Each attack is mounted on the final month's ledger and scored by the "
        "engine; points moved is the target's score after minus before. Caught means a flag rule "
        "fired (for reports, also the rate limit refusing filings). For report attacks, the "
        "unscreened column is a twin target that received the same reports with neither the "
        "platform's rate limit nor its flags (only the adjudicator's error stood in the "
        "way).</p>"
        + _table(
            ["program", "attack", "what", "points moved", "unscreened", "caught", "flags"],
            rows,
            classes,
        )
    )


_GROUP_DIMENSIONS = ("age_band", "sex", "urban_rural", "kind")


def _reach_rows(rows: list[dict[str, Any]]) -> str:
    return _table(
        [
            "program",
            "measure",
            "effect",
            "rule",
            "touched, month 0",
            "touched, end",
            "subjects",
            "share",
        ],
        [
            [
                r["program"],
                f"{r['service']}:{r['measure']}",
                r["effect"],
                r["rule"],
                f"{r['touched_at_start']:,}",
                f"{r['touched']:,}",
                f"{r['subjects']:,}",
                _pct(r["share"]),
            ]
            for r in rows
        ],
    )


def _same_reach(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows that touch the same subjects by the same rule, together (one chart each)."""
    together: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        together.setdefault((r["program"], r["rule"], r["effect"], r["touched"]), []).append(r)
    return list(together.values())


def _reach_charts(groups: list[list[dict[str, Any]]]) -> str:
    out = []
    for same in groups:
        first = same[0]
        bars = [
            Bar(group, stats["share"], dimension)
            for dimension in _GROUP_DIMENSIONS
            for group, stats in first["by_group"].get(dimension, {}).items()
        ]
        services = ", ".join(f"{r['service']}:{r['measure']}" for r in same)
        share = "restricted" if first["effect"] == "restriction" else "rewarded"
        out.append(
            "<figure>"
            + bar_chart(
                bars,
                title=f"{first['program']}: share {share} ({first['rule']})",
                maximum=max([b.value for b in bars] + [0.01]),
            )
            + f"<figcaption class='note'>{escape(services)}</figcaption></figure>"
        )
    return f"<div class='charts'>{''.join(out)}</div>"


def _by_group(row: dict[str, Any]) -> str:
    """Shares touched per audit group, in one line."""
    parts = []
    for dimension in _GROUP_DIMENSIONS:
        groups = row["by_group"].get(dimension, {})
        if groups:
            shares = ", ".join(f"{g} {_pct(v['share'])}" for g, v in groups.items())
            parts.append(f"{dimension.replace('_', ' ')}: {shares}")
    return "; ".join(parts)


def _list_headline(same: list[dict[str, Any]]) -> str:
    """e.g. 'sesame: Judgment defaulters: 1,234 subjects (1.2%) denied flights, ...'."""
    first = same[0]
    what = first["list_title"] or first["rule"]
    verb = "restricted" if first["effect"] == "restriction" else "rewarded"
    measures = "; ".join(f"{r['description']} ({r['service']}:{r['measure']})" for r in same)
    return (
        f"<li><b>{escape(first['program'])}</b>: {escape(what)}: "
        f"<b>{first['touched']:,} subjects ({_pct(first['share'])})</b> {verb} in the last "
        f"month ({first['touched_at_start']:,} in month 0) by {escape(measures)}."
        f"<br><span class='note'>By group: {escape(_by_group(first))}.</span></li>"
    )


def _reach(figures: dict[str, Any]) -> str:
    rows = figures["restriction_reach"]
    scored = [r for r in rows if r.get("basis", "score") == "score"]
    listed = [r for r in rows if r.get("basis", "score") != "score"]
    parts = [
        "<h2 id='restriction-reach'>6. Restriction reach</h2>"
        "<p class='note'>How many subjects each measure touches in the last month: for a "
        "restriction, those not approved; for a reward, those approved.</p>"
        "<h3>Decided by the program's score</h3>",
        _reach_rows(scored) if scored else "<p>No measure of the catalogue reads the score.</p>",
        _reach_charts(_same_reach(scored)),
    ]
    if listed:
        groups = _same_reach(listed)
        parts += [
            "<h3 id='list-reach'>Decided by records: lists entered by records, recent records"
            "</h3><p class='note'>A court's listing order, unpaid tax, a conviction, volunteer "
            "hours or donations put a subject on a list; no score does. Entries are derived by "
            "the platform's list rules from each world's records in force at the month's end, "
            "and each measure by the platform's decision. They depend on no program, so each "
            "world reports all of them (the program named is the world's: its behaviour wrote "
            "the records), over every subject, persons and organisations.</p>",
            "<ul>" + "".join(_list_headline(same) for same in groups) + "</ul>",
            _reach_rows(listed),
            _reach_charts(groups),
        ]
    return "".join(parts)


def _behaviour(figures: dict[str, Any]) -> str:
    rows = []
    for b in figures["behaviour"]:
        months = b["months"][1:]
        if not months:
            continue
        total = {k: sum(m[k] for m in months) for k in months[0] if k != "month"}
        rows.append(
            [
                b["program"],
                f"{total['new_records']:,}",
                f"{total['adverse']:,}",
                f"{total['merits']:,}",
                f"{total['payers']:,}",
                f"{total['repaired']:,}",
                f"{total['judgments_performed']:,}",
                f"{total['pairs_cut']:,}",
            ]
        )
    if not rows:
        return ""
    return "<h2 id='behaviour'>7. Behaviour over the simulated months</h2>" + _table(
        [
            "program",
            "new records",
            "adverse",
            "merits",
            "payers",
            "records repaired",
            "judgments performed",
            "contacts cut",
        ],
        rows,
    )


def render_html(figures: dict[str, Any], verdict: GateResult | None = None) -> str:
    """The whole report as one HTML document."""
    verdict = verdict or gate(figures)
    names = " vs ".join(p["id"] for p in figures["meta"]["programs"])
    body = "".join(
        [
            f"<h1>Policy lab: {escape(names)}</h1>",
            _meta(figures, verdict),
            _distribution(figures),
            _adverse(figures),
            _contagion(figures),
            _relations(figures),
            _attacks(figures),
            _reach(figures),
            _behaviour(figures),
            "<h2 id='model'>What is modelled</h2><p class='note'>The population is synthetic; "
            "behaviour and adjudication are the lab's models, report screening the platform's "
            "rules (see "
            "docs/lab.md). Scores come from the platform's scoring definition, and the decision "
            "cutoffs from the platform's measures catalogue.</p>",
        ]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Policy lab: {escape(names)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def write_report(figures: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write figures.json and report.html into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "figures.json"
    data.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    page = directory / "report.html"
    page.write_text(render_html(figures), encoding="utf-8")
    return page, data
