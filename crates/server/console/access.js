// Switchyard console: projects, environments, accounts, roles, tokens and SDK keys. A classic script sharing the page's globals (app.js loads first).
"use strict";

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
  // The address names the project (app.js's moveTo); choosing it alone would be undone by the address.
  const switchTo = async (key) => { if (typeof moveTo === "function") return moveTo(key, null); choose(key); await start(); route(); };
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

