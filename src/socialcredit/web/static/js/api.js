// Talking to the API: the signed-in key (kept in this tab's sessionStorage only), JSON calls
// that turn problem documents into errors, and which endpoints this server offers (from its
// OpenAPI document), so that a section whose back end is not there yet can say so.

const KEY = "socialcredit.key";

export const session = {
  key() {
    return sessionStorage.getItem(KEY);
  },
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** An answer other than 2xx, with the RFC 9457 problem document when there is one. */
export class ApiError extends Error {
  constructor(status, problem, path) {
    super(problem?.detail || problem?.title || `HTTP ${status} for ${path}`);
    this.status = status;
    this.problem = problem;
    this.path = path;
  }

  /** 404 for a path the server has no route for (not a missing subject or record). */
  get missingRoute() {
    return this.status === 404 && (!this.problem || this.problem.type === "about:blank");
  }
}

let spec = null;

/** The server's OpenAPI document (fetched once per page load). */
export function openapi() {
  if (spec === null) {
    spec = fetch("/openapi.json", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .catch(() => ({ paths: {} }));
  }
  return spec;
}

/** Whether this server offers `method` on the path template (e.g. "/v1/subjects/{id}/tips"). */
export async function available(method, template) {
  const doc = await openapi();
  const item = doc.paths?.[template];
  return Boolean(item && item[method.toLowerCase()]);
}

/** The path template's parameter names filled in, each value escaped. */
export function path(template, params = {}) {
  return template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(params[name])));
}

/**
 * Call the API and return the parsed JSON. Options: body (sent as JSON), query (an object;
 * empty values are left out), auth (send the signed-in key; default true).
 */
export async function call(method, url, { body, query, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const key = session.key();
  if (auth && key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let target = url;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) target += `?${text}`;
  }
  const response = await fetch(target, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data, url);
  return data;
}

/** Every item of a paged list, following next_cursor (up to `max` items). */
export async function all(url, { query = {}, max = 1000, auth = true } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await call("GET", url, {
      query: { ...query, cursor, limit: Math.min(1000, max) },
      auth,
    });
    items.push(...(page?.items || []));
    cursor = page?.next_cursor || null;
  } while (cursor && items.length < max);
  return items;
}

/** The programs in use, by id (range, bands, factor names); {} when the server has none. */
export async function programsById() {
  if (!(await available("GET", "/v1/public/programs"))) return {};
  try {
    const data = await call("GET", "/v1/public/programs", { auth: false });
    return Object.fromEntries((data?.items || []).map((p) => [p.program, p]));
  } catch {
    return {};
  }
}

function resolve(doc, schema) {
  let out = schema || {};
  for (let depth = 0; out.$ref && depth < 10; depth += 1) {
    const name = out.$ref.split("/").pop();
    out = doc.components?.schemas?.[name] || {};
  }
  return out;
}

/** A property's own schema: `$ref`s followed, and `X | None` (anyOf with null) unwrapped. */
function plain(doc, schema) {
  let out = resolve(doc, schema);
  const options = out.anyOf || out.oneOf;
  if (options) {
    const notNull = options.map((o) => resolve(doc, o)).filter((o) => o.type !== "null");
    if (notNull.length === 1)
      out = { ...notNull[0], description: out.description, title: out.title };
  }
  if (out.allOf?.length === 1)
    out = { ...resolve(doc, out.allOf[0]), description: out.description };
  return out;
}

/**
 * The JSON body a call takes, from the OpenAPI document: [{name, required, type, enum,
 * description, maxLength}] (empty when the call takes no JSON body).
 */
export async function bodyFields(method, template) {
  const doc = await openapi();
  const op = doc.paths?.[template]?.[method.toLowerCase()];
  const schema = resolve(doc, op?.requestBody?.content?.["application/json"]?.schema);
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, raw]) => {
    const prop = plain(doc, raw);
    return {
      name,
      required: required.has(name),
      type: prop.type || "string",
      enum: prop.enum || null,
      description: prop.description || "",
      title: prop.title || name,
      maxLength: prop.maxLength || null,
      default: prop.default,
    };
  });
}
