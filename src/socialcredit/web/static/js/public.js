// What anyone sees without a key: the public lists, searchable by name or id, and the opt-in
// leaderboard. These calls carry no key.

import { call, path, programsById } from "./api.js";
import {
  clear,
  day,
  h,
  label,
  load,
  newId,
  plural,
  problemText,
  section,
  status,
  table,
} from "./dom.js";

const T = {
  lists: "/v1/public/lists",
  list: "/v1/public/lists/{name}",
  leaderboard: "/v1/public/leaderboard",
};

async function renderLists(body) {
  const names = await call("GET", T.lists, { auth: false });
  if (!names.length) {
    body.append(h("p", { class: "muted empty" }, "No list is public."));
    return false;
  }
  const listId = newId("list");
  const queryId = newId("q");
  const select = h(
    "select",
    { id: listId, name: "list" },
    names.map((n) => h("option", { value: n.name }, n.title)),
  );
  const about = h("p", { class: "way-off", "aria-live": "polite" });
  const describe = () => {
    const chosen = names.find((n) => n.name === select.value);
    about.textContent = chosen
      ? `A ${label(chosen.kind)}, ${label(chosen.tier)} tier. The way off: ${chosen.how_to_leave}`
      : "";
  };
  select.addEventListener("change", describe);
  describe();
  const query = h("input", {
    id: queryId,
    name: "q",
    type: "search",
    autocomplete: "off",
    "aria-describedby": `${queryId}-help`,
  });
  const results = h("div", { class: "results", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "search", role: "search", "aria-label": "Search a public list" },
    h("div", { class: "field" }, h("label", { for: listId }, "List"), select),
    about,
    h(
      "div",
      { class: "field" },
      h("label", { for: queryId }, "Name or id"),
      query,
      h(
        "p",
        { id: `${queryId}-help`, class: "help" },
        "A name, or a resident ID or credit code; empty shows the first entries.",
      ),
    ),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(results).append(h("p", { class: "muted" }, "Searching…"));
    try {
      const data = await call("GET", path(T.list, { name: select.value }), {
        auth: false,
        query: { q: query.value.trim() },
      });
      const items = data.items;
      clear(results);
      if (!items.length) {
        results.append(status(`No entry on ${select.selectedOptions[0].textContent} matches.`));
        return;
      }
      results.append(
        status(`${plural(items.length, "entry", "entries")} found.`),
        table(
          { text: `Entries on ${select.selectedOptions[0].textContent}`, visible: true },
          ["Name", "Id", "Since", "Until", "Cases"],
          items.map((it) => [
            it.name || "",
            it.subject,
            day(it.since),
            day(it.until),
            (it.cases || []).join(", "),
          ]),
          { class: "public-entries" },
        ),
      );
    } catch (err) {
      clear(results).append(status(`Search failed: ${problemText(err)}`, "error"));
    }
  });
  body.append(form, results);
  return true;
}

async function renderLeaderboard(body) {
  const programs = Object.values(await programsById());
  const programId = newId("lb-program");
  const results = h("div", { "aria-live": "polite" });
  const show = async (program) => {
    clear(results);
    try {
      const data = await call("GET", T.leaderboard, { auth: false, query: { program } });
      const items = data.items;
      if (!items.length) {
        results.append(
          h("p", { class: "muted empty" }, "Nobody has opted in to this leaderboard yet."),
        );
        return;
      }
      results.append(
        table(
          {
            text: `Leaderboard for ${programs.find((p) => p.program === program)?.name || program}`,
            visible: true,
          },
          ["Rank", "Name", "Kind", "Score", "Grade", "As of"],
          items.map((it) => [
            it.rank,
            it.name || it.subject || "(no name)",
            it.kind,
            it.score,
            it.grade || "",
            day(it.as_of),
          ]),
          { class: "leaderboard" },
        ),
      );
    } catch (err) {
      results.append(status(problemText(err), "error"));
    }
  };
  if (programs.length) {
    const select = h(
      "select",
      { id: programId, name: "program" },
      programs.map((p) => h("option", { value: p.program }, p.name)),
    );
    select.addEventListener("change", () => show(select.value));
    body.append(
      h("div", { class: "field" }, h("label", { for: programId }, "Program"), select),
      results,
    );
    await show(select.value);
    return true;
  }
  body.append(h("p", { class: "muted empty" }, "No program has scored anyone yet."));
  return false;
}

export async function publicPage(root) {
  root.append(
    h(
      "p",
      { class: "lead" },
      "Lists that are public by law, and the scores of people who chose to show theirs. No key needed.",
    ),
  );
  const lists = section("public-lists", "Search the public lists");
  const board = section("leaderboard", "Leaderboard", "Only subjects who opted in appear here.");
  root.append(lists.el, board.el);
  await Promise.all([
    load(
      lists,
      [
        ["GET", T.lists],
        ["GET", T.list],
      ],
      renderLists,
    ),
    load(board, [["GET", T.leaderboard]], renderLeaderboard),
  ]);
}
