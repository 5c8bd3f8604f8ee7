// Switchyard console: one small script, no build step. It drives the REST API with the signed-in
// account's token (kept for the browser tab only), so the API's access control and audit apply to
// every action. Views are hash routes; `/api/v1/changes` tells the page to re-read what it shows.
"use strict";

const OPERATORS = ["in", "starts_with", "ends_with", "contains", "matches", "lt", "lte", "gt", "gte",
  "before", "after", "semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte", "in_cidr",
  "exists", "segment_match"];

// The project and environment survive a reload of the tab, like the token.
// Operators as people read them; the value sent is the engine's name.
const OPERATOR_LABELS = { in: "is one of", starts_with: "starts with", ends_with: "ends with", contains: "contains",
  matches: "matches regex", lt: "<", lte: "≤", gt: ">", gte: "≥", before: "is before (date)", after: "is after (date)",
  semver_eq: "version =", semver_lt: "version <", semver_lte: "version ≤", semver_gt: "version >", semver_gte: "version ≥",
  in_cidr: "IP in CIDR", exists: "exists", segment_match: "is in segment" };

const state = { token: sessionStorage.getItem("sy_token"), project: sessionStorage.getItem("sy_project") || "default",
  env: sessionStorage.getItem("sy_env") || "production", envs: [], dirty: false, live: null, samples: {}, busy: 0, ownWrites: 0, focusMain: true,
  account: sessionStorage.getItem("sy_account"), after: null };

function choose(project, env) {
  if (project) sessionStorage.setItem("sy_project", (state.project = project));
  if (env) sessionStorage.setItem("sy_env", (state.env = env));
}

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

// Marks the page busy (`aria-busy`) while requests and re-renders run: assistive technology
// and tests wait for it to clear.
function busy(delta) {
  state.busy += delta;
  if (state.busy > 0) main().setAttribute("aria-busy", "true"); else main().removeAttribute("aria-busy");
}

// This tab's own writes: the page re-renders after its own save, so the change notices those
// writes cause are not news. Counted before sending, since a notice may beat the response.
function api(method, path, body) {
  const write = method !== "GET" && state.live !== null;
  if (write) state.ownWrites++;
  busy(1);
  return request(method, path, body)
    .catch((error) => { if (write) state.ownWrites = Math.max(0, state.ownWrites - 1); throw error; })
    .finally(() => busy(-1));
}

async function request(method, path, body) {
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
  // A write held for approval took no effect: the next render says where it waits.
  if (response.status === 202 && data && data.change_request) {
    const held = data.change_request;
    state.notice = held.run_at_ms ? scheduledNotice(held) : `Held for approval: change request ${held.id} needs ${plural(held.required_approvals, "approval")} by someone else before it takes effect (see Change requests).`;
  }
  return data;
}

const envPath = () => `/projects/${encodeURIComponent(state.project)}/environments/${encodeURIComponent(state.env)}`;
const projectPath = () => `/projects/${encodeURIComponent(state.project)}`;

function banner(text) { $("#banner").textContent = text || ""; }

function showError(error, where) {
  const detail = (error.body && error.body.error) || {};
  // A stale edit carries the version now current; a create that collides does not.
  const stale = detail.current_version !== undefined;
  const message = error.status === 403
    ? `Permission denied: ${error.message}`
    : stale
      ? `Conflict: ${error.message}. Someone else changed this meanwhile; reload to see their change.`
      : detail.field ? `${error.message} (${detail.field})` : error.message;
  const box = where || main();
  for (const old of box.querySelectorAll(":scope > .error[role=alert]")) old.remove();
  const el = h("p", { class: "error", role: "alert" }, message);
  box.prepend(el);
  return el;
}

// A secret is shown once: it lives outside <main>, so live re-renders cannot take it away.
function showSecret(text, secret, after) {
  const box = $("#secret");
  box.replaceChildren(h("p", {}, text, " ", h("code", {}, secret), after ? [" ", after] : ""), h("button", { type: "button", onclick: () => { box.replaceChildren(); box.hidden = true; } }, "I have copied it"));
  box.hidden = false;
}

// Asks before an action. A critical environment's name must be typed as well (the API marks
// environments whose changes matter most as `critical`).
function confirmAction(text, env) {
  const dialog = $("#confirm"), typed = $("#confirm-typed"), name = $("#confirm-name"), ok = $("#confirm-ok");
  const critical = env && (state.envs.find((e) => e.key === env) || {}).critical;
  $("#confirm-text").textContent = text;
  typed.hidden = !critical;
  name.value = "";
  typed.querySelector("label").textContent = `${env} is critical: type its name to confirm`;
  ok.disabled = !!critical;
  name.oninput = () => { ok.disabled = name.value !== env; };
  dialog.returnValue = "";
  dialog.showModal();
  (critical ? name : $("#confirm-cancel")).focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function page(title, ...children) {
  const m = main(), y = window.scrollY;
  // Re-reading the same page keeps the disclosures that were open (Revise…, Schedule…) open.
  const keep = m.dataset.shown === location.hash ? [...m.querySelectorAll("details[open][id]")].map((d) => d.id) : [];
  m.replaceChildren(h("h1", {}, title), ...children.flat().filter((c) => c !== null && c !== undefined));
  m.dataset.shown = location.hash;
  for (const id of keep) { const open = document.getElementById(id); if (open) open.open = true; }
  document.title = `${title} · Switchyard`;
  if (state.focusMain) { m.focus({ preventScroll: true }); window.scrollTo(0, 0); } else window.scrollTo(0, y);
  state.focusMain = false;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// Says what a save did once the page has re-rendered with the saved data.
function saved(what) {
  state.notice = `${what} saved.`;
  return route();
}

function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }

// ---- sign-in -------------------------------------------------------------------------------

function signOut() {
  sessionStorage.removeItem("sy_token");
  sessionStorage.removeItem("sy_account");
  state.token = null;
  if (state.live) state.live.abort();
  state.live = null;
  state.ownWrites = 0;
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
      sessionStorage.setItem("sy_account", (state.account = token.account));
      await start();
      const target = state.after || "#/flags";
      state.after = null;
      // Setting the hash it already has would not re-render.
      if (location.hash === target) route(); else location.hash = target;
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
  if (!state.envs.length) {
    return page("Flags", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: "#/projects" }, "Create its first environment")));
  }
  const q = params.get("q") || "", kind = params.get("kind") || "", tag = params.get("tag") || "",
    st = params.get("state") || "", stale = params.get("stale") === "1", archived = params.get("archived") === "1";
  const query = new URLSearchParams();
  if (q) query.set("q", q); if (kind) query.set("kind", kind); if (tag) query.set("tag", tag);
  if (archived) query.set("archived", "true");
  const flags = await api("GET", `${projectPath()}/flags?${query}`);
  const envState = (f) => (f.environments[state.env] || {}).on;
  // The server's stale report for this environment (from the evaluation aggregates), by flag.
  const staleReasons = stale ? await staleReport() : null;
  const shown = flags.filter((f) => (!st || (st === "on") === !!envState(f)) && (!stale || staleReasons.has(f.key)));
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
  h("label", { title: "Not evaluated, or serving one variation to everyone, for 30 days; or temporary and past its planned removal" }, h("input", { type: "checkbox", name: "stale", value: "1", checked: stale }), ` Stale in ${state.env}`),
  h("label", {}, h("input", { type: "checkbox", name: "archived", value: "1", checked: archived }), " Archived"),
  h("button", { type: "submit" }, "Filter"));
  // A boolean flag serves `false` when off; any other kind names its off variation.
  const offChoice = h("label", { hidden: true }, "Served when off ", select("off_variation", ["control", "treatment"], "control"));
  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const key = e.target.key.value.trim();
    try {
      const kind = e.target.kind.value;
      // Other kinds need their variations: two editable starters (booleans get on/off), and
      // the one served when off, chosen here: there is no safe guess.
      const starters = { string: ["a", "b"], number: [0, 1], json: [{}, { enabled: true }] }[kind];
      const variations = starters && starters.map((value, i) => ({ key: ["control", "treatment"][i], value }));
      const off_variation = starters ? e.target.off_variation.value : undefined;
      await api("POST", `${projectPath()}/flags`, { key, kind, variations, off_variation });
      location.hash = `#/flag/${encodeURIComponent(key)}`;
    } catch (error) { showError(error, create); }
  } },
  h("label", {}, "New flag key ", h("input", { name: "key", required: true, pattern: "[A-Za-z0-9_.\\-]+", title: "letters, digits, _ . -" })),
  h("label", {}, "Kind ", select("kind", ["boolean", "string", "number", "json"], "boolean", {
    onchange: (e) => { offChoice.hidden = e.target.value === "boolean"; } })),
  offChoice,
  h("button", { type: "submit", class: "primary" }, "Create flag"));
  // The selected environment's state comes first (it stays visible at phone width), then the others.
  const envs = [state.env, ...state.envs.map((e) => e.key).filter((k) => k !== state.env)];
  const onOff = (t) => (!t ? "–" : t.on ? h("span", { class: "on" }, "ON") : h("span", { class: "off" }, "OFF"));
  const rows = shown.map((f) => h("tr", {},
    h("td", {}, h("a", { href: `#/flag/${encodeURIComponent(f.key)}` }, f.name ? `${f.key} (${f.name})` : f.key)),
    h("td", {}, f.kind),
    ...envs.map((e) => h("td", {}, onOff(f.environments[e]))),
    h("td", {}, (f.tags || []).join(", ")),
    h("td", {}, staleReasons ? staleReasons.get(f.key) : f.description || "")));
  page("Flags", filters, create, h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Key", "Kind", ...envs.map((e) => `In ${e}`), "Tags", staleReasons ? "Stale because" : "Description"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 4 + envs.length },
      flags.length || q || kind || tag ? "No flags match." : "No flags yet: create your first flag above."))))));
}

// This environment's stale flags, each with why, in words (`GET …/stale-flags`).
async function staleReport() {
  const report = await api("GET", `${envPath()}/stale-flags`);
  const day = (ms) => (ms ? time(ms).slice(0, 10) : "never");
  const why = (r) => ({
    not_evaluated: () => `not evaluated for ${report.days} days (last ${day(r.last_evaluated_ms)})`,
    one_variation: () => `served ${r.variation} to everyone for ${report.days} days (${plural(r.evaluations, "evaluation")})`,
    past_removal: () => `past its planned removal on ${r.remove_by} (${plural(r.days_overdue, "day")} overdue)`,
  }[r.reason] || (() => r.reason))();
  return new Map(report.flags.map((f) => [f.flag, f.reasons.map(why).join("; ")]));
}

// Archive (out of every SDK, relay and OFREP answer) or restore a flag, in every environment.
function lifecycleButton(key, definition, mayDefine) {
  const path = `${projectPath()}/flags/${encodeURIComponent(key)}`;
  if (definition.archived) {
    return gate(h("button", { type: "button", class: "primary", onclick: async () => {
      if (!(await confirmAction(`Restore ${key}? SDKs, relays and OFREP serve it again in every environment, as it was.`))) return;
      try { await api("POST", `${path}/restore`, {}); route(); } catch (error) { showError(error); }
    } }, "Restore flag"), mayDefine, "flag:restore");
  }
  return gate(h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Archive ${key}? It leaves every SDK, relay and OFREP answer in every environment (applications get their own default); its settings and targeting are kept for a restore.`))) return;
    try { await api("POST", `${path}/archive`, {}); route(); }
    catch (error) {
      // Other flags require it: say which, and offer to archive anyway.
      if (error.status !== 409 || ((error.body && error.body.error) || {}).field !== "force") return showError(error);
      if (!(await confirmAction(`${error.message}. Archive anyway?`))) return;
      try { await api("POST", `${path}/archive`, { force: true }); route(); } catch (again) { showError(again); }
    }
  } }, "Archive flag"), mayDefine, "flag:archive");
}

function select(name, options, current, attrs) {
  return h("select", Object.assign({ name, "aria-label": name }, attrs || {}),
    options.map((o) => { const [value, label] = Array.isArray(o) ? o : [o, o || "any"];
      return h("option", { value, selected: String(value) === String(current) }, label); }));
}

// What the signed-in token may do on `resource` (`GET /me`, which audits nothing): controls it
// may not use are disabled and say why, instead of failing after a confirmation. The server
// still checks every request.
async function permissions(resource) {
  const me = await api("GET", `/me?resource=${encodeURIComponent(resource)}`).catch(() => ({ actions: null }));
  return (action) => !me.actions || me.actions.includes(action);
}

function gate(control, may, action) {
  if (!may(action)) {
    const controls = control.matches("button, input, select, textarea") ? [control] : control.querySelectorAll("button, input, select, textarea");
    for (const el of controls) {
      el.disabled = true;
      el.title = `Your access does not allow ${action} here`;
    }
  }
  return control;
}

// What turning a flag off (or killing it) serves, said before it is done.
function offEffect(flag) {
  return flag.off_variation == null ? "Applications will get their own default value." : `Everyone will get ${describeServe({ variation: flag.off_variation }, flag.variations)}.`;
}

function describeServe(serve, variations) {
  const name = (i) => (variations[i] ? `${variations[i].key} (${JSON.stringify(variations[i].value)})` : `variation ${i}`);
  if (!serve) return "nothing";
  if (serve.variation !== undefined) return name(serve.variation);
  if (serve.rollout) return `a rollout: ${serve.rollout.variations.map((v) => `${variations[v.variation] ? variations[v.variation].key : v.variation} ${v.weight / 1000} %`).join(", ")}`;
  if (serve.release) return `a release at ${serve.release.weight / 1000} % treated`;
  return JSON.stringify(serve);
}

// What serving looks like in every environment, so a change in one is never mistaken for all.
function environmentsOverview(definition) {
  const envs = state.envs.filter((e) => definition.environments[e.key]);
  return table(envs, [
    ["Environment", (e) => (e.key === state.env ? h("strong", {}, `${e.key} (shown)`) : e.key)],
    ["State", (e) => (definition.environments[e.key].on ? h("span", { class: "on" }, "ON") : h("span", { class: "off" }, "OFF"))],
    ["Rules", (e) => String((definition.environments[e.key].rules || []).length)],
    ["Individual targets", (e) => String((definition.environments[e.key].targets || []).reduce((n, t) => n + t.values.length, 0))],
    ["Everyone else", (e) => describeServe(definition.environments[e.key].fallthrough, definition.variations)],
    ["", (e) => (e.key === state.env ? "" : h("button", { type: "button", onclick: async () => {
      if (!(await leave())) return;
      choose(null, e.key); $("#env").value = e.key; route();
    } }, `Show ${e.key}`))],
  ]);
}

async function flagView(key) {
  const flag = await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}`);
  const definition = await api("GET", `${projectPath()}/flags/${encodeURIComponent(key)}`);
  const [may, mayDefine, mayRelease] = await Promise.all([permissions(`proj/${state.project}:env/${state.env}:flag/${key}`),
    permissions(`proj/${state.project}:flag/${key}`), permissions(`proj/${state.project}:env/${state.env}:release/new`)]);
  const refused = ["flag:toggle", "flag:update"].filter((action) => !may(action));
  // Offered to `segment_match` clauses and as a release's audience.
  const segments = await api("GET", `${envPath()}/segments`).catch(() => []);
  const working = JSON.parse(JSON.stringify(flag));
  // Empty lists are left out of the API's answers.
  for (const list of ["rules", "targets", "prerequisites"]) working[list] = working[list] || [];
  state.dirty = false;
  const variationOptions = flag.variations.map((v, i) => [i, `${v.key} (${JSON.stringify(v.value)})`]);
  const toggle = h("button", { type: "button", class: flag.on ? "danger" : "primary", onclick: async () => {
    const verb = flag.on ? "OFF" : "ON";
    const effect = flag.on
      ? offEffect(flag)
      : `${plural(working.rules.length, "rule")} and ${plural(working.targets.reduce((n, t) => n + t.values.length, 0), "individual target")} apply; everyone else gets ${describeServe(flag.fallthrough, flag.variations)}.`;
    if (!(await confirmAction(`Turn ${key} ${verb} in ${state.env}? ${effect}`, state.env))) return;
    try { await api("POST", `${envPath()}/flags/${encodeURIComponent(key)}/toggle`, { on: !flag.on }); route(); }
    catch (error) { showError(error); }
  } }, flag.on ? `Turn off in ${state.env}` : `Turn on in ${state.env}`);
  // The kill switch is for emergencies: one confirmation, even in a critical environment.
  const kill = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Kill ${key} in ${state.env}? ${offEffect(flag)} Any release on it is aborted.`))) return;
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
    delete body.flag; delete body.environment; delete body.kind; delete body.variations; delete body.serves_when_off;
    try { await api("PUT", `${envPath()}/flags/${encodeURIComponent(key)}`, body); saved(`Targeting of ${key} in ${state.env}`); }
    catch (error) { showError(error, save); }
  } }, h("div", { class: "row" }, h("label", { for: "comment" }, "Comment on targeting change"), h("input", { id: "comment", name: "comment", size: 40 }),
    h("button", { type: "submit", class: "primary" }, `Save targeting in ${state.env}`)));
  const fallthrough = serveEditor(working.fallthrough, variationOptions, (serve) => { working.fallthrough = serve; markDirty(); }, "fallthrough");
  page(`Flag ${key}`,
    h("p", {}, `In ${state.env}: `, flag.on ? h("span", { class: "on" }, "ON") : h("span", { class: "off" }, "OFF"), ` · version ${flag.version}`,
      definition.description ? ` · ${definition.description}` : ""),
    refused.length ? h("p", { class: "notice", id: "read-only" }, `Read-only for you in ${state.env}: your access does not allow ${refused.join(" or ")} on this flag.`) : null,
    definition.archived ? h("p", { class: "notice", id: "archived" }, `${key} is archived: no SDK, relay or OFREP client sees it. Restore it to serve it again.`) : null,
    h("div", { class: "row" }, gate(toggle, may, "flag:toggle"), gate(kill, may, "flag:toggle"), lifecycleButton(key, definition, mayDefine),
      h("a", { href: `#/audit?resource=${encodeURIComponent(`proj/${state.project}:env/${state.env}:flag/${key}`)}` }, `History in ${state.env}`)),
    h("h2", {}, "In every environment"), environmentsOverview(definition),
    h("h2", {}, `Scheduled changes in ${state.env}`), await flagSchedules(key, flag, may),
    segmentKeysList(segments),
    gate(h("div", {},
      h("h2", {}, `Individual targets in ${state.env}`), ...targets,
      h("h2", {}, `Rules in ${state.env}`), rulesBox,
      h("h2", {}, "Everyone else"), fallthrough,
      h("h2", {}, "Prerequisites"), prereqs,
      save), may, "flag:update"),
    h("h2", {}, `Guarded release in ${state.env}`), gate(await releaseStarter(key, flag, segments), mayRelease, "release:create"),
    h("h2", {}, "Waves across environments"), await flagReleasePlans(key),
    h("h2", {}, "Exposures over time"), await exposuresChart(key),
    h("h2", {}, "Exposed contexts"), await exposedContexts(key, flag.variations),
    h("h2", {}, `Kill triggers in ${state.env}`), may("trigger:read") ? gate(await triggersEditor(key), may, "trigger:create") : h("p", { class: "muted" }, "Your access does not allow trigger:read here."),
    h("h2", {}, "Flag settings and variations (all environments)"), gate(definitionEditor(definition, key), mayDefine, "flag:update"));
}

// Starts a guarded release of this flag, or points to the one running.
async function releaseStarter(key, flag, segments) {
  const releases = await api("GET", `${envPath()}/releases`).catch(() => null);
  if (!releases) return h("p", { class: "muted" }, "You may not read releases here.");
  const active = releases.find((r) => r.flag === key && ["scheduled", "running", "holding"].includes(r.state));
  if (active) return h("p", {}, `Release ${active.id} is ${active.state}. `, h("a", { href: `#/release/${active.id}` }, "Watch it"));
  const stepping = h("span", { class: "row", hidden: true },
    h("label", {}, "Step or start % ", h("input", { name: "step", type: "number", min: 0.001, max: 100, step: "any", value: 10 })),
    h("label", {}, "every (s) ", h("input", { name: "every", type: "number", min: 1, value: 300 })));
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const target = flag.variations.findIndex((v) => v.key === e.target.variation.value);
    const rule = (flag.rules || []).find((r) => r.id === e.target.rule.value);
    const already = (rule ? rule.serve : flag.fallthrough).variation === target
      ? ` ${e.target.variation.value} is already served there: the release will change nothing.` : "";
    if (!(await confirmAction(`Start releasing ${e.target.variation.value} of ${key} to ${rule ? "its rule" : "everyone else"} in ${state.env}?${already}`, state.env))) return;
    const f = e.target, number = (name) => Number(f[name].value);
    const template = { default: { kind: "default", min_treated: number("min_treated") },
      linear: { kind: "linear", step_percent: number("step"), every_s: number("every"), min_treated: number("min_treated") },
      exponential: { kind: "exponential", start_percent: number("step"), every_s: number("every"), min_treated: number("min_treated") } }[f.template.value];
    const guardrails = f.metric.value.trim() ? [{ metric: f.metric.value.trim(), kind: "bad_events", margin: number("margin") / 100,
      max_treated_rate: f.max_rate.value ? number("max_rate") / 100 : undefined }] : [];
    const body = { flag: key, variation: f.variation.value, rule: f.rule.value || undefined, template, audience: f.audience.value || undefined,
      guardrails, on_breach: f.on_breach.value, comment: f.comment.value || undefined };
    try { const started = await api("POST", `${envPath()}/releases`, body); location.hash = `#/release/${started.id}`; }
    catch (error) { showError(error, form); }
  } },
  h("div", { class: "row" },
    h("label", {}, "Release variation ", select("variation", flag.variations.map((v) => v.key), flag.variations[0].key)),
    h("label", {}, "on ", select("rule", [["", "everyone else (fallthrough)"], ...(flag.rules || []).map((r, i) => [r.id, `rule ${i + 1}`])], ""))),
  h("div", { class: "row" },
    h("label", {}, "Ramp ", select("template", [["default", "default: 1, 5, 25, 50 %, then all but a 2 % holdback (baking 10 to 60 min per stage)"],
      ["linear", "linear steps"], ["exponential", "doubling"]], "default", { onchange: (e) => { stepping.hidden = e.target.value === "default"; } })),
    stepping,
    h("label", {}, "Minimum treated contexts per stage ", h("input", { name: "min_treated", type: "number", min: 0, value: 1000 }))),
  h("div", { class: "row" },
    h("label", {}, "Internal audience first ", select("audience", [["", "none"], ...segments.map((s) => [s.key, s.key])], "")),
    h("label", {}, "Guardrail: bad-event metric ", h("input", { name: "metric", placeholder: "e.g. checkout_error" })),
    h("label", {}, "tolerated increase % ", h("input", { name: "margin", type: "number", min: 0, step: "any", value: 10 })),
    h("label", {}, "roll back at once above % of treated ", h("input", { name: "max_rate", type: "number", min: 0, max: 100, step: "any" })),
    h("label", {}, "On breach ", select("on_breach", [["roll_back", "roll back"], ["hold", "hold for a person"]], "roll_back"))),
  h("div", { class: "row" }, h("label", {}, "Comment ", h("input", { name: "comment", size: 30, "aria-label": "release comment" })),
    h("button", { type: "submit", class: "primary" }, `Start release in ${state.env}`)));
  return form;
}

async function exposedContexts(key, variations) {
  const box = h("div", {});
  const load = async (variation) => {
    const query = new URLSearchParams({ limit: "50" });
    if (variation) query.set("variation", variation);
    try {
      const rows = await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}/exposures?${query}`);
      exposures.replaceChildren(h("thead", {}, h("tr", {}, ["Context", "Variation", "Reason", "Flag version", "First seen", "Last seen"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, h("td", {}, `${r.kind}:${r.key}`), h("td", {}, r.variation), h("td", {}, r.reason),
          h("td", {}, String(r.version)), h("td", {}, time(r.first_seen_ms)), h("td", {}, time(r.last_seen_ms))))
          : h("tr", {}, h("td", { colspan: 6 }, "No exposures reported."))));
    } catch (error) { exposures.replaceChildren(h("caption", { class: "muted" }, error.message)); }
  };
  const exposures = h("table", { id: "exposures" });
  box.append(h("label", {}, "Variation ", select("exposure variation", ["", ...variations.map((v) => v.key)], "", { onchange: (e) => load(e.target.value) })), exposures);
  await load("");
  return box;
}

async function triggersEditor(key) {
  const path = `${envPath()}/flags/${encodeURIComponent(key)}/triggers`;
  let triggers;
  try { triggers = await api("GET", path); } catch (error) { return h("p", { class: "muted" }, error.message); }
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const created = await api("POST", path, { description: e.target.description.value || undefined });
      showSecret(`Trigger created. POST to this URL to kill ${key} in ${state.env}; it is shown once:`, `${location.origin}${created.url}`);
      route();
    } catch (error) { showError(error, form); }
  } }, h("label", {}, "Trigger description ", h("input", { name: "description", placeholder: "e.g. PagerDuty checkout alert" })),
    h("button", { type: "submit" }, "Create kill trigger"));
  return h("div", {}, form, h("ul", {}, triggers.map((t) => h("li", {}, `${t.id} ${t.description || ""} (created ${time(t.created_ms)}) `,
    h("button", { type: "button", onclick: async () => {
      if (!(await confirmAction(`Delete kill trigger ${t.id} of ${key}?`))) return;
      try { await api("DELETE", `${path}/${t.id}`); route(); } catch (error) { showError(error); }
    } }, `Delete trigger ${t.id}`)))));
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
  render();
  return box;
}

// The rule builder edits an all-of list of clauses. A condition the builder cannot show as one
// (any-of, not, percentage, nesting; usually imported) is edited as JSON instead.
function conditionEditor(holder, label, markDirty, rerender) {
  const isClause = (c) => c && typeof c === "object" && "op" in c;
  if (isClause(holder.condition)) holder.condition = { all: [holder.condition] };
  const clauses = holder.condition.all;
  if (!Array.isArray(clauses) || !clauses.every(isClause)) {
    const problem = h("span", { class: "invalid", "aria-live": "polite" });
    return [h("textarea", { rows: 6, "aria-label": `${label} condition (JSON)`, oninput: (e) => {
      try { holder.condition = JSON.parse(e.target.value); problem.textContent = ""; e.target.setAttribute("aria-invalid", "false"); }
      catch (_) { problem.textContent = "not valid JSON"; e.target.setAttribute("aria-invalid", "true"); }
      markDirty();
    } }, JSON.stringify(holder.condition, null, 2)), problem];
  }
  const rows = clauses.map((clause, c) => {
    const name = `${label} clause ${c + 1}`;
    const values = h("input", { value: (clause.values || []).join(", "), size: 30, "aria-label": `${name} values`, placeholder: "values, comma separated",
      list: clause.op === "segment_match" ? "segment-keys" : null, oninput: (e) => {
        clause.values = e.target.value.split(",").map((s) => s.trim()).filter(Boolean).map((s) => (/^-?\d+(\.\d+)?$/.test(s) && clause.op !== "in" ? Number(s) : s));
        markDirty();
      } });
    const attribute = h("input", { value: clause.attribute || "", "aria-label": `${name} attribute`, placeholder: "attribute", hidden: clause.op === "segment_match",
      oninput: (e) => { clause.attribute = e.target.value; markDirty(); } });
    return h("div", { class: "row" },
      h("input", { value: clause.kind || "user", size: 6, "aria-label": `${name} context kind`, oninput: (e) => { clause.kind = e.target.value.trim() || "user"; markDirty(); } }),
      attribute,
      h("label", {}, h("input", { type: "checkbox", checked: !!clause.negate, onchange: (e) => { clause.negate = e.target.checked; markDirty(); } }), " not"),
      select(`${name} operator`, OPERATORS.map((op) => [op, OPERATOR_LABELS[op]]), clause.op, { onchange: (e) => {
        clause.op = e.target.value; markDirty();
        if (clause.op === "segment_match") values.setAttribute("list", "segment-keys"); else values.removeAttribute("list");
        attribute.hidden = clause.op === "segment_match"; // a segment decides by itself
      } }),
      values,
      h("button", { type: "button", "aria-label": `remove ${name}`, onclick: () => { clauses.splice(c, 1); markDirty(); rerender(); } }, "Remove clause"));
  });
  return [...rows, h("button", { type: "button", "aria-label": `${label}: add clause`, onclick: () => { clauses.push({ kind: "user", attribute: "", op: "in", values: [] }); markDirty(); rerender(); } }, "Add clause")];
}

function ruleEditor(working, rule, index, variationOptions, rerender, markDirty) {
  return h("fieldset", {}, h("legend", {}, `Rule ${index + 1}`),
    ...conditionEditor(rule, `rule ${index + 1}`, markDirty, rerender),
    h("div", { class: "row" },
      h("span", {}, "Serve:"), serveEditor(rule.serve, variationOptions, (serve) => { rule.serve = serve; markDirty(); }, `rule-${index + 1}`),
      h("button", { type: "button", onclick: () => { working.rules.splice(index, 1); markDirty(); rerender(); } }, `Delete rule ${index + 1}`)));
}

// Segment keys offered to `segment_match` clauses.
function segmentKeysList(segments) {
  return h("datalist", { id: "segment-keys" }, segments.map((s) => h("option", { value: s.key })));
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

// A flag's shared definition: metadata, variations (values validated as you type) and schema.
function definitionEditor(definition, key) {
  const flag = JSON.parse(JSON.stringify(definition));
  let schema = flag.json_schema;
  const field = (name, label, value, attrs) => h("div", { class: "row" }, h("label", { for: `flag-${name}` }, label),
    h("input", Object.assign({ id: `flag-${name}`, name, value: value ?? "", size: 40 }, attrs || {})));
  const valueProblem = (value) => {
    // These kinds are also JavaScript's names for their values' types; JSON admits any value.
    const expected = flag.kind === "json" ? null : flag.kind;
    if (expected && typeof value !== expected) return `must be a ${expected}`;
    return schemaProblem(value, schema, "");
  };
  const variationsBox = h("div", {});
  const renderVariations = () => variationsBox.replaceChildren(...flag.variations.map((v, i) => {
    const message = h("span", { class: "invalid", id: `variation-${i}-problem`, "aria-live": "polite" });
    const check = (input) => {
      let problem = null;
      try { const parsed = flag.kind === "string" ? input.value : JSON.parse(input.value); problem = valueProblem(parsed); v.value = parsed; }
      catch (_) { problem = "not valid JSON"; }
      message.textContent = problem || "";
      input.setAttribute("aria-invalid", problem ? "true" : "false");
    };
    // A boolean flag's values are true and false by definition; only their keys are named.
    const input = h("input", { class: "variation-value", value: flag.kind === "string" ? v.value : JSON.stringify(v.value), size: 40, readonly: flag.kind === "boolean", "aria-label": `value of variation ${v.key || i + 1}`, "aria-describedby": `variation-${i}-problem`, oninput: (e) => check(e.target) });
    return h("div", { class: "row" },
      // Renaming the flag's off variation renames what it serves when off, too.
      h("input", { value: v.key, size: 10, "aria-label": `key of variation ${i + 1}`, oninput: (e) => {
        if (flag.off_variation === v.key) flag.off_variation = e.target.value.trim();
        v.key = e.target.value.trim();
      } }),
      input, message,
      flag.variations.length > 2 ? h("button", { type: "button", onclick: () => { flag.variations.splice(i, 1); renderVariations(); } }, `Remove variation ${v.key}`) : null);
  }), flag.kind === "boolean" ? h("span", {}) : h("button", { type: "button", onclick: () => {
    const blank = { string: "", number: 0, json: {} }[flag.kind];
    flag.variations.push({ key: `variation-${flag.variations.length + 1}`, value: blank }); renderVariations();
  } }, "Add variation"));
  renderVariations();
  const schemaProblemText = h("span", { class: "invalid", "aria-live": "polite" });
  const schemaInput = flag.kind === "json" ? [h("label", { for: "flag-schema" }, "JSON schema for values (optional)"),
    h("textarea", { id: "flag-schema", rows: 4, oninput: (e) => {
      try { schema = e.target.value.trim() ? JSON.parse(e.target.value) : undefined; schemaProblemText.textContent = ""; e.target.setAttribute("aria-invalid", "false"); }
      catch (_) { schemaProblemText.textContent = "not valid JSON"; e.target.setAttribute("aria-invalid", "true"); }
      for (const input of form.querySelectorAll(".variation-value")) input.dispatchEvent(new Event("input"));
    } }, schema ? JSON.stringify(schema, null, 2) : ""), schemaProblemText] : [];
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    if (form.querySelector("[aria-invalid=true]")) return showError(new Error("Fix the invalid values first."), form);
    const f = e.target, text = (name) => f[name].value.trim() || undefined;
    const body = Object.assign({}, flag, { name: text("name"), description: text("description"), owner: text("owner"),
      tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean), temporary: f.temporary.checked, remove_by: text("remove_by"),
      client_visible: f.client_visible.checked, json_schema: schema, version: definition.version, comment: text("comment") });
    delete body.environments;
    try { await api("PUT", `${projectPath()}/flags/${encodeURIComponent(key)}`, body); saved(`Settings of ${key}`); }
    catch (error) { showError(error, form); }
  } },
  field("name", "Name", flag.name), field("description", "Description", flag.description),
  field("tags", "Tags (comma separated)", (flag.tags || []).join(", ")), field("owner", "Owner", flag.owner),
  h("div", { class: "row" }, h("label", {}, h("input", { type: "checkbox", name: "temporary", checked: !!flag.temporary }), " Temporary (a release flag, to be removed)"),
    h("label", {}, h("input", { type: "checkbox", name: "client_visible", checked: !!flag.client_visible }), " Visible to client-side SDKs")),
  field("remove_by", "Planned removal (a temporary flag's remove-by day)", flag.remove_by, { type: "date" }),
  h("h3", {}, "Variations"), variationsBox, ...schemaInput,
  field("comment", "Comment on settings change", ""),
  h("button", { type: "submit", class: "primary" }, "Save flag settings"));
  form.addEventListener("input", () => { state.dirty = true; });
  return form;
}

async function exposuresChart(key) {
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
    const total = Object.values(byVariation[k]).reduce((a, b) => a + b, 0);
    const swatch = h("span", {}, `■ ${k}: ${total} `);
    swatch.style.color = colors[c % colors.length];
    return swatch;
  }));
  return h("div", {}, h("p", { class: "muted" }, `Evaluations per minute over the last 24 hours (${minutes.length} minutes with data, at most ${max} in one minute).`), svg, legend);
}

// ---- segments, access ----------------------------------------------------------------------

async function segmentsView() {
  const segments = await api("GET", `${envPath()}/segments`);
  const keys = (lists) => (lists || []).filter((l) => (l.kind || "user") === "user").flatMap((l) => l.values).join(", ");
  const parse = (text) => { const values = text.split(",").map((v) => v.trim()).filter(Boolean); return values.length ? [{ kind: "user", values }] : []; };
  const editor = (segment) => {
    const working = JSON.parse(JSON.stringify(segment));
    working.rules = working.rules || [];
    const markDirty = () => { state.dirty = true; };
    const included = h("input", { value: keys(segment.included), size: 40, "aria-label": `users included in ${segment.key}` });
    const excluded = h("input", { value: keys(segment.excluded), size: 40, "aria-label": `users excluded from ${segment.key}` });
    const rulesBox = h("div", {});
    const renderRules = () => rulesBox.replaceChildren(...working.rules.map((rule, i) => h("fieldset", {},
      h("legend", {}, `${segment.key} rule ${i + 1}: contexts matching all of`),
      ...conditionEditor(rule, `${segment.key} rule ${i + 1}`, markDirty, renderRules),
      h("button", { type: "button", onclick: () => { working.rules.splice(i, 1); markDirty(); renderRules(); } }, `Delete ${segment.key} rule ${i + 1}`))),
    h("button", { type: "button", onclick: () => {
      working.rules.push({ id: `rule-${Date.now().toString(36)}`, condition: { all: [{ kind: "user", attribute: "", op: "in", values: [] }] } });
      markDirty(); renderRules();
    } }, `Add rule to ${segment.key}`));
    renderRules();
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      // Key lists of other context kinds are kept as they are; the inputs edit the user lists.
      const others = (lists) => (lists || []).filter((l) => (l.kind || "user") !== "user");
      const body = Object.assign({}, working, { included: [...parse(included.value), ...others(segment.included)],
        excluded: [...parse(excluded.value), ...others(segment.excluded)], version: segment.version });
      delete body.environment;
      try { await api("PUT", `${envPath()}/segments/${encodeURIComponent(segment.key)}`, body); saved(`Segment ${segment.key}`); }
      catch (error) { showError(error, form); }
    } }, h("fieldset", {}, h("legend", {}, `${segment.key} (version ${segment.version})`),
      h("div", { class: "row" }, h("span", {}, "Included users"), included),
      h("div", { class: "row" }, h("span", {}, "Excluded users"), excluded),
      h("p", { class: "muted" }, "Also included: contexts matching any of these rules."), rulesBox,
      h("button", { type: "submit" }, `Save ${segment.key}`)));
    form.addEventListener("input", markDirty);
    return form;
  };
  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try { await api("POST", `${envPath()}/segments`, { key: e.target.key.value.trim(), included: [], excluded: [] }); route(); }
    catch (error) { showError(error, create); }
  } }, h("label", {}, "New segment key ", h("input", { name: "key", required: true })), h("button", { type: "submit", class: "primary" }, "Create segment"));
  page(`Segments in ${state.env}`, create, segmentKeysList(segments), ...segments.map(editor));
}

// A table of `rows`; each column is [heading, cell(row)].
function table(rows, columns, empty) {
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(r)))))
      : h("tr", {}, h("td", { colspan: columns.length }, empty || "None.")))));
}

// A form that creates something through the API, then hands the created resource to `after`.
function createForm(label, path, fields, body, after) {
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try { const created = await api("POST", path, body(e.target)); await after(created); }
    catch (error) { showError(error, form); }
  } }, ...fields, h("button", { type: "submit" }, `Create ${label}`));
  return form;
}

function deleteButton(label, what, path, env) {
  return h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`${label} ${what}?`, env))) return;
    try { await api("DELETE", path); route(); } catch (error) { showError(error); }
  } }, `${label} ${what}`);
}

// Loads one section; a section the caller may not read says so instead of failing the page.
// A section the caller may not read (`readable` false) says so without asking: a refused read
// would be an audited denial on every visit.
async function section(title, load, render, readable = true, action = "") {
  if (!readable) return [h("h2", {}, title), h("p", { class: "muted" }, `Your access does not allow ${action} here.`)];
  try { return [h("h2", {}, title), render(await load())]; }
  catch (error) { return [h("h2", {}, title), h("p", { class: "error" }, error.status === 403 ? `Permission denied: ${error.message}` : error.message)]; }
}

async function projectsView() {
  const projects = await api("GET", "/projects");
  const envEditor = (env) => {
    const form = h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target;
      try {
        await api("PUT", `${projectPath()}/environments/${encodeURIComponent(env.key)}`, { name: f.name.value, description: f.description.value,
          critical: f.critical.checked, version: env.version });
        await start(); saved(`Environment ${env.key}`);
      } catch (error) { showError(error, form); }
    } }, h("strong", {}, env.key),
    h("label", {}, "Name ", h("input", { name: "name", value: env.name, "aria-label": `name of ${env.key}` })),
    h("label", {}, "Description ", h("input", { name: "description", value: env.description || "", "aria-label": `description of ${env.key}` })),
    h("label", {}, h("input", { type: "checkbox", name: "critical", checked: env.critical }), " Critical (changes need the name typed)"),
    h("button", { type: "submit" }, `Save ${env.key}`),
    deleteButton("Delete environment", env.key, `${projectPath()}/environments/${encodeURIComponent(env.key)}`, env.key));
    form.addEventListener("input", () => { state.dirty = true; });
    return form;
  };
  const switchTo = async (key) => { choose(key); await start(); route(); };
  page("Projects and environments",
    createForm("project", "/projects", [h("label", {}, "New project key ", h("input", { name: "key", required: true, pattern: "[a-z0-9][a-z0-9_\\-]*", title: "lower-case letters, digits, _ -" })),
      h("label", {}, "Name ", h("input", { name: "name", "aria-label": "new project name" }))],
    (f) => ({ key: f.key.value.trim(), name: f.name.value.trim() || f.key.value.trim() }), (created) => switchTo(created.key)),
    table(projects, [["Project", (p) => p.key], ["Name", (p) => p.name || ""], ["Description", (p) => p.description || ""],
      ["", (p) => (p.key === state.project ? h("strong", {}, "current") : h("button", { type: "button", onclick: () => switchTo(p.key) }, `Open ${p.key}`))]]),
    h("h2", {}, `Environments of ${state.project}`),
    ...state.envs.map(envEditor),
    createForm("environment", `${projectPath()}/environments`, [h("label", {}, "New environment key ", h("input", { name: "key", required: true })),
      h("label", {}, h("input", { type: "checkbox", name: "critical" }), " Critical")],
    (f) => ({ key: f.key.value.trim(), name: f.key.value.trim(), critical: f.critical.checked }), async () => { await start(); route(); }));
}

function statementsEditor(role, readOnly) {
  const statements = role.statements;
  const box = h("div", {});
  const list = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);
  const render = () => box.replaceChildren(table(statements, [
    ["Effect", (st) => select(`${role.name} statement effect`, ["allow", "deny"], st.effect, { disabled: readOnly, onchange: (e) => { st.effect = e.target.value; } })],
    ["Actions", (st) => h("input", { value: st.actions.join(", "), size: 28, readonly: readOnly, "aria-label": `${role.name} statement actions`, oninput: (e) => { st.actions = list(e.target.value); } })],
    ["Resources", (st) => h("input", { value: st.resources.join(", "), size: 36, readonly: readOnly, "aria-label": `${role.name} statement resources`, oninput: (e) => { st.resources = list(e.target.value); } })],
    ["", (st) => (readOnly ? "" : h("button", { type: "button", onclick: () => { statements.splice(statements.indexOf(st), 1); render(); } }, "Remove statement"))],
  ]), readOnly ? h("span", {}) : h("button", { type: "button", onclick: () => { statements.push({ effect: "allow", actions: [], resources: [] }); render(); } }, `Add statement to ${role.name}`));
  render();
  return box;
}

// Where a new SDK key goes: client keys only work in browsers (the Rust SDK refuses them).
function sdkKeyUse(kind) {
  const setup = h("a", { href: "#/setup" }, "SDK setup");
  return kind === "client"
    ? h("span", {}, `Use it in browser pages with @openfeature/web-sdk and @openfeature/ofrep-web-provider pointed at ${location.origin}: it sees only client-visible flags, from the origins ${state.env} allows. See `, setup, ".")
    : h("span", {}, `Use it on servers: with the Rust SDK, an OpenFeature OFREP provider, event intake or OpenTelemetry traces (OTLP), at ${location.origin}. See `, setup, ".");
}

async function accessView() {
  const created = (label, secret, after) => { showSecret(`${label} created. Copy it now, it is shown once:`, secret, after); return route(); };
  const [mayAccounts, mayRoles, mayKeys] = await Promise.all([permissions("account/new"), permissions("role/new"),
    permissions(`proj/${state.project}:env/${state.env}:sdk-key/new`)]);
  const roles = mayRoles("role:read") ? await api("GET", "/roles").catch(() => []) : [];
  const roleNames = roles.map((r) => r.name);
  const accountRow = (account) => {
    const form = h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      const picked = roleNames.filter((r) => e.target[`role-${r}`].checked);
      try { await api("PUT", `/accounts/${encodeURIComponent(account.name)}`, { roles: picked, disabled: e.target.disabled.checked, version: account.version }); saved(`Account ${account.name}`); }
      catch (error) { showError(error, form); }
    } }, h("strong", {}, account.name),
    ...roleNames.map((r) => h("label", {}, h("input", { type: "checkbox", name: `role-${r}`, checked: account.roles.includes(r), "aria-label": `${account.name} has role ${r}` }), ` ${r}`)),
    h("label", {}, h("input", { type: "checkbox", name: "disabled", checked: account.disabled }), " disabled"),
    h("button", { type: "submit" }, `Save ${account.name}`));
    form.addEventListener("input", () => { state.dirty = true; });
    return form;
  };
  const roleEditor = (role) => {
    const working = JSON.parse(JSON.stringify(role));
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      try { await api("PUT", `/roles/${encodeURIComponent(role.name)}`, { description: working.description, statements: working.statements, version: role.version }); saved(`Role ${role.name}`); }
      catch (error) { showError(error, form); }
    } }, h("fieldset", {}, h("legend", {}, `${role.name}${role.builtin ? " (built in)" : ""}: ${role.description || ""}`),
      statementsEditor(working, role.builtin),
      role.builtin ? null : h("div", { class: "row" }, h("button", { type: "submit" }, `Save role ${role.name}`), deleteButton("Delete role", role.name, `/roles/${encodeURIComponent(role.name)}`))));
    form.addEventListener("input", () => { state.dirty = true; });
    return form;
  };
  page("Access",
    createForm("API token", "/tokens", [h("label", {}, "Token name ", h("input", { name: "name", required: true }))], (f) => ({ name: f.name.value, unscoped: true }), (t) => created("API token", t.token)),
    createForm("SDK key", `${envPath()}/sdk-keys`, [h("label", {}, "SDK key name ", h("input", { name: "name", required: true })),
      h("label", {}, "Kind ", select("kind", ["server", "client"], "server"))], (f) => ({ name: f.name.value, kind: f.kind.value }),
    (k) => created(`${k.kind === "client" ? "Client" : "Server"} SDK key for ${state.env}`, k.key, sdkKeyUse(k.kind))),
    ...(await section("Accounts", () => api("GET", "/accounts"), (accounts) => h("div", {}, ...accounts.map(accountRow),
      createForm("account", "/accounts", [h("label", {}, "New account name ", h("input", { name: "name", required: true })),
        h("label", {}, "Initial password (12 or more characters) ", h("input", { name: "password", type: "password", minlength: 12, required: true, autocomplete: "new-password" })),
        h("label", {}, "Role ", select("role", roleNames, "reader"))],
      (f) => ({ name: f.name.value.trim(), password: f.password.value, roles: [f.role.value] }), () => route())), mayAccounts("account:read"), "account:read")),
    ...(await section("API tokens", () => api("GET", "/tokens"), (tokens) => table(tokens, [["Name", (t) => t.name], ["Account", (t) => t.account],
      ["Created", (t) => time(t.created_at_ms)], ["Expires", (t) => time(t.expires_at_ms) || "never"],
      ["", (t) => deleteButton("Revoke token", t.name, `/tokens/${t.id}`)]]))),
    ...(await section(`SDK keys in ${state.env}`, () => api("GET", `${envPath()}/sdk-keys`), (keys) => h("div", {},
      h("p", {}, "Server keys are for servers; client keys for browser pages. ", h("a", { href: "#/setup" }, `How to connect an application to ${state.env}`)),
      table(keys, [["Name", (k) => k.name], ["Kind", (k) => k.kind],
        ["Created", (k) => time(k.created_at_ms)], ["", (k) => deleteButton("Revoke SDK key", k.name, `${envPath()}/sdk-keys/${k.id}`, state.env)]])),
    mayKeys("sdk-key:read"), "sdk-key:read")),
    h("h2", {}, "Roles"),
    h("p", { class: "muted" }, "Actions look like flag:toggle or flag:*; resources like proj/web:env/production:flag/checkout-* (* stays within one part, ** crosses parts). Deny wins."),
    ...(roles.length ? roles.map(roleEditor) : [h("p", { class: "muted" }, "Your access does not allow role:read here.")]),
    createForm("role", "/roles", [h("label", {}, "New role name ", h("input", { name: "name", required: true })),
      h("label", {}, "Description ", h("input", { name: "description", "aria-label": "new role description" }))],
    (f) => ({ name: f.name.value.trim(), description: f.description.value, statements: [{ effect: "allow", actions: ["flag:read"], resources: ["**"] }] }), () => route()));
}

// ---- SDK setup -----------------------------------------------------------------------------
// How to connect an application to the chosen environment: one snippet per SDK, each naming
// this server's origin and the environment, with a copy button. Keys stay placeholders: a
// secret is shown once, when it is created (under Access).

// Copies a snippet. Without the clipboard API (a page served over plain HTTP from another host,
// or a refused permission) the snippet is selected instead, for the person to copy.
async function copySnippet(code, status) {
  clearTimeout(status.clearing);
  try {
    if (!navigator.clipboard) throw new Error("no clipboard");
    await navigator.clipboard.writeText(code.textContent);
    status.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = "Selected: press Ctrl+C (⌘C) to copy";
  }
  status.clearing = setTimeout(() => { status.textContent = ""; }, 5000);
}

function snippetBlock(snippet) {
  const code = h("code", {}, snippet.code);
  const status = h("span", { class: "copied", role: "status", "aria-live": "polite" });
  return h("section", { class: "snippet", id: `snippet-${snippet.id}`, "data-key-kind": snippet.key },
    h("h3", {}, snippet.title),
    h("p", {}, h("span", { class: `key-kind key-${snippet.key}` }, `${snippet.key} key`), " ", snippet.note),
    h("div", { class: "row" }, h("button", { type: "button", class: "copy", "aria-label": `Copy the ${snippet.title} snippet`,
      onclick: () => copySnippet(code, status) }, "Copy"), status),
    h("pre", {}, code));
}

// The snippets for project `p`, environment `e`, served at `origin`; `flag` is a flag key of the
// project to show (a client-visible one for the browser).
function setupSnippets(origin, p, e, flag, clientFlag) {
  const where = `project ${p}, environment ${e}`;
  const serverKey = `a server key of ${e} (sys_…)`;
  return [
    { id: "rust", title: "Rust SDK (local evaluation)", key: "server",
      note: "Evaluates in your process from a live stream of the environment's flags, and sends exposures and metric events.",
      code: `// Cargo.toml: switchyard-sdk (crates/sdk of the Switchyard repository, as a path or git
// dependency), tokio (features "macros", "rt-multi-thread") and serde_json.
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
use switchyard_sdk::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("SWITCHYARD_SDK_KEY")?;
    let client = Client::builder("${origin}", key).build().await;
    let user = Context::from_json(&serde_json::json!({"key": "user-42", "country": "DE"}))?;
    if client.bool_value("${flag}", &user, false) {
        // the new behaviour
    }
    client.track("checkout_error", &user, 1.0); // a metric event, for guardrails
    client.close().await; // sends what is still queued
    Ok(())
}
` },
    { id: "node", title: "Node.js (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature server SDK with its OFREP provider; evaluates remotely.",
      code: `// npm install @openfeature/server-sdk @openfeature/ofrep-provider
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

await OpenFeature.setProviderAndWait(new OFREPProvider({
  baseUrl: '${origin}',
  headers: [['Authorization', \`Bearer \${process.env.SWITCHYARD_SDK_KEY}\`]],
}));
const client = OpenFeature.getClient();
const on = await client.getBooleanValue('${flag}', false, { targetingKey: 'user-42', country: 'DE' });
` },
    { id: "python", title: "Python (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Python SDK with the OFREP provider.",
      code: `# pip install openfeature-sdk openfeature-provider-ofrep
# export SWITCHYARD_SDK_KEY=...   # ${serverKey}
# Switchyard at ${origin}: ${where}
import os
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider

key = os.environ["SWITCHYARD_SDK_KEY"]
api.set_provider_and_wait(OFREPProvider("${origin}", headers_factory=lambda: {"Authorization": f"Bearer {key}"}))
client = api.get_client()
on = client.get_boolean_value("${flag}", False, EvaluationContext("user-42", {"country": "DE"}))
` },
    { id: "go", title: "Go (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Go SDK with the OFREP provider from go-sdk-contrib.",
      code: `// go get github.com/open-feature/go-sdk github.com/open-feature/go-sdk-contrib/providers/ofrep
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"
)

func main() {
	provider := ofrep.NewProvider("${origin}", ofrep.WithBearerToken(os.Getenv("SWITCHYARD_SDK_KEY")))
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		panic(err)
	}
	client := openfeature.NewClient("my-service")
	user := openfeature.NewEvaluationContext("user-42", map[string]any{"country": "DE"})
	on, err := client.BooleanValue(context.Background(), "${flag}", false, user)
	fmt.Println(on, err)
}
` },
    { id: "java", title: "Java (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Java SDK with the OFREP provider from java-sdk-contrib.",
      code: `// Maven: dev.openfeature:sdk and dev.openfeature.contrib.providers:ofrep
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.openfeature.contrib.providers.ofrep.OfrepProvider;
import dev.openfeature.contrib.providers.ofrep.OfrepProviderOptions;
import dev.openfeature.sdk.Client;
import dev.openfeature.sdk.MutableContext;
import dev.openfeature.sdk.OpenFeatureAPI;

// at start-up:
OfrepProviderOptions options = OfrepProviderOptions.builder()
    .baseUrl("${origin}")
    .headers(ImmutableMap.of("Authorization", ImmutableList.of("Bearer " + System.getenv("SWITCHYARD_SDK_KEY"))))
    .build();
OpenFeatureAPI openFeature = OpenFeatureAPI.getInstance();
openFeature.setProviderAndWait(OfrepProvider.constructProvider(options));
Client client = openFeature.getClient();
MutableContext user = new MutableContext("user-42");
user.add("country", "DE");
boolean on = client.getBooleanValue("${flag}", false, user);
` },
    { id: "browser", title: "Browser (OpenFeature web SDK over OFREP)", key: "client",
      note: `A client key is public (it ships in the page): it sees only flags marked visible to client-side SDKs, and the page's origin must be one ${e} allows (Browser origins, above).`,
      code: `// npm install @openfeature/web-sdk @openfeature/ofrep-web-provider   (bundled with your page)
// Switchyard at ${origin}: ${where}. Use a CLIENT key of ${e} (syc_…).
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

await OpenFeature.setContext({ targetingKey: 'user-42', country: 'DE' });
await OpenFeature.setProviderAndWait(new OFREPWebProvider({
  baseUrl: '${origin}',
  headers: [['Authorization', 'Bearer syc_YOUR_CLIENT_KEY']],
  pollInterval: 30000, // changes arrive on OFREP's event stream; this polls should it fail
}));
const client = OpenFeature.getClient();
const on = client.getBooleanValue('${clientFlag}', false); // synchronous: from the provider's cache
` },
  ];
}

// Tracking: OpenFeature's `track` through Switchyard's wrappers around the OFREP providers
// (clients/openfeature-tracking-js and -py), which post metric events to the events intake.
function trackingSnippets(origin, p, e, flag) {
  const where = `project ${p}, environment ${e}`;
  const serverKey = `a server key of ${e} (sys_…)`;
  return [
    { id: "track-node", title: "Node.js tracking (track)", key: "server",
      note: "Wraps the OFREP provider so that client.track(…) sends metric events; the same wrapper works around the browser's OFREPWebProvider with a client key.",
      code: `// npm install @openfeature/server-sdk @openfeature/ofrep-provider <switchyard>/clients/openfeature-tracking-js
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { withTracking } from '@switchyard/openfeature-tracking';

const url = '${origin}';
const sdkKey = process.env.SWITCHYARD_SDK_KEY;
await OpenFeature.setProviderAndWait(
  withTracking(new OFREPProvider({ baseUrl: url, headers: [['Authorization', \`Bearer \${sdkKey}\`]] }), { url, sdkKey }),
);
const client = OpenFeature.getClient();
const context = { targetingKey: 'user-42' };
const on = await client.getBooleanValue('${flag}', false, context);
client.track('checkout_error', context);               // value 1
client.track('latency_ms', context, { value: 183 });
await OpenFeature.close();                             // at exit: sends what is queued
` },
    { id: "track-python", title: "Python tracking (track)", key: "server",
      note: "Wraps the OFREP provider so that client.track(…) sends metric events, from a background thread.",
      code: `# pip install openfeature-sdk openfeature-provider-ofrep <switchyard>/clients/openfeature-tracking-py
# export SWITCHYARD_SDK_KEY=...   # ${serverKey}
# Switchyard at ${origin}: ${where}
import os
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from switchyard_openfeature_tracking import SwitchyardTrackingProvider

url, key = "${origin}", os.environ["SWITCHYARD_SDK_KEY"]
ofrep = OFREPProvider(url, headers_factory=lambda: {"Authorization": f"Bearer {key}"})
api.set_provider_and_wait(SwitchyardTrackingProvider(ofrep, url=url, sdk_key=key))
client = api.get_client()
context = EvaluationContext("user-42")
on = client.get_boolean_value("${flag}", False, context)
client.track("checkout_error", context)                                # value 1
client.track("latency_ms", context, TrackingEventDetails(value=183.0))
api.shutdown()                                                         # at exit: sends what is queued
` },
  ];
}

// OpenTelemetry: spans with the OpenFeature hooks' `feature_flag.evaluation` event, exported with
// OTLP/HTTP to this server, become the metrics span.error and span.duration_ms of the flag's
// cohorts (docs/opentelemetry.md), which guardrails watch.
function telemetrySnippets(origin, p, e, flag) {
  const where = `project ${p}, environment ${e}`;
  const environment = `# Switchyard at ${origin}: ${where}. A server key of ${e} (sys_…).
export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces
export OTEL_EXPORTER_OTLP_HEADERS="authorization=$SWITCHYARD_SDK_KEY"
export OTEL_SERVICE_NAME=checkout
`;
  return [
    { id: "otlp-env", title: "OpenTelemetry exporter settings", key: "server",
      note: "The standard variables every OTLP/HTTP exporter reads (protobuf or JSON, gzip or not).",
      code: environment },
    { id: "otel-node", title: "Node.js spans (OpenFeature OpenTelemetry hooks)", key: "server",
      note: "The SpanEventHook puts each evaluation on the active span; the span's status and duration feed the guardrails.",
      code: `// npm install @opentelemetry/api @opentelemetry/sdk-trace-node @opentelemetry/exporter-trace-otlp-proto @openfeature/open-telemetry-hooks
// With the OpenTelemetry exporter settings above (Switchyard at ${origin}: ${where}),
// and the OFREP provider set as in the Node.js snippet.
import { trace, SpanStatusCode } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OpenFeature } from '@openfeature/server-sdk';
import { SpanEventHook } from '@openfeature/open-telemetry-hooks';

const tracing = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
tracing.register();
OpenFeature.addHooks(new SpanEventHook());
const client = OpenFeature.getClient();
const tracer = trace.getTracer('checkout');

await tracer.startActiveSpan('GET /checkout', async (span) => {
  try {
    const on = await client.getBooleanValue('${flag}', false, { targetingKey: 'user-42' });
    // … serve the request
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR }); // counted as span.error
    throw error;
  } finally {
    span.end();
  }
});
// at exit: await tracing.shutdown(); // sends the spans still queued
` },
    { id: "otel-python", title: "Python spans (OpenFeature OpenTelemetry hook)", key: "server",
      note: "The TracingHook puts each evaluation on the current span; an exception leaving the span marks it as an error.",
      code: `# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http openfeature-hooks-opentelemetry
# With the OpenTelemetry exporter settings above (Switchyard at ${origin}: ${where}),
# and the OFREP provider set as in the Python snippet.
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from openfeature import api
from openfeature.contrib.hook.opentelemetry import TracingHook
from openfeature.evaluation_context import EvaluationContext

tracing = TracerProvider()
tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracing)
api.add_hooks([TracingHook()])
client = api.get_client()
tracer = trace.get_tracer("checkout")

with tracer.start_as_current_span("GET /checkout"):
    on = client.get_boolean_value("${flag}", False, EvaluationContext("user-42"))
    # … serve the request; an exception here sets the span's status to ERROR
` },
  ];
}

async function setupView() {
  if (!state.envs.length) {
    return page("SDK setup", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: "#/projects" }, "Create its first environment")));
  }
  const [env, flags, may, mayKeys] = await Promise.all([api("GET", envPath()), api("GET", `${projectPath()}/flags`).catch(() => []),
    permissions(`proj/${state.project}:env/${state.env}`), permissions(`proj/${state.project}:env/${state.env}:sdk-key/new`)]);
  const booleans = flags.filter((f) => f.kind === "boolean");
  const flag = (booleans[0] || { key: "new-checkout" }).key;
  const clientFlag = (booleans.find((f) => f.client_visible) || { key: flag }).key;
  // Counted only when readable: a refused read would be an audited denial on every visit.
  const keys = mayKeys("sdk-key:read") ? await api("GET", `${envPath()}/sdk-keys`).catch(() => null) : null;
  const origins = env.allowed_origins || [];
  const originsForm = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const list = e.target.origins.value.split(/[\s,]+/).filter(Boolean);
    try {
      await api("PUT", envPath(), { name: env.name, description: env.description, critical: env.critical, allowed_origins: list, version: env.version });
      await start(); saved(`Allowed origins of ${state.env}`);
    } catch (error) { showError(error, originsForm); }
  } },
  h("label", { for: "allowed-origins" }, "Allowed origins (space or comma separated; empty: any origin)"),
  h("input", { id: "allowed-origins", name: "origins", size: 60, value: origins.join(" "), placeholder: "https://app.example https://admin.example" }),
  h("button", { type: "submit" }, `Save allowed origins of ${state.env}`));
  originsForm.addEventListener("input", () => { state.dirty = true; });
  const snippets = setupSnippets(location.origin, state.project, state.env, flag, clientFlag);
  const tracking = trackingSnippets(location.origin, state.project, state.env, flag);
  const telemetry = telemetrySnippets(location.origin, state.project, state.env, flag);
  // Buttons, not links: the hash is the page's route.
  const jump = h("nav", { class: "row", "aria-label": "Jump to a snippet" }, "Jump to:", [...snippets, tracking[0], telemetry[0]].map((s) =>
    h("button", { type: "button", onclick: () => document.getElementById(`snippet-${s.id}`).scrollIntoView() },
      { "otlp-env": "OpenTelemetry", "track-node": "Tracking" }[s.id] || s.title.split(" (")[0])));
  page(`SDK setup for ${state.env}`,
    h("p", {}, `Connect an application to environment ${state.env} of project ${state.project}, served at `, h("code", {}, location.origin), "."),
    jump,
    h("h2", {}, "Keys"),
    h("ul", {},
      h("li", {}, h("strong", {}, "Server keys"), " (sys_…) are secret: the Rust SDK, OpenFeature's OFREP providers on servers, event intake and OpenTelemetry traces use them."),
      h("li", {}, h("strong", {}, "Client keys"), " (syc_…) are public: browsers use them with the OFREP web provider. They see only flags marked visible to client-side SDKs, and only pages from the allowed origins below can read the answers.")),
    h("p", {}, "A key is shown once, when it is created: the snippets show a placeholder. ",
      keys ? `${state.env} has ${plural(keys.filter((k) => k.kind === "server").length, "server key")} and ${plural(keys.filter((k) => k.kind === "client").length, "client key")}. ` : "",
      h("a", { href: "#/access" }, "Create a key under Access"), "."),
    h("h2", {}, "Browser origins"),
    h("p", { id: "allowed-origins-now" }, origins.length ? `Pages from ${origins.join(", ")} may read ${state.env}'s client-key answers.` : `Any origin may read ${state.env}'s client-key answers (no list).`),
    gate(originsForm, may, "env:update"),
    h("h2", {}, "Snippets"),
    ...snippets.map(snippetBlock),
    h("h2", {}, "Metric events from OpenFeature (track)"),
    h("p", {}, "OFREP has no tracking endpoint: Switchyard's small OpenFeature tracking packages (in the Switchyard repository, clients/openfeature-tracking-js and clients/openfeature-tracking-py) wrap the OFREP provider, and send what ",
      h("code", {}, "client.track(name, context, {value})"), " records to ", h("code", {}, `${location.origin}/events/v1/bulk`),
      ". Guardrails and per-cohort metrics name these events."),
    ...tracking.map(snippetBlock),
    h("h2", {}, "Guardrails from OpenTelemetry"),
    h("p", {}, "With no Switchyard package at all: spans that carry a flag evaluation (the OpenFeature OpenTelemetry hooks add it), exported with OTLP/HTTP to ",
      h("code", {}, `${location.origin}/v1/traces`), " with a server key, become the metrics ", h("code", {}, "span.error"), " and ", h("code", {}, "span.duration_ms"),
      " of the flag's cohorts. Name them in a release's guardrails like any metric."),
    ...telemetry.map(snippetBlock));
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
  // Each action only where the release's state admits it.
  const admits = { pause: ["running"], resume: ["holding"], advance: ["running", "holding"], abort: ["scheduled", "running", "holding"] };
  const act = (verb, label, cls) => h("button", { type: "button", class: cls, disabled: !admits[verb].includes(s.state),
    title: admits[verb].includes(s.state) ? null : `Not while the release is ${s.state}`, onclick: async () => {
    if (!(await confirmAction(`${label} release ${id} of ${s.flag} in ${state.env}?`, state.env))) return;
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

// Lines of a diff shown before "Show all": a record of a large flag or import can have tens of
// thousands, and the page must stay responsive.
const DIFF_LINES_SHOWN = 200;

// Lines removed and added, built with loops (no argument spreading: a huge array spread into a
// call overflows the stack), the first DIFF_LINES_SHOWN at once and the rest on request.
function diff(before, after) {
  const a = JSON.stringify(before ?? null, null, 2).split("\n"), b = JSON.stringify(after ?? null, null, 2).split("\n");
  const inA = new Set(a), inB = new Set(b);
  const lines = [];
  for (const l of a) if (!inB.has(l)) lines.push(["diff-del", `- ${l}`]);
  for (const l of b) if (!inA.has(l)) lines.push(["diff-add", `+ ${l}`]);
  const pre = h("pre", {});
  const show = (from, to) => {
    const part = document.createDocumentFragment();
    for (let i = from; i < to; i++) part.append(h("div", { class: lines[i][0] }, lines[i][1]));
    pre.append(part);
  };
  show(0, Math.min(lines.length, DIFF_LINES_SHOWN));
  if (lines.length <= DIFF_LINES_SHOWN) return pre;
  const more = h("button", { type: "button", class: "show-all", onclick: () => {
    show(DIFF_LINES_SHOWN, lines.length);
    more.remove();
  } }, `Show all ${lines.length} changed lines`);
  return h("div", {}, pre, more);
}

// One record: its diff is built when it is opened, not for every record of the page.
function auditRecord(r) {
  const details = h("details", {}, h("summary", {}, `#${r.seq} ${time(r.at_ms)} ${r.action} ${r.resource} — ${r.outcome} — ${r.actor.kind}:${r.actor.account || r.actor.id}${r.comment ? ` — ${r.comment}` : ""}`));
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) details.append(diff(r.before, r.after));
  });
  return h("li", {}, details);
}

// The chain check is asked for only when the token allows it (`GET /me` audits nothing): a
// refused verify would add an audited denial on every visit.
async function chainStatus() {
  const may = await permissions("audit");
  if (!may("audit:verify")) return "Chain status: your access does not allow audit:verify.";
  const chain = await api("GET", "/audit/verify").catch((e) => ({ error: e.message }));
  return chain.error ? `Chain status unavailable: ${chain.error}` : chain.ok ? `Chain verified: ${chain.records} records intact.` : `Chain BROKEN at record ${chain.first_broken}`;
}

async function auditView(params) {
  const resource = params.get("resource") || "";
  const query = new URLSearchParams({ limit: "50" });
  if (resource) query.set("resource", resource);
  const [audit, chainText] = await Promise.all([api("GET", `/audit?${query}`), chainStatus()]);
  const filter = h("form", { class: "row", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const value = e.target.resource.value.trim();
    location.hash = value ? `#/audit?resource=${encodeURIComponent(value)}` : "#/audit";
  } }, h("label", {}, "Resource starts with ", h("input", { name: "resource", value: resource, size: 50, placeholder: "proj/default:env/production:flag/" })),
  h("button", { type: "submit" }, "Filter"));
  const list = h("ul", { id: "audit" });
  if (!audit.records.length) list.append(h("li", {}, "No records."));
  for (const r of audit.records) list.append(auditRecord(r));
  page("Audit log", h("p", { id: "chain-status" }, chainText), filter, list);
}

// Change requests and scheduled changes: change-requests.js.

// ---- routing, live updates -----------------------------------------------------------------

async function route() {
  busy(1);
  try { await render(); } finally { busy(-1); }
}

async function render() {
  state.dirty = false; // re-rendering discards edits in progress
  banner(state.notice || "");
  state.notice = "";
  if (!state.token) {
    if (!location.hash.startsWith("#/signin")) state.after = location.hash;
    return signInView();
  }
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
      case "release-plans": return await releasePlansView(params);
      case "change-requests": return await changeRequestsView(params);
      case "webhooks": return await webhooksView(params);
      case "compare": return await compareView(params);
      case "experiments": return await experimentsView();
      case "experiment": return await (parts[2] === "results" ? resultsView(parts[1]) : experimentView(parts[1]));
      case "metrics": return await metricsView();
      case "change-request": return await changeRequestView(parts[1]);
      case "audit": return await auditView(params);
      case "access": return await accessView();
      case "projects": return await projectsView();
      case "setup": return await setupView();
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
  // Edits may have begun while the re-render waited.
  pending = setTimeout(() => (state.dirty ? changed() : route()), 150);
}

async function follow() {
  if (state.live) state.live.abort();
  const controller = (state.live = new AbortController());
  while (!controller.signal.aborted) {
    try {
      const response = await fetch("/api/v1/changes", { headers: { authorization: `Bearer ${state.token}` }, signal: controller.signal });
      if (!response.ok) break;
      state.ownWrites = 0; // notices from before this connection are gone
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
          if (note.seq !== null && !(note.kinds || []).length) continue;
          if (note.seq !== null && state.ownWrites > 0) { state.ownWrites--; continue; }
          changed();
        }
      }
    } catch (_) { if (controller.signal.aborted) return; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function start() {
  $("#top").hidden = false;
  $("#who").textContent = state.account ? `Signed in as ${state.account}` : "";
  const projects = await api("GET", "/projects");
  if (!projects.some((p) => p.key === state.project) && projects.length) choose(projects[0].key);
  const projectSelect = $("#project");
  projectSelect.replaceChildren(...projects.map((p) => h("option", { value: p.key, selected: p.key === state.project }, p.name || p.key)));
  const envs = (state.envs = await api("GET", `${projectPath()}/environments`));
  if (!envs.some((e) => e.key === state.env) && envs.length) choose(null, envs[0].key);
  $("#env").replaceChildren(...envs.map((e) => h("option", { value: e.key, selected: e.key === state.env }, e.name || e.key)));
  follow();
}

let shownHash = location.hash;
async function leave() {
  return !state.dirty || confirmAction("Leave this page? Your unsaved changes will be lost.");
}
window.addEventListener("hashchange", async () => {
  if (location.hash === shownHash) return;
  if (!(await leave())) { history.replaceState(null, "", shownHash); return; }
  shownHash = location.hash;
  state.focusMain = true;
  route();
});
window.addEventListener("DOMContentLoaded", async () => {
  $("#signout").addEventListener("click", signOut);
  // Cancel is not a submit button, so Enter in the typed-name box confirms instead of cancelling.
  $("#confirm-cancel").addEventListener("click", () => $("#confirm").close("cancel"));
  $("#project").addEventListener("change", async (e) => { choose(e.target.value); await start(); route(); });
  $("#env").addEventListener("change", async (e) => {
    if (!(await leave())) { e.target.value = state.env; return; }
    choose(null, e.target.value); route();
  });
  if (state.token) { try { await start(); } catch (_) { signOut(); } }
  route();
});
// Releases move by themselves: re-read a release page every few seconds even without commits.
setInterval(() => {
  if (location.hash.startsWith("#/release/") && !state.dirty && !main().querySelector(".error[role=alert]")) route();
}, 3000);
