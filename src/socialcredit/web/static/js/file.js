// Parts of "My file" where the subject acts on what is held about it: the lists it is on
// (with the way off and a repair application), its records (with a dispute button), the
// decisions services made about it (with a request for human review), its notices, and the
// records the retention purge removed.

import { all, available, call, path } from "./api.js";
import {
  announce,
  clear,
  day,
  h,
  kindLabel,
  label,
  newId,
  plural,
  problemText,
  put,
  status,
  table,
  when,
} from "./dom.js";

export const T = {
  lists: "/v1/subjects/{id}/lists",
  repairs: "/v1/repairs",
  records: "/v1/subjects/{id}/records",
  disputes: "/v1/disputes",
  decisions: "/v1/subjects/{id}/decisions",
  reviews: "/v1/decisions/{id}/reviews",
  notices: "/v1/subjects/{id}/notices",
  purges: "/v1/subjects/{id}/purges",
};

const STATEMENT_WORDS = 100;

function words(text) {
  return text.trim() ? text.trim().split(/\s+/).length : 0;
}

function ids(list) {
  return (list || []).map((r) => `#${r}`).join(", ");
}

/** A small form in a panel: fields [{name, label, kind: input|textarea, required, help}]. */
function panelForm({ title, fields, submit, onSubmit }) {
  const message = h("div", {});
  const inputs = {};
  const form = h("form", { class: "panel-form", "aria-label": title }, h("h3", {}, title));
  for (const f of fields) {
    const id = newId(f.name);
    const helpId = f.help ? `${id}-help` : null;
    const input =
      f.kind === "textarea"
        ? h("textarea", {
            id,
            name: f.name,
            rows: 3,
            required: f.required,
            "aria-describedby": helpId,
          })
        : h("input", { id, name: f.name, required: f.required, "aria-describedby": helpId });
    inputs[f.name] = input;
    form.append(
      h(
        "div",
        { class: "field" },
        h("label", { for: id }, f.label),
        input,
        f.help ? h("p", { id: helpId, class: "help" }, f.help) : null,
      ),
    );
  }
  form.append(
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, submit),
      h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"),
    ),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    const values = Object.fromEntries(
      Object.entries(inputs).map(([name, input]) => [name, input.value.trim()]),
    );
    try {
      await onSubmit(values);
    } catch (err) {
      message.append(status(`Not sent: ${problemText(err)}`, "error"));
    }
  });
  return { form, inputs };
}

function openPanel(panel, built) {
  clear(panel).append(built.form);
  built.form.querySelector("input, textarea, select")?.focus();
}

// ---------------------------------------------------------------- lists and repair

export async function renderLists(sec, id, note = "") {
  const body = sec.body;
  const data = await call("GET", path(T.lists, { id }));
  const items = data.items || [];
  announce(body, note);
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "You are on no list."));
    return false;
  }
  const canRepair = await available("POST", T.repairs);
  const panel = h("div", { class: "panel" });
  body.append(
    h(
      "ul",
      { class: "entries" },
      items.map((e) =>
        h(
          "li",
          { class: `entry ${e.kind || ""}`, "data-list": e.list },
          h("h3", {}, e.title || label(e.list)),
          h(
            "p",
            {},
            `${label(e.kind)}, ${label(e.tier)} tier${e.public ? ", public" : ""}. `,
            `Since ${day(e.since)}, until ${day(e.until)}`,
            e.record_ids?.length ? `; because of records ${ids(e.record_ids)}` : "",
            ".",
          ),
          e.cases?.some((c) => c.case)
            ? h(
                "p",
                {},
                `Cases: ${e.cases
                  .map((c) => c.case)
                  .filter(Boolean)
                  .join(", ")}.`,
              )
            : null,
          h("p", { class: "way-off" }, h("strong", {}, "The way off: "), e.how_to_leave),
          e.repairable_from
            ? h("p", {}, `Credit repair may be granted from ${day(e.repairable_from)}.`)
            : null,
          canRepair
            ? h(
                "button",
                {
                  type: "button",
                  class: "small secondary",
                  onclick: () =>
                    openPanel(
                      panel,
                      panelForm({
                        title: `Apply for repair: ${e.title || label(e.list)}`,
                        submit: "Apply",
                        fields: [
                          {
                            name: "commitment",
                            label: "Your credit commitment",
                            kind: "textarea",
                            required: true,
                            help: "What you undertake to do; the rules decide at once and the outcome is kept.",
                          },
                        ],
                        onSubmit: async ({ commitment }) => {
                          const outcome = await call("POST", T.repairs, {
                            body: { list: e.list, commitment },
                          });
                          clear(sec.body);
                          await renderLists(
                            sec,
                            id,
                            `Repair ${outcome.status}: ${outcome.reason}.`,
                          );
                        },
                      }),
                    ),
                },
                "Apply for repair",
              )
            : null,
        ),
      ),
    ),
    panel,
  );
  return true;
}

// ---------------------------------------------------------------- records and disputes

function recordState(r) {
  if (r.disputed) {
    const due = r.dispute?.deadline;
    return h(
      "span",
      {},
      h("span", { class: "badge disputed" }, "disputed"),
      due ? h("span", { class: "muted" }, ` answer due ${day(due)}`) : null,
    );
  }
  if (r.dispute) {
    return h(
      "span",
      { class: "badge" },
      `dispute closed: ${label(r.dispute.outcome || r.dispute.status)}`,
    );
  }
  if (r.kind === "record.retracted")
    return h("span", { class: "badge" }, `withdraws ${r.replaces}`);
  if (r.replaces) return h("span", { class: "badge" }, `corrects ${r.replaces}`);
  return h("span", { class: "muted" }, "in force");
}

function disputeForm(sec, id, record) {
  const built = panelForm({
    title: `Dispute record #${record.id}`,
    submit: "Send dispute",
    fields: [
      { name: "reason", label: "Why is it wrong?", required: true },
      { name: "evidence", label: "Evidence (a reference; optional)" },
      {
        name: "statement",
        label: "Your statement (optional; it travels with the record)",
        kind: "textarea",
        help: `0 of ${STATEMENT_WORDS} words`,
      },
    ],
    onSubmit: async ({ reason, evidence, statement }) => {
      const payload = { record: record.id, reason };
      if (evidence) payload.evidence = evidence;
      if (statement) payload.statement = statement;
      const opened = await call("POST", T.disputes, { body: payload });
      clear(sec.body);
      await renderRecords(
        sec,
        id,
        `Record #${record.id} is now disputed; ${record.furnisher} must verify it by ${day(opened.deadline)} or it is withdrawn.`,
      );
    },
  });
  const count = built.form.querySelector(".help");
  built.inputs.statement.addEventListener("input", () => {
    const n = words(built.inputs.statement.value);
    count.textContent = `${n} of ${STATEMENT_WORDS} words`;
    count.classList.toggle("over", n > STATEMENT_WORDS);
  });
  built.form.prepend(
    h(
      "p",
      { class: "muted" },
      `${kindLabel(record.kind)} on ${day(record.occurred_at)} from ${record.furnisher}.`,
    ),
  );
  built.form.prepend(built.form.querySelector("h3"));
  return built;
}

export async function renderRecords(sec, id, note = "") {
  const body = sec.body;
  const [records, canDispute] = await Promise.all([
    all(path(T.records, { id }), { max: 1000 }),
    available("POST", T.disputes),
  ]);
  announce(body, note);
  if (!records.length) {
    body.append(h("p", { class: "muted empty" }, "No records about you."));
    return false;
  }
  const panel = h("div", { class: "panel" });
  const rows = records.map((r) => ({
    attrs: { "data-record": r.id, "data-disputed": r.disputed ? "true" : "false" },
    cells: [
      `#${r.id}`,
      day(r.occurred_at),
      h(
        "span",
        {},
        kindLabel(r.kind),
        r.statement ? h("span", { class: "statement" }, `Your statement: “${r.statement}”`) : null,
      ),
      r.furnisher,
      r.value ?? "",
      r.external_id,
      recordState(r),
      canDispute && !r.disputed && r.kind !== "record.retracted"
        ? h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": `Dispute record #${r.id}`,
              onclick: () => openPanel(panel, disputeForm(sec, id, r)),
            },
            "Dispute",
          )
        : "",
    ],
  }));
  put(
    body,
    table(
      { text: `${plural(records.length, "record")} about you`, visible: true },
      ["Id", "Date", "Kind", "From", "Value", "Reference", "State", "Action"],
      rows,
      { class: "records" },
    ),
    canDispute
      ? null
      : h("p", { class: "muted" }, "Disputes are not available on this server yet."),
    panel,
  );
  return true;
}

// ---------------------------------------------------------------- decisions and reviews

function traceList(trace) {
  return h(
    "ol",
    { class: "trace" },
    (trace || []).map((step) =>
      h(
        "li",
        {},
        h("code", {}, step.rule),
        step.test ? ` (${step.test})` : "",
        `: ${step.outcome}`,
      ),
    ),
  );
}

export async function renderDecisions(sec, id, note = "") {
  const body = sec.body;
  const items = await all(path(T.decisions, { id }), { max: 200 });
  announce(body, note);
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "No service has asked for a decision about you."));
    return false;
  }
  const canReview = await available("POST", T.reviews);
  const panel = h("div", { class: "panel" });
  body.append(
    h(
      "ul",
      { class: "decisions" },
      items.map((d) =>
        h(
          "li",
          { "data-decision": d.id, "data-outcome": d.decision },
          h(
            "p",
            {},
            h("strong", {}, `${label(d.service)}: ${label(d.decision)}`),
            ` on ${when(d.at)}`,
            d.purpose ? ` for ${label(d.purpose)}` : "",
            ".",
          ),
          d.measures?.length
            ? h("p", {}, `Measures: ${d.measures.map((m) => m.title || m.id).join("; ")}.`)
            : null,
          h("details", {}, h("summary", {}, "How it was decided"), traceList(d.trace)),
          canReview && d.decision !== "allow"
            ? h(
                "button",
                {
                  type: "button",
                  class: "small secondary",
                  "aria-label": `Ask for a human review of decision ${d.id}`,
                  onclick: () =>
                    openPanel(
                      panel,
                      panelForm({
                        title: `Human review of decision ${d.id} (${label(d.service)})`,
                        submit: "Ask for review",
                        fields: [
                          {
                            name: "reason",
                            label: "Why should a person look at it again?",
                            kind: "textarea",
                            required: true,
                          },
                        ],
                        onSubmit: async ({ reason }) => {
                          const review = await call("POST", path(T.reviews, { id: d.id }), {
                            body: { reason },
                          });
                          clear(sec.body);
                          await renderDecisions(
                            sec,
                            id,
                            `Review ${review.id} requested: an adjudicator will decide.`,
                          );
                        },
                      }),
                    ),
                },
                "Ask for a human review",
              )
            : null,
        ),
      ),
    ),
    panel,
  );
  return true;
}

// ---------------------------------------------------------------- notices

export async function renderNotices(body, id) {
  const items = (await call("GET", path(T.notices, { id }), { query: { limit: 100 } })).items;
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "No notices."));
    return false;
  }
  body.append(
    h(
      "ul",
      { class: "notices" },
      items.map((n) =>
        h(
          "li",
          { "data-kind": n.kind },
          h("span", { class: "muted" }, `${when(n.at)} `),
          h("strong", {}, label(n.kind)),
          `: ${n.text}`,
        ),
      ),
    ),
  );
  return true;
}

// ---------------------------------------------------------------- retention

export async function renderPurges(body, id) {
  const items = await all(path(T.purges, { id }), { max: 1000 });
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "No record about you has been purged."));
    return false;
  }
  body.append(
    table(
      { text: `${plural(items.length, "record")} removed`, visible: true },
      ["Removed", "Record", "Kind", "From", "Occurred", "Why"],
      items.map((p) => [
        when(p.purged_at),
        `#${p.record_id}`,
        kindLabel(p.kind),
        p.furnisher,
        day(p.occurred_at),
        p.reason,
      ]),
    ),
  );
  return true;
}
