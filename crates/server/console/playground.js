// Switchyard console: the evaluation playground. A classic script sharing the page's globals
// (app.js loads first). "Why does this user get that?": a context, typed field by field or
// pasted as JSON, evaluated by the server (`POST …/environments/{env}/evaluate`) with the same
// compiled flags SDKs receive, recording no exposure; each answer names what decided it.
"use strict";

// What the person entered survives re-renders (a change elsewhere re-renders the page, and then
// re-evaluates: the answer follows the targeting as it is now).
const play = { env: null, flag: "", mode: "fields", kind: "user", key: "", attrs: [], json: "", asked: false };

// Re-renders the page from `play`, then puts the focus back where the person was.
async function replay(focusId) {
  await route();
  const el = focusId && document.getElementById(focusId);
  if (el) el.focus();
}

const ATTRIBUTE_TYPES = [["string", "text"], ["number", "number"], ["boolean", "true/false"], ["json", "JSON (list, object)"]];

// One attribute's typed value, or an error naming it.
function typedValue(attr) {
  const raw = attr.value.trim();
  switch (attr.type) {
    case "number": {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) throw new Error(`Attribute ${attr.name}: “${attr.value}” is not a number.`);
      return n;
    }
    case "boolean":
      if (raw !== "true" && raw !== "false") throw new Error(`Attribute ${attr.name}: write true or false.`);
      return raw === "true";
    case "json":
      try { return JSON.parse(raw); } catch (e) { throw new Error(`Attribute ${attr.name}: not JSON (${e.message}).`); }
    default: return attr.value;
  }
}

// The context to send, built from what the person entered; throws with a readable message.
function playContext() {
  if (play.mode === "json") {
    let context;
    try { context = JSON.parse(play.json); } catch (e) { throw new Error(`The context is not valid JSON: ${e.message}`); }
    if (!context || typeof context !== "object" || Array.isArray(context)) throw new Error("The context must be a JSON object, such as {\"kind\": \"user\", \"key\": \"user-42\"}.");
    return context;
  }
  if (!play.key.trim()) throw new Error("Give the context a key (the targeting key your application passes).");
  const context = { kind: play.kind.trim() || "user", key: play.key.trim() };
  for (const attr of play.attrs) {
    const name = attr.name.trim();
    if (!name) continue;
    if (name === "kind" || name === "key") throw new Error(`Attribute ${name}: set the context's ${name} above.`);
    context[name] = typedValue(attr);
  }
  return context;
}

const PLAY_REASONS = {
  OFF: "Off", TARGET_MATCH: "Individual target", RULE_MATCH: "Rule matched", FALLTHROUGH: "Default rule",
  PREREQUISITE_FAILED: "Prerequisite failed", ERROR: "Error",
};

// What decided the answer, in a few words: the rule, target, segment or prerequisite (the
// server's explanation, shown below it, says the rest).
function decidedBy(e, env) {
  switch (e.reason) {
    case "OFF": return [`The flag is off in ${env}`];
    case "TARGET_MATCH": return [e.target ? `Individual target ${e.target.kind} ${e.target.key}` : "An individual target"];
    case "RULE_MATCH": {
      // Rules carry no free text: the server describes one by its condition.
      const n = e.rule_index !== undefined && e.rule_index !== null ? `Rule ${e.rule_index + 1}` : "A rule";
      const id = e.rule_id ? ` (${e.rule_id})` : "";
      const condition = e.rule_description ? `: if ${e.rule_description}` : "";
      return [`${n}${id}${condition}`, ...(e.segments || []).map((s) => `Segment ${s}: the context is in it`)];
    }
    case "FALLTHROUGH": return ["The default rule: no individual target or rule matched"];
    case "PREREQUISITE_FAILED": return [`Prerequisite ${e.prerequisite || "(unknown)"}: it did not serve a required variation`];
    case "ERROR": return [`${e.error_code || "An error"}: applications get their own default`];
    default: return [e.reason];
  }
}

function servedCell(e) {
  // No variation served (off without an off variation, an error): the application's own
  // default value is what it gets, whatever the answer's value field holds.
  if (e.variation === null || e.variation === undefined) return h("span", { class: "muted default-served" }, "the application's own default");
  const value = JSON.stringify(e.value);
  const name = e.variation_name || e.variation;
  const stateClass = e.value === true ? "state-on" : e.value === false ? "state-off" : "";
  return h("span", {}, name ? h("strong", { class: stateClass || null }, name) : "", name ? " " : "", h("code", {}, value));
}

function answerTable(answer) {
  const rows = answer.evaluations.map((e) => h("tr", { "data-flag": e.flag, "data-reason": e.reason },
    h("th", { scope: "row" }, h("a", { href: `#/flag/${encodeURIComponent(e.flag)}` }, e.flag)),
    h("td", {}, servedCell(e)),
    h("td", {}, h("span", { class: `reason reason-${e.reason.toLowerCase()}` }, PLAY_REASONS[e.reason] || e.reason)),
    h("td", {}, h("div", { class: "decided-by" }, decidedBy(e, answer.environment).map((line) => h("div", {}, line))),
      e.release ? h("span", { class: "release" }, ` Guarded release stage ${e.release.stage}, ${e.release.cohort} cohort.`) : "",
      e.in_experiment ? h("span", { class: "muted" }, " Counted in an experiment.") : "",
      e.explanation ? h("div", { class: "muted explanation" }, e.explanation) : "")));
  return h("div", { class: "scroll" }, h("table", { "aria-label": `What the context is served in ${answer.environment}` },
    h("thead", {}, h("tr", {}, ["Flag", "Served", "Reason", "Decided by"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 4 }, "No flags to evaluate (none you may read in this environment).")))));
}

// Contexts recently exposed to one flag (only kind and key are stored), as a picker.
async function recentContexts(flag, env, fill) {
  const box = h("div", { class: "row", id: "recent-contexts" });
  if (!flag) {
    box.append(h("span", { class: "muted" }, "Pick one flag to choose among the contexts recently exposed to it."));
    return box;
  }
  const path = `/projects/${encodeURIComponent(state.project)}/environments/${encodeURIComponent(env)}/flags/${encodeURIComponent(flag)}/exposures?limit=25`;
  const exposures = await api("GET", path).catch(() => null);
  if (!exposures) { box.append(h("span", { class: "muted" }, `Could not read the contexts exposed to ${flag}.`)); return box; }
  if (!exposures.length) { box.append(h("span", { class: "muted" }, `No context was exposed to ${flag} in ${env} in the last 24 hours.`)); return box; }
  const picker = h("select", { id: "recent-context", onchange: (e) => { if (e.target.value) fill(exposures[Number(e.target.value)]); } },
    h("option", { value: "" }, "Choose a context…"),
    exposures.map((x, i) => h("option", { value: String(i) }, `${x.kind} ${x.key} (got ${x.variation}, ${time(x.last_seen_ms)})`)));
  box.append(h("label", { for: "recent-context" }, `Recently exposed to ${flag}`), picker);
  return box;
}

async function playgroundView() {
  if (!state.envs.length) {
    return page("Playground", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: "#/projects" }, "Create its first environment")));
  }
  if (!play.env || !state.envs.some((e) => e.key === play.env)) play.env = state.env;
  // A project may hold thousands of flags: the flag is searched as you type (20 at a time), and
  // the one chosen is read alone. A read that fails is said, not taken for "no flags".
  let readFailure = null;
  if (play.flag) {
    try { await api("GET", `${projectPath()}/flags/${encodeURIComponent(play.flag)}`); }
    catch (error) { if (error.status === 404) play.flag = ""; else readFailure = error; }
  }
  let answer = null, failure = null;
  if (play.asked) {
    try {
      const body = { context: playContext() };
      if (play.flag) body.flag = play.flag;
      answer = await api("POST", `/projects/${encodeURIComponent(state.project)}/environments/${encodeURIComponent(play.env)}/evaluate`, body);
    } catch (error) { failure = error; }
  }

  const envSelect = h("select", { id: "play-env", onchange: (e) => { play.env = e.target.value; replay("play-env"); } },
    state.envs.map((e) => h("option", { value: e.key, selected: e.key === play.env }, e.name && e.name !== e.key ? `${e.name} (${e.key})` : e.key)));
  const suggestions = h("datalist", { id: "play-flag-options" });
  let searching = 0;
  const search = async () => {
    const mine = ++searching;
    let found;
    try { found = await api("GET", `${projectPath()}/flags?${new URLSearchParams({ q: flagSelect.value.trim(), limit: "20" })}`); }
    catch (error) { if (mine === searching) showError(error, form); return; }
    if (mine !== searching) return;
    suggestions.replaceChildren(...found.map((f) => h("option", { value: f.key }, f.name && f.name !== f.key ? f.name : "")));
  };
  const flagSelect = h("input", { id: "play-flag", type: "search", list: "play-flag-options", value: play.flag, size: 24, autocomplete: "off",
    placeholder: "all flags (or search one)", oninput: search, onchange: async (e) => {
      const chosen = e.target.value.trim();
      if (chosen) {
        try { await api("GET", `${projectPath()}/flags/${encodeURIComponent(chosen)}`); }
        catch (error) { return showError(error.status === 404 ? new Error(`No flag ${chosen} in project ${state.project}.`) : error, form); }
      }
      play.flag = chosen;
      replay("play-flag");
    } });

  const modes = h("fieldset", { class: "row" }, h("legend", {}, "Context"),
    [["fields", "Enter fields"], ["json", "Paste JSON"]].map(([mode, label]) => h("label", {},
      h("input", { type: "radio", id: `play-mode-${mode}`, name: "play-mode", value: mode, checked: play.mode === mode, onchange: () => { play.mode = mode; replay(`play-mode-${mode}`); } }), ` ${label}`)));

  const attrRow = (attr, i) => h("div", { class: "row attribute" },
    h("label", {}, "Attribute ", h("input", { id: `attr-name-${i}`, value: attr.name, "aria-label": `Attribute ${i + 1} name`, placeholder: "plan", oninput: (e) => { attr.name = e.target.value; } })),
    h("label", {}, "Type ", h("select", { "aria-label": `Attribute ${i + 1} type`, onchange: (e) => { attr.type = e.target.value; } },
      ATTRIBUTE_TYPES.map(([value, label]) => h("option", { value, selected: attr.type === value }, label)))),
    h("label", {}, "Value ", h("input", { value: attr.value, "aria-label": `Attribute ${i + 1} value`, placeholder: "pro", oninput: (e) => { attr.value = e.target.value; } })),
    h("button", { type: "button", "aria-label": `Remove attribute ${i + 1}`, onclick: () => { play.attrs.splice(i, 1); replay("add-attribute"); } }, "Remove"));

  const fill = (exposure) => {
    play.mode = "fields"; play.kind = exposure.kind; play.key = exposure.key; play.attrs = [];
    state.notice = `Filled in ${exposure.kind} ${exposure.key}. Exposures keep only the kind and key: add the attributes your rules look at.`;
    replay("play-key");
  };
  const entry = play.mode === "json"
    ? h("div", {}, h("label", { for: "play-json" }, "Context as JSON (as an SDK takes it: kind, key or targetingKey, attributes; or a multi-kind context)"),
      h("textarea", { id: "play-json", rows: 8, spellcheck: "false", placeholder: '{"kind": "user", "key": "user-42", "plan": "pro", "country": "DE"}',
        oninput: (e) => { play.json = e.target.value; } }, play.json))
    : h("div", {},
      h("div", { class: "row" },
        h("label", {}, "Kind ", h("input", { id: "play-kind", value: play.kind, size: 10, oninput: (e) => { play.kind = e.target.value; } })),
        h("label", {}, "Key ", h("input", { id: "play-key", value: play.key, placeholder: "user-42", oninput: (e) => { play.key = e.target.value; } }))),
      ...play.attrs.map(attrRow),
      h("button", { type: "button", id: "add-attribute", onclick: () => { play.attrs.push({ name: "", type: "string", value: "" }); replay(`attr-name-${play.attrs.length - 1}`); } }, "Add attribute"),
      h("h2", {}, "Recently exposed contexts"),
      h("p", { class: "muted" }, "Exposures keep no attributes, only each context's kind and key: choosing one fills in the key; add the attributes your rules look at yourself."),
      await recentContexts(play.flag, play.env, fill));

  const form = h("form", { "aria-label": "Evaluate a context", onsubmit: (e) => {
    e.preventDefault();
    play.asked = true;
    replay("play-answer-title");
  } },
  h("div", { class: "row" }, h("label", { for: "play-env" }, "Environment"), envSelect, h("label", { for: "play-flag" }, "Flag"), flagSelect, suggestions),
  modes, entry,
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Evaluate")));

  const result = h("section", { id: "play-answer", "aria-labelledby": "play-answer-title", "aria-live": "polite" },
    h("h2", { id: "play-answer-title", tabindex: "-1" }, "Answer"),
    answer ? answerTable(answer)
      : failure ? null
        : h("p", { class: "muted" }, "Enter a context and press Evaluate."));
  page("Playground",
    h("p", {}, "What does a context get, and why? Evaluated by the server with the flags SDKs receive in the chosen environment. Nothing is recorded: no exposure, no audit record."),
    form, result);
  if (failure) showError(failure, result);
  if (readFailure) showError(readFailure, form);
  search();
}
