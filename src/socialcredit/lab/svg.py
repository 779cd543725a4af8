"""Small inline SVG charts for the lab report: no dependencies, nothing fetched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "MUTED",
    "PALETTE",
    "Bar",
    "Series",
    "bar_chart",
    "grade_colors",
    "line_chart",
    "stacked_bars",
]

PALETTE = ("#2563eb", "#dc2626", "#059669", "#7c3aed", "#d97706", "#0891b2", "#be185d", "#4b5563")
FLAG = "#dc2626"
MUTED = "#94a3b8"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    """A line, optionally with a shaded band between `low` and `high`."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = PALETTE[0]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Bar:
    """One horizontal bar; `group` starts a new block of bars when it changes."""

    label: str
    value: float
    group: str = ""
    flagged: bool = False
    note: str = ""


def grade_colors(count: int) -> list[str]:
    """Colours from green (the top grade) to red (the bottom one)."""
    stops = ((6, 95, 70), (52, 211, 153), (251, 191, 36), (249, 115, 22), (185, 28, 28))
    out = []
    for i in range(count):
        t = i / max(1, count - 1) * (len(stops) - 1)
        k = min(int(t), len(stops) - 2)
        f = t - k
        rgb = [round(a + (b - a) * f) for a, b in zip(stops[k], stops[k + 1], strict=True)]
        out.append("#{:02x}{:02x}{:02x}".format(*rgb))
    return out


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    while magnitude > raw and magnitude > 1e-6:
        magnitude /= 10
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = (low // step) * step
    ticks = []
    value = first
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(round(value, 6))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 540,
    height: int = 250,
    y_range: tuple[float, float] | None = None,
    integer_x: bool = False,
) -> str:
    """Lines (with optional bands) over a shared x axis."""
    left, right, top, bottom = 56, 130, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x in s.xs] or [0.0, 1.0]
    values = [y for s in series for y in (*s.ys, *(s.low or ()), *(s.high or ()))] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x1 = x0 + 1
    y0, y1 = y_range if y_range else (min(values), max(values))
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    ticks = _nice_ticks(y0, y1)
    y0, y1 = min(y0, ticks[0]), max(y1, ticks[-1])

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-weight="600" font-size="12">{escape(title)}</text>',
    ]
    for tick in ticks:
        y = py(tick)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
        )
    for tick in _nice_ticks(x0, x1, 6):
        if float(tick).is_integer() or not integer_x:
            x = px(tick)
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{_fmt(tick)}</text>"
            )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#9ca3af"/>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#9ca3af"/>'
    )
    if x_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
        )
    if y_label:
        parts.append(
            f'<text transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
    for i, s in enumerate(series):
        if s.low is not None and s.high is not None and len(s.xs):
            upper = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.xs, s.high, strict=True))
            lower = " ".join(
                f"{px(x):.1f},{py(y):.1f}" for x, y in reversed(list(zip(s.xs, s.low, strict=True)))
            )
            parts.append(
                f'<polygon points="{upper} {lower}" fill="{s.color}" fill-opacity="0.15"/>'
            )
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.xs, s.ys, strict=True))
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        if len(s.xs) == 1:
            parts.append(
                f'<circle cx="{px(s.xs[0]):.1f}" cy="{py(s.ys[0]):.1f}" r="3" fill="{s.color}"/>'
            )
        else:
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{s.color}" '
                f'stroke-width="2"{dash}/>'
            )
        ly = top + 10 + i * 16
        parts.append(
            f'<line x1="{left + plot_w + 10}" x2="{left + plot_w + 28}" y1="{ly}" y2="{ly}" '
            f'stroke="{s.color}" stroke-width="2"{dash}/>'
            f'<text x="{left + plot_w + 32}" y="{ly + 4}">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    maximum: float | None = None,
    marker: float | None = None,
    marker_label: str = "",
    percent: bool = True,
    width: int = 530,
) -> str:
    """Horizontal bars in labelled blocks; flagged bars in red; an optional vertical marker."""
    label_w, right, top, row = 110, 60, 30, 15
    blocks = 0
    last_group: str | None = None
    for bar in bars:
        if bar.group != last_group:
            blocks += 1
            last_group = bar.group
    height = top + row * len(bars) + 18 * blocks + 12
    plot_w = width - label_w - right
    top_value = maximum if maximum is not None else max([b.value for b in bars] + [1e-9])

    def px(v: float) -> float:
        return label_w + max(0.0, min(v, top_value)) / top_value * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" font-weight="600" font-size="12">{escape(title)}</text>',
    ]
    y = top
    last_group = None
    for bar in bars:
        if bar.group != last_group:
            parts.append(
                f'<text x="4" y="{y + 12}" font-weight="600" fill="#374151">'
                f"{escape(bar.group)}</text>"
            )
            y += 18
            last_group = bar.group
        color = FLAG if bar.flagged else PALETTE[0]
        small = 0 < abs(bar.value) < 0.01
        text = (f"{bar.value:.2%}" if small else f"{bar.value:.1%}") if percent else _fmt(bar.value)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{escape(bar.label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{px(bar.value) - label_w:.1f}" '
            f'height="{row - 4}" '
            f'fill="{color}"><title>{escape(bar.label)}: {text} {escape(bar.note)}</title></rect>'
            f'<text x="{px(bar.value) + 4:.1f}" y="{y + 11}">{text}</text>'
        )
        y += row
    if marker is not None:
        x = px(marker)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{y}" stroke="{FLAG}" '
            f'stroke-dasharray="4 3"/>'
            f'<text x="{x:.1f}" y="{y + 10}" text-anchor="middle" fill="{FLAG}">'
            f"{escape(marker_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    columns: Sequence[tuple[str, Sequence[float]]],
    labels: Sequence[str],
    *,
    title: str,
    colors: Sequence[str] | None = None,
    width: int = 530,
    height: int = 240,
) -> str:
    """Vertical bars of shares (each column sums to 1), one colour per label."""
    palette = list(colors) if colors else [PALETTE[j % len(PALETTE)] for j in range(len(labels))]
    left, right, top, bottom = 40, 120, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(columns))
    bar_w = max(2.0, step * 0.8)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-weight="600" font-size="12">{escape(title)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h - tick * plot_h
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        )
    every = max(1, len(columns) // 12)
    for i, (name, shares) in enumerate(columns):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        for j, share in enumerate(shares):
            h = share * plot_h
            y -= h
            color = palette[j]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(name)} {escape(labels[j])}: {share:.1%}</title>'
                "</rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{escape(name)}</text>"
            )
    for j, label in enumerate(labels):
        ly = top + 10 + j * 16
        color = palette[j]
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 8}" width="12" height="10" fill="{color}"/>'
            f'<text x="{left + plot_w + 26}" y="{ly + 1}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
