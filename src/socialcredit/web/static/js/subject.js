// "My file": what a person or organisation sees about itself. This module draws the scores
// (dials, factor bars, reasons), the history line and the tips, and lays out the page; the
// other parts come from file.js (lists, records, decisions, notices) and sharing.js
// (consents, shares, opt-ins, the access log, the game).

import { all, call, path, programsById } from "./api.js";
import { dial, fitWidth, hbars, lineChart } from "./charts.js";
import { day, h, label, load, plural, section, signed, table, when } from "./dom.js";
import {
  T as F,
  renderDecisions,
  renderLists,
  renderNotices,
  renderPurges,
  renderRecords,
} from "./file.js";
import {
  T as P,
  renderAccessLog,
  renderConsents,
  renderGame,
  renderSettings,
  renderShares,
} from "./sharing.js";

const T = {
  scores: "/v1/subjects/{id}/scores",
  history: "/v1/subjects/{id}/history",
  tips: "/v1/subjects/{id}/tips",
};

// ---------------------------------------------------------------- scores

function bandOf(program, grade) {
  return program?.bands?.find((b) => b.grade === grade) || null;
}

function scoreCard(score, program, kind) {
  const name = program?.name || score.program;
  const band = bandOf(program, score.grade);
  const min = program?.min_score ?? Math.min(score.base, score.score ?? score.base);
  const max = program?.max_score ?? Math.max(score.base, score.score ?? score.base);
  const scored = score.score !== null && score.score !== undefined;
  const said = scored
    ? `${name}: ${score.score} on a scale from ${min} to ${max}, grade ${score.grade}` +
      (band ? ` (band ${band.min} to ${band.max})` : "")
    : `${name}: no score (${label(score.status)})`;
  const card = h(
    "article",
    { class: "score-card", "data-program": score.program, "aria-label": name },
    h("h3", {}, name),
    dial({
      score: scored ? score.score : null,
      min,
      max,
      bands: program?.bands || [],
      grade: score.grade,
      title: `Score dial for ${name}`,
      desc: said,
    }),
  );
  const facts = h("dl", { class: "facts" });
  const fact = (term, value) => facts.append(h("dt", {}, term), h("dd", {}, value));
  if (scored) {
    fact("Score", h("span", { class: "score-value" }, String(score.score)));
    fact("Grade", score.grade || "none");
    if (band) fact("Band", `${band.min}–${band.max}`);
    if (score.percentile !== null && score.percentile !== undefined) {
      const pct = Number(score.percentile).toFixed(1);
      const peers = kind === "organisation" ? "organisations" : "persons";
      fact("Percentile", `${pct} (${pct}% of scored ${peers} have a lower score)`);
    }
  } else {
    fact("Status", label(score.status));
  }
  fact("As of", day(score.as_of));
  fact("Policy", score.policy_version);
  card.append(facts);

  const factorNames = Object.fromEntries((program?.factors || []).map((f) => [f.id, f.name]));
  const factors = Object.entries(score.factors || {}).map(([id, value]) => ({
    label: factorNames[id] || label(id),
    value,
  }));
  if (factors.length) {
    card.append(
      h("h4", {}, "Points by factor"),
      hbars({
        items: factors,
        title: `Points by factor, ${name}`,
        desc: factors.map((f) => `${f.label} ${signed(f.value)}`).join("; "),
        format: signed,
      }),
    );
  }
  const total = (score.contributions || []).reduce((sum, c) => sum + c.points, 0);
  if (scored) {
    card.append(
      h(
        "p",
        { class: "equation" },
        `${score.score} = base ${score.base} ${total < 0 ? "−" : "+"} ${Math.abs(total)}` +
          (score.clamp ? ` − clamp ${score.clamp}` : ""),
      ),
    );
  }
  if ((score.contributions || []).length) {
    card.append(
      h(
        "details",
        {},
        h("summary", {}, `Every contribution (${score.contributions.length})`),
        table(
          `Contributions to ${name}`,
          ["Rule", "Factor", "Points", "Records"],
          score.contributions.map((c) => [
            c.rule,
            factorNames[c.factor] || label(c.factor),
            signed(c.points),
            c.record_ids.map((r) => `#${r}`).join(", "),
          ]),
        ),
      ),
    );
  }
  if ((score.reasons || []).length) {
    card.append(
      h("h4", {}, "Reasons"),
      h(
        "ol",
        { class: "reasons" },
        score.reasons.map((r) =>
          h(
            "li",
            {},
            r.text,
            h(
              "span",
              { class: "muted" },
              ` (${r.points_lost} points short of the best` +
                (r.record_ids.length
                  ? `; records ${r.record_ids.map((x) => `#${x}`).join(", ")}`
                  : "") +
                ")",
            ),
          ),
        ),
      ),
    );
  }
  return card;
}

function renderScores(body, data, programs) {
  if (!data.scores.length) {
    body.append(h("p", { class: "muted empty" }, "No program has scored you yet."));
    return false;
  }
  body.append(
    h(
      "div",
      { class: "score-grid" },
      data.scores.map((sc) => scoreCard(sc, programs[sc.program], data.kind)),
    ),
  );
  return true;
}

// ---------------------------------------------------------------- history

async function renderHistory(body, id, programs) {
  const items = await all(path(T.history, { id }), { max: 2000 });
  const scored = items.filter((it) => it.score !== null && it.score !== undefined);
  if (!scored.length) {
    body.append(h("p", { class: "muted empty" }, "No scores over time yet."));
    return false;
  }
  const byProgram = new Map();
  for (const it of scored) {
    if (!byProgram.has(it.program)) byProgram.set(it.program, []);
    byProgram.get(it.program).push(it);
  }
  for (const [program, snaps] of byProgram) {
    const name = programs[program]?.name || program;
    const values = snaps.map((x) => x.score);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = Math.max(10, Math.round((hi - lo) * 0.15));
    const p = programs[program];
    const yMin = p ? Math.max(p.min_score, lo - pad) : lo - pad;
    const yMax = p ? Math.min(p.max_score, hi + pad) : hi + pad;
    const ordered = [...snaps].sort((a, b) => a.computed_at.localeCompare(b.computed_at));
    const first = ordered[0];
    const last = ordered[ordered.length - 1];
    body.append(
      h(
        "figure",
        { class: "history", "data-program": program },
        lineChart({
          width: fitWidth(body),
          series: [
            {
              name,
              points: ordered.map((x) => ({
                x: new Date(x.computed_at),
                y: x.score,
                label: `${day(x.as_of)}: ${x.score} (${x.grade})`,
              })),
            },
          ],
          yMin,
          yMax,
          title: `${name} over time`,
          desc:
            `${plural(ordered.length, "snapshot")} from ${day(first.as_of)} (${first.score}) ` +
            `to ${day(last.as_of)} (${last.score}).`,
        }),
        h("figcaption", {}, `${name}: ${plural(ordered.length, "snapshot")}, newest ${last.score}`),
        h(
          "details",
          {},
          h("summary", {}, "As a table"),
          table(
            `${name} snapshots`,
            ["As of", "Computed", "Score", "Grade", "Percentile", "Run"],
            [...ordered]
              .reverse()
              .map((x) => [
                day(x.as_of),
                when(x.computed_at),
                x.score,
                x.grade,
                x.percentile,
                x.scope,
              ]),
          ),
        ),
      ),
    );
  }
  return true;
}

// ---------------------------------------------------------------- tips

async function renderTips(body, id, programs) {
  const data = await call("GET", path(T.tips, { id }));
  const withTips = (data.programs || []).filter((p) => p.tips.length);
  if (!withTips.length) {
    body.append(h("p", { class: "muted empty" }, "No action would raise a score now."));
    return false;
  }
  for (const p of withTips) {
    const name = programs[p.program]?.name || p.program;
    body.append(
      h("h3", {}, `${name}: now ${p.score}${p.grade ? ` (${p.grade})` : ""}`),
      h(
        "ol",
        { class: "tips", "data-program": p.program },
        p.tips.map((tip) =>
          h(
            "li",
            {},
            h("span", { class: "tip-text" }, tip.action),
            h(
              "span",
              { class: "tip-effect" },
              ` ${signed(tip.points)} points, to ${tip.score} (${tip.grade})`,
            ),
          ),
        ),
      ),
    );
  }
  return true;
}

// ---------------------------------------------------------------- the page

export async function subjectPage(root, me) {
  if (!me) {
    root.append(
      h(
        "p",
        { class: "card narrow" },
        "Sign in with your key to see your file. ",
        h("a", { href: "#/signin" }, "Sign in"),
      ),
    );
    return;
  }
  if (!me.subject) {
    root.append(
      h(
        "p",
        { class: "card narrow" },
        `This page shows the file of the person or organisation a key belongs to; your key has the role ${label(me.role)}.`,
      ),
    );
    return;
  }
  const id = me.subject;
  root.append(h("p", { class: "lead" }, `Your file: ${me.name}, ${id}.`));
  const S = {
    scores: section(
      "scores",
      "Scores",
      "Each program's latest score, the points by factor and the reasons that cost the most.",
    ),
    history: section("history", "History", "Every score you were given, over time."),
    tips: section(
      "tips",
      "What would raise your score",
      "Concrete actions, each with its exact effect, found by rescoring.",
    ),
    lists: section(
      "lists",
      "Lists you are on",
      "Each entry, the records behind it, and the way off.",
    ),
    records: section(
      "records",
      "Records",
      "What furnishers reported about you. Dispute any record you think is wrong: it is marked disputed at once.",
    ),
    decisions: section(
      "decisions",
      "Decisions about you",
      "What services decided when they asked about you, and why. Ask for a human review of any refusal.",
    ),
    notices: section(
      "notices",
      "Notices",
      "What you were told: dispute outcomes, reviews, records put back.",
    ),
    purges: section(
      "purges",
      "Records removed",
      "Records deleted once their retention period ended, and why.",
    ),
    consents: section(
      "consents",
      "Consents",
      "Who may read parts of your file, and for what. Revoking stops access at once.",
    ),
    shares: section(
      "shares",
      "Shared score badges",
      "Badges (program, band, date; never records or the score) you shared.",
    ),
    settings: section(
      "settings",
      "Public choices",
      "Your percentile, the leaderboard and the game, each only if you opt in.",
    ),
    access: section(
      "access-log",
      "Who read your file",
      "Every read of your file: who, when and why.",
    ),
    game: section(
      "game",
      "Higher or lower",
      "Guess whether your score is above a confirmed relation's; only whether you are right is shown.",
    ),
  };
  root.append(...Object.values(S).map((x) => x.el));
  const programs = await programsById();
  let scored = [];
  // Tips rescore what-ifs and take longest: nothing else waits for them.
  const tips = load(S.tips, [["GET", T.tips]], (body) => renderTips(body, id, programs));
  await Promise.all([
    load(S.scores, [["GET", T.scores]], async (body) => {
      const data = await call("GET", path(T.scores, { id }));
      scored = data.scores.map((sc) => programs[sc.program] || { program: sc.program });
      return renderScores(body, data, programs);
    }),
    load(S.history, [["GET", T.history]], (body) => renderHistory(body, id, programs)),
    load(S.lists, [["GET", F.lists]], () => renderLists(S.lists, id)),
    load(S.records, [["GET", F.records]], () => renderRecords(S.records, id)),
    load(S.decisions, [["GET", F.decisions]], () => renderDecisions(S.decisions, id)),
    load(S.notices, [["GET", F.notices]], (body) => renderNotices(body, id)),
    load(S.purges, [["GET", F.purges]], (body) => renderPurges(body, id)),
    load(S.consents, [["GET", P.consents]], () => renderConsents(S.consents)),
    load(S.shares, [["GET", P.shares]], () => renderShares(S.shares)),
    load(S.settings, [["GET", P.settings]], () => renderSettings(S.settings, id)),
  ]);
  // After the reads above, so that the log shows this visit's reads too.
  await Promise.all([
    load(S.access, [["GET", P.accessLog]], (body) => renderAccessLog(body, id)),
    load(
      S.game,
      [
        ["POST", P.game],
        ["GET", P.relations],
      ],
      (body) => renderGame(body, id, scored),
    ),
    tips,
  ]);
}
