// The operator's page (admin or adjudicator): the population's score distribution and grades,
// list sizes over time, the dispute, report and review queues with their deadlines and decide
// buttons, and each furnisher's dispute and overturn rates. The server decides who may see
// and do each part.

import { all, bodyFields, call, path, programsById } from "./api.js";
import { fitWidth, hbars, histogram, lineChart, ramp } from "./charts.js";
import {
  announce,
  clear,
  day,
  h,
  kindLabel,
  label,
  load,
  newId,
  plural,
  problemText,
  put,
  section,
  status,
  table,
  when,
} from "./dom.js";

const T = {
  scores: "/v1/stats/scores",
  lists: "/v1/stats/lists",
  furnishers: "/v1/stats/furnishers",
};

// ---------------------------------------------------------------- the population

async function renderDistribution(body) {
  const [data, programs] = await Promise.all([call("GET", T.scores), programsById()]);
  if (!data.programs.length) {
    body.append(h("p", { class: "muted empty" }, "No program has had a full run yet."));
    return false;
  }
  for (const d of data.programs) {
    const program = programs[d.program];
    const name = program?.name || d.program;
    const peak = d.bins.reduce((best, b) => (b.count > best.count ? b : best), d.bins[0]);
    const colours = program?.bands?.length ? ramp(program.bands.length).reverse() : [];
    const grades = d.grades.map((g, i) => ({ label: g.grade, value: g.count, colour: colours[i] }));
    body.append(
      h(
        "article",
        { class: "distribution", "data-program": d.program },
        h("h3", {}, name),
        h(
          "p",
          {},
          `Run ${d.run_id} as of ${day(d.as_of)}: ${plural(d.scored, "subject")} scored of ${d.subjects}` +
            (d.mean !== null ? `, mean ${d.mean}` : "") +
            ".",
        ),
        h(
          "figure",
          {},
          histogram({
            width: fitWidth(body),
            bins: d.bins,
            bands: program?.bands || [],
            title: `Score distribution, ${name}`,
            desc:
              `${d.scored} scores from ${d.min_score} to ${d.max_score} in ${d.bins.length} bins; ` +
              `the most, ${peak.count}, between ${peak.from} and ${peak.to}.`,
          }),
          h("figcaption", {}, `How many subjects have each score (${d.min_score}–${d.max_score}).`),
        ),
        h("h4", {}, "Grades"),
        hbars({
          items: grades,
          title: `Grade counts, ${name}`,
          desc: grades.map((g) => `${g.label}: ${g.value}`).join("; "),
        }),
        h(
          "details",
          {},
          h("summary", {}, "As a table"),
          table(
            `Score bins, ${name}`,
            ["From", "To", "Subjects"],
            d.bins.map((b) => [b.from, b.to, b.count]),
          ),
          table(
            `Statuses, ${name}`,
            ["Status", "Subjects"],
            Object.entries(d.statuses).map(([k, v]) => [label(k), v]),
          ),
        ),
      ),
    );
  }
  return true;
}

async function renderListSizes(body) {
  const data = await call("GET", T.lists);
  const series = data.lists.map((l) => ({
    name: l.title,
    points: l.points.map((p) => ({
      x: new Date(p.at),
      y: p.size,
      label: `${l.title}: ${p.size} on ${day(p.at)}`,
    })),
  }));
  const points = series.flatMap((se) => se.points);
  if (!points.length) {
    body.append(h("p", { class: "muted empty" }, "No list has any history yet."));
    return false;
  }
  const top = Math.max(...points.map((p) => p.y));
  const now = (se) => (se.points.length ? se.points[se.points.length - 1].y : 0);
  body.append(
    h(
      "figure",
      {},
      lineChart({
        width: fitWidth(body),
        series,
        yMin: 0,
        yMax: Math.max(1, top),
        whole: true,
        title: "List sizes over time",
        desc: series.map((se) => `${se.name}: ${now(se)} now`).join("; "),
      }),
      h(
        "figcaption",
        {},
        h(
          "ul",
          { class: "legend" },
          series.map((se, i) =>
            h(
              "li",
              { "data-series": i },
              h("span", { class: `swatch s${i % 6}`, "aria-hidden": "true" }),
              `${se.name}: ${now(se)}`,
            ),
          ),
        ),
      ),
    ),
    h(
      "details",
      {},
      h("summary", {}, "As a table"),
      table(
        "List sizes by month",
        ["Day", ...series.map((se) => se.name)],
        (data.lists[0]?.points || []).map((p) => [
          day(p.at),
          ...data.lists.map((l) => l.points.find((q) => q.at === p.at)?.size ?? ""),
        ]),
      ),
    ),
  );
  return true;
}

async function renderFurnishers(body) {
  const items = (await call("GET", T.furnishers)).items;
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "No furnisher has had a record disputed."));
    return false;
  }
  const pct = (x) => (x === null ? "—" : `${Math.round(x * 1000) / 10}%`);
  const closed = items.filter((f) => f.overturn_rate !== null);
  put(
    body,
    closed.length
      ? hbars({
          items: closed.map((f) => ({
            label: f.name || f.furnisher,
            value: Math.round(f.overturn_rate * 1000) / 10,
          })),
          title: "Overturn rate by furnisher",
          desc: closed
            .map(
              (f) =>
                `${f.name || f.furnisher}: ${pct(f.overturn_rate)} of closed disputes withdrew the record`,
            )
            .join("; "),
          unit: "%",
        })
      : null,
    table(
      { text: "Disputes and overturns by furnisher", visible: true },
      [
        "Furnisher",
        "Records",
        "Disputes",
        "Dispute rate",
        "Open",
        "Overdue",
        "Closed",
        "Withdrawn",
        "Overturn rate",
      ],
      items.map((f) => ({
        attrs: { "data-furnisher": f.furnisher },
        cells: [
          f.name || f.furnisher,
          f.records,
          f.disputes,
          pct(f.dispute_rate),
          f.open,
          f.overdue,
          f.closed,
          f.overturned,
          pct(f.overturn_rate),
        ],
      })),
      { class: "furnisher-rates" },
    ),
  );
  return true;
}

// ---------------------------------------------------------------- queues

/** A form for a decision's JSON body, built from the server's own schema of it. */
async function decisionForm(template, id, what, onDone) {
  const fields = await bodyFields("POST", template);
  const message = h("div", {});
  const inputs = {};
  const form = h(
    "form",
    { class: "panel-form", "aria-label": `Decide ${what}` },
    h("h3", {}, `Decide ${what}`),
  );
  for (const f of fields) {
    const fid = newId(`decide-${f.name}`);
    const helpId = f.description ? `${fid}-help` : null;
    let input;
    if (f.enum) {
      const options = f.enum.map((v) => h("option", { value: v }, label(v)));
      if (!f.required) options.unshift(h("option", { value: "" }, "(none)"));
      input = h(
        "select",
        { id: fid, name: f.name, required: f.required, "aria-describedby": helpId },
        options,
      );
    } else if (f.type === "boolean") {
      input = h("input", { id: fid, name: f.name, type: "checkbox", "aria-describedby": helpId });
    } else {
      input = h("textarea", {
        id: fid,
        name: f.name,
        rows: 2,
        required: f.required,
        "aria-describedby": helpId,
      });
    }
    inputs[f.name] = { input, field: f };
    form.append(
      h(
        "div",
        { class: "field" },
        h("label", { for: fid }, `${label(f.title)}${f.required ? "" : " (optional)"}`),
        input,
        f.description ? h("p", { id: helpId, class: "help" }, f.description) : null,
      ),
    );
  }
  form.append(
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, "Record decision"),
      h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"),
    ),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    const payload = {};
    for (const [name, { input, field }] of Object.entries(inputs)) {
      if (field.type === "boolean") payload[name] = input.checked;
      else if (input.value.trim() !== "") {
        payload[name] = field.type === "integer" ? Number(input.value) : input.value.trim();
      }
    }
    try {
      await call("POST", path(template, { id }), { body: payload });
      await onDone();
    } catch (err) {
      message.append(status(`Not recorded: ${problemText(err)}`, "error"));
    }
  });
  return form;
}

function daysSince(value) {
  return Math.max(0, Math.floor((Date.now() - new Date(value).getTime()) / 86400000));
}

const QUEUES = {
  disputes: {
    noun: "dispute",
    list: "/v1/disputes",
    query: { status: "open" },
    decision: "/v1/disputes/{id}/decision",
    filed: (d) => d.opened_at,
    deadline: (d) => d.deadline,
    about: (d) => [
      `${d.subject}: record #${d.record} (${kindLabel(d.kind)}, ${day(d.occurred_at)}) from ${d.furnisher}`,
      h("br", {}),
      h("span", { class: "muted" }, `Reason: ${d.reason}`),
      d.statement ? h("span", { class: "statement" }, `Statement: “${d.statement}”`) : null,
    ],
  },
  reports: {
    noun: "report",
    list: "/v1/reports",
    query: { status: "pending" },
    decision: "/v1/reports/{id}/decision",
    filed: (r) => r.filed_at,
    deadline: () => null,
    about: (r) => [
      `against ${r.target} (${kindLabel(r.kind)}, ${day(r.occurred_at)}) by ${r.reporter}`,
      h("br", {}),
      h("span", { class: "muted" }, `${r.description} Evidence: ${r.evidence}`),
      (r.flags || []).map((f) =>
        h("span", { class: "badge late flag" }, `flag ${f.code}: ${f.detail}`),
      ),
    ],
  },
  reviews: {
    noun: "review",
    list: "/v1/reviews",
    query: { status: "open" },
    decision: "/v1/reviews/{id}/decision",
    filed: (r) => r.requested_at,
    deadline: () => null,
    about: (r) => [
      `${r.subject}: ${label(r.service)} was ${label(r.original)} (decision ${r.decision})`,
      h("br", {}),
      h("span", { class: "muted" }, `Asks because: ${r.reason}`),
    ],
  },
};

async function renderQueue(sec, queue, note = "") {
  const body = sec.body;
  const items = await all(queue.list, { query: queue.query, max: 1000 });
  announce(body, note);
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, `No ${queue.noun}s waiting.`));
    return false;
  }
  const key = (it) => String(queue.deadline(it) || queue.filed(it) || "");
  items.sort((a, b) => key(a).localeCompare(key(b)));
  const panel = h("div", { class: "panel" });
  const now = new Date();
  const hasDeadlines = items.some((it) => queue.deadline(it));
  body.append(
    table(
      {
        text: `${plural(items.length, queue.noun)} waiting, ${hasDeadlines ? "earliest deadline" : "oldest"} first`,
        visible: true,
      },
      ["Id", "About", "Filed", hasDeadlines ? "Deadline" : "Waiting", "Action"],
      items.map((it) => {
        const due = queue.deadline(it);
        const late = due && new Date(due) < now;
        const Noun = `${queue.noun[0].toUpperCase()}${queue.noun.slice(1)}`;
        return {
          attrs: { "data-id": it.id },
          cells: [
            it.id,
            h("span", {}, queue.about(it)),
            when(queue.filed(it)),
            due
              ? h(
                  "span",
                  { class: late ? "badge late" : "" },
                  `${day(due)}${late ? " (past)" : ""}`,
                )
              : plural(daysSince(queue.filed(it)), "day"),
            h(
              "button",
              {
                type: "button",
                class: "small",
                "aria-label": `Decide ${queue.noun} ${it.id}`,
                onclick: async () => {
                  clear(panel).append(
                    await decisionForm(
                      queue.decision,
                      it.id,
                      `${queue.noun} ${it.id}`,
                      async () => {
                        clear(sec.body);
                        await renderQueue(sec, queue, `${Noun} ${it.id} decided.`);
                      },
                    ),
                  );
                  panel.querySelector("select, input, textarea")?.focus();
                },
              },
              "Decide",
            ),
          ],
        };
      }),
      { class: `queue ${queue.noun}s` },
    ),
    panel,
  );
  return true;
}

// ---------------------------------------------------------------- the page

export async function operatorPage(root, me) {
  if (!me) {
    root.append(
      h(
        "p",
        { class: "card narrow" },
        "Sign in with an operator's key to see the population. ",
        h("a", { href: "#/signin" }, "Sign in"),
      ),
    );
    return;
  }
  const S = {
    scores: section(
      "distribution",
      "Score distribution",
      "Each program's latest full run: how many subjects have each score, and each grade.",
    ),
    lists: section(
      "list-sizes",
      "List sizes over time",
      "Each list on the same day of each of the last 12 months, and now.",
    ),
    disputes: section(
      "dispute-queue",
      "Disputes waiting",
      "Records that subjects dispute: the furnisher verifies or retracts each by its deadline, or an adjudicator decides.",
    ),
    reports: section(
      "report-queue",
      "Reports waiting",
      "Reports of others' breaches: nothing counts until an adjudicator upholds one.",
    ),
    reviews: section(
      "review-queue",
      "Human reviews waiting",
      "Subjects ask a person to look again at a refusal.",
    ),
    furnishers: section("furnisher-rates", "Furnishers' dispute and overturn rates"),
  };
  root.append(...Object.values(S).map((x) => x.el));
  const queue = (sec, q) =>
    load(
      sec,
      [
        ["GET", q.list],
        ["POST", q.decision],
      ],
      () => renderQueue(sec, q),
    );
  await Promise.all([
    load(S.scores, [["GET", T.scores]], renderDistribution),
    load(S.lists, [["GET", T.lists]], renderListSizes),
    queue(S.disputes, QUEUES.disputes),
    queue(S.reports, QUEUES.reports),
    queue(S.reviews, QUEUES.reviews),
    load(S.furnishers, [["GET", T.furnishers]], renderFurnishers),
  ]);
}
