// Switchyard console: getting started. A classic script sharing the page's globals (app.js loads
// first). From an empty project to the first evaluation an application makes: create a flag,
// create an SDK key (shown once, with a Copy button), connect with the SDK setup page's snippets,
// then watch for the first evaluation (`GET …/activity`, every 2 s).
"use strict";

const ACTIVITY_POLL_MS = 2000;

// "Waiting for the first evaluation…" until the environment's activity shows one, then when it
// was seen. Polls while the element is on the page; it reads with `request`, not `api`, so the
// polling does not mark the page busy every 2 s.
function evaluationWatch(project, env) {
  const status = h("p", { class: "activity", role: "status", "aria-live": "polite" }, `Waiting for the first evaluation in ${env}…`);
  const path = `/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(env)}/activity`;
  let looks = 0;
  const look = async () => {
    if (looks++ > 0 && !document.body.contains(status)) return;
    try {
      const activity = await request("GET", path);
      if (activity && activity.last_evaluation_ms) {
        status.classList.add("seen");
        // Seen on the first look: evaluations came before this page, so it is not the first.
        status.replaceChildren(h("strong", { class: "state-on" }, "✓ "),
          `${looks === 1 ? "Last" : "First"} evaluation seen at ${zonedTime(activity.last_evaluation_ms)}`,
          h("span", { class: "muted" }, ` · ${plural(activity.evaluations_24h || 0, "evaluation")} of ${plural(activity.flags_evaluated_24h || 0, "flag")} in the last 24 hours.`));
        return;
      }
    } catch (error) {
      // A fault of this page (not the server's answer, nor a failed fetch) is not retried.
      if (!(error instanceof ApiError) && !(error instanceof TypeError && /fetch/i.test(error.message))) throw error;
      if (error.status === 403) { status.textContent = `Your access does not allow reading ${env}'s activity.`; return; }
      // A passing failure: the next look may succeed.
    }
    setTimeout(look, ACTIVITY_POLL_MS);
  };
  look();
  return status;
}

// Creates a server or client key of the current environment and shows it once, with a Copy
// button and what it is for (`sdkKeyUse`, access.js).
function sdkKeyForm(after) {
  const form = h("form", { class: "row", "aria-label": `Create an SDK key for ${state.env}`, onsubmit: async (e) => {
    e.preventDefault();
    const kind = e.target.kind.value;
    try {
      const created = await api("POST", `${envPath()}/sdk-keys`, { name: e.target.name.value.trim(), kind });
      showSecret(`${kind === "client" ? "Client" : "Server"} SDK key for ${state.env} created. Copy it now, it is shown once:`, created.key, sdkKeyUse(kind));
      await after(created);
    } catch (error) { showError(error, form); }
  } },
  h("label", {}, "Key name ", h("input", { name: "name", required: true, value: `${state.project}-app` })),
  h("label", {}, "Kind ", h("select", { name: "kind" },
    h("option", { value: "server", selected: true }, "server (secret: for servers)"),
    h("option", { value: "client" }, "client (public: for browser pages)"))),
  h("button", { type: "submit", class: "primary" }, "Create SDK key"));
  return form;
}

function onboardingStep(done, title, ...body) {
  return h("li", { class: done ? "step done" : "step" },
    h("h3", {}, done ? h("span", { class: "state-on" }, "✓ Done: ") : "", title), ...body);
}

// The steps, each saying whether it is done. `here` is "flags", "start" or "setup": the page
// showing them (the setup page is step 2 itself).
async function gettingStarted(here) {
  // One flag and the count (apiPage, flags.js: the list's paging headers), not the whole list.
  const [firstPage, mayKeys, mayFlags] = await Promise.all([
    apiPage(`${projectPath()}/flags?limit=1`).catch(() => ({ items: [], total: 0 })),
    permissions(`proj/${state.project}:env/${state.env}:sdk-key/new`),
    permissions(`proj/${state.project}:flag/new`)]);
  const keys = mayKeys("sdk-key:read") ? await api("GET", `${envPath()}/sdk-keys`).catch(() => null) : null;
  const toStart = () => { if (location.hash.startsWith("#/start")) return route(); location.hash = "#/start"; return null; };
  const flagForm = h("form", { class: "row", "aria-label": "Create a first flag", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", `${projectPath()}/flags`, { key: e.target.key.value.trim(), kind: "boolean" });
      state.notice = `Flag ${e.target.key.value.trim()} created: off everywhere until you turn it on.`;
      await toStart();
    } catch (error) { showError(error, flagForm); }
  } },
  h("label", {}, "Flag key ", h("input", { name: "key", required: true, value: "new-checkout", pattern: "[A-Za-z0-9_.\\-]+", title: "letters, digits, _ . -" })),
  h("button", { type: "submit", class: "primary" }, "Create flag"));
  const keyCount = keys ? keys.length : 0;
  const keyText = keys ? `${state.env} has ${plural(keys.filter((k) => k.kind === "server").length, "server key")} and ${plural(keys.filter((k) => k.kind === "client").length, "client key")}.` : "";
  const firstFlag = firstPage.items[0];
  const flagCount = firstPage.total === null ? firstPage.items.length : firstPage.total;
  return h("section", { class: "card getting-started", "aria-labelledby": "getting-started-title" },
    h("h2", { id: "getting-started-title" }, `Get started with ${state.project} in ${state.env}`),
    h("ol", { class: "steps" },
      onboardingStep(flagCount > 0, "Create a flag",
        flagCount ? h("p", {}, `${state.project} has ${plural(flagCount, "flag")}`, firstFlag ? [", such as ", h("a", { href: `#/flag/${encodeURIComponent(firstFlag.key)}` }, firstFlag.key)] : "", ".")
          : [h("p", {}, "A boolean flag to start with: it serves false (off) until you turn it on."), gate(flagForm, mayFlags, "flag:create")]),
      onboardingStep(keyCount > 0, "Create an SDK key",
        h("p", {}, "Applications connect with a key of one environment. A server key is secret; a client key is public, for browser pages. The key is shown once: copy it then. ", keyText),
        keys === null && !mayKeys("sdk-key:create") ? h("p", { class: "muted" }, "Your access does not allow sdk-key:create here: ask an administrator for a key.")
          : keyCount && here !== "start" ? null
            : keyCount ? h("details", { id: "another-key" }, h("summary", {}, "Create another key"), sdkKeyForm(toStart))
              : sdkKeyForm(toStart)),
      onboardingStep(false, "Connect your application",
        here === "setup"
          ? h("p", {}, "Pick the snippet for your language below, put the key in ", h("code", {}, "SWITCHYARD_SDK_KEY"), " and run it.")
          : h("p", {}, "The ", h("a", { href: "#/setup", id: "open-setup" }, `SDK setup page for ${state.env}`), " has a snippet for each language, naming this server and the environment.")),
      onboardingStep(false, "See the first evaluation",
        h("p", {}, "As soon as an application evaluates a flag with the key, it shows here."),
        evaluationWatch(state.project, state.env),
        h("p", {}, "Then ask the ", h("a", { href: "#/playground" }, "Playground"), " why a user gets what they get."))));
}

async function startView() {
  if (!state.envs.length) {
    return page("Get started", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: "#/projects" }, "Create its first environment")));
  }
  page("Get started", await gettingStarted("start"));
}
