// Switchyard console: one small script, no build step. It drives the REST API with the signed-in
// account's token (kept for the browser tab only), so the API's access control and audit apply to
// every action. Views are hash routes; `/api/v1/changes` tells the page to re-read what it shows.
"use strict";

const OPERATORS = ["in", "starts_with", "ends_with", "contains", "matches", "lt", "lte", "gt", "gte",
  "before", "after", "semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte", "in_cidr",
  "exists", "segment_match"];

const state = { token: sessionStorage.getItem("sy_token"), project: "default", env: "production",
  dirty: false, live: null, samples: {} };

// ---- DOM and API helpers -------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c.nodeType ? c : String(c));
  return el;
}

const $ = (sel) => document.querySelector(sel);
const main = () => $("#main");

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status; this.body = body;
  }
}

async function api(method, path, body) {
  const response = await fetch(`/api/v1${path}`, {
    method, headers: Object.assign({ "content-type": "application/json" },
      state.token ? { authorization: `Bearer ${state.token}` } : {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (response.status === 401 && path !== "/auth/token") { signOut(); throw new ApiError(401, data); }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const envPath = () => `/projects/${encodeURIComponent(state.project)}/environments/${encodeURIComponent(state.env)}`;
const projectPath = () => `/projects/${encodeURIComponent(state.project)}`;

function banner(text) { $("#banner").textContent = text || ""; }

function showError(error, where) {
  const message = error.status === 403
    ? `Permission denied: ${error.message}`
    : error.status === 409 || error.status === 412
      ? `Conflict: ${error.message}. Someone else changed this meanwhile; reload to see their change.`
      : error.message;
  const el = h("p", { class: "error", role: "alert" }, message);
  (where || main()).prepend(el);
  return el;
}

function confirmAction(text) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  $("#confirm-ok").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function page(title, ...children) {
  const m = main();
  m.replaceChildren(h("h1", {}, title), ...children);
  document.title = `${title} · Switchyard`;
  m.focus({ preventScroll: true });
}

function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }

// ---- sign-in -------------------------------------------------------------------------------

function signOut() {
  sessionStorage.removeItem("sy_token");
  state.token = null;
  if (state.live) state.live.abort();
  state.live = null;
  $("#top").hidden = true;
  location.hash = "#/signin";
}

function signInView() {
  $("#top").hidden = true;
  const name = h("input", { id: "name", name: "name", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    try {
      const token = await api("POST", "/auth/token", { account: name.value, password: password.value, token_name: "console", expires_in_days: 1 });
      state.token = token.token;
      sessionStorage.setItem("sy_token", state.token);
      await start();
      location.hash = "#/flags";
    } catch (error) { showError(error, form); }
  } },
  h("div", { class: "row" }, h("label", { for: "name" }, "Account"), name),
  h("div", { class: "row" }, h("label", { for: "password" }, "Password"), password),
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  page("Sign in to Switchyard", form);
  name.focus();
}

// ---- flags ---------------------------------------------------------------------------------

async function flagsView(params) {
  const q = params.get("q") || "", kind = params.get("kind") || "", tag = params.get("tag") || "",
    st = params.get("state") || "", stale = params.get("stale") === "1";
  const query = new URLSearchParams();
  if (q) query.set("q", q); if (kind) query.set("kind", kind); if (tag) query.set("tag", tag);
  const flags = await api("GET", `${projectPath()}/flags?${query}`);
  const envState = (f) => (f.environments[state.env] || {}).on;
  const isStale = (f) => f.temporary && Object.values(f.environments).every((t) => !t.on || (t.fallthrough && t.fallthrough.variation !== undefined && !(t.rules || []).length));
  const shown = flags.filter((f) => (!st || (st === "on") === !!envState(f)) && (!stale || isStale(f)));
  const filters = h("form", { class: "row", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const data = new URLSearchParams(new FormData(e.target));
    for (const [k, v] of [...data]) if (!v) data.delete(k);
    location.hash = `#/flags?${data}`;
  } },
  h("label", {}, "Search ", h("input", { name: "q", value: q, type: "search" })),
  h("label", {}, "Kind ", select("kind", ["", "boolean", "string", "number", "json"], kind)),
  h("label", {}, "Tag ", h("input", { name: "tag", value: tag, size: 10 })),
  h("label", {}, `State in ${state.env} `, select("state", ["", "on", "off"], st)),
  h("label", {}, h("input", { type: "checkbox", name: "stale", value: "1", checked: stale }), " Stale"),
  h("button", { type: "submit" }, "Filter"));
  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const key = e.target.key.value.trim();
    try {
      await api("POST", `${projectPath()}/flags`, { key, kind: e.target.kind.value });
      location.hash = `#/flag/${encodeURIComponent(key)}`;
    } catch (error) { showError(error, create); }
  } },
  h("label", {}, "New flag key ", h("input", { name: "key", required: true, pattern: "[A-Za-z0-9_.-]+" })),
  h("label", {}, "Kind ", select("kind", ["boolean", "string", "number", "json"], "boolean")),
  h("button", { type: "submit", class: "primary" }, "Create flag"));
  const rows = shown.map((f) => h("tr", {},
    h("td", {}, h("a", { href: `#/flag/${encodeURIComponent(f.key)}` }, f.key)),
    h("td", {}, f.kind),
    h("td", {}, envState(f) ? h("span", { class: "on" }, "ON") : h("span", { class: "off" }, "OFF")),
    h("td", {}, (f.tags || []).join(", ")),
    h("td", {}, f.description || "")));
  page("Flags", filters, create, h("table", {},
    h("thead", {}, h("tr", {}, ["Key", "Kind", `In ${state.env}`, "Tags", "Description"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "No flags match.")))));
}

function select(name, options, current, attrs) {
  return h("select", Object.assign({ name, "aria-label": name }, attrs || {}),
    options.map((o) => { const [value, label] = Array.isArray(o) ? o : [o, o || "any"];
      return h("option", { value, selected: String(value) === String(current) }, label); }));
}

async function flagView(key) {
  const flag = await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}`);
  const definition = await api("GET", `${projectPath()}/flags/${encodeURIComponent(key)}`);
  const working = JSON.parse(JSON.stringify(flag));
  // Empty lists are left out of the API's answers.
  for (const list of ["rules", "targets", "prerequisites"]) working[list] = working[list] || [];
  state.dirty = false;
  const variationOptions = flag.variations.map((v, i) => [i, `${v.key} (${JSON.stringify(v.value)})`]);
  const toggle = h("button", { type: "button", class: flag.on ? "danger" : "primary", onclick: async () => {
    const verb = flag.on ? "OFF" : "ON";
    if (!(await confirmAction(`Turn ${key} ${verb} in ${state.env}?`))) return;
    try { await api("POST", `${envPath()}/flags/${encodeURIComponent(key)}/toggle`, { on: !flag.on }); route(); }
    catch (error) { showError(error); }
  } }, flag.on ? `Turn off in ${state.env}` : `Turn on in ${state.env}`);
  const kill = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Kill ${key} in ${state.env}? It will serve its off variation and any release on it is aborted.`))) return;
    try { await api("POST", `${envPath()}/flags/${encodeURIComponent(key)}/kill`, {}); route(); }
    catch (error) { showError(error); }
  } }, "Kill");
  const markDirty = () => { state.dirty = true; };
  const rulesBox = h("div", {});
  const renderRules = () => rulesBox.replaceChildren(...working.rules.map((rule, i) => ruleEditor(working, rule, i, variationOptions, renderRules, markDirty)),
    h("button", { type: "button", onclick: () => { working.rules.push({ id: `rule-${Date.now().toString(36)}`, condition: { all: [{ kind: "user", attribute: "key", op: "in", values: [] }] }, serve: { variation: 0 } }); markDirty(); renderRules(); } }, "Add rule"));
  renderRules();
  const targets = flag.variations.map((v, i) => {
    const existing = working.targets.find((t) => t.variation === i && (t.kind || "user") === "user");
    return h("div", { class: "row" }, h("label", { for: `targets-${i}` }, `Users served ${v.key}`),
      h("input", { id: `targets-${i}`, value: existing ? existing.values.join(", ") : "", size: 40, oninput: (e) => {
        const values = e.target.value.split(",").map((s) => s.trim()).filter(Boolean);
        working.targets = working.targets.filter((t) => !(t.variation === i && (t.kind || "user") === "user"));
        if (values.length) working.targets.push({ kind: "user", variation: i, values });
        markDirty();
      } }));
  });
  const prereqs = await prerequisitesEditor(key, working, markDirty);
  const save = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const body = Object.assign({}, working, { version: flag.version, comment: e.target.comment.value || undefined });
    delete body.flag; delete body.environment; delete body.kind; delete body.variations;
    try { await api("PUT", `${envPath()}/flags/${encodeURIComponent(key)}`, body); state.dirty = false; banner(""); route(); }
    catch (error) { showError(error, save); }
  } }, h("div", { class: "row" }, h("label", { for: "comment" }, "Comment"), h("input", { id: "comment", name: "comment", size: 40 }),
    h("button", { type: "submit", class: "primary" }, `Save targeting in ${state.env}`)));
  const fallthrough = serveEditor(working.fallthrough, variationOptions, (serve) => { working.fallthrough = serve; markDirty(); }, "fallthrough");
  page(`Flag ${key}`,
    h("p", {}, `In ${state.env}: `, flag.on ? h("span", { class: "on" }, "ON") : h("span", { class: "off" }, "OFF"), ` · version ${flag.version}`),
    h("div", { class: "row" }, toggle, kill),
    h("h2", {}, "Variations"), variationsEditor(definition, key),
    h("h2", {}, "Individual targets"), ...targets,
    h("h2", {}, "Rules"), rulesBox,
    h("h2", {}, "Everyone else"), fallthrough,
    h("h2", {}, "Prerequisites"), prereqs,
    save,
    h("h2", {}, "Exposures over time"), await exposuresChart(key, flag.variations));
}

async function prerequisitesEditor(key, working, markDirty) {
  const box = h("div", {});
  const others = (await api("GET", `${projectPath()}/flags`)).filter((f) => f.key !== key);
  const variationsOf = (flagKey) => (others.find((f) => f.key === flagKey) || { variations: [] }).variations;
  const render = () => {
    const rows = working.prerequisites.map((p, i) => h("div", { class: "row" },
      `Requires ${p.key} to serve ${p.variations.map((v) => (variationsOf(p.key)[v] || {}).key || v).join(" or ")}`,
      h("button", { type: "button", onclick: () => { working.prerequisites.splice(i, 1); markDirty(); render(); } }, `Remove prerequisite ${p.key}`)));
    const flagSelect = select("prerequisite flag", [["", "choose a flag"], ...others.map((f) => [f.key, f.key])], "", { onchange: () => {
      variationSelect.replaceChildren(...variationsOf(flagSelect.value).map((v, i) => h("option", { value: i }, v.key)));
    } });
    const variationSelect = select("prerequisite variation", [], "");
    const add = h("button", { type: "button", onclick: () => {
      if (!flagSelect.value) return;
      working.prerequisites.push({ key: flagSelect.value, variations: [Number(variationSelect.value || 0)] });
      markDirty(); render();
    } }, "Add prerequisite");
    box.replaceChildren(...(rows.length ? rows : [h("p", { class: "muted" }, "None.")]), h("div", { class: "row" }, flagSelect, variationSelect, add));
  };
  render();
  return box;
}

function serveEditor(serve, variationOptions, onChange, id) {
  if (serve.release) return h("p", {}, `A release is running here (stage ${serve.release.stage}, ${serve.release.weight / 1000} % treated). `, h("a", { href: "#/releases" }, "See releases"));
  const box = h("div", {});
  const rollout = !!serve.rollout;
  const render = () => {
    const mode = select(`${id}-mode`, [["variation", "One variation"], ["rollout", "Percentage rollout"]], serve.rollout ? "rollout" : "variation", { onchange: (e) => {
      serve = e.target.value === "rollout" ? { rollout: { variations: variationOptions.map(([i], n) => ({ variation: i, weight: n === 0 ? 100000 : 0 })) } } : { variation: 0 };
      onChange(serve); render();
    } });
    if (serve.rollout) {
      const weights = serve.rollout.variations.map((wv, n) => h("label", {}, `${variationOptions[wv.variation][1]} % `,
        h("input", { type: "number", min: 0, max: 100, step: 0.001, value: wv.weight / 1000, "aria-label": `${id} weight ${n}`, oninput: (e) => {
          wv.weight = Math.round(Number(e.target.value) * 1000); onChange(serve);
        } })));
      box.replaceChildren(h("div", { class: "row" }, mode, ...weights));
    } else {
      box.replaceChildren(h("div", { class: "row" }, mode, select(`${id}-variation`, variationOptions, serve.variation, { onchange: (e) => { serve = { variation: Number(e.target.value) }; onChange(serve); } })));
    }
  };
  void rollout;
  render();
  return box;
}

function ruleEditor(working, rule, index, variationOptions, rerender, markDirty) {
  const clauses = rule.condition.all || [rule.condition];
  if (!rule.condition.all) rule.condition = { all: clauses };
  const clauseRows = clauses.map((clause, c) => h("div", { class: "row" },
    h("input", { value: clause.attribute, "aria-label": `rule ${index + 1} clause ${c + 1} attribute`, placeholder: "attribute", oninput: (e) => { clause.attribute = e.target.value; markDirty(); } }),
    h("label", {}, h("input", { type: "checkbox", checked: !!clause.negate, onchange: (e) => { clause.negate = e.target.checked; markDirty(); } }), " not"),
    select(`rule ${index + 1} clause ${c + 1} operator`, OPERATORS, clause.op, { onchange: (e) => { clause.op = e.target.value; markDirty(); } }),
    h("input", { value: (clause.values || []).join(", "), size: 30, "aria-label": `rule ${index + 1} clause ${c + 1} values`, placeholder: "values, comma separated", oninput: (e) => {
      clause.values = e.target.value.split(",").map((s) => s.trim()).filter(Boolean).map((s) => (/^-?\d+(\.\d+)?$/.test(s) && clause.op !== "in" ? Number(s) : s));
      markDirty();
    } }),
    h("button", { type: "button", "aria-label": `remove clause ${c + 1} of rule ${index + 1}`, onclick: () => { clauses.splice(c, 1); markDirty(); rerender(); } }, "Remove clause")));
  return h("fieldset", {}, h("legend", {}, `Rule ${index + 1} (${rule.id})`),
    ...clauseRows,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: () => { clauses.push({ kind: "user", attribute: "", op: "in", values: [] }); markDirty(); rerender(); } }, "Add clause"),
      h("span", {}, "Serve:"), serveEditor(rule.serve, variationOptions, (serve) => { rule.serve = serve; markDirty(); }, `rule-${index + 1}`),
      h("button", { type: "button", onclick: () => { working.rules.splice(index, 1); markDirty(); rerender(); } }, "Delete rule")));
}

// A small JSON Schema subset, checked as you type (the server checks the full schema on save).
function schemaProblem(value, schema, path) {
  if (!schema || typeof schema !== "object") return null;
  const type = Array.isArray(value) ? "array" : value === null ? "null" : typeof value === "number" ? (Number.isInteger(value) ? "integer" : "number") : typeof value;
  if (schema.type) {
    const types = [].concat(schema.type);
    if (!types.includes(type) && !(type === "integer" && types.includes("number"))) return `${path || "value"} must be ${types.join(" or ")}`;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return `${path || "value"} must be one of ${JSON.stringify(schema.enum)}`;
  if (type === "object") {
    for (const required of schema.required || []) if (!(required in value)) return `${path || "value"} needs "${required}"`;
    for (const [k, sub] of Object.entries(schema.properties || {})) if (k in value) { const p = schemaProblem(value[k], sub, `${path}/${k}`); if (p) return p; }
  }
  if (type === "array" && schema.items) for (const [i, item] of value.entries()) { const p = schemaProblem(item, schema.items, `${path}/${i}`); if (p) return p; }
  return null;
}

function variationsEditor(definition, key) {
  const rows = definition.variations.map((v, i) => {
    const message = h("span", { class: "invalid", id: `variation-${i}-problem`, "aria-live": "polite" });
    const input = h("input", { value: JSON.stringify(v.value), size: 40, "aria-label": `value of variation ${v.key}`, "aria-describedby": `variation-${i}-problem`, oninput: (e) => {
      let problem = null;
      try { const parsed = JSON.parse(e.target.value); problem = schemaProblem(parsed, definition.json_schema, ""); v.value = parsed; }
      catch (_) { problem = "not valid JSON"; }
      message.textContent = problem || "";
      e.target.setAttribute("aria-invalid", problem ? "true" : "false");
    } });
    return h("div", { class: "row" }, h("strong", {}, v.key), input, message);
  });
  const save = h("button", { type: "button", onclick: async () => {
    if (document.querySelector("[aria-invalid=true]")) return showError(new Error("fix the invalid values first"));
    const body = Object.assign({}, definition, { version: definition.version });
    delete body.environments;
    try { await api("PUT", `${projectPath()}/flags/${encodeURIComponent(key)}`, body); route(); }
    catch (error) { showError(error); }
  } }, "Save variations");
  return h("div", {}, ...rows, save);
}

async function exposuresChart(key, variations) {
  let points;
  try { points = await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}/evaluations`); }
  catch (error) { return h("p", { class: "muted" }, error.message); }
  if (!points.length) return h("p", { class: "muted" }, "No evaluations reported in the last 24 hours.");
  const minutes = [...new Set(points.map((p) => p.minute_ms))].sort((a, b) => a - b);
  const byVariation = {};
  for (const p of points) { const k = p.variation || "(default)"; byVariation[k] = byVariation[k] || {}; byVariation[k][p.minute_ms] = (byVariation[k][p.minute_ms] || 0) + p.count; }
  const max = Math.max(1, ...minutes.map((m) => Object.values(byVariation).reduce((s, v) => s + (v[m] || 0), 0)));
  const W = 600, H = 160, bar = W / Math.max(1, minutes.length);
  const colors = ["#0b5fff", "#c62828", "#2e7d32", "#8e24aa", "#ef6c00"];
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Evaluations per minute by variation of ${key}`);
  minutes.forEach((m, i) => { let y = H;
    Object.keys(byVariation).forEach((k, c) => { const n = byVariation[k][m] || 0; const hgt = (n / max) * (H - 10); y -= hgt;
      const r = document.createElementNS(svg.namespaceURI, "rect");
      r.setAttribute("x", i * bar); r.setAttribute("y", y); r.setAttribute("width", Math.max(1, bar - 1)); r.setAttribute("height", hgt); r.setAttribute("fill", colors[c % colors.length]);
      svg.append(r); }); });
  // Colours through the CSSOM: the page's content security policy forbids style attributes.
  const legend = h("p", {}, Object.keys(byVariation).map((k, c) => {
    const swatch = h("span", {}, `■ ${k} `);
    swatch.style.color = colors[c % colors.length];
    return swatch;
  }));
  void variations;
  return h("div", {}, svg, legend);
}

// ---- segments, access ----------------------------------------------------------------------

async function segmentsView() {
  const segments = await api("GET", `${envPath()}/segments`);
  const keys = (lists) => (lists || []).filter((l) => (l.kind || "user") === "user").flatMap((l) => l.values).join(", ");
  const parse = (text) => { const values = text.split(",").map((v) => v.trim()).filter(Boolean); return values.length ? [{ kind: "user", values }] : []; };
  const editor = (segment) => {
    const included = h("input", { value: keys(segment.included), size: 40, "aria-label": `users included in ${segment.key}` });
    const excluded = h("input", { value: keys(segment.excluded), size: 40, "aria-label": `users excluded from ${segment.key}` });
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const body = Object.assign({}, segment, { included: parse(included.value), excluded: parse(excluded.value) });
      delete body.environment;
      try { await api("PUT", `${envPath()}/segments/${encodeURIComponent(segment.key)}`, body); route(); }
      catch (error) { showError(error, form); }
    } }, h("fieldset", {}, h("legend", {}, `${segment.key} (version ${segment.version}, ${(segment.rules || []).length} rules)`),
      h("div", { class: "row" }, h("span", {}, "Included users"), included),
      h("div", { class: "row" }, h("span", {}, "Excluded users"), excluded),
      h("button", { type: "submit" }, `Save ${segment.key}`)));
    form.addEventListener("input", () => { state.dirty = true; });
    return form;
  };
  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try { await api("POST", `${envPath()}/segments`, { key: e.target.key.value.trim(), included: [], excluded: [] }); route(); }
    catch (error) { showError(error, create); }
  } }, h("label", {}, "New segment key ", h("input", { name: "key", required: true })), h("button", { type: "submit", class: "primary" }, "Create segment"));
  page(`Segments in ${state.env}`, create, ...segments.map(editor));
}

async function accessView() {
  const section = async (title, path, columns) => {
    try {
      const rows = await api("GET", path);
      return [h("h2", {}, title), h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c] ?? "")))))))];
    } catch (error) { return [h("h2", {}, title), h("p", { class: "error" }, error.status === 403 ? `Permission denied: ${error.message}` : error.message)]; }
  };
  const shown = h("p", { role: "status", id: "secret" });
  const createForm = (label, path, fields, body, secretField) => {
    const form = h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const created = await api("POST", path, body(e.target));
        shown.textContent = `${label} created. Copy it now, it is shown once: ${created[secretField]}`;
      } catch (error) { showError(error, form); }
    } }, ...fields, h("button", { type: "submit" }, `Create ${label.toLowerCase()}`));
    return form;
  };
  const tokenForm = createForm("API token", "/tokens", [h("label", {}, "Token name ", h("input", { name: "name", required: true }))], (f) => ({ name: f.name.value }), "token");
  const keyForm = createForm("SDK key", `${envPath()}/sdk-keys`, [h("label", {}, "SDK key name ", h("input", { name: "name", required: true })),
    h("label", {}, "Kind ", select("kind", ["server", "client"], "server"))], (f) => ({ name: f.name.value, kind: f.kind.value }), "key");
  const envForm = createForm("Environment", `${projectPath()}/environments`, [h("label", {}, "Environment key ", h("input", { name: "key", required: true }))],
    (f) => ({ key: f.key.value, name: f.key.value }), "key");
  page("Access", shown, tokenForm, keyForm, envForm,
    ...(await section(`Environments of ${state.project}`, `${projectPath()}/environments`, ["key", "name", "critical"])),
    ...(await section("API tokens", "/tokens", ["id", "account", "name", "expires_at_ms"])),
    ...(await section("Roles", "/roles", ["name", "builtin"])),
    ...(await section(`SDK keys in ${state.env}`, `${envPath()}/sdk-keys`, ["id", "kind", "name"])));
}

// ---- releases ------------------------------------------------------------------------------

async function releasesView() {
  const releases = await api("GET", `${envPath()}/releases`);
  page(`Releases in ${state.env}`, h("table", {}, h("thead", {}, h("tr", {}, ["Release", "Flag", "Target", "State", "Stage"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, releases.length ? releases.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/release/${r.id}` }, r.id)), h("td", {}, r.flag), h("td", {}, r.variation), h("td", {}, r.state),
      h("td", {}, `${r.stage + 1} of ${r.stages.length}: ${r.stages[Math.min(r.stage, r.stages.length - 1)].name}`))) : h("tr", {}, h("td", { colspan: 5 }, "No releases.")))));
}

async function releaseView(id) {
  const s = await api("GET", `${envPath()}/releases/${id}`);
  const samples = (state.samples[id] = state.samples[id] || []);
  const a = s.assessment;
  if (a) samples.push({ at: a.at_ms, rho: a.rho || 0, guardrails: a.guardrails, evaluations: a.evaluations });
  const act = (verb, label, cls) => h("button", { type: "button", class: cls, onclick: async () => {
    if (!(await confirmAction(`${label} release ${id} of ${s.flag} in ${state.env}?`))) return;
    try { await api("POST", `${envPath()}/releases/${id}/${verb}`, {}); route(); } catch (error) { showError(error); }
  } }, label);
  const kill = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Kill ${s.flag} in ${state.env}? This aborts the release.`))) return;
    try { await api("POST", `${envPath()}/flags/${encodeURIComponent(s.flag)}/kill`, {}); route(); } catch (error) { showError(error); }
  } }, "Kill flag");
  const guardrails = (a ? a.guardrails : []).map((g) => h("tr", {}, h("td", {}, g.metric), h("td", {}, String(g.treated)), h("td", {}, String(g.control)),
    h("td", {}, g.ln_e_total !== undefined ? `${g.ln_e_total.toFixed(3)} / ${g.threshold.toFixed(3)}` : g.interval ? `[${g.interval.map((x) => x.toFixed(3)).join(", ")}]` : "–"),
    h("td", {}, g.breached ? h("strong", { class: "error" }, "breached") : g.note || "ok")));
  page(`Release ${id}`,
    h("p", {}, `${s.flag} → ${s.variation}: `, h("strong", {}, s.state), ` · stage ${s.stage + 1} of ${s.stages.length} (${s.stages[Math.min(s.stage, s.stages.length - 1)].name})`,
      s.hold ? ` · holding: ${s.hold.reason}` : "", s.next_decision_ms ? ` · next decision ${time(s.next_decision_ms)}` : ""),
    h("div", { class: "row" }, act("pause", "Pause"), act("resume", "Resume"), act("advance", "Advance", "primary"), act("abort", "Abort", "danger"), kill),
    h("h2", {}, "Treated share over time"), releaseChart(s, samples),
    h("h2", {}, "Guardrails per cohort"), ...(a ? a.guardrails : []).map((g) => cohortChart(g, samples)),
    h("table", {}, h("thead", {}, h("tr", {}, ["Metric", "Treated", "Control", "ln E / threshold or interval", "Status"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, guardrails)),
    a ? h("p", {}, `Evaluations: treated ${a.evaluations.treated || 0}, control ${a.evaluations.control || 0}, audience ${a.evaluations.audience || 0}. Verdict: ${a.verdict.kind}${a.verdict.reason ? ` (${a.verdict.reason})` : ""}${a.verdict.waiting_for ? ` (waiting for ${a.verdict.waiting_for})` : ""}.`) : null,
    h("h2", {}, "Decisions"), h("ol", {}, (s.history || []).map((e) => h("li", {}, `${time(e.at_ms)} ${e.event} by ${e.actor}${e.detail ? `: ${e.detail}` : ""}`))));
}

function releaseChart(s, samples) {
  const W = 600, H = 160, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("role", "img"); svg.setAttribute("id", "release-chart");
  svg.setAttribute("aria-label", `Treated share over time, ${samples.length} samples; current stage weight ${s.stages[Math.min(s.stage, s.stages.length - 1)].weight / 1000} %`);
  const t0 = s.created_ms, t1 = Math.max(Date.now(), t0 + 1000);
  const x = (t) => ((t - t0) / (t1 - t0)) * (W - 10) + 5, y = (share) => H - 5 - share * (H - 10);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#0b5fff"); line.setAttribute("stroke-width", "2");
  line.setAttribute("points", samples.map((p) => `${x(p.at)},${y(p.rho)}`).join(" "));
  svg.append(line);
  for (const e of s.history || []) {
    const m = document.createElementNS(ns, "line");
    m.setAttribute("x1", x(e.at_ms)); m.setAttribute("x2", x(e.at_ms)); m.setAttribute("y1", 0); m.setAttribute("y2", H);
    m.setAttribute("stroke", e.event.includes("roll_back") || e.event.includes("kill") ? "#c62828" : "#999");
    m.setAttribute("class", "decision");
    const title = document.createElementNS(ns, "title"); title.textContent = `${e.event} at ${time(e.at_ms)}`; m.append(title);
    svg.append(m);
  }
  return svg;
}

// Bad events per evaluation in each cohort over the stage, with the latest evidence.
function cohortChart(guardrail, samples) {
  const W = 600, H = 120, ns = "http://www.w3.org/2000/svg";
  const points = samples.map((p) => {
    const g = p.guardrails.find((x) => x.metric === guardrail.metric) || {};
    const rate = (n, cohort) => (p.evaluations && p.evaluations[cohort] ? n / p.evaluations[cohort] : 0);
    return { at: p.at, treated: rate(g.treated || 0, "treated"), control: rate(g.control || 0, "control") };
  });
  const max = Math.max(1e-9, ...points.flatMap((p) => [p.treated, p.control]));
  const t0 = points.length ? points[0].at : 0, t1 = Math.max(t0 + 1000, ...points.map((p) => p.at));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("role", "img");
  const latest = points[points.length - 1] || { treated: 0, control: 0 };
  svg.setAttribute("aria-label", `${guardrail.metric} per evaluation: treated ${latest.treated.toFixed(4)}, control ${latest.control.toFixed(4)}`);
  for (const [cohort, color] of [["control", "#888"], ["treated", "#0b5fff"]]) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("fill", "none"); line.setAttribute("stroke", color); line.setAttribute("stroke-width", "2");
    line.setAttribute("points", points.map((p) => `${((p.at - t0) / (t1 - t0)) * (W - 10) + 5},${H - 5 - (p[cohort] / max) * (H - 10)}`).join(" "));
    svg.append(line);
  }
  const evidence = guardrail.interval ? `interval [${guardrail.interval.map((x) => x.toFixed(3)).join(", ")}]`
    : guardrail.ln_e_total !== undefined ? `ln E ${guardrail.ln_e_total.toFixed(3)} of ${guardrail.threshold.toFixed(3)}` : guardrail.note || "";
  return h("figure", {}, svg, h("figcaption", {}, `${guardrail.metric}: treated (blue) vs control (grey) per evaluation; ${evidence}`));
}

// ---- audit ---------------------------------------------------------------------------------

function diff(before, after) {
  const a = JSON.stringify(before ?? null, null, 2).split("\n"), b = JSON.stringify(after ?? null, null, 2).split("\n");
  const inA = new Set(a), inB = new Set(b);
  return h("pre", {}, ...a.filter((l) => !inB.has(l)).map((l) => h("div", { class: "diff-del" }, `- ${l}`)),
    ...b.filter((l) => !inA.has(l)).map((l) => h("div", { class: "diff-add" }, `+ ${l}`)));
}

async function auditView() {
  const [audit, chain] = await Promise.all([api("GET", "/audit?limit=50"), api("GET", "/audit/verify").catch((e) => ({ error: e.message }))]);
  const chainText = chain.error ? `Chain status unavailable: ${chain.error}` : chain.ok ? `Chain verified: ${chain.records} records intact.` : `Chain BROKEN at record ${chain.first_broken}`;
  page("Audit log", h("p", { id: "chain-status" }, chainText),
    h("ol", { id: "audit" }, audit.records.map((r) => h("li", {},
      h("details", {}, h("summary", {}, `#${r.seq} ${time(r.at_ms)} ${r.action} ${r.resource} — ${r.outcome} — ${r.actor.kind}:${r.actor.account || r.actor.id}${r.comment ? ` — ${r.comment}` : ""}`),
        diff(r.before, r.after))))));
}

// ---- routing, live updates -----------------------------------------------------------------

async function route() {
  if (!state.token) return signInView();
  const [path, query] = (location.hash.slice(1) || "/flags").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) a.toggleAttribute("aria-current", a.getAttribute("href").startsWith(`#/${parts[0] || "flags"}`));
  try {
    switch (parts[0]) {
      case "flag": return await flagView(parts[1]);
      case "segments": return await segmentsView();
      case "releases": return await releasesView();
      case "release": return await releaseView(parts[1]);
      case "audit": return await auditView();
      case "access": return await accessView();
      case "signin": return signInView();
      default: return await flagsView(params);
    }
  } catch (error) {
    if (error.status === 401) return signInView();
    page("Something went wrong");
    showError(error);
  }
}

let pending = null;
function changed() {
  if (state.dirty) { banner("This was changed elsewhere. Saving now will be refused as a conflict; reload to see the change."); return; }
  clearTimeout(pending);
  pending = setTimeout(route, 150);
}

async function follow() {
  if (state.live) state.live.abort();
  const controller = (state.live = new AbortController());
  while (!controller.signal.aborted) {
    try {
      const response = await fetch("/api/v1/changes", { headers: { authorization: `Bearer ${state.token}` }, signal: controller.signal });
      if (!response.ok) break;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          if (!frame.startsWith("event: change")) continue;
          // A commit that wrote nothing is an audited refusal (possibly this page's own, such as
          // a reader's chain check): re-reading for it would loop.
          const note = JSON.parse(frame.slice(frame.indexOf("data: ") + 6) || "{}");
          if (note.seq === null || (note.kinds || []).length) changed();
        }
      }
    } catch (_) { if (controller.signal.aborted) return; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function start() {
  $("#top").hidden = false;
  const projects = await api("GET", "/projects");
  const projectSelect = $("#project");
  projectSelect.replaceChildren(...projects.map((p) => h("option", { value: p.key, selected: p.key === state.project }, p.name || p.key)));
  const envs = await api("GET", `${projectPath()}/environments`);
  if (!envs.some((e) => e.key === state.env) && envs.length) state.env = envs[0].key;
  $("#env").replaceChildren(...envs.map((e) => h("option", { value: e.key, selected: e.key === state.env }, e.name || e.key)));
  follow();
}

window.addEventListener("hashchange", () => { state.dirty = false; banner(""); route(); });
window.addEventListener("DOMContentLoaded", async () => {
  $("#signout").addEventListener("click", signOut);
  $("#project").addEventListener("change", async (e) => { state.project = e.target.value; await start(); route(); });
  $("#env").addEventListener("change", (e) => { state.env = e.target.value; route(); });
  if (state.token) { try { await start(); } catch (_) { signOut(); } }
  route();
});
// Releases move by themselves: re-read a release page every few seconds even without commits.
setInterval(() => { if (location.hash.startsWith("#/release/") && !state.dirty) route(); }, 3000);
