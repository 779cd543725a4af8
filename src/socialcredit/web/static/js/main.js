// The portal's shell: sign in with a key, sign out, and the pages behind the hash routes
// (#/me, #/public, #/operator). Every permission is the server's: a page shows what the API
// answers, including its refusals.

import { ApiError, call, path, session } from "./api.js";
import { clear, h } from "./dom.js";
import { operatorPage } from "./operator.js";
import { publicPage } from "./public.js";
import { subjectPage } from "./subject.js";

const main = document.getElementById("main");
const account = document.getElementById("account");
let me = null;
let routed = 0;

const PAGES = {
  "/signin": { title: "Sign in", render: signInPage },
  "/me": { title: "My file", render: subjectPage },
  "/public": { title: "Public lists", render: publicPage },
  "/operator": { title: "Operator", render: operatorPage },
};

/** The page a principal lands on after signing in. */
function landing(principal) {
  if (!principal) return "#/signin";
  if (principal.role === "subject") return "#/me";
  if (principal.role === "admin" || principal.role === "adjudicator") return "#/operator";
  return "#/signin";
}

function showAccount() {
  clear(account);
  if (!me) {
    account.append(h("a", { href: "#/signin", class: "button secondary" }, "Sign in"));
    return;
  }
  account.append(
    h(
      "span",
      { class: "who" },
      "Signed in as ",
      h("strong", {}, me.name),
      ` (${me.role.replaceAll("_", " ")})`,
    ),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        id: "sign-out",
        onclick: () => {
          session.clear();
          me = null;
          showAccount();
          if (location.hash === "#/signin") route();
          else location.hash = "#/signin";
        },
      },
      "Sign out",
    ),
  );
}

async function whoAmI() {
  if (!session.key()) return null;
  try {
    return await call("GET", "/v1/me");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) session.clear();
    return null;
  }
}

function signInPage(root) {
  const input = h("input", {
    id: "key",
    name: "key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "key-help",
  });
  const message = h("div", { id: "signin-status" });
  const form = h(
    "form",
    { id: "signin", class: "card narrow", "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title" }, "Sign in with your key"),
    h("label", { for: "key" }, "Key"),
    input,
    h(
      "p",
      { id: "key-help", class: "help" },
      "Your key (it starts with sck_; a person or organisation claims its own below). " +
        "It stays in this browser tab only and goes with each request to this server.",
    ),
    h("button", { type: "submit", id: "sign-in" }, "Sign in"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    session.set(input.value.trim());
    try {
      me = await call("GET", "/v1/me");
    } catch (err) {
      session.clear();
      me = null;
      const why = err instanceof ApiError ? err.problem?.detail || `HTTP ${err.status}` : err;
      message.append(
        h("p", { class: "status error", role: "alert" }, `That key was not accepted: ${why}.`),
      );
      input.focus();
      return;
    }
    input.value = "";
    showAccount();
    location.hash = landing(me);
    if (landing(me) === "#/signin") route();
  });
  if (me) {
    root.append(
      h(
        "div",
        { class: "card narrow" },
        h("h2", {}, `You are signed in as ${me.name}`),
        h(
          "p",
          {},
          `Your key has the role ${me.role.replaceAll("_", " ")}. The portal has pages for ` +
            "persons and organisations (My file) and for operators; your role works through " +
            "the API (described by its ",
          h("a", { href: "/openapi.json" }, "OpenAPI document"),
          ").",
        ),
      ),
    );
    return;
  }
  root.append(
    form,
    enrolForm(),
    h(
      "p",
      { class: "narrow" },
      "No key? The ",
      h("a", { href: "#/public" }, "public lists and leaderboard"),
      " need none.",
    ),
  );
}

/** A person or organisation claims its key with the enrolment code an operator issued: the
 * key is shown once and this tab is signed in with it. */
function enrolForm() {
  const input = h("input", {
    id: "code",
    name: "code",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "code-help",
  });
  const message = h("div", { id: "enrol-status" });
  const form = h(
    "form",
    { id: "enrol", class: "card narrow", "aria-labelledby": "enrol-title" },
    h("h2", { id: "enrol-title" }, "Claim your key"),
    h("label", { for: "code" }, "Enrolment code"),
    input,
    h(
      "p",
      { id: "code-help", class: "help" },
      "The code an operator issued for you (it starts with sce_). It works once; your access " +
        "log and notices will show that a key was made.",
    ),
    h("button", { type: "submit", id: "claim" }, "Claim my key"),
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    let made;
    try {
      const code = input.value.trim();
      made = await call("POST", path("/v1/enrolments/{code}", { code }), { auth: false });
    } catch (err) {
      const why = err instanceof ApiError ? err.problem?.detail || `HTTP ${err.status}` : err;
      message.append(
        h("p", { class: "status error", role: "alert" }, `That code was not accepted: ${why}.`),
      );
      input.focus();
      return;
    }
    input.value = "";
    session.set(made.key);
    me = await whoAmI();
    showAccount();
    message.append(
      h("p", { class: "status", role: "status" }, "Your key, shown only now: store it."),
      h("p", {}, h("code", { id: "new-key" }, made.key)),
      h("p", {}, h("a", { href: landing(me) }, "Open my file")),
    );
  });
  return form;
}

async function route() {
  const hash = location.hash;
  const page = hash.startsWith("#/");
  if (hash && !page && routed > 0) return; // an in-page anchor, such as the skip link
  let name = page ? hash.slice(1) : "/";
  if (name === "/") {
    location.replace(me ? landing(me) : "#/signin");
    return;
  }
  if (!PAGES[name]) name = "/signin";
  const shown = PAGES[name];
  document.title = `${shown.title} · socialcredit`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main);
  const heading = h("h1", { tabindex: "-1" }, shown.title);
  main.append(heading);
  const content = h("div", { class: "page" });
  main.append(content);
  // After the first page, move focus to the new page's heading, as a page load would.
  if (routed > 0) heading.focus({ preventScroll: true });
  routed += 1;
  await shown.render(content, me);
}

async function start() {
  me = await whoAmI();
  showAccount();
  window.addEventListener("hashchange", route);
  await route();
}

start();
