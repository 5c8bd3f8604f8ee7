// Switchyard console: guarded releases. A classic script sharing the page's globals (app.js loads
// first; zonedTime, timeElement and historyList come from audit.js).
"use strict";

// ---- releases ------------------------------------------------------------------------------

const stageOf = (s) => s.stages[Math.min(s.stage, s.stages.length - 1)];

async function releasesView() {
  const releases = await api("GET", `${envPath()}/releases`);
  page(`Releases in ${state.env}`, h("table", {}, h("thead", {}, h("tr", {}, ["Release", "Flag", "Target", "State", "Stage", "Started"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, releases.length ? releases.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/release/${r.id}` }, r.id)), h("td", {}, r.flag), h("td", {}, r.variation), h("td", {}, r.state),
      h("td", {}, `${r.stage + 1} of ${r.stages.length}: ${stageOf(r).name} (${r.stages[Math.min(r.stage, r.stages.length - 1)].weight / 1000} %)`),
      h("td", {}, timeElement(r.created_ms), r.started_by_name ? ` by ${r.started_by_name}` : ""))) : h("tr", {}, h("td", { colspan: 6 }, "No releases.")))));
}

// What a flag serves while off, from the server's `serves_when_off` ({variation, value}, or
// null: the application's own default), named as the flag's `variations` name it.
function servedWhenOff(serves, variations) {
  if (!serves) return null;
  const v = (variations || []).find((x) => x.key === serves.variation);
  return v ? variationLabel(v) : `${serves.variation} (${JSON.stringify(serves.value)})`;
}

// How long until `ms`, in words ("in 4 min", "2 h ago").
function fromNow(ms) {
  const seconds = Math.round((ms - Date.now()) / 1000), size = Math.abs(seconds);
  const words = size < 90 ? `${size} s` : size < 5400 ? `${Math.round(size / 60)} min` : size < 172800 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} days`;
  return seconds >= 0 ? `in ${words}` : `${words} ago`;
}

// When the current stage advances by itself if healthy: the server's `stage_ends_at_ms`, or
// (from a server before it) the stage's start plus its minimum bake.
function bakeDeadline(s) {
  if (s.stage_ends_at_ms) return s.stage_ends_at_ms;
  const stage = stageOf(s);
  return s.stage_started_ms && stage.min_bake_s !== undefined ? s.stage_started_ms + stage.min_bake_s * 1000 : null;
}

function releaseFacts(s) {
  const stage = stageOf(s), active = ["scheduled", "running", "holding"].includes(s.state);
  const fact = (term, ...detail) => [h("dt", {}, term), h("dd", {}, ...detail)];
  const deadline = bakeDeadline(s);
  return h("dl", { class: "release-facts card" },
    fact("Flag", h("a", { href: `#/flag/${encodeURIComponent(s.flag)}` }, s.flag), ` → ${s.variation}`),
    fact("State", h("strong", { class: s.state === "rolled_back" || s.state === "aborted" ? "danger" : s.state === "completed" ? "state-on" : null }, s.state.replace("_", " ")),
      s.hold ? ` · holding: ${s.hold.reason}${s.hold.rolls_back_at_ms ? ` (rolls back at ${zonedTime(s.hold.rolls_back_at_ms)} unless resolved)` : ""}` : ""),
    fact("Stage", `${s.stage + 1} of ${s.stages.length}: ${stage.name === `${stage.weight / 1000} %` ? "" : `${stage.name}, `}${stage.weight / 1000} % of the audience treated`,
      stage.min_treated ? `, at least ${stage.min_treated} treated evaluations` : ""),
    fact("Started by", s.started_by_name || "unknown", " · ", timeElement(s.created_ms)),
    active && deadline ? fact("Bake deadline", h("span", { id: "bake-deadline" }, timeElement(deadline), ` (${fromNow(deadline)})`),
      s.state === "running" ? (s.stage + 1 < s.stages.length ? ": the next stage starts by itself then if the guardrails stay healthy" : ": the release completes by itself then if the guardrails stay healthy") : "") : null,
    active && s.next_decision_ms ? fact("Next guard look", h("span", { id: "next-guard-look" }, timeElement(s.next_decision_ms), ` (${fromNow(s.next_decision_ms)})`)) : null,
    s.ended_ms ? fact("Ended", timeElement(s.ended_ms)) : null);
}

async function releaseView(id) {
  const s = await api("GET", `${envPath()}/releases/${id}`);
  const samples = (state.samples[id] = state.samples[id] || []);
  const a = s.assessment;
  if (a && !samples.some((p) => p.at === a.at_ms)) samples.push({ at: a.at_ms, rho: a.rho || 0, guardrails: a.guardrails, evaluations: a.evaluations });
  // Each action only where the release's state admits it.
  const admits = { pause: ["running"], resume: ["holding"], advance: ["running", "holding"], abort: ["scheduled", "running", "holding"] };
  const act = (verb, label, cls) => h("button", { type: "button", class: cls, disabled: !admits[verb].includes(s.state),
    title: admits[verb].includes(s.state) ? null : `Not while the release is ${s.state}`, onclick: async () => {
    if (!(await confirmAction(`${label} release ${id} of ${s.flag} in ${state.env}?`, state.env))) return;
    try { await api("POST", `${envPath()}/releases/${id}/${verb}`, {}); route(); } catch (error) { showError(error); }
  } }, label);
  // What everyone gets once killed: the server's answer for the flag here, read when asked.
  const kill = h("button", { type: "button", class: "danger", onclick: async () => {
    const flagPath = `${envPath()}/flags/${encodeURIComponent(s.flag)}`;
    let targeting;
    try { targeting = await api("GET", flagPath); } catch (error) { return showError(error); }
    const gets = servedWhenOff(targeting.serves_when_off, targeting.variations);
    const effect = gets ? `Everyone in ${state.env} will get ${gets}.` : `Applications in ${state.env} will get their own default value.`;
    if (!(await confirmAction(`Kill ${s.flag} in ${state.env}? ${effect} Its active releases in ${state.env} are aborted.`))) return;
    try {
      const killed = await api("POST", `${flagPath}/kill`, {});
      if (killed && !killed.change_request) {
        const aborted = (killed.aborted_releases || []).length ? ` Aborted ${plural(killed.aborted_releases.length, "release")}: ${killed.aborted_releases.join(", ")}.` : "";
        const got = servedWhenOff(killed.serves_when_off, targeting.variations);
        state.notice = `Killed ${s.flag} in ${state.env}: ${got ? `everyone now gets ${got}` : "applications now get their own default value"}.${aborted}`;
      }
      route();
    } catch (error) { showError(error); }
  } }, "Kill flag");
  const guardrails = (a ? a.guardrails : []).map((g) => h("tr", {}, h("td", {}, g.metric), h("td", {}, String(g.treated)), h("td", {}, String(g.control)),
    h("td", {}, g.ln_e_total !== undefined ? `${g.ln_e_total.toFixed(3)} / ${g.threshold.toFixed(3)}` : g.interval ? `[${g.interval.map((x) => x.toFixed(3)).join(", ")}]` : "–"),
    h("td", {}, g.breached ? h("strong", { class: "danger" }, "breached") : g.note || "ok")));
  const resource = `proj/${s.project}:env/${s.environment}:release/${s.id}`;
  const decisions = await historyList({ resource, limit: 50 }, { label: "Decisions" });
  page(`Release ${id}`, releaseFacts(s),
    h("div", { class: "row" }, act("pause", "Pause"), act("resume", "Resume"), act("advance", "Advance", "primary"), act("abort", "Abort", "danger"), kill),
    h("h2", {}, "Treated share over time"), releaseChart(s, samples),
    h("h2", {}, "Guardrails per cohort"), ...(a ? a.guardrails : []).map((g) => cohortChart(g, samples, s)),
    a ? null : h("p", { class: "muted" }, "The guard's latest look is shown while the release runs."),
    h("table", {}, h("thead", {}, h("tr", {}, ["Metric", "Treated", "Control", "ln E / threshold or interval", "Status"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, guardrails)),
    a ? h("p", {}, `Evaluations: treated ${a.evaluations.treated || 0}, control ${a.evaluations.control || 0}, audience ${a.evaluations.audience || 0}. Verdict: ${a.verdict.kind}${a.verdict.reason ? ` (${a.verdict.reason})` : ""}${a.verdict.waiting_for ? ` (waiting for ${a.verdict.waiting_for})` : ""}.`) : null,
    h("h2", {}, "Decisions"), decisions);
}

// ---- charts --------------------------------------------------------------------------------

// The time chart (axes, units, legend) is charts.js's `timeChart`, shared with the flag page.

const percentText = (v) => `${+v.toPrecision(3)} %`;

// The observed treated share against the stage's target, with the release's decisions marked.
function releaseChart(s, samples) {
  const t0 = s.created_ms, t1 = Math.max(Date.now(), t0 + 60000, ...(s.history || []).map((e) => e.at_ms));
  const stage = stageOf(s);
  const markers = (s.history || []).map((e) => ({ at: e.at_ms, label: `${e.event}${e.detail ? `: ${e.detail}` : ""}`, bad: /roll_back|kill|abort|hold/.test(e.event) }));
  return h("figure", {}, timeChart({ id: "release-chart", title: "Treated share over time",
    summary: `Treated share over time, ${samples.length} samples; current stage weight ${stage.weight / 1000} %`, unit: "Treated share (%)", format: percentText, t0, t1, markers,
    series: [
      { label: "Observed treated share", color: "chart-1", points: samples.map((p) => [p.at, 100 * (p.rho || 0)]) },
      { label: `Stage target (${stage.weight / 1000} %)`, color: "chart-control", dashed: true, points: [[Math.max(t0, s.stage_started_ms || t0), stage.weight / 1000], [t1, stage.weight / 1000]] },
    ] }),
  h("figcaption", {}, "Vertical lines mark the release's decisions (hover for details); samples are the guard's looks while this page is open."));
}

// Each cohort's bad events per evaluation (or mean, for a mean guardrail) over the stage.
function cohortChart(guardrail, samples, s) {
  const mean = guardrail.kind === "mean";
  const points = samples.map((p) => {
    const g = p.guardrails.find((x) => x.metric === guardrail.metric) || {};
    const rate = (n, cohort) => (p.evaluations && p.evaluations[cohort] ? (100 * n) / p.evaluations[cohort] : 0);
    return mean ? { at: p.at, treated: g.treated_mean || 0, control: g.control_mean || 0 } : { at: p.at, treated: rate(g.treated || 0, "treated"), control: rate(g.control || 0, "control") };
  });
  const t0 = s.stage_started_ms || (points.length ? points[0].at : Date.now() - 60000), t1 = Math.max(t0 + 60000, ...points.map((p) => p.at));
  const unit = mean ? `Mean ${guardrail.metric}` : `${guardrail.metric} per evaluation (%)`;
  const format = mean ? (v) => `${+v.toPrecision(3)}` : percentText;
  const evidence = guardrail.interval ? `interval [${guardrail.interval.map((x) => x.toFixed(3)).join(", ")}]`
    : guardrail.ln_e_total !== undefined ? `ln E ${guardrail.ln_e_total.toFixed(3)} of ${guardrail.threshold.toFixed(3)}` : guardrail.note || "";
  return h("figure", {}, timeChart({ id: `cohort-${guardrail.metric}`, title: `${guardrail.metric}: treated vs control`, unit, format, t0, t1,
    series: [
      { label: "Treated", color: "chart-1", points: points.map((p) => [p.at, p.treated]) },
      { label: "Control", color: "chart-control", dashed: true, points: points.map((p) => [p.at, p.control]) },
    ] }),
  h("figcaption", {}, `${guardrail.metric}: treated (solid) vs control (dashed)${mean ? "" : " bad events per evaluation"}; ${evidence}`));
}
