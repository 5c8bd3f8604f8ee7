// Switchyard console: the audit log as people read it. A classic script sharing the page's
// globals (app.js loads first). `historyList(filters)` is the readable, paged history the audit
// page and a flag's History tab show; `diff(before, after)` is shared with the flag page's review.
"use strict";

// ---- diff ----------------------------------------------------------------------------------

// Lines of a diff shown before "Show all": a record of a large flag or import can have tens of
// thousands, and the page must stay responsive.
const DIFF_LINES_SHOWN = 200;

// Beyond this many changed lines the line diff is not worth its time: the lines removed and
// added are listed as sets instead (an import or a huge segment), which is quick at any size.
const DIFF_MAX_CHANGES = 20000;
// Unchanged lines shown around each change.
const DIFF_CONTEXT = 3;

// The edit script turning lines `a` into lines `b` (each a string array): [["=", line] |
// ["-", line] | ["+", line]], or null when it needs more than DIFF_MAX_CHANGES changes or too
// much work. Myers' O((N+M)D) algorithm in linear space (the middle snake, divided and
// conquered), over line numbers rather than strings.
function lineEdits(a, b) {
  if (Math.abs(a.length - b.length) > DIFF_MAX_CHANGES) return null;
  const ids = new Map(), number = (lines) => Int32Array.from(lines, (l) => {
    let id = ids.get(l);
    if (id === undefined) ids.set(l, (id = ids.size));
    return id;
  });
  const A = number(a), B = number(b);
  const size = A.length + B.length + 3;
  const forward = new Int32Array(size), backward = new Int32Array(size);
  let work = 0;
  const WORK_LIMIT = 50000000;
  const ops = [];
  // The middle snake of A[aLo, aHi) against B[bLo, bHi), both non-empty: [x0, y0, x1, y1] in
  // the sub-problem's coordinates (x1 - x0 === y1 - y0 equal lines), or null when too costly.
  const middle = (aLo, aHi, bLo, bHi) => {
    const N = aHi - aLo, M = bHi - bLo, delta = N - M, odd = (delta & 1) !== 0;
    const max = Math.ceil((N + M) / 2), off = max + 1;
    forward[off + 1] = 0; backward[off + 1] = 0;
    for (let d = 0; d <= max; d++) {
      if (2 * d > DIFF_MAX_CHANGES + 1 || work > WORK_LIMIT) return null;
      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && forward[off + k - 1] < forward[off + k + 1]) ? forward[off + k + 1] : forward[off + k - 1] + 1;
        let y = x - k;
        const x0 = x, y0 = y;
        while (x < N && y < M && A[aLo + x] === B[bLo + y]) { x++; y++; }
        work += 1 + x - x0;
        forward[off + k] = x;
        const r = delta - k;
        if (odd && r >= -(d - 1) && r <= d - 1 && x + backward[off + r] >= N) return [x0, y0, x, y];
      }
      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && backward[off + k - 1] < backward[off + k + 1]) ? backward[off + k + 1] : backward[off + k - 1] + 1;
        let y = x - k;
        const x0 = x, y0 = y;
        while (x < N && y < M && A[aHi - 1 - x] === B[bHi - 1 - y]) { x++; y++; }
        work += 1 + x - x0;
        backward[off + k] = x;
        const f = delta - k;
        if (!odd && f >= -d && f <= d && x + forward[off + f] >= N) return [N - x, M - y, N - x0, M - y0];
      }
    }
    return null;
  };
  const walk = (aLo, aHi, bLo, bHi) => {
    while (aLo < aHi && bLo < bHi && A[aLo] === B[bLo]) { ops.push(["=", a[aLo]]); aLo++; bLo++; }
    let tail = 0;
    while (aLo < aHi - tail && bLo < bHi - tail && A[aHi - 1 - tail] === B[bHi - 1 - tail]) tail++;
    aHi -= tail; bHi -= tail;
    if (aLo === aHi) for (let j = bLo; j < bHi; j++) ops.push(["+", b[j]]);
    else if (bLo === bHi) for (let i = aLo; i < aHi; i++) ops.push(["-", a[i]]);
    else {
      const snake = middle(aLo, aHi, bLo, bHi);
      if (!snake) return false;
      const [x0, y0, x1, y1] = snake;
      if (!walk(aLo, aLo + x0, bLo, bLo + y0)) return false;
      for (let i = x0; i < x1; i++) ops.push(["=", a[aLo + i]]);
      if (!walk(aLo + x1, aHi, bLo + y1, bHi)) return false;
    }
    for (let i = aHi; i < aHi + tail; i++) ops.push(["=", a[i]]);
    return true;
  };
  if (!walk(0, A.length, 0, B.length)) return null;
  return ops;
}

// A diff of two values as people read one: their pretty-printed JSON, line by line, each
// change with DIFF_CONTEXT unchanged lines around it (longer unchanged runs folded to "⋯"), the
// first DIFF_LINES_SHOWN lines at once and the rest on request. Built with loops (no argument
// spreading: a huge array spread into a call overflows the stack).
function diff(before, after) {
  const a = JSON.stringify(before ?? null, null, 2).split("\n"), b = JSON.stringify(after ?? null, null, 2).split("\n");
  const edits = lineEdits(a, b);
  const lines = [];
  let changed = 0;
  if (edits) {
    // Which unchanged lines are near a change.
    const near = new Uint8Array(edits.length);
    for (let i = 0; i < edits.length; i++) {
      if (edits[i][0] === "=") continue;
      for (let j = Math.max(0, i - DIFF_CONTEXT); j <= Math.min(edits.length - 1, i + DIFF_CONTEXT); j++) near[j] = 1;
    }
    for (let i = 0; i < edits.length; i++) {
      const [op, line] = edits[i];
      if (op === "-") { lines.push(["diff-del", `- ${line}`]); changed++; }
      else if (op === "+") { lines.push(["diff-add", `+ ${line}`]); changed++; }
      else if (near[i]) lines.push(["diff-same", `  ${line}`]);
      else if (!lines.length || lines[lines.length - 1][1] !== "  ⋯") lines.push(["diff-gap muted", "  ⋯"]);
    }
  } else {
    // Too many changes for a line diff: the lines removed and the lines added, as sets.
    const inA = new Set(a), inB = new Set(b);
    for (const l of a) if (!inB.has(l)) lines.push(["diff-del", `- ${l}`]);
    for (const l of b) if (!inA.has(l)) lines.push(["diff-add", `+ ${l}`]);
    changed = lines.length;
  }
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
  } }, `Show all ${changed} changed lines`);
  return h("div", {}, pre, more);
}

// ---- time ----------------------------------------------------------------------------------

// The reader's own time with its zone. (`dateStyle`/`timeStyle` cannot be combined with
// `timeZoneName`: Chromium throws, so the parts are named one by one.)
const LOCAL_TIME = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });

function zonedTime(ms) { return ms ? LOCAL_TIME.format(new Date(ms)) : ""; }

// A `<time>` element: the local time shown, the exact UTC instant machine-readable and on hover.
function timeElement(ms) {
  return h("time", { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, zonedTime(ms));
}

// "2026-12-06T14:05:10" as a datetime-local input gives it, read in the reader's zone. An end
// (`through`) takes in its whole second, or its whole minute when written without seconds (an
// address typed by hand: the form always writes them), and the API's `to` is exclusive, so the
// bound is the next second's (or minute's) start.
function localInputMs(text, through) {
  const ms = text ? new Date(text).getTime() : NaN;
  if (!Number.isFinite(ms)) return null;
  return through ? ms + (/T\d\d:\d\d:\d\d/.test(text) ? 1000 : 60000) : ms;
}

// ---- names ---------------------------------------------------------------------------------

// Looks up what a page of records names (flags' variations, releases' flags), each once per
// list: a page of 50 toggles of one flag reads that flag once.
function nameBook() {
  const cache = new Map();
  const once = (key, load) => {
    if (!cache.has(key)) cache.set(key, load().catch(() => null));
    return cache.get(key);
  };
  return {
    flag: (project, flag) => once(`flag ${project} ${flag}`, () => api("GET", `/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(flag)}`)),
    // The sequence numbers of the flag's definition changes that changed its variations (the
    // newest 50 definition changes looked at): a targeting record older than one of them named
    // variations by indices that meant something else then.
    variationChanges: (project, flag) => once(`variation changes ${project} ${flag}`, async () => {
      const resource = `proj/${project}:flag/${flag}`;
      const page = await api("GET", `/audit?${new URLSearchParams({ resource, action: "flag:update", limit: "50" })}`);
      return page.records.filter((x) => x.resource === resource && !same((x.before || {}).variations, (x.after || {}).variations)).map((x) => x.seq);
    }),
    release: (project, env, id) => once(`release ${project} ${env} ${id}`, () => api("GET", `/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(env)}/releases/${encodeURIComponent(id)}`)),
  };
}

// The parts of a resource path such as `proj/web:env/production:flag/checkout`:
// {project: "web", env: "production", flag: "checkout"}; accounts' tokens as {account, token}.
function resourceParts(resource) {
  const parts = {};
  for (const piece of String(resource || "").split(":")) {
    const slash = piece.indexOf("/");
    if (slash < 0) { parts[piece] = true; continue; }
    const kind = piece.slice(0, slash), key = piece.slice(slash + 1);
    parts[kind === "proj" ? "project" : kind] = key;
  }
  return parts;
}

// The person (or system part) behind a record: the server's `actor_name` when it sends one.
function actorName(r) {
  if (r.actor_name) return r.actor_name;
  const a = r.actor || {};
  if (a.kind === "release") return "guard";
  if (a.kind === "release_plan") return "release planner";
  if (a.kind === "trigger") return `trigger ${a.id}`;
  if (a.kind === "system") return a.id === "bootstrap" ? "Switchyard (first start)" : `Switchyard (${a.id})`;
  if (a.kind === "oidc") return a.name || a.subject || "single sign-on";
  return a.account || a.name || a.id || "someone";
}

function environmentName(project, env) {
  if (!env) return "";
  const known = project === state.project ? (state.envs || []).find((e) => e.key === env) : null;
  return known && known.name ? known.name : env;
}

// A variation by index, as "On" or, without a name, its key or value.
function variationName(variations, index) {
  const v = variations && variations[index];
  if (!v) return `variation ${index}`;
  return v.name || v.key || JSON.stringify(v.value);
}

// What a rule or the default rule serves: a variation's name, or a rollout's shares.
function serveLabel(variations, serve) {
  if (!serve) return "nothing";
  if (serve.variation !== undefined) return variationName(variations, serve.variation);
  if (serve.rollout) {
    const native = (serve.rollout.variations || []).reduce((sum, w) => sum + w.weight, 0) === 100000;
    return serve.rollout.variations.map((w) => `${variationName(variations, w.variation)} ${native ? `${w.weight / 1000} %` : `weight ${w.weight}`}`).join(" / ");
  }
  if (serve.release) return "a release's split";
  return "something else";
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

// The changes of one environment's targeting in words, with variation names.
function targetingChanges(before, after, variations) {
  const b = before || {}, a = after || {}, said = [];
  if (!!b.on !== !!a.on && before) said.push(`turned it ${a.on ? "on" : "off"}`);
  if (!same(b.off_variation, a.off_variation)) said.push(a.off_variation === null || a.off_variation === undefined ? "off now serves the application's default" : `off now serves ${variationName(variations, a.off_variation)}`);
  if (!same(b.fallthrough, a.fallthrough)) said.push(`the default rule now serves ${serveLabel(variations, a.fallthrough)}`);
  const rulesBefore = new Map((b.rules || []).map((r, i) => [r.id || `#${i + 1}`, r]));
  const rulesAfter = new Map((a.rules || []).map((r, i) => [r.id || `#${i + 1}`, r]));
  const ruleName = (id, r) => (r && r.description ? `“${r.description}” (${id})` : id);
  for (const [id, r] of rulesAfter) {
    const old = rulesBefore.get(id);
    if (!old) said.push(`added rule ${ruleName(id, r)} serving ${serveLabel(variations, r.serve)}`);
    else if (!same(old.serve, r.serve) && same(old.condition, r.condition)) said.push(`rule ${ruleName(id, r)} now serves ${serveLabel(variations, r.serve)}`);
    else if (!same(old, r)) said.push(`changed rule ${ruleName(id, r)}`);
  }
  for (const [id, r] of rulesBefore) if (!rulesAfter.has(id)) said.push(`removed rule ${ruleName(id, r)}`);
  const order = (m) => [...m.keys()].filter((k) => rulesBefore.has(k) && rulesAfter.has(k));
  if (!same(order(rulesBefore), order(rulesAfter))) said.push("reordered the rules");
  const targeted = (t) => new Map((t.targets || []).flatMap((x) => x.values.map((v) => [`${x.kind}:${v}`, x.variation])));
  const tb = targeted(b), ta = targeted(a);
  const added = [...ta].filter(([k, v]) => tb.get(k) !== v), removed = [...tb.keys()].filter((k) => !ta.has(k));
  if (added.length) said.push(`targeted ${added.slice(0, 3).map(([k, v]) => `${k.replace(/^user:/, "")} with ${variationName(variations, v)}`).join(", ")}${added.length > 3 ? ` and ${added.length - 3} more` : ""}`);
  if (removed.length) said.push(`untargeted ${removed.slice(0, 3).map((k) => k.replace(/^user:/, "")).join(", ")}${removed.length > 3 ? ` and ${removed.length - 3} more` : ""}`);
  if (!same(b.prerequisites, a.prerequisites)) said.push(`prerequisites now ${(a.prerequisites || []).map((p) => p.key).join(", ") || "none"}`);
  return said;
}

// The changes of a flag's project-level settings in words.
function flagChanges(before, after) {
  const b = before || {}, a = after || {}, said = [];
  const label = { variations: "variations", name: "name", description: "description", tags: "tags", schema: "JSON schema",
    off_variation: "default off variation", maintainer: "maintainer", temporary: "temporary mark", archived: "archived state" };
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (key === "version" || key === "salt" || same(b[key], a[key])) continue;
    if (key === "variations") {
      const names = (list) => (list || []).map((v) => v.name || v.key);
      said.push(same(names(b.variations), names(a.variations)) ? "changed the variations' values" : `variations now ${names(a.variations).join(", ")}`);
    } else said.push(`changed the ${label[key] || key.replace(/_/g, " ")}`);
  }
  return said;
}

// The evidence of a guard's decision: the breached guardrail's treated vs control rate.
function evidenceText(after) {
  const e = after && after.evidence;
  if (!e || !e.guardrails) return "";
  const g = e.guardrails.find((x) => x.breached) || null;
  if (!g) return "";
  if (g.kind === "mean" && g.treated_mean !== undefined) return `mean ${g.metric} ${fmt(g.treated_mean)} vs ${fmt(g.control_mean)}`;
  const evals = e.evaluations || {};
  const rate = (n, cohort) => (evals[cohort] ? `${fmt((100 * n) / evals[cohort])} %` : "–");
  return `${g.metric} rate ${rate(g.treated, "treated")} vs ${rate(g.control, "control")}`;
}

function fmt(x) {
  if (x === undefined || x === null || !Number.isFinite(x)) return "–";
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(2);
}

const RELEASE_VERBS = { "release:create": "created", "release:start": "started", "release:pause": "paused", "release:resume": "resumed",
  "release:advance": "advanced", "release:hold": "held", "release:complete": "completed", "release:abort": "aborted", "release:roll_back": "rolled back", "release:update": "changed" };
const CHANGE_REQUEST_VERBS = { "change-request:create": "asked for approval of", "change-request:revise": "revised", "change-request:approve": "approved",
  "change-request:reject": "rejected", "change-request:withdraw": "withdrew", "change-request:schedule": "scheduled", "change-request:update": "changed",
  "change-request:conflict": "could not apply (conflict)", "change-request:expire": "let expire", "change-request:fail": "failed to apply" };
const EXPERIMENT_VERBS = { "experiment:create": "created", "experiment:update": "changed", "experiment:start": "started", "experiment:stop": "stopped", "experiment:ship": "shipped the winner of" };
const PLAN_VERBS = { "release-plan:create": "created", "release-plan:advance": "advanced", "release-plan:complete": "completed", "release-plan:fail": "failed",
  "release-plan:pause": "paused", "release-plan:resume": "resumed", "release-plan:abort": "aborted", "release-plan:restore": "put back a wave of" };
const CRUD = { create: "created", update: "changed", delete: "deleted" };

// A flag record's sentence (without the person), or null for other actions.
function flagSentence(action, { a, b, r, env, flag, inEnv, variations, offServes }) {
  switch (action) {
    case "flag:toggle":
      if (a.on === undefined) return ["toggled ", flag, ...inEnv];
      return [`turned `, flag, ` ${a.on ? "on" : "off"}`, ...inEnv, a.on ? "" : offServes(a)];
    case "flag:kill": return ["killed ", flag, ...inEnv, offServes(a)];
    case "flag:create": return ["created flag ", flag, a.kind ? ` (${a.kind}${variations ? `: ${variations.map((v) => v.name || v.key).join(", ")}` : ""})` : ""];
    case "flag:delete": return ["deleted flag ", flag];
    case "flag:archive": return ["archived flag ", flag];
    case "flag:restore": return ["restored flag ", flag];
    case "flag:upgrade-off-variation": return ["made the off variation of ", flag, " explicit", ...inEnv, offServes(a)];
    case "flag:update": {
      if (!env) {
        const said = flagChanges(r.before, r.after);
        return ["changed flag ", flag, said.length ? `: ${said.join("; ")}` : " (no difference)"];
      }
      const said = targetingChanges(r.before, r.after, variations);
      return ["changed the targeting of ", flag, ...inEnv, said.length ? `: ${said.join("; ")}` : " (no difference)"];
    }
  }
  return null;
}

// A record as a sentence: a list of text and emphasised names, without the person (said first).
async function sentence(r, book) {
  const p = resourceParts(r.resource);
  const project = r.project || p.project, env = r.environment || p.env;
  const flagKey = r.flag || p.flag;
  const inEnv = env ? [" in ", strong(environmentName(project, env))] : [];
  const verb = r.action.split(":")[1] || r.action, noun = r.action.split(":")[0];
  const a = r.after || {}, b = r.before || {};
  // The record's own variations where it has them (a definition's create or update); else
  // today's, said to be today's when they have changed since the record.
  const own = a.variations || b.variations;
  const flagInfo = flagKey && project && !own ? await book.flag(project, flagKey) : null;
  const variations = own || (flagInfo && flagInfo.variations);
  let asNow = "";
  if (!own && flagInfo && env && noun === "flag") {
    const changes = await book.variationChanges(project, flagKey);
    if (changes && changes.some((seq) => seq > r.seq)) asNow = " (as the flag is now)";
  }
  const flag = flagKey ? strong(flagKey) : null;
  const offServes = (t) => {
    if (!t || t.off_variation === null || t.off_variation === undefined) return "";
    const v = variations && variations[t.off_variation];
    return `: everyone gets ${variationName(variations, t.off_variation)}${v ? ` (${JSON.stringify(v.value)})` : ""}`;
  };
  const said = flagSentence(r.action, { a, b, r, env, flag, inEnv, variations, offServes });
  if (said) return [...said, asNow];
  switch (r.action) {
    case "config:apply": {
      // Its `after` is the plan's list of changes.
      const changes = Array.isArray(a) ? a.length : Array.isArray(a.changes) ? a.changes.length : null;
      return ["applied a configuration", project ? [" to project ", strong(project)] : "", changes !== null ? ` (${plural(changes, "change")})` : ""];
    }
    case "account:sign-in": return ["signed in"];
    case "account:lockout": return ["was locked out after failed sign-ins"];
    case "audit:verify": return ["checked the audit chain"];
  }
  if (noun === "release") {
    const release = p.release && project && env ? await book.release(project, env, p.release) : null;
    const releaseFlag = (release && release.flag) || a.flag || flagKey;
    const stage = r.action === "release:advance" && a.stage_name ? ` to stage ${a.stage_name}` : "";
    const evidence = evidenceText(a);
    const did = r.action === "release:create" ? (a.state === "scheduled" ? "scheduled" : "started") : RELEASE_VERBS[r.action] || verb;
    return [`${did} the release of `, releaseFlag ? strong(releaseFlag) : `release ${p.release}`,
      release && release.variation && (r.action === "release:create" || r.action === "release:start") ? ` to ${release.variation}` : "", ...inEnv, stage, evidence ? ` (${evidence})` : ""];
  }
  if (noun === "release-plan") return [`${PLAN_VERBS[r.action] || verb} release plan `, strong(p["release-plan"] || ""), a.flag ? [" of ", strong(a.flag)] : ""];
  if (noun === "change-request") {
    const when = r.action === "change-request:schedule" && a.run_at_ms ? ` for ${zonedTime(a.run_at_ms)}` : "";
    return [`${CHANGE_REQUEST_VERBS[r.action] || verb} change request `, strong(p["change-request"] || ""), a.target ? [" (", strong(a.target), ")"] : "", ...inEnv, when];
  }
  if (noun === "experiment") return [`${EXPERIMENT_VERBS[r.action] || verb} experiment `, strong(p.experiment || ""), a.flag ? [" on ", strong(a.flag)] : "", ...inEnv];
  if (noun === "segment") return [`${CRUD[verb] || verb} segment `, strong(p.segment || ""), ...inEnv];
  if (noun === "sdk-key") return [`${CRUD[verb] || verb} an SDK key`, a.name ? [" ", strong(a.name)] : "", ...inEnv];
  if (noun === "token") return [`${CRUD[verb] || verb} an API token`, a.name ? [" ", strong(a.name)] : "", p.account ? [" of ", strong(p.account)] : ""];
  if (noun === "account") return [`${CRUD[verb] || verb} account `, strong(p.account || "")];
  if (noun === "role") return [`${CRUD[verb] || verb} role `, strong(p.role || "")];
  if (noun === "env") return [`${CRUD[verb] || verb} environment `, strong(env || ""), project ? [" of ", strong(project)] : ""];
  if (noun === "project") return [`${CRUD[verb] || verb} project `, strong(project || "")];
  if (noun === "metric") return [`${CRUD[verb] || verb} metric `, strong(p.metric || "")];
  if (noun === "webhook") return [`${CRUD[verb] || verb} webhook `, strong(p.webhook || "")];
  if (noun === "trigger") return [`${CRUD[verb] || verb} a trigger`, flag ? [" of ", flag] : "", ...inEnv];
  // An action this console does not know yet: its name and what it touched.
  return [`did ${r.action} on `, h("code", {}, r.resource)];
}

function strong(text) { return h("strong", {}, text); }

// One record: the sentence, when, the comment, and the diff behind "Show changes" (built when
// opened, not for every record of the page).
async function historyEntry(r, book) {
  const who = actorName(r);
  const refused = r.outcome && r.outcome !== "allowed";
  let said;
  if (refused) {
    // A refusal changed nothing: the action's name and what it was aimed at are enough.
    const p = resourceParts(r.resource), flag = r.flag || p.flag, env = r.environment || p.env;
    const target = flag ? [strong(flag), env ? [" in ", strong(environmentName(r.project || p.project, env))] : ""] : h("code", {}, r.resource);
    said = h("p", { class: "sentence" }, strong(who), " was refused ", h("code", {}, r.action), " on ", ...[target].flat(Infinity), ".");
  } else {
    const words = await sentence(r, book).catch(() => [`did ${r.action} on `, h("code", {}, r.resource)]);
    said = h("p", { class: "sentence" }, strong(who), " ", ...words.flat(Infinity), ".");
  }
  const meta = h("p", { class: "muted meta" }, timeElement(r.at_ms), ` · record ${r.seq}`, refused ? [" · ", h("span", { class: "danger" }, r.outcome)] : "",
    r.actor && r.actor.kind === "token" ? ` · through token ${r.actor.id}` : "");
  const comment = r.comment ? h("blockquote", { class: "comment" }, r.comment) : null;
  let changes = null;
  if (r.before !== undefined || r.after !== undefined) {
    changes = h("details", {}, h("summary", {}, "Show changes"));
    changes.addEventListener("toggle", () => {
      if (changes.open && changes.children.length === 1) changes.append(diff(r.before, r.after));
    });
  }
  return h("li", { class: "audit-entry card", "data-seq": r.seq }, said, meta, comment, changes);
}

// ---- the paged list ------------------------------------------------------------------------

const PAGE_SIZES = [50, 100, 200, 500];

// The audit API's query for filters {person, action, project, environment, flag, from, to,
// resource, before, limit}; times are Unix ms.
function auditQuery(filters) {
  const q = new URLSearchParams();
  const put = (name, value) => { if (value !== undefined && value !== null && value !== "") q.set(name, String(value)); };
  put("actor", filters.person || filters.actor);
  put("action", filters.action);
  put("project", filters.project);
  put("env", filters.environment || filters.env);
  put("flag", filters.flag);
  put("from", filters.from);
  put("to", filters.to);
  put("resource", filters.resource);
  put("before", filters.before);
  put("limit", filters.limit || 50);
  return q;
}

// The readable, paged history of `filters` (see auditQuery). Older and Newer page over the
// whole log in place; `options.trail` keeps the newer pages' cursors across re-renders and
// `options.onPage(before)` hears of each move (the audit page keeps it in its URL).
async function historyList(filters = {}, options = {}) {
  const trail = options.trail || [];
  const box = h("section", { class: "history", "aria-label": options.label || "History" });
  let before = filters.before || null;
  // Asked first: a refused read would be an audited denial on every render.
  const may = await permissions("audit");
  if (!may("audit:read")) return h("section", { class: "history", "aria-label": options.label || "History" }, h("p", { class: "muted" }, "Your access does not allow audit:read, so the history is not shown."));
  const show = async (focus) => {
    box.setAttribute("aria-busy", "true");
    const query = auditQuery(Object.assign({}, filters, { before }));
    let page;
    try { page = await api("GET", `/audit?${query}`); }
    catch (error) {
      box.replaceChildren(h("p", { class: "error" }, error.status === 403 ? `Permission denied: ${error.message}` : error.message));
      box.removeAttribute("aria-busy");
      return;
    }
    const book = nameBook();
    const entries = await Promise.all(page.records.map((r) => historyEntry(r, book)));
    const list = h("ul", { class: "audit-list", id: options.listId, "aria-label": "Records, newest first", style: "list-style: none; padding-left: 0" }, entries.length ? entries : h("li", { class: "muted" }, "No records."));
    const go = (to, back) => async () => {
      if (back) before = trail.pop() || null;
      else { trail.push(before); before = to; }
      if (options.onPage) options.onPage(before);
      await show(back ? "newer" : "older");
    };
    const pageNo = trail.length + 1;
    const first = page.records[0], last = page.records[page.records.length - 1];
    const older = h("button", { type: "button", class: "older", disabled: !page.next_before, onclick: go(page.next_before, false) }, "Older");
    const newer = h("button", { type: "button", class: "newer", disabled: !before, onclick: go(null, true) }, trail.length || !before ? "Newer" : "Newest");
    // After a reload in the middle of the log the pages before are unknown: no page number.
    const where = trail.length || !before ? `Page ${pageNo}: ` : "";
    const status = h("span", { class: "muted", "aria-live": "polite" }, page.records.length
      ? `${where}records ${first.seq} to ${last.seq}${page.next_before ? "" : " (the oldest)"}` : "No records");
    const nav = h("nav", { class: "row pager", "aria-label": "History pages" }, newer, older, status);
    box.replaceChildren(list, nav);
    box.removeAttribute("aria-busy");
    if (focus) (focus === "older" ? (older.disabled ? newer : older) : (newer.disabled ? older : newer)).focus();
  };
  await show(null);
  return box;
}

// ---- the audit page ------------------------------------------------------------------------

// Action filters offered: whole families (`flag:*`) and the common single actions.
const ACTION_CHOICES = [["", "Any action"], ["flag:*", "Any flag change"], ["flag:toggle", "Flag turned on or off"], ["flag:update", "Flag edited"],
  ["flag:kill", "Flag killed"], ["flag:create", "Flag created"], ["flag:archive", "Flag archived"], ["flag:delete", "Flag deleted"],
  ["segment:*", "Segments"], ["release:*", "Releases"], ["release-plan:*", "Release plans"], ["experiment:*", "Experiments"],
  ["change-request:*", "Change requests"], ["config:apply", "Configuration applied"], ["token:*", "API tokens"], ["sdk-key:*", "SDK keys"],
  ["account:*", "Accounts and sign-ins"], ["role:*", "Roles"], ["env:*", "Environments"], ["project:*", "Projects"], ["webhook:*", "Webhooks"], ["metric:*", "Metrics"]];

// The audit page's filters live in its URL (`#/audit?person=ana&flag=checkout&…`), beside the
// project and environment every page carries; `environment` names the filtered one.
const AUDIT_FILTERS = ["person", "flag", "environment", "action", "from", "to", "resource", "size"];

// Newer pages' cursors per filter set, so a live re-render keeps "Newer" working.
const auditTrails = new Map();

function auditHash(values, before) {
  const q = new URLSearchParams((location.hash.split("?")[1]) || "");
  for (const name of [...AUDIT_FILTERS, "before"]) q.delete(name);
  for (const name of AUDIT_FILTERS) if (values[name]) q.set(name, values[name]);
  if (before) q.set("before", before);
  const text = q.toString();
  return `#/audit${text ? `?${text}` : ""}`;
}

// The chain check runs when asked: it verifies every record's hash and signature, which takes
// long on a large log, so it is not run on every render. It is offered only when the token
// allows it (`GET /me` audits nothing): a refused verify would be an audited denial.
async function chainCheck() {
  const may = await permissions("audit");
  if (!may("audit:verify")) return h("p", { id: "chain-status" }, "Chain status: your access does not allow audit:verify.");
  const out = h("span", { "aria-live": "polite" });
  const button = h("button", { type: "button", onclick: async () => {
    button.disabled = true;
    out.textContent = "Verifying every record…";
    const chain = await api("GET", "/audit/verify").catch((e) => ({ error: e.message }));
    out.textContent = chain.error ? `Chain status unavailable: ${chain.error}` : chain.ok ? `Chain verified: ${chain.records} records intact.` : `Chain BROKEN at record ${chain.first_broken}`;
    button.disabled = false;
  } }, "Verify the chain");
  return h("p", { id: "chain-status" }, button, " ", out);
}

async function auditView(params) {
  const values = Object.fromEntries(AUDIT_FILTERS.map((name) => [name, params.get(name) || ""]));
  const size = PAGE_SIZES.includes(Number(values.size)) ? Number(values.size) : 50;
  const filters = { person: values.person, action: values.action, flag: values.flag, environment: values.environment, resource: values.resource,
    from: localInputMs(values.from), to: localInputMs(values.to, true), limit: size, before: params.get("before") || null };
  // A flag or environment key means one of this project's.
  if (filters.flag || filters.environment) filters.project = state.project;
  const key = JSON.stringify(values);
  if (!filters.before) auditTrails.set(key, []);
  const trail = auditTrails.get(key) || [];
  auditTrails.set(key, trail);
  const [list, chain] = await Promise.all([
    historyList(filters, { trail, label: "Audit records", listId: "audit", onPage: (before) => history.replaceState(history.state, "", auditHash(values, before)) }),
    chainCheck(),
  ]);
  const field = (name, label, control) => h("div", { class: "field" }, h("label", { for: `audit-${name}` }, label), " ", control);
  const input = (name, attrs) => h("input", Object.assign({ id: `audit-${name}`, name, value: values[name] }, attrs));
  const actions = ACTION_CHOICES.some(([v]) => v === values.action) ? ACTION_CHOICES : ACTION_CHOICES.concat([[values.action, values.action]]);
  const form = h("form", { class: "row filters", role: "search", "aria-label": "Filter the audit log", onsubmit: (e) => {
    e.preventDefault();
    const chosen = Object.fromEntries(AUDIT_FILTERS.map((name) => [name, e.target.elements[name] ? e.target.elements[name].value.trim() : values[name]]));
    // A datetime-local input drops zero seconds from its value ("…T13:48" for 13:48:00), which
    // as a "to" would take in the whole minute: the form writes the seconds it showed.
    for (const name of ["from", "to"]) if (/T\d\d:\d\d$/.test(chosen[name])) chosen[name] += ":00";
    const target = auditHash(chosen, null);
    if (location.hash === target) route(); else location.hash = target;
  } },
  field("person", "Person", input("person", { size: 14, placeholder: "account name", autocomplete: "off" })),
  field("flag", "Flag", input("flag", { size: 14, placeholder: `a flag of ${state.project}` })),
  field("environment", "Environment", h("select", { id: "audit-environment", name: "environment" }, h("option", { value: "" }, "Any environment"),
    (state.envs || []).map((e) => h("option", { value: e.key, selected: e.key === values.environment }, e.name || e.key)))),
  field("action", "Action", h("select", { id: "audit-action", name: "action" }, actions.map(([v, label]) => h("option", { value: v, selected: v === values.action }, label)))),
  field("from", "From", input("from", { type: "datetime-local", step: 1 })),
  field("to", "To", input("to", { type: "datetime-local", step: 1 })),
  field("size", "Per page", h("select", { id: "audit-size", name: "size" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === size }, String(n))))),
  values.resource ? h("input", { type: "hidden", name: "resource", value: values.resource }) : null,
  h("button", { type: "submit", class: "primary" }, "Filter"),
  h("a", { href: "#/audit", class: "clear" }, "Clear filters"));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  page("Audit log", chain,
    form, h("p", { class: "muted" }, `Times are in your time zone (${zone}).`, values.resource ? [" Resource starts with ", h("code", {}, values.resource), "."] : ""),
    list);
}

// Change requests and scheduled changes: change-requests.js.
