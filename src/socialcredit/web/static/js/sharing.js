// Parts of "My file" about who sees what: consents and shared badges (each with a revoke
// button), the public opt-ins, who read the file and why, and the higher-or-lower game.

import { all, available, call, path } from "./api.js";
import {
  announce,
  clear,
  day,
  h,
  label,
  newId,
  plural,
  problemText,
  status,
  table,
  when,
} from "./dom.js";

export const T = {
  consents: "/v1/consents",
  consent: "/v1/consents/{id}",
  shares: "/v1/shares",
  share: "/v1/shares/{id}",
  settings: "/v1/subjects/{id}/settings",
  accessLog: "/v1/subjects/{id}/access-log",
  relations: "/v1/subjects/{id}/relations",
  game: "/v1/games/higher-or-lower",
};

function revokeButton(name, onRevoke) {
  return h(
    "button",
    {
      type: "button",
      class: "small danger",
      "aria-label": name,
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        await onRevoke(event.currentTarget);
      },
    },
    "Revoke",
  );
}

// ---------------------------------------------------------------- consents

export async function renderConsents(sec, note = "") {
  const body = sec.body;
  const items = await all(T.consents, { max: 1000 });
  announce(body, note);
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "You have granted no consents."));
    return false;
  }
  const canRevoke = await available("DELETE", T.consent);
  const revoke = (c) => async (button) => {
    try {
      await call("DELETE", path(T.consent, { id: c.id }));
      clear(sec.body);
      await renderConsents(sec, `Consent ${c.id} revoked: its token stops working now.`);
    } catch (err) {
      button.disabled = false;
      sec.body.prepend(status(`Not revoked: ${problemText(err)}`, "error"));
    }
  };
  body.append(
    table(
      { text: `${plural(items.length, "consent")} you granted`, visible: true },
      ["Relying party", "Purpose", "Parts", "Granted", "Expires", "State", "Action"],
      items.map((c) => ({
        attrs: { "data-consent": c.id, "data-status": c.status },
        cells: [
          c.relying_party,
          label(c.purpose),
          c.scope.join(", "),
          day(c.granted_at),
          day(c.expires_at),
          c.status,
          c.status === "active" && canRevoke
            ? revokeButton(`Revoke consent ${c.id} (${label(c.purpose)})`, revoke(c))
            : "",
        ],
      })),
    ),
  );
  return true;
}

// ---------------------------------------------------------------- shares

export async function renderShares(sec, note = "") {
  const body = sec.body;
  const items = await all(T.shares, { max: 1000 });
  announce(body, note);
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "You share no score badge."));
    return false;
  }
  const canRevoke = await available("DELETE", T.share);
  const revoke = (sh) => async (button) => {
    try {
      await call("DELETE", path(T.share, { id: sh.id }));
      clear(sec.body);
      await renderShares(sec, `Share ${sh.id} revoked: its link stops working now.`);
    } catch (err) {
      button.disabled = false;
      sec.body.prepend(status(`Not revoked: ${problemText(err)}`, "error"));
    }
  };
  body.append(
    table(
      { text: `${plural(items.length, "badge")} you shared`, visible: true },
      ["With", "Program", "Shared", "Until", "State", "Action"],
      items.map((sh) => ({
        attrs: { "data-share": sh.id, "data-status": sh.status },
        cells: [
          sh.relying_party_name || sh.relying_party,
          sh.program,
          day(sh.created_at),
          sh.expires_at ? day(sh.expires_at) : "until revoked",
          sh.status,
          sh.status === "active" && canRevoke
            ? revokeButton(
                `Revoke share ${sh.id} with ${sh.relying_party_name || sh.relying_party}`,
                revoke(sh),
              )
            : "",
        ],
      })),
    ),
  );
  return true;
}

// ---------------------------------------------------------------- opt-ins

const OPT_INS = [
  ["public_percentile", "Show my percentile to anyone who asks with my id"],
  ["leaderboard", "Put me on the public leaderboard (by name; never my resident ID)"],
  ["game", "Let my confirmed relations play higher or lower against my score"],
];

export async function renderSettings(sec, id) {
  const current = await call("GET", path(T.settings, { id }));
  const canSave = await available("PUT", T.settings);
  const message = h("div", {});
  const boxes = {};
  const form = h(
    "form",
    { class: "settings" },
    h(
      "fieldset",
      {},
      h("legend", {}, "Everything here is off until you turn it on"),
      OPT_INS.map(([name, text]) => {
        const box = h("input", {
          type: "checkbox",
          name,
          id: newId(name),
          checked: Boolean(current[name]),
        });
        boxes[name] = box;
        return h("label", { class: "inline", for: box.id }, box, ` ${text}`);
      }),
    ),
    canSave ? h("button", { type: "submit" }, "Save choices") : null,
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    const chosen = Object.fromEntries(Object.entries(boxes).map(([n, b]) => [n, b.checked]));
    try {
      const saved = await call("PUT", path(T.settings, { id }), { body: chosen });
      const on = OPT_INS.filter(([n]) => saved[n]).map(([n]) => label(n));
      message.append(status(`Saved: ${on.length ? on.join(", ") : "nothing"} is on.`));
    } catch (err) {
      message.append(status(`Not saved: ${problemText(err)}`, "error"));
    }
  });
  sec.body.append(form);
  return true;
}

// ---------------------------------------------------------------- access log

export async function renderAccessLog(body, id) {
  const data = await call("GET", path(T.accessLog, { id }), { query: { limit: 200 } });
  const items = data.items;
  if (!items.length) {
    body.append(h("p", { class: "muted empty" }, "Nobody has read your file."));
    return false;
  }
  const others = items.filter((e) => e.role !== "subject").length;
  body.append(
    h(
      "p",
      {},
      `The latest ${plural(items.length, "read")}, newest first; ${plural(others, "read")} by someone other than you.`,
    ),
    table(
      "Who read your file",
      ["When", "Who", "Role", "Purpose", "What", "Consent"],
      items.map((e) => ({
        attrs: { "data-role": e.role },
        cells: [
          when(e.at),
          e.principal_name,
          label(e.role),
          label(e.purpose || "—"),
          e.what,
          e.consent || "",
        ],
      })),
      { class: "access-log" },
    ),
  );
  return true;
}

// ---------------------------------------------------------------- higher or lower

export async function renderGame(body, id, programs) {
  const relations = await all(path(T.relations, { id }), { max: 1000 });
  const friends = [
    ...new Set(
      relations.filter((r) => r.confirmed).map((r) => (r.subject === id ? r.other : r.subject)),
    ),
  ];
  if (!friends.length) {
    body.append(
      h("p", { class: "muted empty" }, "You have no confirmed relation to play against."),
    );
    return false;
  }
  const friend = h(
    "select",
    { id: newId("friend"), name: "other" },
    friends.map((f) => h("option", { value: f }, f)),
  );
  const program = h(
    "select",
    { id: newId("game-program"), name: "program" },
    programs.map((p) => h("option", { value: p.program }, p.name || p.program)),
  );
  const result = h("div", {});
  const guess = (value) => {
    const input = h("input", {
      type: "radio",
      name: "guess",
      value,
      id: newId(`guess-${value}`),
      required: true,
    });
    return h("label", { class: "inline", for: input.id }, input, ` ${value} than theirs`);
  };
  const form = h(
    "form",
    { class: "game" },
    h("div", { class: "field" }, h("label", { for: friend.id }, "Against"), friend),
    h("div", { class: "field" }, h("label", { for: program.id }, "Program"), program),
    h("fieldset", {}, h("legend", {}, "My score is"), guess("higher"), guess("lower")),
    h("button", { type: "submit" }, "Play"),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    const chosen = form.querySelector("input[name=guess]:checked")?.value;
    try {
      const answer = await call("POST", T.game, {
        body: { other: friend.value, program: program.value, guess: chosen },
      });
      result.append(
        status(
          answer.correct
            ? `Right: your score is ${chosen}. Their score stays private.`
            : `Not this time: your score is not ${chosen}. Their score stays private.`,
        ),
      );
    } catch (err) {
      result.append(status(problemText(err), "error"));
    }
  });
  body.append(form);
  return true;
}
