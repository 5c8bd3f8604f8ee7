// Switchyard console: release plans, one flag's guarded release travelling in waves over an
// ordered list of environments (docs/releases.md, "Waves"). Loaded after app.js and
// change-requests.js, whose helpers it shares (h, api, page, gate, permissions, showError,
// confirmAction, table, time, plural, whenText). The guard drives the waves; this page shows
// every wave's state and offers pause, resume and abort, and starts a plan from a JSON body.
"use strict";

// What each plan action needs the plan to be in.
const RELEASE_PLAN_ADMITS = { pause: ["running"], resume: ["paused"], abort: ["running", "paused"] };

// A wave's release as its stage of all and that stage's percent ("2 of 4: 10 %"), read from the
// release in its own environment; a release the caller may not read leaves the cell empty.
async function waveStage(wave) {
  if (!wave.release) return "";
  const path = `${projectPath()}/environments/${encodeURIComponent(wave.environment)}/releases/${encodeURIComponent(wave.release)}`;
  const s = await api("GET", path).catch(() => null);
  if (!s || !s.stages.length) return "";
  const stage = Math.min(s.stage, s.stages.length - 1);
  return `${stage + 1} of ${s.stages.length}: ${s.stages[stage].weight / 1000} % (${s.state})`;
}

// When a wave's bake ends (baking), or how long it will bake once its release completes.
function waveBakeText(wave) {
  if (wave.state === "baking" && wave.baking_until_ms) return `until ${whenText(wave.baking_until_ms)}`;
  if (["pending", "running"].includes(wave.state) && wave.bake_s) return `${wave.bake_s} s after it completes`;
  return "";
}

// Whether the token may act on every wave of the plan (a plan is authorized as its waves'
// releases, `proj/P:env/E:release/{plan}-{wave number}`), as a `may(action)` for gate().
async function releasePlanPermissions(plan) {
  const checks = await Promise.all(plan.waves.map((w, i) =>
    permissions(`proj/${plan.project}:env/${w.environment}:release/${plan.id}-${i + 1}`)));
  return (action) => checks.every((may) => may(action));
}

async function releasePlanCard(plan) {
  const may = await releasePlanPermissions(plan);
  const path = `${projectPath()}/release-plans/${encodeURIComponent(plan.id)}`;
  const card = h("section", { class: "release-plan", id: `release-plan-${plan.id}`, "aria-label": `Release plan ${plan.id}` });
  const comment = h("input", { size: 30, "aria-label": `Comment on release plan ${plan.id}`, placeholder: "comment (optional)" });
  const act = (verb, label, cls) => {
    const admitted = RELEASE_PLAN_ADMITS[verb].includes(plan.state);
    const button = h("button", { type: "button", class: cls, "aria-label": `${label} release plan ${plan.id}`, onclick: async () => {
      if (!(await confirmAction(`${label} release plan ${plan.id} of ${plan.flag}?`))) return;
      try { await api("POST", `${path}/${verb}`, { comment: comment.value.trim() || undefined }); state.notice = `Release plan ${plan.id}: ${verb} done.`; route(); }
      catch (error) { showError(error, card); }
    } }, label);
    gate(button, may, "release:update");
    if (!button.disabled && !admitted) { button.disabled = true; button.title = `Not while the plan is ${plan.state}`; }
    return button;
  };
  const stages = await Promise.all(plan.waves.map(waveStage));
  const rows = plan.waves.map((w, i) => Object.assign({ number: i + 1, stage: stages[i] }, w));
  card.append(
    h("h2", {}, `Plan ${plan.id}: ${plan.flag} → ${plan.variation}`),
    h("p", {}, "State ", h("strong", { class: `plan-state plan-${plan.state}` }, plan.state),
      ` · ${plural(plan.waves.length, "wave")} · started by ${plan.author} at ${time(plan.created_ms)}`,
      plan.rule ? ` · on rule ${plan.rule}` : " · on the fallthrough",
      plan.roll_back_earlier ? " · a wave that rolls back rolls back the earlier ones" : "",
      plan.comment ? ` · ${plan.comment}` : ""),
    table(rows, [
      ["Wave", (w) => String(w.number)],
      ["Environment", (w) => w.environment],
      ["State", (w) => h("span", { class: `wave-state wave-${w.state}` }, w.state.replaceAll("_", " "))],
      ["Release", (w) => w.release || ""],
      ["Stage", (w) => w.stage],
      ["Bake", (w) => waveBakeText(w)],
      ["", (w) => w.detail || ""],
    ]),
    h("p", { class: "row" }, comment, act("pause", "Pause"), act("resume", "Resume"), act("abort", "Abort", "danger")));
  return card;
}

// A plan to start, as the API's JSON body, prefilled with this project's environments in order.
function releasePlanForm(flag, may) {
  const example = { flag: flag || "my-flag", variation: "on", waves: state.envs.map((e) => ({ environment: e.key, bake_s: 600 })), roll_back_earlier: false };
  const body = h("textarea", { rows: 10, "aria-label": "Release plan (JSON)", oninput: () => { state.dirty = true; } }, JSON.stringify(example, null, 2));
  const form = h("form", { id: "release-plan-form", onsubmit: async (e) => {
    e.preventDefault();
    let input;
    try { input = JSON.parse(body.value); }
    catch (_) { body.setAttribute("aria-invalid", "true"); return showError(new Error("The release plan is not valid JSON."), form); }
    body.setAttribute("aria-invalid", "false");
    try {
      const created = await api("POST", `${projectPath()}/release-plans`, input);
      state.dirty = false;
      // A plan touching an environment that requires approvals waits as a change request:
      // the notice request() set says so.
      if (created && created.id) state.notice = `Release plan ${created.id} started: wave 1 starts with the guard's next pass.`;
      route();
    } catch (error) { showError(error, form); }
  } }, body, h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Start release plan")));
  return gate(form, may, "release:create");
}

async function releasePlansView(params) {
  const refreshing = releasePlansRefreshing;
  releasePlansRefreshing = false;
  const flag = params.get("flag") || "";
  const query = flag ? `?${new URLSearchParams({ flag })}` : "";
  const plans = await api("GET", `${projectPath()}/release-plans${query}`);
  const may = await permissions(`proj/${state.project}:env/${state.env}:release/new`);
  const filter = h("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    const value = e.target.flag.value.trim();
    location.hash = value ? `#/release-plans?flag=${encodeURIComponent(value)}` : "#/release-plans";
  } }, h("label", {}, "Flag ", h("input", { name: "flag", value: flag, size: 24 })), h("button", { type: "submit" }, "Filter"));
  const cards = await Promise.all(plans.map(releasePlanCard));
  const none = flag ? `No release plans of ${flag}.` : `No release plans in project ${state.project}.`;
  // An edit begun (or refused) while the periodic re-read was waiting for the API wins: the
  // page stays as the person has it.
  if (refreshing && (state.dirty || main().querySelector(".error[role=alert]"))) return;
  page(flag ? `Release plans of ${flag}` : "Release plans",
    h("p", { class: "muted" }, "Each wave is a guarded release in one environment; the next starts only after the previous one completed and baked. A wave that rolls back stops the plan."),
    filter, cards.length ? cards : h("p", {}, none),
    h("h2", {}, "Start a release plan"), releasePlanForm(flag, may));
}

// A flag's plans in brief, on its page: each plan's state and every wave's, linked to the
// Release plans page filtered to the flag.
async function flagReleasePlans(key) {
  const plans = await api("GET", `${projectPath()}/release-plans?${new URLSearchParams({ flag: key })}`).catch(() => null);
  const link = h("a", { href: `#/release-plans?flag=${encodeURIComponent(key)}` }, `Release plans of ${key}`);
  if (!plans) return h("p", { class: "muted" }, "You may not read release plans here.");
  return h("div", { id: "flag-release-plans" },
    plans.length ? h("ul", {}, plans.map((p) => h("li", {}, `Plan ${p.id} (${p.state}): `,
      p.waves.map((w) => `${w.environment} ${w.state.replaceAll("_", " ")}`).join(" → "))))
      : h("p", { class: "muted" }, `No release plans of ${key}.`),
    h("p", {}, link, " — waves over several environments: start, pause, resume or abort one there."));
}

// Waves move by themselves: re-read the page every few seconds, unless an edit is in progress.
let releasePlansRefreshing = false;
setInterval(() => {
  if (location.hash.startsWith("#/release-plans") && !state.dirty && !main().querySelector(".error[role=alert]")) {
    releasePlansRefreshing = true;
    route();
  }
}, 3000);
