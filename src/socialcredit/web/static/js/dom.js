// Building the page: elements from plain data (text is always set as text, never as HTML),
// sections with a visible state, and formatting of dates and numbers.

import { ApiError, available } from "./api.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "text") {
      el.textContent = String(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("p", {class: "x"}, "text", h("b", {}, "bold")). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** Append children to an element, leaving out null, undefined and false. */
export function put(el, ...children) {
  return fill(el, {}, children);
}

/** An SVG element. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

let uid = 0;
/** A unique element id with a readable prefix. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// ---------------------------------------------------------------- formatting

export function day(value) {
  return value ? String(value).slice(0, 10) : "";
}

export function when(value) {
  if (!value) return "";
  const text = String(value);
  return text.length > 10 ? `${text.slice(0, 10)} ${text.slice(11, 16)} UTC` : text;
}

export function signed(n) {
  return n > 0 ? `+${n}` : String(n);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function label(text) {
  return String(text || "").replaceAll("_", " ");
}

/** A record kind in words: "loan.repaid_on_time" as "loan: repaid on time". */
export function kindLabel(kind) {
  return label(String(kind || "").replace(".", ": "));
}

// ---------------------------------------------------------------- sections

/**
 * A page section: a landmark with a heading, an optional intro, and a body whose state
 * (loading, ready, empty, unavailable, error) shows in `data-state` and in words.
 */
export function section(id, title, intro) {
  const heading = h("h2", { id: `${id}-title` }, title);
  const body = h("div", { class: "section-body" });
  const el = h(
    "section",
    { id, class: "card", "aria-labelledby": heading.id, "data-state": "loading" },
    heading,
    intro ? h("p", { class: "intro" }, intro) : null,
    body,
  );
  body.append(h("p", { class: "muted" }, "Loading…"));
  return { el, body, title };
}

function setState(sec, state) {
  sec.el.dataset.state = state;
}

export function showUnavailable(sec, endpoint) {
  setState(sec, "unavailable");
  clear(sec.body).append(
    h(
      "p",
      { class: "unavailable" },
      h("strong", {}, "Not available yet. "),
      `This server does not offer ${endpoint} yet, so there is nothing to show here.`,
    ),
  );
}

export function showProblem(sec, err) {
  setState(sec, "error");
  const problem = err instanceof ApiError ? err.problem : null;
  const title = problem?.title || (err instanceof ApiError ? `HTTP ${err.status}` : "Failed");
  const detail = problem?.detail || err.message || String(err);
  clear(sec.body).append(
    h("p", { class: "problem", role: "alert" }, h("strong", {}, `${title}: `), detail),
  );
}

/**
 * Fill a section: when every endpoint it needs is on this server, run `render(body)`;
 * otherwise (or when the server answers 404 for a path it does not have) say it is not
 * available yet; any other refusal shows the server's problem detail.
 * `render` returns false to mean "nothing to show" (it has drawn its own empty text).
 */
export async function load(sec, needs, render) {
  for (const [method, template] of needs) {
    if (!(await available(method, template))) {
      showUnavailable(sec, `${method} ${template}`);
      return;
    }
  }
  try {
    clear(sec.body);
    const shown = await render(sec.body);
    setState(sec, shown === false ? "empty" : "ready");
  } catch (err) {
    if (err instanceof ApiError && err.missingRoute) {
      showUnavailable(sec, `${needs.map(([m, t]) => `${m} ${t}`).join(", ")}`);
    } else {
      showProblem(sec, err);
    }
  }
}

/** A short message next to a control, read out by screen readers. */
export function status(text, kind = "ok") {
  return h(
    "p",
    { class: `status ${kind}`, role: kind === "error" ? "alert" : "status", tabindex: "-1" },
    text,
  );
}

/**
 * After an action redraws a section, say what happened at its top and move the focus there
 * (the button that was pressed is gone).
 */
export function announce(body, note) {
  if (!note) return;
  const message = status(note);
  body.append(message);
  message.focus();
}

export function problemText(err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    return p?.detail || p?.title || `HTTP ${err.status}`;
  }
  return err.message || String(err);
}

/**
 * A table with a caption, column headers and rows of cells (nodes or text). Each cell carries
 * its column's name, which narrow screens show beside it when rows are stacked.
 */
export function table(caption, headers, rows, attrs = {}) {
  const cls = ["stack", attrs.class].filter(Boolean).join(" ");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { ...attrs, class: cls },
      h("caption", { class: caption.visible ? "" : "visually-hidden" }, caption.text || caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            r.attrs || {},
            (r.cells || r).map((c, i) => h("td", { "data-label": headers[i] }, c)),
          ),
        ),
      ),
    ),
  );
}
