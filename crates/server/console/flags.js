// Switchyard console: the flag list and the flag page. A classic script sharing the page's globals (app.js loads first).
"use strict";

// ---- flags ---------------------------------------------------------------------------------

const PER_PAGE = 100;
// The cursor of each page seen, by list and filter (the API's cursor only leads forward): page
// n's is `[n - 1]`.
const pageCursors = new Map();

// A list request's body with its paging headers (`api` returns only the body): `next` is the
// cursor of the page after (null on the last), `total` the count of all matches (null when the
// server did not say).
async function apiPage(path) {
  busy(1);
  try {
    const response = await fetch(`/api/v1${path}`, { headers: state.token ? { authorization: `Bearer ${state.token}` } : {} });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (response.status === 401) { signOut(); throw new ApiError(401, data); }
    if (!response.ok) throw new ApiError(response.status, data);
    const total = response.headers.get("x-total-count");
    return { items: data, next: response.headers.get("x-next-cursor"), total: total === null ? null : Number(total) };
  } finally { busy(-1); }
}

// One page of a paged list (`GET path?query&limit&cursor`) for the page number in `params`, and
// its pager: the count ("Flags 101–200 of 2000") and Previous/Next, which move the address
// (`hashPath` with `params`). A page whose cursor this tab never saw (a shared link) starts over
// at the first; a server that does not page is paged here.
async function listPage({ path, query, params, hashPath, noun, id }) {
  const filterKey = `${path}?${query}`;
  const cursors = pageCursors.get(filterKey) || [null];
  pageCursors.set(filterKey, cursors);
  const wanted = Math.max(1, Math.floor(Number(params.get("page"))) || 1);
  const pageNo = wanted <= cursors.length ? wanted : 1;
  if (pageNo !== wanted && params.has("page")) {
    // The page asked for is not reachable from here (a shared link): the first is shown, and
    // the address says so.
    const at = new URLSearchParams(params);
    at.delete("page");
    history.replaceState(history.state, "", link(hashPath, at));
    main().dataset.shown = location.hash;
    try { shownHash = location.hash; } catch (_) { /* an app.js without it */ }
  }
  const paged = new URLSearchParams(query);
  paged.set("limit", String(PER_PAGE));
  if (cursors[pageNo - 1]) paged.set("cursor", cursors[pageNo - 1]);
  let { items, next, total } = await apiPage(`${path}?${paged}`);
  const first = (pageNo - 1) * PER_PAGE;
  if (items.length > PER_PAGE) {
    total = items.length;
    next = first + PER_PAGE < total ? `offset-${first + PER_PAGE}` : null;
    items = items.slice(first, first + PER_PAGE);
  } else if (total === null && !next) total = first + items.length;
  if (next) cursors[pageNo] = next;
  const go = (to) => { const at = new URLSearchParams(params); if (to > 1) at.set("page", String(to)); else at.delete("page"); location.hash = link(hashPath, at); };
  const range = `${noun} ${first + 1}–${first + items.length}`;
  const count = total === null ? range : total === 0 ? `No ${noun.toLowerCase()}` : `${range} of ${total}`;
  const pager = (note) => h("nav", { class: "row pager", "aria-label": `${noun} pages` },
    h("span", { id, role: "status" }, count, note || ""),
    pageNo > 1 ? h("button", { type: "button", onclick: () => go(pageNo - 1) }, "Previous page") : null,
    next ? h("button", { type: "button", onclick: () => go(pageNo + 1) }, "Next page") : null);
  return { items, pageNo, pager };
}

async function flagsView(params) {
  if (!state.envs.length) {
    return page("Flags", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: link("/projects") }, "Create its first environment")));
  }
  const q = params.get("q") || "", kind = params.get("kind") || "", tag = params.get("tag") || "",
    st = params.get("state") || "", stale = params.get("stale") === "1", archived = params.get("archived") === "1";
  const query = new URLSearchParams();
  if (q) query.set("q", q); if (kind) query.set("kind", kind); if (tag) query.set("tag", tag);
  if (archived) query.set("archived", "true");
  const { items: flags, pageNo, pager: pagerOf } = await listPage({ path: `${projectPath()}/flags`, query, params, hashPath: "/flags", noun: "Flags", id: "flag-count" });
  const envState = (f) => (f.environments[state.env] || {}).on;
  // The server's stale report for this environment (from the evaluation aggregates), by flag.
  const staleReasons = stale ? await staleReport() : null;
  const shown = flags.filter((f) => (!st || (st === "on") === !!envState(f)) && (!stale || staleReasons.has(f.key)));
  const filters = h("form", { class: "row", role: "search", "aria-label": "Filter flags", onsubmit: (e) => {
    e.preventDefault();
    const data = new URLSearchParams(new FormData(e.target));
    for (const [k, v] of [...data]) if (!v) data.delete(k);
    location.hash = link("/flags", data);
  } },
  h("label", {}, "Search ", h("input", { name: "q", value: q, type: "search" })),
  h("label", {}, "Kind ", select("kind", ["", "boolean", "string", "number", "json"], kind)),
  h("label", {}, "Tag ", h("input", { name: "tag", value: tag, size: 10 })),
  h("label", {}, `State in ${state.env} `, select("state", ["", "on", "off"], st)),
  h("label", { title: "Not evaluated, or serving one variation to everyone, for 30 days; or temporary and past its planned removal" }, h("input", { type: "checkbox", name: "stale", value: "1", checked: stale }), ` Stale in ${state.env}`),
  h("label", {}, h("input", { type: "checkbox", name: "archived", value: "1", checked: archived }), " Archived"),
  h("button", { type: "submit" }, "Filter"));
  // A boolean flag serves `false` when off; any other kind names its off variation.
  const offChoice = h("label", { hidden: true }, "Off variation (served when off) ", select("off_variation", ["control", "treatment"], "control", { "aria-label": null }));
  const create = h("form", { class: "row", "aria-label": "Create a flag", onsubmit: async (e) => {
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
      location.hash = link(`/flag/${encodeURIComponent(key)}`);
    } catch (error) { showError(error, create); }
  } },
  h("label", {}, "New flag key ", h("input", { name: "key", required: true, pattern: "[A-Za-z0-9_.\\-]+", title: "letters, digits, _ . -" })),
  h("label", {}, "Kind ", select("kind", ["boolean", "string", "number", "json"], "boolean", {
    onchange: (e) => { offChoice.hidden = e.target.value === "boolean"; } })),
  offChoice,
  h("button", { type: "submit", class: "primary" }, "Create flag"));
  // The selected environment's state comes first (it stays visible at phone width), then the others.
  const envs = [state.env, ...state.envs.map((e) => e.key).filter((k) => k !== state.env)];
  const onOff = (f, env) => {
    const t = f.environments[env];
    if (!t) return "–";
    const word = t.on ? h("span", { class: "on state-on" }, "ON") : h("span", { class: "off state-off" }, "OFF");
    // What off serves, where the state is read first: in the shown environment.
    return env === state.env ? [word, h("br", {}), h("span", { class: "muted off-serving" }, `Off: ${offServing(f.variations, t.off_variation)}`)] : word;
  };
  const rows = shown.map((f) => h("tr", {},
    h("td", {}, h("a", { href: link(`/flag/${encodeURIComponent(f.key)}`) }, f.name ? `${f.key} (${f.name})` : f.key)),
    h("td", {}, f.kind),
    ...envs.map((e) => h("td", {}, onOff(f, e))),
    h("td", {}, (f.tags || []).join(", ")),
    h("td", {}, staleReasons ? staleReasons.get(f.key) : f.description || "")));
  const pager = pagerOf(st || stale ? ` (the ${st ? "state" : "stale"} filter applies to this page)` : "");
  // An empty project leads through getting started (onboarding.js).
  const empty = pageNo === 1 && !flags.length && !q && !kind && !tag && !archived;
  page("Flags", empty ? await gettingStarted("flags") : null, filters, create, pager, h("div", { class: "scroll" }, h("table", {},
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

// Said in the confirmation of an action that re-renders the page while edits are unsaved.
function discardNote() {
  return state.dirty ? " Your unsaved changes will be discarded." : "";
}

// Archive (out of every SDK, relay and OFREP answer) or restore a flag, in every environment.
function lifecycleButton(key, definition, mayDefine) {
  const path = `${projectPath()}/flags/${encodeURIComponent(key)}`;
  if (definition.archived) {
    return gate(h("button", { type: "button", class: "primary", onclick: async () => {
      if (!(await confirmAction(`Restore ${key}? SDKs, relays and OFREP serve it again in every environment, as it was.${discardNote()}`))) return;
      try { await api("POST", `${path}/restore`, {}); route(); } catch (error) { showError(error); }
    } }, "Restore flag"), mayDefine, "flag:restore");
  }
  return gate(h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Archive ${key}? It leaves every SDK, relay and OFREP answer in every environment (applications get their own default); its settings and targeting are kept for a restore.${discardNote()}`))) return;
    try { await api("POST", `${path}/archive`, {}); route(); }
    catch (error) {
      // Other flags require it: say which, and offer to archive anyway.
      if (error.status !== 409 || ((error.body && error.body.error) || {}).field !== "force") return showError(error);
      if (!(await confirmAction(`${await dependentsText(key)} Archive ${key} anyway?${discardNote()}`))) return;
      try { await api("POST", `${path}/archive`, { force: true }); route(); } catch (again) { showError(again); }
    }
  } }, "Archive flag"), mayDefine, "flag:archive");
}

// The flags that require `key` (as a prerequisite) in each environment, and what each will
// serve there once `key` is archived: its off variation, as the server says.
async function dependentsText(key) {
  const dependents = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "1000" });
    if (cursor) query.set("cursor", cursor);
    const { items, next } = await apiPage(`${projectPath()}/flags?${query}`);
    for (const f of items) {
      if (f.key === key) continue;
      for (const [env, t] of Object.entries(f.environments || {})) {
        if ((t.prerequisites || []).some((p) => p.key === key)) dependents.push(`${f.key} in ${env}: ${offServing(f.variations, t.off_variation)}`);
      }
    }
    cursor = items.length > 1000 ? null : next;
  } while (cursor);
  if (!dependents.length) return `Other flags require ${key}.`;
  return `Other flags require ${key}; once it is archived they serve what they serve when off: ${dependents.join("; ")}.`;
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

function describeServe(serve, variations) {
  const name = (i) => (variations[i] ? variationLabel(variations[i]) : `variation ${i}`);
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
    ["State", (e) => (definition.environments[e.key].on ? h("span", { class: "on state-on" }, "ON") : h("span", { class: "off state-off" }, "OFF"))],
    ["When off", (e) => offServing(definition.variations, definition.environments[e.key].off_variation)],
    ["Rules", (e) => String((definition.environments[e.key].rules || []).length)],
    ["Individual targets", (e) => String((definition.environments[e.key].targets || []).reduce((n, t) => n + t.values.length, 0))],
    ["Everyone else", (e) => describeServe(definition.environments[e.key].fallthrough, definition.variations)],
    ["", (e) => (e.key === state.env ? "" : h("button", { type: "button", onclick: async () => {
      if (!(await leave())) return;
      // app.js's moveTo keeps the environment in the address; an older one only in its state.
      if (typeof moveTo === "function") { state.dirty = false; return moveTo(null, e.key); }
      choose(null, e.key); $("#env").value = e.key; route();
    } }, `Show ${e.key}`))],
  ]);
}

// ---- the flag page -------------------------------------------------------------------------

const FLAG_TABS = [["targeting", "Targeting"], ["variations", "Variations"], ["settings", "Settings"],
  ["releases", "Releases"], ["insights", "Insights"], ["history", "History"]];

// A variation as people read it: its name (else its key) and its value.
function variationLabel(v) {
  return `${v.name || v.key} (${JSON.stringify(v.value)})`;
}

// What an environment serves while the flag is off there, as its targeting says (`index`: its
// off variation; none: the application's own default). Never guessed from the flag's default:
// the server decides what an environment inherits.
function offServing(variations, index) {
  const v = index === null || index === undefined ? null : variations[index];
  return v ? `everyone gets ${variationLabel(v)}` : "the application's own default";
}

// The server's `serves_when_off` ({variation: key, value} or null) named as `variations` name it.
function servesWhenOffLabel(variations, serves) {
  if (!serves) return null;
  const v = variations.find((x) => x.key === serves.variation);
  return v ? variationLabel(v) : `${serves.variation} (${JSON.stringify(serves.value)})`;
}

// What turning a flag off (or killing it) serves in `env`, said before it is done, from the
// server's `serves_when_off`.
function offEffect(variations, serves, env) {
  const label = servesWhenOffLabel(variations, serves);
  return label ? `Everyone in ${env} will get ${label}.` : `Applications in ${env} will get the application's own default.`;
}

// A link to `path` in the shown project and environment (app.js's `href` where it exists).
function link(path, params) {
  if (typeof href === "function") return href(path, params);
  const query = new URLSearchParams(params || {}).toString();
  return `#${path}${query ? `?${query}` : ""}`;
}

function hashParams() { return new URLSearchParams(location.hash.split("?")[1] || ""); }

// Sets one parameter of the shown address without re-rendering: a tab switch keeps the edits.
function replaceHashParam(name, value) {
  const [path, query] = location.hash.split("?");
  const params = new URLSearchParams(query || "");
  params.set(name, value);
  history.replaceState(history.state, "", `${path}?${params}`);
  main().dataset.shown = location.hash;
  // app.js ignores a hashchange to the address it shows: keep that address current.
  try { shownHash = location.hash; } catch (_) { /* an app.js without it */ }
}

// A modal dialog of this page: resolves true when `ok` is pressed. `ready()` (when given)
// keeps `ok` disabled until it holds, e.g. until a name is typed.
function askInDialog({ title, body, ok, okClass, ready }) {
  const okButton = h("button", { type: "submit", value: "ok", class: okClass }, ok);
  const dialog = h("dialog", { class: "flag-dialog", "aria-labelledby": "flag-dialog-title" },
    h("form", { method: "dialog" }, h("h2", { id: "flag-dialog-title" }, title), ...body,
      h("menu", {}, h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel"), okButton)));
  if (ready) {
    okButton.disabled = !ready();
    dialog.addEventListener("input", () => { okButton.disabled = !ready(); });
  }
  document.body.append(dialog);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "ok"); }, { once: true }));
}

// A flag's targeting in one environment as the targeting PUT takes it (lists never left out).
function targetingBody(t) {
  return JSON.parse(JSON.stringify({ on: t.on, off_variation: t.off_variation ?? null, prerequisites: t.prerequisites || [],
    targets: t.targets || [], rules: t.rules || [], fallthrough: t.fallthrough }));
}

// A flag's definition as the flag PUT takes it, every editable field present, so before and
// after compare field by field.
function definitionBody(d) {
  const body = JSON.parse(JSON.stringify(d));
  delete body.environments; delete body.version;
  for (const k of ["name", "description", "owner", "remove_by", "json_schema", "off_variation"]) body[k] = body[k] ?? null;
  body.tags = body.tags || [];
  body.temporary = !!body.temporary;
  body.client_visible = !!body.client_visible;
  return body;
}

async function flagView(key) {
  const path = `${envPath()}/flags/${encodeURIComponent(key)}`, definitionPath = `${projectPath()}/flags/${encodeURIComponent(key)}`;
  const [flag, definition] = await Promise.all([api("GET", path), api("GET", definitionPath)]);
  const [may, mayDefine, mayRelease] = await Promise.all([permissions(`proj/${state.project}:env/${state.env}:flag/${key}`),
    permissions(`proj/${state.project}:flag/${key}`), permissions(`proj/${state.project}:env/${state.env}:release/new`)]);
  const refused = ["flag:toggle", "flag:update"].filter((action) => !may(action));
  // Offered to `segment_match` clauses and as a release's audience.
  const segments = await api("GET", `${envPath()}/segments`).catch(() => []);
  const before = targetingBody(flag), working = targetingBody(flag);
  // The off variation here, as the targeting holds it; what it serves, as the server says.
  const off = flag.off_variation ?? null;
  const offLabel = servesWhenOffLabel(flag.variations, flag.serves_when_off);
  state.dirty = false;
  const unsaved = h("span", { id: "unsaved", class: "muted", role: "status" }, "No unsaved changes.");
  const markDirty = () => { state.dirty = true; unsaved.textContent = "Unsaved changes: review and save them."; };
  const variationOptions = flag.variations.map((v, i) => [i, variationLabel(v)]);

  // The state line: on or off here, what off serves, and the ordinary Turn on / Turn off.
  const toggle = h("button", { type: "button", class: flag.on ? null : "primary", onclick: async () => {
    const verb = flag.on ? "OFF" : "ON";
    const effect = flag.on
      ? offEffect(flag.variations, flag.serves_when_off, state.env)
      : `${plural(before.rules.length, "rule")} and ${plural(before.targets.reduce((n, t) => n + t.values.length, 0), "individual target")} apply; everyone else gets ${describeServe(flag.fallthrough, flag.variations)}.`;
    if (!(await confirmAction(`Turn ${key} ${verb} in ${state.env}? ${effect}${discardNote()}`, state.env))) return;
    try { await api("POST", `${path}/toggle`, { on: !flag.on }); route(); }
    catch (error) { showError(error); }
  } }, flag.on ? `Turn off in ${state.env}` : `Turn on in ${state.env}`);
  const stateLine = h("p", { id: "flag-state", class: "state-line" }, `In ${state.env}: `,
    flag.on ? h("strong", { class: "on state-on" }, "ON") : h("strong", { class: "off state-off" }, "OFF"),
    " · ", h("span", { id: "off-serving" }, `Off: ${offLabel ? `everyone gets ${offLabel}` : "the application's own default"}`),
    ` · version ${flag.version}`, definition.description ? ` · ${definition.description}` : "", " ", gate(toggle, may, "flag:toggle"));

  // Kill is for emergencies: apart from Turn off, one confirmation even in a critical environment.
  const kill = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmAction(`Kill ${key} in ${state.env}? ${offEffect(flag.variations, flag.serves_when_off, state.env)} Its active releases in ${state.env} are aborted.${discardNote()}`))) return;
    try {
      const killed = await api("POST", `${path}/kill`, {});
      if (killed && !killed.change_request) {
        const got = killed.serves_when_off, named = got && flag.variations.find((v) => v.key === got.variation);
        const gets = !got ? "applications now get their own default value" : `everyone now gets ${named ? variationLabel(named) : `${got.variation} (${JSON.stringify(got.value)})`}`;
        const aborted = (killed.aborted_releases || []).length ? ` Aborted ${plural(killed.aborted_releases.length, "release")}: ${killed.aborted_releases.join(", ")}.` : "";
        state.notice = `Killed ${key} in ${state.env}: ${gets}.${aborted}`;
      }
      route();
    } catch (error) { showError(error); }
  } }, `Kill in ${state.env}`);
  const emergency = h("section", { class: "card emergency", id: "emergency", "aria-labelledby": "emergency-title" },
    h("h2", { id: "emergency-title" }, "Emergency"),
    h("p", {}, `Kill turns ${key} off in ${state.env} at once, with one confirmation, and aborts its active releases there.`),
    h("div", { class: "row" }, gate(kill, may, "flag:toggle")),
    h("details", { id: "kill-triggers" }, h("summary", {}, `Kill triggers in ${state.env}`),
      may("trigger:read") ? gate(await triggersEditor(key), may, "trigger:create") : h("p", { class: "muted" }, "Your access does not allow trigger:read here.")));

  // Targeting in this environment.
  const offSelect = select("off variation", [...(off === null ? [["", "the application's own default"]] : []), ...variationOptions],
    off ?? "", { id: "off-variation", "aria-label": null, onchange: (e) => {
      working.off_variation = e.target.value === "" ? null : Number(e.target.value); markDirty();
    } });
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
  const fallthrough = serveEditor(working.fallthrough, variationOptions, (serve) => { working.fallthrough = serve; markDirty(); }, "fallthrough");
  const definitionEdit = definitionEditor(definition, markDirty);

  // Settings: archive or restore, delete.
  const settingsBox = h("div", {}, definitionEdit.settings,
    h("h3", {}, "Archive or delete"),
    h("div", { class: "row" }, lifecycleButton(key, definition, mayDefine), deleteFlagButton(key, definitionPath, mayDefine)));

  const panels = {
    targeting: [h("h2", {}, `Targeting in ${state.env}`),
      gate(h("div", {},
        h("div", { class: "row" }, h("label", { for: "off-variation" }, `When off in ${state.env}, serve`), offSelect),
        h("h3", {}, "Individual targets"), ...targets,
        h("h3", {}, "Rules"), rulesBox,
        h("h3", {}, "Everyone else"), fallthrough,
        h("h3", {}, "Prerequisites"), prereqs), may, "flag:update"),
      segmentKeysList(segments),
      h("h3", {}, `Scheduled changes in ${state.env}`), await flagSchedules(key, flag, may),
      h("h3", {}, "In every environment"), environmentsOverview(definition)],
    variations: [h("h2", {}, "Variations (all environments)"), gate(definitionEdit.variations, mayDefine, "flag:update")],
    settings: [h("h2", {}, "Settings (all environments)"), gate(settingsBox, mayDefine, "flag:update")],
  };
  // Read when first shown: each needs requests of its own.
  const lazy = {
    releases: () => flagReleases(key, flag, segments, mayRelease),
    insights: () => flagInsights(key, flag),
    history: () => flagHistory(key),
  };

  const review = gate(h("button", { type: "button", class: "primary", id: "review-and-save", onclick: () => reviewAndSave() }, "Review and save"),
    (action) => may(action) || mayDefine(action), "flag:update");
  async function reviewAndSave() {
    if (main().querySelector("[aria-invalid=true]")) return showError(new Error("Fix the invalid values first."), saveBar);
    const definitionBefore = definitionBody(definition), definitionAfter = definitionEdit.body();
    const changes = [];
    if (JSON.stringify(definitionBefore) !== JSON.stringify(definitionAfter)) changes.push(["definition", "Settings and variations (all environments)", definitionBefore, definitionAfter]);
    if (JSON.stringify(before) !== JSON.stringify(working)) changes.push(["targeting", `Targeting in ${state.env}`, before, working]);
    if (!changes.length) { unsaved.textContent = "Nothing to save: no changes."; return; }
    // The changes in words first (audit.js's describers), then the diffs.
    const words = [];
    if (changes.some(([part]) => part === "definition") && typeof flagChanges === "function") words.push(...flagChanges(definitionBefore, definitionAfter).map((w) => `Settings and variations: ${w}`));
    if (changes.some(([part]) => part === "targeting") && typeof targetingChanges === "function") words.push(...targetingChanges(before, working, flag.variations).map((w) => `In ${state.env}: ${w}`));
    const shifts = variationShifts(definition, definitionEdit.moved(), definitionAfter, changes.some(([part]) => part === "targeting") ? working : null);
    if (shifts.removed.length) {
      const refusal = showError(new Error(`Not saved: environments still use a variation you removed. Choose another variation there first (or keep it). ${shifts.removed.join("; ")}.`), saveBar);
      if (refusal) refusal.id = "variation-refusal";
      return;
    }
    const comment = h("textarea", { id: "review-comment", rows: 3, "aria-label": "Comment", "aria-describedby": "review-comment-hint", autofocus: true });
    const confirmed = await askInDialog({ title: `Review changes to ${key}`, ok: "Save changes", okClass: "primary", body: [
      words.length ? h("ul", { class: "review-words", "aria-label": "The changes in words" }, words.map((w) => h("li", {}, w))) : null,
      shifts.shifted.length ? h("section", { class: "review-shifts notice", "aria-label": "Environments whose serving changes meaning" },
        h("p", {}, "Environments choose variations by position: after this change these choices name other variations."),
        h("ul", {}, shifts.shifted.map((w) => h("li", {}, w)))) : null,
      ...changes.map(([, title, was, now]) => h("section", { class: "review-part", "aria-label": title }, h("h3", {}, title), diff(was, now))),
      h("label", { for: "review-comment" }, "Comment"), comment,
      h("p", { class: "muted", id: "review-comment-hint" }, "Optional: why, for the audit log and the flag's history.")] });
    if (!confirmed) return;
    const note = comment.value.trim() || undefined;
    const done = [];
    try {
      for (const [part] of changes) {
        if (part === "definition") await api("PUT", definitionPath, Object.assign({}, definitionAfter, { version: definition.version, comment: note }));
        else await api("PUT", path, Object.assign({}, working, { version: flag.version, comment: note }));
        done.push(part);
      }
    } catch (error) {
      const shown = showError(error);
      if (done.length) shown.textContent += " The settings and variations were saved; the targeting was not.";
      return;
    }
    state.dirty = false;
    // A change held for approval took no effect: the notice says where it waits.
    if (state.notice) return route();
    return saved(`Changes to ${key}`);
  }
  const saveBar = h("div", { class: "row save-bar" }, review, unsaved);

  const wanted = hashParams().get("tab");
  let current = FLAG_TABS.some(([id]) => id === wanted) ? wanted : "targeting";
  const tabs = {}, panelBoxes = {}, loaded = {};
  for (const [id, label] of FLAG_TABS) {
    tabs[id] = h("button", { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`, onclick: () => show(id, true), onkeydown: (e) => {
      const at = FLAG_TABS.findIndex(([t]) => t === id);
      const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: FLAG_TABS.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      const next = FLAG_TABS[(to + FLAG_TABS.length) % FLAG_TABS.length][0];
      show(next, true);
      tabs[next].focus();
    } }, label);
    panelBoxes[id] = h("section", { role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`, tabindex: "0" }, ...(panels[id] || [h("p", { class: "muted" }, "Loading…")]));
  }
  async function show(id, chosen) {
    current = id;
    for (const [t] of FLAG_TABS) {
      tabs[t].setAttribute("aria-selected", String(t === id));
      tabs[t].tabIndex = t === id ? 0 : -1;
      panelBoxes[t].hidden = t !== id;
    }
    if (chosen) replaceHashParam("tab", id);
    if (!lazy[id] || loaded[id]) return;
    loaded[id] = true;
    busy(1);
    try { panelBoxes[id].replaceChildren(...[].concat(await lazy[id]())); }
    catch (error) { panelBoxes[id].replaceChildren(h("p", { class: "error" }, error.status === 403 ? `Permission denied: ${error.message}` : error.message)); }
    finally { busy(-1); }
  }
  await show(current, false);

  page(`Flag ${key}`, stateLine,
    refused.length ? h("p", { class: "notice", id: "read-only" }, `Read-only for you in ${state.env}: your access does not allow ${refused.join(" or ")} on this flag.`) : null,
    definition.archived ? h("p", { class: "notice", id: "archived" }, `${key} is archived: no SDK, relay or OFREP client sees it. Restore it (Settings) to serve it again.`) : null,
    emergency, saveBar,
    h("div", { role: "tablist", class: "tabs", "aria-label": `Sections of flag ${key}` }, FLAG_TABS.map(([id]) => tabs[id])),
    FLAG_TABS.map(([id]) => panelBoxes[id]));
}

// Deletes a flag in every environment once its key is typed.
function deleteFlagButton(key, definitionPath, mayDefine) {
  return gate(h("button", { type: "button", class: "danger", onclick: async () => {
    const typed = h("input", { id: "delete-typed", autocomplete: "off", autofocus: true });
    const note = h("input", { id: "delete-comment", size: 30 });
    const confirmed = await askInDialog({ title: `Delete flag ${key}?`, ok: `Delete ${key}`, okClass: "danger", ready: () => typed.value === key, body: [
      h("p", {}, `This deletes ${key} with its targeting in every environment; it cannot be undone. Applications asking for it get their own default value. Archive it instead to keep it for a restore.`),
      h("p", {}, h("label", { for: "delete-typed" }, `Type ${key} to confirm`), " ", typed),
      h("p", {}, h("label", { for: "delete-comment" }, "Comment on deleting"), " ", note)] });
    if (!confirmed) return;
    const comment = note.value.trim();
    try {
      await api("DELETE", `${definitionPath}${comment ? `?${new URLSearchParams({ comment })}` : ""}`);
      state.dirty = false;
      state.notice = `Deleted flag ${key}.`;
      location.hash = link("/flags");
    } catch (error) { showError(error); }
  } }, "Delete flag"), mayDefine, "flag:delete");
}

// This flag's releases here (each linked to its page), starting one, and its waves.
async function flagReleases(key, flag, segments, mayRelease) {
  const releases = await api("GET", `${envPath()}/releases`).catch(() => null);
  const ours = (releases || []).filter((r) => r.flag === key);
  return [h("h2", {}, `Releases of ${key} in ${state.env}`),
    releases === null ? h("p", { class: "muted" }, "Your access does not allow release:read here.")
      : table(ours, [["Release", (r) => h("a", { href: link(`/release/${r.id}`) }, `Release ${r.id}`)], ["Variation", (r) => r.variation],
        ["State", (r) => r.state], ["Stage", (r) => `${r.stage + 1} of ${r.stages.length}`]], `No releases of ${key} in ${state.env} yet.`),
    h("h3", {}, `Start a guarded release in ${state.env}`), gate(await releaseStarter(key, flag, segments), mayRelease, "release:create"),
    h("h3", {}, "Waves across environments"), await flagReleasePlans(key)];
}

// Evaluations, exposed contexts and whether the flag is stale here.
async function flagInsights(key, flag) {
  const stale = await staleReport().catch(() => null);
  const why = stale && stale.get(key);
  return [h("h2", {}, `Stale in ${state.env}?`),
    h("p", { id: "stale-status" }, stale === null ? "The stale report could not be read." : why ? `Stale: ${why}.` : `Not stale in ${state.env}.`),
    h("h2", {}, "Exposures over time"), await exposuresChart(key, flag.variations),
    h("h2", {}, "Exposed contexts"), await exposedContexts(key, flag.variations)];
}

// The flag's history: audit.js's readable list, or the plain records where it is missing.
async function flagHistory(key) {
  const everything = h("p", {}, h("a", { href: link("/audit", { flag: key }) }, `${key} in the audit log, with its filters`));
  if (typeof historyList === "function") return [h("h2", {}, `History of ${key}`), await historyList({ project: state.project, flag: key }), everything];
  const resources = [`proj/${state.project}:flag/${key}`, `proj/${state.project}:env/${state.env}:flag/${key}`];
  const pages = await Promise.all(resources.map((r) => api("GET", `/audit?${new URLSearchParams({ resource: r, limit: "50" })}`)));
  const records = pages.flatMap((p) => p.records).sort((a, b) => b.seq - a.seq);
  const item = (r) => (typeof auditRecord === "function" ? auditRecord(r)
    : h("li", {}, `${time(r.at_ms)} ${r.action} ${r.resource} ${r.actor.account || r.actor.id}${r.comment ? ` — ${r.comment}` : ""}`));
  return [h("h2", {}, `History of ${key}`), records.length ? h("ul", { id: "audit" }, records.map(item)) : h("p", { class: "muted" }, "No records.")];
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
    if (state.dirty && !(await confirmAction(`Create a kill trigger for ${key} in ${state.env}?${discardNote()}`))) return;
    try {
      const created = await api("POST", path, { description: e.target.description.value || undefined });
      showSecret(`Trigger created. POST to this URL to kill ${key} in ${state.env}; it is shown once:`, `${location.origin}${created.url}`);
      route();
    } catch (error) { showError(error, form); }
  } }, h("label", {}, "Trigger description ", h("input", { name: "description", placeholder: "e.g. PagerDuty checkout alert" })),
    h("button", { type: "submit" }, "Create kill trigger"));
  return h("div", {}, form, h("ul", {}, triggers.map((t) => h("li", {}, `${t.id} ${t.description || ""} (created ${time(t.created_ms)}) `,
    h("button", { type: "button", onclick: async () => {
      if (!(await confirmAction(`Delete kill trigger ${t.id} of ${key}?${discardNote()}`))) return;
      try { await api("DELETE", `${path}/${t.id}`); route(); } catch (error) { showError(error); }
    } }, `Delete trigger ${t.id}`)))));
}

// A project may hold thousands of flags: the flags offered are searched as you type (20 at a
// time), and only the flags named are read for their variations.
async function prerequisitesEditor(key, working, markDirty) {
  const box = h("div", {});
  const known = new Map();
  const definitionOf = async (flagKey) => {
    if (!known.has(flagKey)) known.set(flagKey, await api("GET", `${projectPath()}/flags/${encodeURIComponent(flagKey)}`).catch(() => null));
    return known.get(flagKey);
  };
  await Promise.all(working.prerequisites.map((p) => definitionOf(p.key)));
  const variationsOf = (flagKey) => (known.get(flagKey) || { variations: [] }).variations;
  const render = () => {
    const rows = working.prerequisites.map((p, i) => h("div", { class: "row" },
      `Requires ${p.key} to serve ${p.variations.map((v) => (variationsOf(p.key)[v] ? variationLabel(variationsOf(p.key)[v]) : v)).join(" or ")}`,
      h("button", { type: "button", onclick: () => { working.prerequisites.splice(i, 1); markDirty(); render(); } }, `Remove prerequisite ${p.key}`)));
    const suggestions = h("datalist", { id: "prerequisite-flags" });
    let searching = 0;
    const flagInput = h("input", { list: "prerequisite-flags", size: 24, "aria-label": "prerequisite flag", placeholder: "search flags", oninput: async () => {
      const mine = ++searching;
      const found = await api("GET", `${projectPath()}/flags?${new URLSearchParams({ q: flagInput.value.trim(), limit: "20" })}`).catch(() => []);
      if (mine !== searching) return;
      suggestions.replaceChildren(...found.filter((f) => f.key !== key).slice(0, 20).map((f) => h("option", { value: f.key }, f.name || "")));
    }, onchange: async () => {
      const chosen = flagInput.value.trim();
      const definition = chosen && chosen !== key ? await definitionOf(chosen) : null;
      variationSelect.replaceChildren(...(definition ? definition.variations.map((v, i) => h("option", { value: i }, variationLabel(v))) : []));
    } });
    const variationSelect = select("prerequisite variation", [], "");
    const add = h("button", { type: "button", onclick: () => {
      const chosen = flagInput.value.trim();
      if (!chosen || !known.get(chosen) || variationSelect.value === "") return showError(new Error("Choose an existing flag and one of its variations."), box);
      working.prerequisites.push({ key: chosen, variations: [Number(variationSelect.value)] });
      markDirty(); render();
    } }, "Add prerequisite");
    box.replaceChildren(...(rows.length ? rows : [h("p", { class: "muted" }, "None.")]), h("div", { class: "row" }, flagInput, suggestions, variationSelect, add));
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
      h("button", { type: "button", "aria-label": `Remove clause (${name})`, onclick: () => { clauses.splice(c, 1); markDirty(); rerender(); } }, "Remove clause"));
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

// A flag's shared definition, edited on two tabs: variations (values validated as you type)
// with the schema and the off variation they inherit, and settings. `body()` is the flag PUT.
function definitionEditor(definition, markDirty) {
  const flag = definitionBody(definition);
  // Each variation's index before the edit: environments name variations by index, so a
  // removal or a reorder changes what they serve.
  const origin = new Map(flag.variations.map((v, i) => [v, i]));
  let schema = flag.json_schema;
  const field = (name, label, value, attrs) => h("div", { class: "row" }, h("label", { for: `flag-${name}` }, label),
    h("input", Object.assign({ id: `flag-${name}`, name, value: value ?? "", size: 40 }, attrs || {})));
  const valueProblem = (value) => {
    // These kinds are also JavaScript's names for their values' types; JSON admits any value.
    const expected = flag.kind === "json" ? null : flag.kind;
    if (expected && typeof value !== expected) return `must be a ${expected}`;
    return schemaProblem(value, schema, "");
  };
  const offBox = h("div", {});
  // Environments never edited (targeting version 0) follow the flag's off variation; the
  // others keep the one they chose, whatever this says.
  const envs = Object.entries(definition.environments || {});
  const following = envs.filter(([, t]) => t.version === 0).map(([env]) => env);
  const own = envs.filter(([, t]) => t.version !== 0).map(([env, t]) => `${env} serves ${offServing(definition.variations, t.off_variation).replace(/^everyone gets /, "")}`);
  const renderOff = () => offBox.replaceChildren(h("div", { class: "row" }, h("label", { for: "flag-off-variation" }, "Served when off, unless an environment chooses another"),
    select("flag off variation", [...(flag.off_variation === null ? [["", "the application's own default"]] : []), ...flag.variations.map((v) => [v.key, variationLabel(v)])],
      flag.off_variation ?? "", { id: "flag-off-variation", "aria-label": null, onchange: (e) => { flag.off_variation = e.target.value || null; markDirty(); } })),
    h("p", { class: "muted", id: "off-followers" },
      following.length ? `Followed by ${following.join(", ")} (never edited there). ` : "No environment follows it: each has chosen its own. ",
      own.length ? `Keeping their own choice when off: ${own.join("; ")}.` : ""));
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
    const input = h("input", { class: "variation-value", value: flag.kind === "string" ? v.value : JSON.stringify(v.value), size: 30, readonly: flag.kind === "boolean", "aria-label": `value of variation ${v.key || i + 1}`, "aria-describedby": `variation-${i}-problem`, oninput: (e) => { check(e.target); markDirty(); } });
    return h("div", { class: "row" },
      // Renaming the flag's off variation renames what it serves when off, too.
      h("input", { value: v.key, size: 10, "aria-label": `key of variation ${i + 1}`, oninput: (e) => {
        if (flag.off_variation === v.key) flag.off_variation = e.target.value.trim();
        v.key = e.target.value.trim();
        markDirty();
        renderOff();
      } }),
      h("input", { value: v.name || "", size: 16, placeholder: "name (optional)", "aria-label": `name of variation ${i + 1}`, oninput: (e) => {
        if (e.target.value.trim()) v.name = e.target.value.trim(); else delete v.name;
        markDirty();
        renderOff();
      } }),
      input, message,
      flag.variations.length > 2 ? h("button", { type: "button", onclick: () => { flag.variations.splice(i, 1); markDirty(); renderVariations(); } }, `Remove variation ${v.key}`) : null);
  }), flag.kind === "boolean" ? h("span", {}) : h("button", { type: "button", onclick: () => {
    const blank = { string: "", number: 0, json: {} }[flag.kind];
    flag.variations.push({ key: `variation-${flag.variations.length + 1}`, value: blank }); markDirty(); renderVariations();
  } }, "Add variation"));
  renderVariations();
  renderOff();
  const schemaProblemText = h("span", { class: "invalid", "aria-live": "polite" });
  const schemaInput = flag.kind === "json" ? [h("label", { for: "flag-schema" }, "JSON schema for values (optional)"),
    h("textarea", { id: "flag-schema", rows: 4, oninput: (e) => {
      try { schema = e.target.value.trim() ? JSON.parse(e.target.value) : null; schemaProblemText.textContent = ""; e.target.setAttribute("aria-invalid", "false"); }
      catch (_) { schemaProblemText.textContent = "not valid JSON"; e.target.setAttribute("aria-invalid", "true"); }
      for (const input of variationsBox.querySelectorAll(".variation-value")) input.dispatchEvent(new Event("input"));
      markDirty();
    } }, schema ? JSON.stringify(schema, null, 2) : ""), schemaProblemText] : [];
  const settings = h("div", {},
    field("name", "Name", flag.name), field("description", "Description", flag.description),
    field("tags", "Tags (comma separated)", flag.tags.join(", ")), field("owner", "Owner", flag.owner),
    h("div", { class: "row" }, h("label", {}, h("input", { type: "checkbox", name: "temporary", checked: flag.temporary }), " Temporary (a release flag, to be removed)"),
      h("label", {}, h("input", { type: "checkbox", name: "client_visible", checked: flag.client_visible }), " Visible to client-side SDKs")),
    field("remove_by", "Planned removal (a temporary flag's remove-by day)", flag.remove_by, { type: "date" }));
  settings.addEventListener("input", markDirty);
  const variations = h("div", {}, variationsBox, offBox, ...schemaInput);
  const body = () => {
    const input = (name) => settings.querySelector(`[name=${name}]`);
    const text = (name) => input(name).value.trim() || null;
    return Object.assign(JSON.parse(JSON.stringify(flag)), { name: text("name"), description: text("description"), owner: text("owner"),
      tags: input("tags").value.split(",").map((t) => t.trim()).filter(Boolean), temporary: input("temporary").checked,
      remove_by: text("remove_by"), client_visible: input("client_visible").checked, json_schema: schema ?? null });
  };
  // For each variation index before the edit, its index now (-1: removed).
  const moved = () => definition.variations.map((_, i) => flag.variations.findIndex((v) => origin.get(v) === i));
  return { variations, settings, body, moved };
}

// The variation indices a targeting uses, each with where: [[index, "the off variation"], …].
function variationUses(t) {
  const uses = [];
  const serve = (s, where) => {
    if (!s) return;
    if (s.variation !== undefined) uses.push([s.variation, where]);
    if (s.rollout) for (const w of s.rollout.variations || []) if (w.weight > 0) uses.push([w.variation, where]);
  };
  if (t.off_variation !== null && t.off_variation !== undefined) uses.push([t.off_variation, "when off"]);
  for (const target of t.targets || []) uses.push([target.variation, `individual targets (${target.values.slice(0, 3).join(", ")}${target.values.length > 3 ? ", …" : ""})`]);
  (t.rules || []).forEach((r, i) => serve(r.serve, `rule ${r.description ? `“${r.description}”` : i + 1}`));
  serve(t.fallthrough, "everyone else");
  return uses;
}

// What a variations edit does to the environments that chose variations by index (edited
// ones: never-edited ones follow the flag by key). `removed` lists those still using a removed
// variation (the save is refused), `shifted` those whose index now names another variation.
function variationShifts(definition, moved, after, targetingHere) {
  const removed = [], shifted = [];
  for (const [env, stored] of Object.entries(definition.environments || {})) {
    if (stored.version === 0) continue;
    const t = env === state.env && targetingHere ? targetingHere : stored;
    for (const [i, where] of variationUses(t)) {
      const was = definition.variations[i];
      if (!was) continue;
      if (moved[i] === -1) removed.push(`${env}: ${where} uses ${variationLabel(was)}, which is removed`);
      else if (moved[i] !== i) {
        const now = after.variations[i];
        shifted.push(`${env}: ${where} served ${variationLabel(was)}, and would serve ${now ? variationLabel(now) : "nothing (no such variation)"}`);
      }
    }
  }
  return { removed: [...new Set(removed)], shifted: [...new Set(shifted)] };
}

async function exposuresChart(key, variations) {
  let points;
  try { points = await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}/evaluations`); }
  catch (error) { return h("p", { class: "muted" }, error.message); }
  if (!points.length) return h("p", { class: "muted" }, "No evaluations reported in the last 24 hours.");
  const minutes = [...new Set(points.map((p) => p.minute_ms))].sort((a, b) => a - b);
  const byVariation = new Map();
  for (const p of points) {
    const k = p.variation || "(default)", counts = byVariation.get(k) || new Map();
    counts.set(p.minute_ms, (counts.get(p.minute_ms) || 0) + p.count);
    byVariation.set(k, counts);
  }
  // Named as the Variations tab names them; a minute without a report for one is a zero.
  const named = (k) => { const v = (variations || []).find((x) => x.key === k); return v ? variationLabel(v) : k; };
  const series = [...byVariation].map(([k, counts], i) => ({ label: named(k), color: `series-${i % 6}`,
    points: minutes.map((m) => [m, counts.get(m) || 0]) }));
  const totals = series.map((s) => `${s.label}: ${s.points.reduce((n, p) => n + p[1], 0)}`).join(", ");
  const t0 = minutes[0], t1 = Math.max(minutes[minutes.length - 1], t0 + 60000);
  return h("figure", { id: "exposures" }, timeChart({ id: "exposures-chart", title: `Evaluations of ${key} per minute by variation`,
    summary: `Evaluations of ${key} per minute by variation in ${state.env}, ${minutes.length} minutes with data`,
    unit: "Evaluations per minute", format: (v) => `${+v.toPrecision(3)}`, t0, t1, series }),
  h("figcaption", {}, `Evaluations per minute by variation in ${state.env} over the last 24 hours; totals: ${totals}.`));
}

