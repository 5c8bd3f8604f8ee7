// Switchyard console: guarded releases. A classic script sharing the page's globals (app.js loads first).
"use strict";

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

