// Charts drawn as inline SVG: the score dial, lines over time, horizontal bars and the
// histogram. Each is an image with a title and a description that say in words what it shows.

import { newId, s } from "./dom.js";

/** Colours from low (red) to high (green), dark enough for 3:1 against white. */
export function ramp(n) {
  if (n <= 1) return ["hsl(140 70% 28%)"];
  return Array.from({ length: n }, (_, i) => {
    const hue = Math.round(4 + (136 * i) / (n - 1));
    return `hsl(${hue} 72% ${hue > 30 && hue < 110 ? 30 : 36}%)`;
  });
}

/** Distinct series colours (Okabe-Ito, darkened) and dash patterns, for lines and legends. */
export const SERIES = [
  { colour: "#0b5cad", dash: null },
  { colour: "#b54708", dash: "6 3" },
  { colour: "#067647", dash: "2 3" },
  { colour: "#7a2e8e", dash: "8 3 2 3" },
  { colour: "#8a6d00", dash: "4 4" },
  { colour: "#b42318", dash: "1 2" },
];

/** A chart width that draws at about 1:1 in `el` (so its text keeps its size), 300 to 640. */
export function fitWidth(el, fallback = 560) {
  const w = el?.clientWidth || fallback;
  return Math.round(Math.min(640, Math.max(300, w)));
}

function frame(width, height, title, desc, cls) {
  const titleId = newId("chart-title");
  const descId = newId("chart-desc");
  return s(
    "svg",
    {
      class: `chart ${cls}`,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      focusable: "false",
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, desc),
  );
}

function round(n) {
  return Math.round(n * 10) / 10;
}

// ---------------------------------------------------------------- the dial

/**
 * A half-circle gauge from `min` to `max`, one coloured arc per grade band (lowest first,
 * each {grade, min, max}), a needle at the score, the score and grade in the middle.
 */
export function dial({ score, min, max, bands = [], grade, title, desc }) {
  const [cx, cy, r] = [120, 120, 96];
  const svg = frame(240, 152, title, desc, "dial");
  const t = (v) => Math.min(1, Math.max(0, (v - min) / (max - min || 1)));
  const at = (frac, radius) => [
    round(cx - radius * Math.cos(Math.PI * frac)),
    round(cy - radius * Math.sin(Math.PI * frac)),
  ];
  const arc = (from, to, colour, cls) => {
    const [x1, y1] = at(from, r);
    const [x2, y2] = at(to, r);
    return s("path", {
      d: `M ${x1} ${y1} A ${r} ${r} 0 0 1 ${x2} ${y2}`,
      fill: "none",
      stroke: colour,
      "stroke-width": 20,
      class: cls,
    });
  };
  if (bands.length) {
    const colours = ramp(bands.length);
    bands.forEach((band, i) => {
      const from = t(band.min);
      const to = t(i + 1 < bands.length ? bands[i + 1].min : max);
      const node = arc(from, to, colours[i], "band");
      node.append(s("title", {}, `${band.grade}: ${band.min}–${band.max}`));
      if (band.grade === grade) node.classList.add("current");
      svg.append(node);
    });
  } else {
    svg.append(arc(0, 1, "#8a8f98", "band"));
  }
  if (score !== null && score !== undefined) {
    const [ix, iy] = at(t(score), r - 17);
    const [ox, oy] = at(t(score), r + 17);
    const [mx, my] = at(t(score), r);
    svg.append(
      s("line", { x1: ix, y1: iy, x2: ox, y2: oy, class: "needle", "stroke-width": 4 }),
      s("circle", { cx: mx, cy: my, r: 6, class: "marker", "stroke-width": 3 }),
    );
  }
  svg.append(
    s("text", { x: cx, y: cy - 20, class: "dial-score", "text-anchor": "middle" }, score ?? "N/A"),
    s("text", { x: cx, y: cy + 12, class: "dial-grade", "text-anchor": "middle" }, grade || ""),
    s("text", { x: cx - r, y: cy + 24, class: "axis", "text-anchor": "middle" }, min),
    s("text", { x: cx + r, y: cy + 24, class: "axis", "text-anchor": "middle" }, max),
  );
  return svg;
}

// ---------------------------------------------------------------- lines over time

function ticks(lo, hi, count = 4, whole = false) {
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((m) => m >= raw) || raw;
  if (whole) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(round(v));
  return out;
}

/**
 * Lines over time: series [{name, points: [{x: Date, y, label}]}], y from yMin to yMax.
 * Each point carries a title (its label) so that hovering or reading names it.
 */
export function lineChart({
  series,
  yMin,
  yMax,
  title,
  desc,
  width = 560,
  height = 230,
  whole = false,
}) {
  const m = { left: 48, right: 14, top: 14, bottom: 30 };
  const svg = frame(width, height, title, desc, "line-chart");
  const xs = series.flatMap((se) => se.points.map((p) => p.x.getTime()));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) {
    x0 -= 86400000;
    x1 += 86400000;
  }
  let [y0, y1] = [yMin, yMax];
  if (y0 === y1) {
    y0 -= 1;
    y1 += 1;
  }
  const px = (x) => round(m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right));
  const py = (y) => round(height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom));
  for (const v of ticks(y0, y1, 4, whole)) {
    svg.append(
      s("line", { x1: m.left, x2: width - m.right, y1: py(v), y2: py(v), class: "grid" }),
      s("text", { x: m.left - 6, y: py(v) + 4, class: "axis", "text-anchor": "end" }, v),
    );
  }
  const dateText = (ms) => new Date(ms).toISOString().slice(0, 10);
  const xt = [x0, x1];
  if (x1 - x0 > 4 * 86400000) xt.splice(1, 0, (x0 + x1) / 2);
  xt.forEach((v, i) => {
    const anchor = i === 0 ? "start" : i === xt.length - 1 ? "end" : "middle";
    svg.append(
      s("text", { x: px(v), y: height - 8, class: "axis", "text-anchor": anchor }, dateText(v)),
    );
  });
  svg.append(
    s("line", {
      x1: m.left,
      x2: width - m.right,
      y1: height - m.bottom,
      y2: height - m.bottom,
      class: "axis-line",
    }),
  );
  series.forEach((se, i) => {
    const style = SERIES[i % SERIES.length];
    const pts = [...se.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      svg.append(
        s("polyline", {
          points: pts.map((p) => `${px(p.x.getTime())},${py(p.y)}`).join(" "),
          fill: "none",
          stroke: style.colour,
          "stroke-width": 2.5,
          "stroke-dasharray": style.dash,
          class: "series",
        }),
      );
    }
    for (const p of pts) {
      svg.append(
        s(
          "circle",
          { cx: px(p.x.getTime()), cy: py(p.y), r: 4, fill: style.colour, class: "point" },
          s("title", {}, p.label || `${se.name}: ${p.y}`),
        ),
      );
    }
  });
  return svg;
}

// ---------------------------------------------------------------- horizontal bars

/**
 * One bar per item [{label, value, colour?}]: bars grow right from zero, or left for negative
 * values (then zero sits in the middle). Each row shows its label above and its value beside.
 */
export function hbars({ items, title, desc, unit = "", width = 340, format = String }) {
  const row = 40;
  const height = Math.max(row, items.length * row) + 6;
  const svg = frame(width, height, title, desc, "bars");
  const valueWidth = 64;
  const span = width - valueWidth - 4;
  const hasNegative = items.some((it) => it.value < 0);
  const top = Math.max(1, ...items.map((it) => Math.abs(it.value)));
  const zero = hasNegative ? span / 2 : 0;
  const scale = (hasNegative ? span / 2 : span) / top;
  items.forEach((it, i) => {
    const y = i * row;
    const w = Math.abs(it.value) * scale;
    const x = it.value < 0 ? zero - w : zero;
    const colour = it.colour || (it.value < 0 ? "#b42318" : "#0b5cad");
    svg.append(
      s("text", { x: 0, y: y + 13, class: "bar-label" }, it.label),
      s("rect", { x: 0, y: y + 18, width: span, height: 14, class: "bar-track" }),
      s(
        "rect",
        {
          x: round(x),
          y: y + 18,
          width: round(Math.max(w, it.value ? 1.5 : 0)),
          height: 14,
          fill: colour,
        },
        s("title", {}, `${it.label}: ${format(it.value)}${unit}`),
      ),
      s(
        "text",
        { x: width - 2, y: y + 30, class: "bar-value", "text-anchor": "end" },
        `${format(it.value)}${unit}`,
      ),
    );
  });
  if (hasNegative) {
    svg.append(s("line", { x1: zero, x2: zero, y1: 14, y2: height, class: "zero" }));
  }
  return svg;
}

// ---------------------------------------------------------------- histogram

/**
 * Counts per score bin [{from, to, count}], each bar coloured by the grade band its lower edge
 * falls in (bands lowest first).
 */
export function histogram({ bins, bands = [], title, desc, width = 560, height = 230 }) {
  const m = { left: 48, right: 10, top: 12, bottom: 30 };
  const svg = frame(width, height, title, desc, "histogram");
  const top = Math.max(1, ...bins.map((b) => b.count));
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const bw = plotW / Math.max(1, bins.length);
  const colours = ramp(bands.length || 1);
  const bandOf = (v) => {
    let found = bands.length ? 0 : -1;
    bands.forEach((b, i) => {
      if (v >= b.min) found = i;
    });
    return found;
  };
  for (const v of ticks(0, top, 3, true)) {
    const y = round(m.top + plotH - (v / top) * plotH);
    svg.append(
      s("line", { x1: m.left, x2: width - m.right, y1: y, y2: y, class: "grid" }),
      s("text", { x: m.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, v),
    );
  }
  bins.forEach((b, i) => {
    const hgt = (b.count / top) * plotH;
    const band = bandOf(b.from);
    const colour = band >= 0 ? colours[band] : "#0b5cad";
    svg.append(
      s(
        "rect",
        {
          x: round(m.left + i * bw + 1),
          y: round(m.top + plotH - hgt),
          width: round(Math.max(1, bw - 2)),
          height: round(hgt),
          fill: colour,
          class: "bin",
        },
        s("title", {}, `${b.from}–${b.to}: ${b.count}`),
      ),
    );
  });
  const labelAt = [0, Math.floor(bins.length / 2), bins.length - 1];
  [...new Set(labelAt)].forEach((i, k, arr) => {
    if (!bins[i]) return;
    const anchor = k === 0 ? "start" : k === arr.length - 1 ? "end" : "middle";
    const x = k === arr.length - 1 ? m.left + (i + 1) * bw : m.left + i * bw;
    const text = k === arr.length - 1 ? bins[i].to : bins[i].from;
    svg.append(
      s("text", { x: round(x), y: height - 8, class: "axis", "text-anchor": anchor }, text),
    );
  });
  svg.append(
    s("line", {
      x1: m.left,
      x2: width - m.right,
      y1: m.top + plotH,
      y2: m.top + plotH,
      class: "axis-line",
    }),
  );
  return svg;
}
