// Switchyard console: experiments (docs/experiments.md). Loaded after app.js and
// change-requests.js, whose helpers it shares (h, api, page, gate, permissions, showError,
// confirmAction, select, table, plural, time, whenText, projectPath, envPath, state, route).
// Metrics are defined once per project; an experiment is a pre-registered plan on one flag in
// one environment; its results page is written for the person who decides: warnings first, a
// verdict per metric in words, the lift intervals and the lift over time as plots, and the plan
// the numbers were promised against beside them.
"use strict";

const METRIC_KINDS = [["proportion", "proportion (converted at least once)"], ["count", "count (events per unit)"],
  ["mean", "mean (value per unit)"], ["ratio", "ratio (e.g. revenue per order)"]];
const DIRECTIONS = [["increase_is_good", "higher is better"], ["decrease_is_good", "lower is better"]];
const METHODS = [["fixed_horizon", "fixed horizon (frequentist)"], ["sequential", "sequential (safe to peek)"], ["bayesian", "Bayesian"]];
const CORRECTIONS = [["holm", "Holm (family-wise error)"], ["benjamini_hochberg", "Benjamini–Hochberg (false discovery rate)"]];
const ROLES = ["primary", "secondary", "guardrail"];
const label = (pairs, value) => (pairs.find(([v]) => v === value) || [value, value])[1];

// The actions the experiment routes check; `/me` answers which of them the token holds.
const EXPERIMENT_ACTIONS = { create: "experiment:create", update: "experiment:update", start: "experiment:start",
  stop: "experiment:stop", ship: "experiment:ship", metricCreate: "metric:create", metricDelete: "metric:delete" };
// What each experiment action needs the experiment to be in.
const EXPERIMENT_ADMITS = { start: ["draft"], stop: ["running"], ship: ["running", "stopped"] };

// A start or ship held for approval, shown with a link until the next render of its page.
let experimentHeld = null;

const experimentsPath = () => `${envPath()}/experiments`;
const experimentPath = (id) => `${experimentsPath()}/${encodeURIComponent(id)}`;

// ---- numbers in words ------------------------------------------------------------------------

// A fraction as a signed percentage with one decimal ("+3.1 %").
function signedPercent(x, digits = 1) {
  if (typeof x !== "number" || !isFinite(x)) return "–";
  const text = `${(Math.abs(x) * 100).toFixed(digits)} %`;
  return x > 0 ? `+${text}` : x < 0 ? `−${text}` : text;
}
const percent = (x, digits = 1) => (typeof x === "number" && isFinite(x) ? `${(x * 100).toFixed(digits)} %` : "–");
const count = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "–");
const decimal = (x) => (typeof x === "number" && isFinite(x) ? (Math.abs(x) >= 1000 ? x.toFixed(0) : String(Number(x.toPrecision(3)))) : "–");
// An absolute difference: percentage points for a proportion, the metric's own unit otherwise.
const difference = (x, kind) => (kind === "proportion" ? `${x > 0 ? "+" : ""}${decimal(x * 100)} pp` : `${x > 0 ? "+" : ""}${decimal(x)}`);

// ---- inline field errors ---------------------------------------------------------------------

// The API names the refused field (`{"error": {"field": "traffic_percent"}}`): the message is
// shown beside that field and the field marked invalid; without a field, above the form.
function fieldError(form, error) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const old of form.querySelectorAll("[aria-invalid=true]")) old.setAttribute("aria-invalid", "false");
  const field = ((error.body && error.body.error) || {}).field;
  const name = field ? String(field).split(/[.[]/)[0] : "";
  const target = name && (form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.querySelector(`[name="${CSS.escape(name)}"]`));
  if (!target || error.status === 403) return showError(error, form);
  const id = `error-${name}`;
  const message = h("span", { class: "field-error error", role: "alert", id }, error.message);
  const control = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea");
  if (control) { control.setAttribute("aria-invalid", "true"); control.setAttribute("aria-describedby", id); }
  // Under the field: inside its labelled box, or at the end of its fieldset.
  const box = target.matches("fieldset") ? target : target.closest(".field") || target;
  if (box.matches(".field, fieldset")) box.append(message); else box.after(message);
  return message;
}

// What a metric measures, in words ("proportion (converted at least once) of purchase").
const measures = (m) => `${label(METRIC_KINDS, m.kind)} of ${m.kind === "ratio" && m.denominator_event ? `${m.event} per ${m.denominator_event}` : m.event}`;

const field = (text, control, wide) => h("label", { class: wide ? "field wide" : "field" }, h("span", {}, text), control);

// ---- metrics ---------------------------------------------------------------------------------

function metricForm(may) {
  const kind = select("kind", METRIC_KINDS, "proportion", { "aria-label": "Kind" });
  const denominator = h("input", { name: "denominator_event", size: 20, "aria-label": "Denominator event", placeholder: "ratio metrics only" });
  const syncKind = () => { denominator.disabled = kind.value !== "ratio"; };
  kind.addEventListener("change", syncKind);
  syncKind();
  const form = h("form", { id: "metric-form", class: "plan-form", "aria-label": "New metric", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target;
    const number = (v) => (v.trim() === "" ? undefined : Number(v));
    const body = {
      key: f.key.value.trim(), name: f.name.value.trim() || undefined, description: f.description.value.trim() || undefined,
      event: f.event.value.trim(), kind: f.kind.value,
      denominator_event: f.kind.value === "ratio" ? f.denominator_event.value.trim() || undefined : undefined,
      direction: f.direction.value,
      // Typed as a percentage, sent as the relative effect (2 % → 0.02).
      mde: f.mde.value.trim() === "" ? undefined : Number(f.mde.value) / 100,
      window_hours: number(f.window_hours.value),
    };
    try {
      await api("POST", `${projectPath()}/metrics`, body);
      state.dirty = false;
      state.notice = `Metric ${body.key} created.`;
      route();
    } catch (error) { fieldError(form, error); }
  }, oninput: () => { state.dirty = true; } },
  h("div", { class: "fields" },
    field("Key", h("input", { name: "key", required: true, size: 20, "aria-label": "Key" })),
    field("Name", h("input", { name: "name", size: 24, "aria-label": "Name" })),
    field("Event (the name tracked)", h("input", { name: "event", required: true, size: 20, "aria-label": "Event" })),
    field("Kind", kind),
    field("Denominator event", denominator),
    field("Better direction", select("direction", DIRECTIONS, "increase_is_good", { "aria-label": "Better direction" })),
    field("Minimum detectable effect (%)", h("input", { name: "mde", type: "number", step: "any", value: "2", size: 6, "aria-label": "Minimum detectable effect (%)" })),
    field("Analysis window (hours after first exposure)", h("input", { name: "window_hours", type: "number", value: "72", size: 6, "aria-label": "Analysis window (hours)" })),
    field("Description", h("input", { name: "description", size: 50, "aria-label": "Description" }), true)),
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Create metric")));
  return gate(form, may, EXPERIMENT_ACTIONS.metricCreate);
}

async function metricsView() {
  const [metrics, may] = await Promise.all([api("GET", `${projectPath()}/metrics`), permissions(`proj/${state.project}:metric/new`)]);
  const remove = (m) => {
    const button = h("button", { type: "button", class: "danger", "aria-label": `Delete metric ${m.key}`, onclick: async () => {
      if (!(await confirmAction(`Delete metric ${m.key}? Experiments that already started keep their copy of it.`))) return;
      try { await api("DELETE", `${projectPath()}/metrics/${encodeURIComponent(m.key)}`); state.notice = `Metric ${m.key} deleted.`; route(); }
      catch (error) { showError(error); }
    } }, "Delete");
    return gate(button, may, EXPERIMENT_ACTIONS.metricDelete);
  };
  page(`Metrics in ${state.project}`,
    h("p", { class: "muted" }, "A metric is defined once per project and reused by experiments, which copy it into their plan when they start."),
    table(metrics, [
      ["Key", (m) => h("code", {}, m.key)],
      ["Name", (m) => m.name || ""],
      ["Event", (m) => m.kind === "ratio" ? `${m.event} per ${m.denominator_event}` : m.event],
      ["Kind", (m) => label(METRIC_KINDS, m.kind)],
      ["Better", (m) => label(DIRECTIONS, m.direction)],
      ["MDE", (m) => percent(m.mde)],
      ["Window", (m) => `${m.window_hours} h`],
      ["", remove],
    ], "No metrics yet."),
    h("h2", {}, "New metric"), metricForm(may));
}

// ---- experiments: the plan -------------------------------------------------------------------

// The plan's form, for a new experiment (`experiment` null) or to edit one. The flag's rules
// and variations are read from its targeting in this environment.
async function planForm(experiment, metrics, flags, may) {
  const x = experiment || { variations: [], secondary_metrics: [], guardrail_metrics: [], method: "fixed_horizon", alpha: 0.05, cuped: true, pre_period_hours: 168, correction: "holm", traffic_percent: 100 };
  const flagSelect = select("flag", [["", "choose a flag"], ...flags.map((f) => [f.key, f.key])], x.flag || "", { "aria-label": "Flag", required: true });
  const ruleBox = h("span", { "data-field": "rule" });
  const variationsBox = h("fieldset", { "data-field": "variations" }, h("legend", {}, "Variations compared"));
  const controlBox = h("span", { "data-field": "control" });
  const weightsBox = h("fieldset", { "data-field": "weights" }, h("legend", {}, "Weights (% of the experiment's units; empty: equal)"));
  let targeting = null;
  const chosen = () => [...variationsBox.querySelectorAll("input[name=variation]:checked")].map((b) => b.value);
  const renderWeights = () => {
    const keys = chosen();
    const control = controlBox.querySelector("select");
    const current = control ? control.value : x.control;
    controlBox.replaceChildren(field("Control", select("control", keys.length ? keys : [""], keys.includes(current) ? current : keys[0], { "aria-label": "Control" })));
    weightsBox.replaceChildren(weightsBox.firstChild, ...keys.map((k, i) => field(k, h("input", { name: "weight", "data-variation": k, type: "number", step: "any", size: 5,
      "aria-label": `Weight of ${k}`, value: x.weights && x.weights[x.variations.indexOf(k)] !== undefined ? String(x.weights[x.variations.indexOf(k)]) : "" }))));
  };
  const loadFlag = async () => {
    const key = flagSelect.value;
    targeting = key ? await api("GET", `${envPath()}/flags/${encodeURIComponent(key)}`).catch(() => null) : null;
    const rules = (targeting && targeting.rules) || [];
    ruleBox.replaceChildren(field("Rule", select("rule", [["", "the default rule (fallthrough)"], ...rules.map((r) => [r.id, `rule ${r.id}`])], x.rule || "", { "aria-label": "Rule" })));
    // The plan's own order first: reordering its variations would change the plan.
    const flagKeys = targeting ? targeting.variations.map((v) => v.key) : [];
    const keys = [...x.variations.filter((k) => flagKeys.includes(k)), ...flagKeys.filter((k) => !x.variations.includes(k))];
    variationsBox.replaceChildren(variationsBox.firstChild, ...keys.map((k) => h("label", {},
      h("input", { type: "checkbox", name: "variation", value: k, checked: experiment ? x.variations.includes(k) : true, "aria-label": `Compare ${k}`, onchange: renderWeights }), ` ${k}`)));
    if (targeting && !targeting.on) variationsBox.append(h("p", { class: "notice" }, `${key} is off in ${state.env}: turn it on before starting an experiment.`));
    renderWeights();
  };
  flagSelect.addEventListener("change", () => { x.flag = flagSelect.value; loadFlag(); });
  await loadFlag();

  const roleOf = (k) => (x.primary_metric === k ? "primary" : x.secondary_metrics.includes(k) ? "secondary" : x.guardrail_metrics.includes(k) ? "guardrail" : "");
  const metricsBox = h("fieldset", { "data-field": "primary_metric" }, h("legend", {}, "Metrics by role (exactly one primary)"),
    metrics.length ? table(metrics, [
      ["Metric", (m) => h("code", {}, m.key)],
      ["What", (m) => `${measures(m)}, ${label(DIRECTIONS, m.direction)}, MDE ${percent(m.mde)}, ${m.window_hours} h window`],
      ["Role", (m) => select("role", [["", "not used"], ...ROLES.map((r) => [r, r])], roleOf(m.key), { "aria-label": `Role of ${m.key}`, "data-metric": m.key })],
    ]) : h("p", {}, "No metrics in this project yet: ", h("a", { href: "#/metrics" }, "define one"), "."));
  const method = select("method", METHODS, x.method, { "aria-label": "Method" });
  const prior = h("fieldset", { "data-field": "prior" }, h("legend", {}, "Prior on the relative effect (Bayesian; empty: uninformative)"),
    field("Mean (%)", h("input", { name: "prior_mean", type: "number", step: "any", size: 6, "aria-label": "Prior mean (%)", value: x.prior ? String(x.prior.mean * 100) : "" })),
    field("Standard deviation (%)", h("input", { name: "prior_stddev", type: "number", step: "any", size: 6, "aria-label": "Prior standard deviation (%)", value: x.prior ? String(x.prior.stddev * 100) : "" })));
  const syncMethod = () => { prior.hidden = method.value !== "bayesian"; };
  method.addEventListener("change", syncMethod);
  syncMethod();

  const form = h("form", { id: "experiment-form", class: "plan-form", "aria-label": experiment ? `Plan of ${x.name}` : "New experiment", oninput: () => { state.dirty = true; }, onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target;
    const compared = chosen();
    const weights = compared.map((k) => f.querySelector(`input[name=weight][data-variation="${CSS.escape(k)}"]`).value.trim());
    const role = (r) => [...f.querySelectorAll("select[name=role]")].filter((s) => s.value === r).map((s) => s.dataset.metric);
    const number = (v) => (v.trim() === "" ? undefined : Number(v));
    const mean = f.prior_mean.value.trim(), sd = f.prior_stddev.value.trim();
    const body = {
      name: f.name.value.trim(), hypothesis: f.hypothesis.value.trim() || undefined, flag: f.flag.value,
      rule: f.rule ? f.rule.value || undefined : undefined, variations: compared, control: f.control.value,
      weights: weights.every((w) => w === "") ? undefined : weights.map(Number),
      traffic_percent: number(f.traffic_percent.value),
      primary_metric: role("primary")[0] || "", secondary_metrics: role("secondary"), guardrail_metrics: role("guardrail"),
      method: f.method.value, alpha: number(f.alpha.value),
      prior: f.method.value === "bayesian" && (mean || sd) ? { mean: Number(mean || 0) / 100, stddev: Number(sd) / 100 } : undefined,
      cuped: f.cuped.checked, pre_period_hours: number(f.pre_period_hours.value), correction: f.correction.value,
    };
    if (role("primary").length > 1) return fieldError(form, { status: 422, message: "Pick exactly one primary metric.", body: { error: { field: "primary_metric" } } });
    try {
      if (experiment) {
        const saved = await api("PUT", experimentPath(experiment.id), Object.assign(body, experiment.version !== undefined ? { version: experiment.version } : {}));
        state.notice = saved && saved.phase > experiment.phase ? `Plan saved: the experiment restarted as phase ${saved.phase}, earlier data is not counted.` : "Plan saved.";
        state.dirty = false;
        route();
      } else {
        const created = await api("POST", experimentsPath(), body);
        state.dirty = false;
        state.notice = `Experiment ${created.name || created.id} created as a draft.`;
        location.hash = `#/experiment/${encodeURIComponent(created.id)}`;
      }
    } catch (error) { fieldError(form, error); }
  } },
  h("div", { class: "fields" },
    field("Name", h("input", { name: "name", required: true, size: 30, value: x.name || "", "aria-label": "Name" })),
    field("Flag", flagSelect), ruleBox,
    field("Traffic share (% of the rule's contexts)", h("input", { name: "traffic_percent", type: "number", step: "any", size: 6, value: String(x.traffic_percent), "aria-label": "Traffic share (%)" })),
    field("Hypothesis", h("input", { name: "hypothesis", size: 70, value: x.hypothesis || "", "aria-label": "Hypothesis" }), true)),
  h("div", { class: "fields" }, variationsBox, controlBox, weightsBox),
  metricsBox,
  h("div", { class: "fields" },
    field("Method", method),
    field("Alpha (false positive rate)", h("input", { name: "alpha", type: "number", step: "any", size: 6, value: String(x.alpha), "aria-label": "Alpha" })),
    field("Correction", select("correction", CORRECTIONS, x.correction, { "aria-label": "Correction" })),
    h("label", { class: "field" }, h("span", {}, "CUPED"), h("span", {}, h("input", { type: "checkbox", name: "cuped", checked: x.cuped !== false, "aria-label": "CUPED" }), " adjust with each unit's pre-exposure value")),
    field("Pre-period (hours before first exposure)", h("input", { name: "pre_period_hours", type: "number", size: 6, value: String(x.pre_period_hours), "aria-label": "Pre-period (hours)" }))),
  prior,
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, experiment ? "Save plan" : "Create experiment"),
    experiment && x.state === "running" ? h("span", { class: "muted" }, "Saving a changed plan while running starts a new phase: data collected so far is not counted.") : null));
  return gate(form, may, experiment ? EXPERIMENT_ACTIONS.update : EXPERIMENT_ACTIONS.create);
}

async function experimentsView() {
  const [experiments, metrics, flags, may] = await Promise.all([api("GET", experimentsPath()), api("GET", `${projectPath()}/metrics`).catch(() => []),
    api("GET", `${projectPath()}/flags`).catch(() => []), permissions(`proj/${state.project}:env/${state.env}:experiment/new`)]);
  page(`Experiments in ${state.env}`,
    h("p", { class: "muted" }, "An experiment compares variations of one flag on one rule, against metrics fixed before it starts. ", h("a", { href: "#/metrics" }, "Metrics")),
    table(experiments, [
      ["Name", (x) => h("a", { href: `#/experiment/${encodeURIComponent(x.id)}` }, x.name || x.id)],
      ["Flag", (x) => `${x.flag}${x.rule ? ` (rule ${x.rule})` : ""}`],
      ["State", (x) => h("span", { class: `experiment-state state-${x.state}` }, x.state)],
      ["Variations", (x) => x.variations.map((v) => (v === x.control ? `${v} (control)` : v)).join(", ")],
      ["Primary metric", (x) => x.primary_metric],
      ["Started", (x) => (x.started_ms ? whenText(x.started_ms) : "")],
      ["", (x) => (x.state === "draft" ? "" : h("a", { href: `#/experiment/${encodeURIComponent(x.id)}/results` }, "Results"))],
    ], `No experiments in ${state.env}.`),
    h("h2", {}, "New experiment"), await planForm(null, metrics, flags, may));
}

// Start, stop and ship, each disabled with the reason when the token or the state does not
// allow it. A 202 (a protected environment) links the change request it became.
function experimentActions(x, may, box) {
  const reasons = [];
  const comment = h("input", { size: 30, "aria-label": "Comment", placeholder: "comment (optional)" });
  const send = async (verb, body, words) => {
    try {
      const answer = await api("POST", `${experimentPath(x.id)}/${verb}`, body);
      if (answer && answer.change_request) experimentHeld = { id: answer.change_request.id, words };
      else state.notice = `Experiment ${x.name}: ${words} done.`;
      route();
    } catch (error) { showError(error, box); }
  };
  const button = (verb, text, cls, onclick) => {
    const b = h("button", { type: "button", class: cls, onclick }, text);
    gate(b, may, EXPERIMENT_ACTIONS[verb]);
    if (b.disabled) reasons.push(`Your access does not allow ${EXPERIMENT_ACTIONS[verb]} here.`);
    else if (!EXPERIMENT_ADMITS[verb].includes(x.state)) { b.disabled = true; b.title = `Not while the experiment is ${x.state}`; }
    return b;
  };
  const start = button("start", "Start", "primary", async () => {
    if (!(await confirmAction(`Start ${x.name}? ${x.flag} serves ${x.variations.join(", ")} to ${x.traffic_percent} % of ${x.rule ? `rule ${x.rule}` : "the default rule"} in ${state.env}; the plan is fixed from now on.`, state.env))) return;
    send("start", { comment: comment.value.trim() || undefined }, "start");
  });
  const stop = button("stop", "Stop", "danger", async () => {
    if (!(await confirmAction(`Stop ${x.name}? ${x.flag} serves again what it served before the experiment.`, state.env))) return;
    send("stop", { comment: comment.value.trim() || undefined }, "stop");
  });
  const winner = select("variation", x.variations, x.control, { "aria-label": "Variation to ship" });
  const ship = button("ship", "Ship", "primary", async () => {
    if (!(await confirmAction(`Ship ${winner.value} of ${x.flag} to everyone on ${x.rule ? `rule ${x.rule}` : "the default rule"} in ${state.env}? The experiment ends.`, state.env))) return;
    send("ship", { variation: winner.value, comment: comment.value.trim() || undefined }, `ship ${winner.value}`);
  });
  if (ship.disabled) winner.disabled = true;
  return [h("div", { class: "row", id: "experiment-actions" }, start, stop, h("span", {}, "Ship "), winner, ship, comment),
    [...new Set(reasons)].map((r) => h("p", { class: "muted reason" }, r))];
}

async function experimentView(id) {
  const [x, metrics, flags, may] = await Promise.all([api("GET", experimentPath(id)), api("GET", `${projectPath()}/metrics`).catch(() => []),
    api("GET", `${projectPath()}/flags`).catch(() => []), permissions(`proj/${state.project}:env/${state.env}:experiment/${id}`)]);
  const held = experimentHeld;
  experimentHeld = null;
  const box = h("section", { "aria-label": "Actions" });
  box.append(...experimentActions(x, may, box).flat());
  page(`Experiment ${x.name || x.id}`,
    h("p", {}, "State ", h("strong", { class: `experiment-state state-${x.state}` }, x.state), ` · phase ${x.phase || 1} · ${x.flag} in ${state.env}`,
      x.started_ms ? ` · started ${whenText(x.started_ms)}` : "", x.stopped_ms ? ` · stopped ${whenText(x.stopped_ms)}` : "",
      x.shipped_variation ? ` · shipped ${x.shipped_variation}` : "",
      x.state === "draft" ? "" : [" · ", h("a", { href: `#/experiment/${encodeURIComponent(x.id)}/results` }, "Results")]),
    held ? h("p", { class: "notice", role: "status" }, `The ${held.words} waits for approval: `,
      h("a", { href: `#/change-request/${encodeURIComponent(held.id)}` }, `change request ${held.id}`)) : null,
    box, h("h2", {}, "Pre-registered plan"), await planForm(x, metrics, flags, may),
    h("h2", {}, "History"), table((x.history || []).slice().reverse(), [
      ["When", (e) => whenText(e.at_ms)],
      ["Who", (e) => e.actor],
      ["What", (e) => e.event],
      ["", (e) => e.detail || ""],
    ], "Nothing yet."));
}

// ---- results ---------------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c.nodeType ? c : document.createTextNode(String(c)));
  return el;
}

// Round tick values covering [low, high] (about `n` of them).
function ticks(low, high, n = 5) {
  const span = high - low || 1;
  const raw = span / n, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step / 1e6; t += step) out.push(Math.abs(t) < step / 1e6 ? 0 : t);
  return out;
}

// A padded range containing 0 and every value.
function extent(values) {
  const finite = values.filter((v) => typeof v === "number" && isFinite(v));
  let low = Math.min(0, ...finite), high = Math.max(0, ...finite);
  if (high - low < 1e-9) { low -= 0.01; high += 0.01; }
  const pad = (high - low) * 0.08;
  return [low - pad, high + pad];
}

const tickText = (t) => `${+(t * 100).toFixed(2)} %`;

// One row per compared variation: its relative lift interval against the control on a
// horizontal axis in percent, with the zero line (no effect).
function liftPlot(metric, control) {
  const rows = metric.variations.filter((v) => v.variation !== control && v.lift && v.lift.relative);
  if (!rows.length) return null;
  const W = 640, left = 110, right = 20, top = 16, rowH = 34, bottom = 46, H = top + rows.length * rowH + bottom;
  const [low, high] = extent(rows.flatMap((v) => [v.lift.relative.low, v.lift.relative.high, v.lift.relative.estimate]));
  const x = (v) => left + ((v - low) / (high - low)) * (W - left - right);
  const axisY = top + rows.length * rowH;
  const good = (v) => (metric.direction === "decrease_is_good" ? -v : v);
  const kind = (r) => (r.low > 0 || r.high < 0 ? (good(r.estimate) > 0 ? "better" : "worse") : "unclear");
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "lift-plot", role: "img",
    "aria-label": `Relative lift of ${metric.metric} against ${control}, with intervals` },
  svg("title", {}, `Relative lift of ${metric.metric} against ${control} (%)`),
  ticks(low, high).map((t) => [
    svg("line", { x1: x(t), x2: x(t), y1: top, y2: axisY, class: "grid" }),
    svg("line", { x1: x(t), x2: x(t), y1: axisY, y2: axisY + 5, class: "axis" }),
    svg("text", { x: x(t), y: axisY + 18, "text-anchor": "middle", class: "tick" }, tickText(t)),
  ]),
  svg("line", { x1: left, x2: W - right, y1: axisY, y2: axisY, class: "axis" }),
  svg("line", { x1: x(0), x2: x(0), y1: top - 6, y2: axisY, class: "zero" }),
  svg("text", { x: x(0), y: top - 8 + 6, dx: 4, class: "tick zero-label" }, "no effect"),
  svg("text", { x: left + (W - left - right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, `Relative lift vs ${control} (%)`),
  rows.map((v, i) => {
    const r = v.lift.relative, y = top + i * rowH + rowH / 2;
    return svg("g", { class: `interval ${kind(r)}` },
      svg("title", {}, `${v.variation}: ${signedPercent(r.estimate)} [${signedPercent(r.low)}, ${signedPercent(r.high)}]`),
      svg("text", { x: left - 10, y: y + 4, "text-anchor": "end", class: "row-label" }, v.variation),
      svg("line", { x1: x(r.low), x2: x(r.high), y1: y, y2: y, class: "range" }),
      svg("line", { x1: x(r.low), x2: x(r.low), y1: y - 6, y2: y + 6, class: "range" }),
      svg("line", { x1: x(r.high), x2: x(r.high), y1: y - 6, y2: y + 6, class: "range" }),
      svg("circle", { cx: x(r.estimate), cy: y, r: 5, class: "estimate" }));
  }));
}

// The cumulative relative lift of each compared variation day by day, with its interval as a
// band: how the estimate settled, in percent, with a legend.
function cumulativeChart(points, control) {
  const read = (p) => { const r = p.relative || p.lift || p; return { estimate: r.estimate, low: r.low, high: r.high }; };
  const days = [...new Set(points.map((p) => p.day))].sort();
  const variations = [...new Set(points.map((p) => p.variation))].filter((v) => v !== control);
  if (!days.length || !variations.length) return null;
  const W = 640, H = 300, left = 60, right = 20, top = 16, bottom = 58;
  const values = points.flatMap((p) => { const r = read(p); return [r.estimate, r.low, r.high]; });
  const [low, high] = extent(values);
  const x = (d) => left + (days.length === 1 ? (W - left - right) / 2 : (days.indexOf(d) / (days.length - 1)) * (W - left - right));
  const y = (v) => top + (1 - (v - low) / (high - low)) * (H - top - bottom);
  const axisY = H - bottom;
  const dayLabel = (d) => (typeof d === "number" ? new Date(d).toISOString().slice(5, 10) : String(d).slice(5, 10));
  const every = Math.max(1, Math.ceil(days.length / 8));
  const series = variations.map((v, i) => {
    const mine = days.map((d) => points.find((p) => p.day === d && p.variation === v)).filter(Boolean);
    const line = mine.map((p, j) => `${j ? "L" : "M"}${x(p.day).toFixed(1)},${y(read(p).estimate).toFixed(1)}`).join(" ");
    const band = mine.length > 1 ? `${mine.map((p, j) => `${j ? "L" : "M"}${x(p.day).toFixed(1)},${y(read(p).high).toFixed(1)}`).join(" ")} ${mine.slice().reverse().map((p) => `L${x(p.day).toFixed(1)},${y(read(p).low).toFixed(1)}`).join(" ")} Z` : null;
    return svg("g", { class: `series series-${i % 6}` }, svg("title", {}, `${v} against ${control}`),
      band ? svg("path", { d: band, class: "band" }) : null, svg("path", { d: line, class: "line" }),
      // A single day has no band to draw: its interval as a bar.
      mine.length === 1 ? svg("line", { x1: x(mine[0].day), x2: x(mine[0].day), y1: y(read(mine[0]).low), y2: y(read(mine[0]).high), class: "line" }) : null,
      mine.map((p) => svg("circle", { cx: x(p.day), cy: y(read(p).estimate), r: 3, class: "dot" })));
  });
  const legend = variations.map((v, i) => svg("g", { class: `legend series series-${i % 6}`, transform: `translate(${left + i * 140},${H - 14})` },
    svg("line", { x1: 0, x2: 18, y1: -4, y2: -4, class: "line" }), svg("text", { x: 24, y: 0, class: "tick" }, `${v} vs ${control}`)));
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "cumulative-chart", role: "img",
    "aria-label": `Cumulative relative lift against ${control} by day` },
  svg("title", {}, `Cumulative relative lift against ${control} by day (%)`),
  ticks(low, high).map((t) => [svg("line", { x1: left, x2: W - right, y1: y(t), y2: y(t), class: "grid" }),
    svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "tick" }, tickText(t))]),
  svg("line", { x1: left, x2: W - right, y1: y(0), y2: y(0), class: "zero" }),
  svg("line", { x1: left, x2: W - right, y1: axisY, y2: axisY, class: "axis" }),
  svg("line", { x1: left, x2: left, y1: top, y2: axisY, class: "axis" }),
  days.map((d, i) => (i % every ? null : svg("text", { x: x(d), y: axisY + 16, "text-anchor": "middle", class: "tick" }, dayLabel(d)))),
  svg("text", { x: left + (W - left - right) / 2, y: axisY + 34, "text-anchor": "middle", class: "axis-label" }, "Day (UTC)"),
  svg("text", { x: 14, y: top + (axisY - top) / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 14 ${top + (axisY - top) / 2})` }, "Cumulative lift (%)"),
  series, legend);
}

// The evidence column in the method's own words.
function evidence(lift, method) {
  if (!lift) return "";
  if (typeof lift.chance_to_beat_control === "number") return `${percent(lift.chance_to_beat_control, 0)} chance to beat control`;
  const p = typeof lift.adjusted_p_value === "number" ? lift.adjusted_p_value : lift.p_value;
  if (typeof p !== "number") return "";
  return `p = ${p < 0.0001 ? "< 0.0001" : p.toFixed(4)}${typeof lift.adjusted_p_value === "number" ? " (corrected)" : ""}${method === "sequential" ? ", safe to peek" : ""}`;
}

// What the data say when the server gave no sentence of its own.
function verdictWords(metric, control) {
  return metric.variations.filter((v) => v.variation !== control && v.lift && v.lift.relative).map((v) => {
    const r = v.lift.relative;
    const moved = r.low > 0 ? "raised" : r.high < 0 ? "lowered" : "did not clearly change";
    return `${v.variation} ${moved} ${metric.metric} by ${signedPercent(r.estimate)} [${signedPercent(r.low)}, ${signedPercent(r.high)}]`;
  }).join("; ");
}

function sampleSizeText(size) {
  if (!size) return null;
  if (typeof size === "string") return size;
  const parts = [];
  const units = size.units_per_variation;
  if (typeof units === "number") parts.push(`${count(units)} units per variation are needed to detect a ${percent(size.mde)} effect${typeof size.power === "number" ? ` with ${percent(size.power, 0)} power` : ""}`);
  if (size.remaining_days === 0) parts.push("reached");
  else if (typeof size.remaining_days === "number") parts.push(`about ${plural(size.remaining_days, "more day")} at the current rate${typeof size.days === "number" ? ` (${plural(size.days, "day")} in all)` : ""}`);
  return parts.length ? `${parts.join(", ")}.` : null;
}

function metricResult(metric, x, untrustworthy) {
  const control = x.control;
  const rows = metric.variations;
  const lift = (v, which) => (v.lift && v.lift[which] ? v.lift[which] : null);
  const columns = [
    ["Variation", (v) => (v.variation === control ? `${v.variation} (control)` : v.variation)],
    ["Units", (v) => count(v.units)],
    ["Mean", (v) => (metric.kind === "proportion" ? percent(v.mean, 2) : decimal(v.mean))],
    ["Relative lift", (v) => { const r = lift(v, "relative"); return r ? `${signedPercent(r.estimate)} [${signedPercent(r.low)}, ${signedPercent(r.high)}]` : ""; }],
    ["Absolute lift", (v) => { const a = lift(v, "absolute"); return a ? `${difference(a.estimate, metric.kind)} [${difference(a.low, metric.kind)}, ${difference(a.high, metric.kind)}]` : ""; }],
    ["Evidence", (v) => evidence(v.lift, x.method)],
    ["Risk (expected loss)", (v) => (v.lift && v.lift.risk ? `shipping ${control}: ${decimal(v.lift.risk.control)}, shipping ${v.variation}: ${decimal(v.lift.risk.variation)}` : "")],
    ["Note", (v) => v.problem || ""],
  ];
  return h("section", { class: `metric-result role-${metric.role}`, "aria-label": `Metric ${metric.metric}` },
    h("h3", {}, `${metric.name || metric.metric} `, h("span", { class: "role" }, metric.role), " ", h("span", { class: "muted" }, `${label(METRIC_KINDS, metric.kind)}, ${label(DIRECTIONS, metric.direction)}`)),
    h("p", { class: "verdict" }, untrustworthy ? h("span", { class: "untrustworthy-tag" }, "Untrustworthy: ") : null,
      metric.verdict || verdictWords(metric, control) || "Not enough data yet."),
    liftPlot(metric, control),
    table(rows, columns.filter(([, cell]) => rows.some((v) => cell(v) !== ""))),
    sampleSizeText(metric.sample_size) ? h("p", { class: "muted" }, sampleSizeText(metric.sample_size)) : null);
}

// The data-quality problems that change how (or whether) the numbers can be read: the
// server's own sentences (sample ratio mismatch, no units, excluded units, overflow), under a
// headline when the sample ratio makes every number untrustworthy.
function warnings(results) {
  const untrustworthy = results.trustworthy === false || (results.srm && results.srm.trustworthy === false);
  const items = (results.warnings || []).map((w) => h("li", {}, w));
  if (!results.warnings) {
    if (results.excluded) items.push(h("li", {}, `${plural(results.excluded, "unit")} saw more than one variation and are left out of the analysis.`));
    if (results.overflow) items.push(h("li", {}, `${plural(results.overflow, "unit")} arrived beyond the per-experiment limit and were not counted.`));
  }
  if (!items.length && !untrustworthy) return null;
  return h("section", { class: untrustworthy ? "warnings untrustworthy" : "warnings", id: "experiment-warnings", "aria-label": "Warnings" },
    h("h2", {}, untrustworthy ? "Results untrustworthy" : "Warnings"),
    untrustworthy ? h("p", { class: "srm" }, "The units did not split between the variations as planned, so every number below may be wrong. Find the cause first.") : null,
    items.length ? h("ul", {}, items) : null);
}

// The plan the results are read against, as it was fixed at the start of this phase.
function planAside(x, metrics) {
  const byKey = Object.fromEntries(metrics.map((m) => [m.key, m]));
  for (const m of x.metrics || x.metric_definitions || []) if (m && m.key) byKey[m.key] = m;
  const roles = [[x.primary_metric, "primary"], ...(x.secondary_metrics || []).map((k) => [k, "secondary"]), ...(x.guardrail_metrics || []).map((k) => [k, "guardrail"])];
  const item = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h("aside", { class: "plan", "aria-label": "Pre-registered plan" }, h("h2", {}, "Pre-registered plan"),
    h("dl", {},
      item("Flag", `${x.flag}, ${x.rule ? `rule ${x.rule}` : "default rule"}, ${state.env}`),
      item("Variations", x.variations.map((v, i) => `${v}${v === x.control ? " (control)" : ""}${x.weights ? ` ${x.weights[i]} %` : ""}`).join(", ")),
      item("Traffic", `${x.traffic_percent} % of the rule's contexts`),
      item("Method", label(METHODS, x.method)),
      item("Alpha", `${x.alpha} (${percent(1 - x.alpha, 0)} intervals)`),
      x.method === "bayesian" ? item("Prior", x.prior ? `normal, mean ${signedPercent(x.prior.mean)}, sd ${percent(x.prior.stddev)}` : "uninformative") : null,
      item("CUPED", x.cuped ? `on, ${x.pre_period_hours} h before first exposure` : "off"),
      item("Correction", label(CORRECTIONS, x.correction)),
      item("Started", x.started_ms ? whenText(x.started_ms) : "not started"),
      x.stopped_ms ? item("Stopped", whenText(x.stopped_ms)) : null,
      item("Phase", String(x.phase || 1)),
      item("Metrics", h("ul", {}, roles.filter(([k]) => k).map(([k, role]) => {
        const m = byKey[k];
        return h("li", {}, h("code", {}, k), ` ${role}`, m ? `: ${measures(m)}, ${label(DIRECTIONS, m.direction)}, MDE ${percent(m.mde)}, window ${m.window_hours} h` : "");
      })))),
    x.hypothesis ? h("p", {}, h("strong", {}, "Hypothesis: "), x.hypothesis) : null);
}

async function resultsView(id) {
  const [x, results, metrics] = await Promise.all([api("GET", experimentPath(id)), api("GET", `${experimentPath(id)}/results`),
    api("GET", `${projectPath()}/metrics`).catch(() => [])]);
  const units = Array.isArray(results.units) ? results.units : Object.entries(results.units || {}).map(([variation, n]) => ({ variation, units: n }));
  const order = { primary: 0, secondary: 1, guardrail: 2 };
  const ordered = (results.metrics || []).slice().sort((a, b) => (order[a.role] ?? 3) - (order[b.role] ?? 3));
  const chart = cumulativeChart(results.cumulative || [], x.control);
  page(`Results: ${x.name || x.id}`,
    h("p", {}, h("a", { href: `#/experiment/${encodeURIComponent(x.id)}` }, "Experiment"), ` · ${x.state} · phase ${results.phase || x.phase || 1} · `,
      units.map((u) => `${u.variation} ${count(u.units)}`).join(", "), " units"),
    warnings(results),
    h("div", { class: "results-layout" },
      h("div", { class: "results" },
        h("h2", {}, "What the data say"),
        ordered.length ? ordered.map((m) => metricResult(m, x, results.trustworthy === false || (results.srm && results.srm.trustworthy === false))) : h("p", {}, "No results yet."),
        h("h2", {}, "Cumulative lift over time"),
        chart || h("p", { class: "muted" }, "Not enough days yet.")),
      planAside(x, metrics)));
}

// Results grow as events arrive, without a commit to announce them: re-read every 10 s.
setInterval(() => {
  if (/^#\/experiment\/[^/]+\/results/.test(location.hash) && !state.dirty && !main().querySelector(".error[role=alert]")) route();
}, 10000);
