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
  env: sessionStorage.getItem("sy_env") || "production", envs: [], dirty: false, live: null, samples: {}, busy: 0, ownWrites: 0, edits: 0, editDirty: false, backgroundFrom: null, focusMain: true,
  account: sessionStorage.getItem("sy_account"), after: null };

function choose(project, env) {
  if (project) sessionStorage.setItem("sy_project", (state.project = project));
  if (env) sessionStorage.setItem("sy_env", (state.env = env));
}

// ---- the address: every route carries the project and environment it shows -----------------
// `#/flag/checkout?project=web&env=production&tab=targeting`: a shared link opens the same
// project and environment; a link without them (`#/flag/x`) gets the shown ones added.

// The hash as a route path and its parameters.
function address(hash = location.hash) {
  const [path, query] = (hash.slice(1) || "/flags").split("?");
  return { path: path || "/flags", params: new URLSearchParams(query || "") };
}

// A hash for `path` in the shown project and environment (unless `params` names others), with
// the page's own parameters (an object, a query string or URLSearchParams; empty values left out).
function href(path, params) {
  const query = new URLSearchParams({ project: state.project, env: state.env });
  const own = params instanceof URLSearchParams || typeof params === "string" ? [...new URLSearchParams(params)] : Object.entries(params || {});
  for (const [key, value] of own) if (value !== undefined && value !== null && value !== "") query.set(key, value);
  return `#${String(path).replace(/^#/, "")}?${query}`;
}

// ---- theme ---------------------------------------------------------------------------------
// Light or dark follows the system unless the header's toggle chose one (kept in localStorage
// as `sy_theme`); the choice is `data-theme` on <html>, which app.css reads.

const darkSystem = window.matchMedia("(prefers-color-scheme: dark)");
const theme = () => document.documentElement.dataset.theme || (darkSystem.matches ? "dark" : "light");

function applyTheme(chosen) {
  if (chosen === "light" || chosen === "dark") document.documentElement.dataset.theme = chosen;
  else delete document.documentElement.dataset.theme;
  const toggle = document.getElementById("theme");
  if (toggle) toggle.setAttribute("aria-pressed", String(theme() === "dark"));
}
applyTheme(localStorage.getItem("sy_theme"));
darkSystem.addEventListener("change", () => applyTheme(localStorage.getItem("sy_theme")));

// ---- DOM and API helpers -------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    // The content security policy refuses style attributes; the CSSOM is allowed.
    else if (k === "style") el.style.cssText = v;
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
  const code = h("code", { id: "secret-value" }, secret);
  // Plain text: the snippets' green "Copied" lacks contrast on this box's background.
  const status = h("span", { role: "status", "aria-live": "polite" });
  // copySnippet (setup.js): the clipboard, or else the secret selected for Ctrl+C.
  const copy = h("button", { type: "button", class: "copy primary", onclick: () => copySnippet(code, status) }, "Copy");
  box.replaceChildren(h("p", {}, text, " ", code, " ", copy, " ", status, after ? [" ", after] : ""), h("button", { type: "button", onclick: () => { box.replaceChildren(); box.hidden = true; } }, "I have copied it"));
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
  // A re-read for news loads while the old page stays usable: an edit made there meanwhile is kept
  // (the save is then refused as a conflict, and says so) rather than silently replaced.
  const from = state.backgroundFrom;
  state.backgroundFrom = null;
  if (from !== null && from !== undefined && state.edits !== from) {
    if (state.editDirty) state.dirty = true;
    banner(state.dirty ? "This was changed elsewhere. Saving now will be refused as a conflict; reload to see the change." : "This was changed elsewhere: reload to see the change.");
    return;
  }
  const m = main(), y = window.scrollY, active = document.activeElement;
  // Re-reading the same page keeps the disclosures that were open (Revise…, Schedule…) open.
  const keep = m.dataset.shown === location.hash ? [...m.querySelectorAll("details[open][id]")].map((d) => d.id) : [];
  const mark = !state.focusMain && active && active !== m && m.contains(active) ? focusMark(active) : null;
  m.replaceChildren(h("h1", {}, title), ...children.flat().filter((c) => c !== null && c !== undefined));
  m.dataset.shown = location.hash;
  for (const id of keep) { const open = document.getElementById(id); if (open) open.open = true; }
  document.title = `${title} · Switchyard`;
  if (state.focusMain) { m.focus({ preventScroll: true }); window.scrollTo(0, 0); } else {
    window.scrollTo(0, y);
    if (mark && (document.activeElement === document.body || !document.activeElement)) refocus(mark);
  }
  state.focusMain = false;
}

// A re-render replaces the page's elements, which would drop a keyboard user's place to the top
// of the document: the focused control is found again, by id, else by kind and name, else by its
// position among the page's controls (a "Turn on" button becomes "Turn off" in the same place).
const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])";
const focusName = (el) => el.getAttribute("aria-label") || el.getAttribute("name") || el.textContent.trim();
function focusMark(el) {
  return { id: el.id, tag: el.tagName, name: focusName(el), at: [...main().querySelectorAll(FOCUSABLE)].indexOf(el) };
}
function refocus(mark) {
  const all = [...main().querySelectorAll(FOCUSABLE)];
  const byId = mark.id ? all.find((el) => el.id === mark.id) : null;
  const again = byId || all.find((el) => el.tagName === mark.tag && focusName(el) === mark.name) || (all[mark.at] && all[mark.at].tagName === mark.tag ? all[mark.at] : null);
  if (again) again.focus({ preventScroll: true });
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
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
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


// ---- routing, live updates -----------------------------------------------------------------

// `background`: a re-read for news (a change notice), not something this user asked for; the
// page it would replace stays when the user edits it meanwhile (see `page`).
async function route(background) {
  state.backgroundFrom = background === true ? state.edits : null;
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
  const { path, params } = address();
  if (path !== "/signin") await followAddress(path, params);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) {
    a.dataset.path = a.dataset.path || address(a.getAttribute("href")).path;
    a.href = href(a.dataset.path);
    const section = parts[0] || "flags";
    if (a.dataset.path === `/${LISTS[section] || section}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
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
      case "playground": return await playgroundView();
      case "start": return await startView();
      case "signin": return signInView();
      default: return await flagsView(params);
    }
  } catch (error) {
    if (error.status === 401) return signInView();
    page("Something went wrong");
    showError(error);
  }
}

// Shows the project and environment the hash names (switching the header's selects, and
// re-reading the environments when the project changes); a hash without them gets the shown
// ones, replacing the history entry, so the address can always be shared.
async function followAddress(path, params) {
  const project = params.get("project"), env = params.get("env");
  if (project && project !== state.project) { choose(project, env); await loadHeader(); }
  else if (env && env !== state.env) { choose(null, env); showChoices(); }
  if (project !== state.project || env !== state.env) {
    history.replaceState(history.state, "", href(path, params));
    shownHash = location.hash;
  }
}

// The list a detail page belongs to (its section in the header).
const LISTS = { flag: "flags", release: "releases", experiment: "experiments", "change-request": "change-requests" };

// Moves to the same page in another environment, or to the same section in another project (a
// flag or release of one project is not in another; its list is). A new history entry, so Back
// returns; the page re-renders without moving focus from the select.
function moveTo(project, env) {
  const { path, params } = address();
  // A flag is in every environment of its project; a release, experiment or change request only
  // in its own: another environment shows their list.
  const section = path.split("/")[1];
  const list = LISTS[section] && (project || section !== "flag") ? LISTS[section] : null;
  const next = list ? new URLSearchParams({ project: project || state.project }) : params;
  // The new project's environments decide which one to show (the same name if it has one).
  if (project) { next.set("project", project); next.delete("env"); } else next.set("env", env);
  state.dirty = false;
  history.pushState(null, "", `#${list ? `/${list}` : path}?${next}`);
  shownHash = location.hash;
  numberEntry();
  route();
}

let pending = null;
function changed() {
  if (state.dirty) { banner("This was changed elsewhere. Saving now will be refused as a conflict; reload to see the change."); return; }
  clearTimeout(pending);
  // Edits may have begun while the re-render waited.
  pending = setTimeout(() => (state.dirty ? changed() : route(true)), 150);
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
  // A shared link names the project and environment to open.
  const { params } = address();
  choose(params.get("project"), params.get("env"));
  await loadHeader();
  follow();
}

// Fills the header's selects with the projects and the shown project's environments. One the
// address names is kept even if it is not there (the page then says it was not found); otherwise
// a project or environment that is gone falls back to the first.
async function loadHeader() {
  const { params } = address();
  const projects = (state.projects = await api("GET", "/projects"));
  if (!params.get("project") && !projects.some((p) => p.key === state.project) && projects.length) choose(projects[0].key);
  const envs = (state.envs = await api("GET", `${projectPath()}/environments`));
  if (!params.get("env") && !envs.some((e) => e.key === state.env) && envs.length) choose(null, envs[0].key);
  showChoices();
}

function showChoices() {
  const { params } = address();
  // One the address names but the server does not have stays visible as such.
  const options = (items, current, named) => [...(named === current && !items.some((i) => i.key === current) ? [h("option", { value: current }, `${current} (not found)`)] : []),
    ...items.map((i) => h("option", { value: i.key }, i.name || i.key))];
  $("#project").replaceChildren(...options(state.projects || [], state.project, params.get("project")));
  $("#env").replaceChildren(...options(state.envs, state.env, params.get("env")));
  $("#project").value = state.project;
  $("#env").value = state.env;
}

let shownHash = location.hash;
// Each history entry this tab shows is numbered in its state, so a leave cancelled after Back
// (or Forward) goes the other way instead of overwriting the entry it came to.
let shownAt = 0;
function numberEntry() {
  const at = history.state && Number.isInteger(history.state.at) ? history.state.at : shownAt + 1;
  if (!history.state || history.state.at !== at) history.replaceState(Object.assign({}, history.state, { at }), "");
  shownAt = at;
}
numberEntry();
async function leave() {
  return !state.dirty || confirmAction("Leave this page? Your unsaved changes will be lost.");
}
// Reloading, closing the tab or leaving the console with unsaved edits asks first, too.
// Edits on the page (a form being filled in, too), counted so a re-read for news does not replace them.
for (const kind of ["input", "change"]) document.addEventListener(kind, (e) => {
  if (main().contains(e.target)) { state.edits++; state.editDirty = state.dirty; }
});
window.addEventListener("beforeunload", (e) => { if (state.dirty) { e.preventDefault(); e.returnValue = ""; } });
window.addEventListener("hashchange", async () => {
  if (location.hash === shownHash) return;
  const at = history.state && Number.isInteger(history.state.at) ? history.state.at : null;
  if (!(await leave())) {
    // Back to the page still shown: Forward undoes a Back, Back undoes a Forward or a new entry.
    if (at !== null && at < shownAt) history.forward(); else history.back();
    return;
  }
  shownHash = location.hash;
  numberEntry();
  state.focusMain = true;
  route();
});
window.addEventListener("DOMContentLoaded", async () => {
  $("#signout").addEventListener("click", signOut);
  // Cancel is not a submit button, so Enter in the typed-name box confirms instead of cancelling.
  $("#confirm-cancel").addEventListener("click", () => $("#confirm").close("cancel"));
  // The skip link moves focus without touching the hash (the route).
  $(".skip").addEventListener("click", (e) => { e.preventDefault(); main().focus(); });
  $("#theme").addEventListener("click", () => {
    const next = theme() === "dark" ? "light" : "dark";
    localStorage.setItem("sy_theme", next);
    applyTheme(next);
  });
  applyTheme(localStorage.getItem("sy_theme"));
  $("#project").addEventListener("change", async (e) => {
    if (!(await leave())) { e.target.value = state.project; return; }
    moveTo(e.target.value, null);
  });
  $("#env").addEventListener("change", async (e) => {
    if (!(await leave())) { e.target.value = state.env; return; }
    moveTo(null, e.target.value);
  });
  if (state.token) { try { await start(); } catch (_) { signOut(); } }
  route();
});
// Releases move by themselves: re-read a release page every few seconds even without commits.
setInterval(() => {
  if (location.hash.startsWith("#/release/") && !state.dirty && !main().querySelector(".error[role=alert]")) route(true);
}, 3000);
