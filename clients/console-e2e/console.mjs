// Drives the Switchyard console in Debian's headless Chromium (playwright-core, no browser
// download). Usage: node console.mjs BASE_URL ADMIN_TOKEN RELEASE_ID SCREENSHOT_DIR
// Accounts `editor` (writer), `viewer` (reader) and `owner` (admin) must exist with password
// PASSWORD below.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";

const [base, adminToken, releaseId, shots] = process.argv.slice(2);
const PASSWORD = "correct horse battery staple";
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let step = 0;
// The SDK setup page's copy buttons write to the clipboard; the test reads it back.
const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, permissions: ["clipboard-read", "clipboard-write"] });
page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });
const api = async (method, path, body) => {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
// The console sets aria-busy on <main> while it saves and re-renders.
const settled = () => page.waitForFunction(() => !document.querySelector("main[aria-busy]"));
// A critical environment's changes are confirmed by typing its name; Confirm waits for it.
async function confirmCritical(env, how) {
  const confirm = page.getByRole("button", { name: "Confirm" });
  if (!(await confirm.isDisabled())) throw new Error(`a change in critical ${env} was confirmable without typing`);
  const typed = page.getByLabel(`${env} is critical: type its name to confirm`);
  await typed.fill(env);
  if (how === "Enter") await typed.press("Enter"); else await confirm.click();
}
const expectText = async (text) => page.getByText(text, { exact: false }).first().waitFor({ timeout: 10000 });
// The flag page's one save: Review and save opens the diff; an optional comment; Save changes.
async function reviewAndSave(comment) {
  await page.getByRole("button", { name: "Review and save" }).click();
  const dialog = page.getByRole("dialog", { name: /^Review changes to / });
  await dialog.waitFor();
  if (comment) await dialog.getByLabel("Comment", { exact: true }).fill(comment);
  await dialog.getByRole("button", { name: "Save changes" }).click();
  await dialog.waitFor({ state: "detached" });
}
const openTab = async (name) => {
  await page.getByRole("tab", { name }).click();
  await settled();
};

async function signIn(account) {
  await page.goto(base + "/");
  await page.getByLabel("Account").fill(account);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.keyboard.press("Enter"); // the form works without a mouse
  await page.getByRole("heading", { name: "Flags" }).waitFor();
}

try {
  // Sign in.
  await signIn("editor");
  await shot("flags");

  // Create a flag.
  await page.getByLabel("New flag key").fill("console-flag");
  await page.getByRole("button", { name: "Create flag" }).click();
  await page.getByRole("heading", { name: "Flag console-flag" }).waitFor();
  await shot("flag-created");

  // Add a rule: country in DE serves the first variation.
  await page.getByRole("button", { name: "Add rule" }).click();
  await page.getByLabel("rule 1 clause 1 attribute").fill("country");
  await page.getByLabel("rule 1 clause 1 values").fill("DE");
  await reviewAndSave("German launch");
  await expectText("version 1");
  const stored = await api("GET", "/projects/default/environments/production/flags/console-flag");
  if (stored.rules.length !== 1 || stored.rules[0].condition.all[0].values[0] !== "DE") throw new Error(`rule not stored: ${JSON.stringify(stored.rules)}`);
  if ((await page.getByLabel("rule 1 clause 1 attribute").inputValue()) !== "country") throw new Error("rule not shown after save");
  await shot("rule-added");

  // Toggle it in production, with a confirmation that names the environment.
  await page.getByRole("button", { name: "Turn on in production" }).click();
  await expectText("Turn console-flag ON in production?");
  await shot("toggle-confirmation");
  await confirmCritical("production"); // a first start marks production critical
  await page.getByRole("button", { name: "Turn off in production" }).waitFor();
  if (!(await api("GET", "/projects/default/environments/production/flags/console-flag")).on) throw new Error("toggle not stored");

  // Live: another person's change appears without a reload.
  const current = await api("GET", "/projects/default/environments/production/flags/console-flag");
  await api("POST", "/projects/default/environments/production/flags/console-flag/toggle", { on: false, comment: "someone else" });
  await page.getByRole("button", { name: "Turn on in production" }).waitFor({ timeout: 10000 });
  void current;
  await shot("live-update");

  // Concurrent edits: an edit in progress is never silently overwritten.
  await page.getByLabel("rule 1 clause 1 values").fill("DE, AT");
  await api("POST", "/projects/default/environments/production/flags/console-flag/toggle", { on: true, comment: "someone else again" });
  await expectText("This was changed elsewhere");
  await reviewAndSave();
  await page.getByRole("alert").filter({ hasText: "Conflict" }).waitFor();
  await shot("conflict");
  const kept = await api("GET", "/projects/default/environments/production/flags/console-flag");
  if (kept.rules[0].condition.all[0].values.length !== 1 || !kept.on) throw new Error(`the stale edit overwrote: ${JSON.stringify(kept)}`);

  // The change is in the audit log, with its diff. Leaving the refused edit asks first.
  await page.getByRole("link", { name: "Audit log" }).click();
  await expectText("Leave this page? Your unsaved changes will be lost.");
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  await expectText("turned console-flag on in production");
  // Open the toggle's own entry: the page's chain check, refused for an editor, can be audited
  // (and listed first) before or after the log is read.
  const toggled = page.locator("#audit li", { hasText: "someone else again" }).first();
  await toggled.locator("summary").click();
  await toggled.locator(".diff-add").first().waitFor();
  await shot("audit");
  // A record with a very large diff opens without overflowing the stack (its lines were once
  // spread into one call, which fails beyond some 150,000): the first 200 changed lines, then
  // all of them on request. Repeated values keep the body under the 1 MiB limit.
  const segments = "/projects/default/environments/production/segments";
  const values = Array(200000).fill("a");
  await api("POST", segments, { key: "big-diff", included: [{ kind: "user", values }] });
  await page.goto(`${base}/#/audit?resource=${encodeURIComponent("proj/default:env/production:segment/big-diff")}`);
  const bigRecord = page.locator("#audit li", { hasText: "created segment big-diff in production" }).first();
  await bigRecord.waitFor();
  await settled();
  await bigRecord.locator("summary").click();
  await bigRecord.locator("button.show-all").waitFor();
  const shown = await bigRecord.locator(".diff-add, .diff-del").count();
  if (shown !== 200) throw new Error(`a large diff showed ${shown} lines at first, not 200`);
  await bigRecord.locator("button.show-all").click();
  await page.waitForFunction(() => document.querySelectorAll("#audit .diff-add").length > 200000);
  await api("DELETE", `${segments}/big-diff`);
  // The page re-reads the log for that change; let it finish before leaving. Its re-render
  // drops the 200,000 diff lines: wait for that cheaply first (a text search walks them all,
  // seconds per look on a loaded machine).
  await page.waitForFunction(() => document.querySelectorAll("#audit .diff-add").length === 0, null, { timeout: 30000 });
  await expectText("deleted segment big-diff in production");
  await settled();

  // Segments and SDK keys.
  await page.getByRole("link", { name: "Segments" }).click();
  await page.getByLabel("New segment key").fill("beta");
  await page.getByRole("button", { name: "Create segment" }).click();
  await page.getByLabel("users included in beta").fill("alice, bob");
  await page.getByRole("button", { name: "Save beta" }).click();
  await expectText("beta (version 2");
  const beta = await api("GET", "/projects/default/environments/production/segments/beta");
  if (JSON.stringify(beta.included) !== JSON.stringify([{ kind: "user", values: ["alice", "bob"] }])) throw new Error(`segment not stored: ${JSON.stringify(beta)}`);
  // Segment rules use the same rule builder as flags.
  await page.getByRole("button", { name: "Add rule to beta" }).click();
  await page.getByLabel("beta rule 1 clause 1 attribute").fill("country");
  await page.getByLabel("beta rule 1 clause 1 values").fill("NL");
  await page.getByRole("button", { name: "Save beta" }).click();
  await expectText("beta (version 3");
  const ruled = await api("GET", "/projects/default/environments/production/segments/beta");
  if (JSON.stringify(ruled.rules[0].condition.all[0].values) !== '["NL"]') throw new Error(`segment rule not stored: ${JSON.stringify(ruled)}`);

  // Flag settings, and a JSON flag's values checked against its schema as you type.
  await page.goto(`${base}/#/flag/console-flag`);
  await page.getByRole("heading", { name: "Flag console-flag" }).waitFor();
  await openTab("Settings");
  await page.getByLabel("Description", { exact: true }).fill("Checkout redesign");
  await page.getByLabel("Tags (comma separated)").fill("checkout, web");
  await page.getByLabel("Temporary (a release flag, to be removed)").check();
  await page.getByLabel("Planned removal (a temporary flag's remove-by day)").fill("2020-01-31");
  await reviewAndSave();
  await expectText("· Checkout redesign");
  const described = await api("GET", "/projects/default/flags/console-flag");
  if (described.remove_by !== "2020-01-31" || !described.temporary) throw new Error(`planned removal not stored: ${JSON.stringify(described)}`);
  if (described.description !== "Checkout redesign" || described.tags.join() !== "checkout,web") throw new Error(`settings not stored: ${JSON.stringify(described)}`);
  // Archive and restore from the flag page; meanwhile the list's Archived filter shows it.
  await page.getByRole("button", { name: "Archive flag" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await expectText("console-flag is archived");
  if (!(await api("GET", "/projects/default/flags/console-flag")).archived) throw new Error("archive not stored");
  await page.goto(`${base}/#/flags?archived=1`);
  await page.getByRole("link", { name: "console-flag" }).waitFor();
  await shot("archived-filter");
  await page.goto(`${base}/#/flag/console-flag?tab=settings`);
  await page.getByRole("button", { name: "Restore flag" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("button", { name: "Archive flag" }).waitFor();
  if ((await api("GET", "/projects/default/flags/console-flag")).archived) throw new Error("restore not stored");
  // The Stale filter reads the server's report for the environment and says why per flag.
  await page.goto(`${base}/#/flags?stale=1`);
  await page.getByRole("columnheader", { name: "Stale because" }).waitFor();
  await expectText("past its planned removal on 2020-01-31");
  await page.goto(`${base}/#/flags`);
  // Only the hash changes: wait for the unfiltered list, or the re-render empties the field.
  await page.getByRole("columnheader", { name: "Stale because" }).waitFor({ state: "detached" });
  await settled();
  await page.getByLabel("New flag key").fill("banner");
  await page.getByLabel("kind", { exact: true }).last().selectOption("json");
  await page.getByRole("button", { name: "Create flag" }).click();
  await page.getByRole("heading", { name: "Flag banner" }).waitFor();
  await openTab("Variations");
  // A change elsewhere re-reads the page; an edit made while that re-read loads is kept, not
  // silently replaced (this once lost the schema under load). The re-read's flag read is held
  // until the edit is made.
  let releaseRead, readHeld, holding = true;
  const released = new Promise((resolve) => { releaseRead = resolve; });
  const heldRead = new Promise((resolve) => { readHeld = resolve; });
  const bannerRead = "**/api/v1/projects/default/flags/banner";
  await page.route(bannerRead, async (routed) => {
    if (!holding || routed.request().method() !== "GET") return routed.fallback();
    holding = false;
    readHeld();
    await released;
    await routed.continue();
  });
  await api("POST", "/projects/default/flags", { key: "elsewhere", kind: "boolean" });
  await heldRead;
  await page.getByLabel("JSON schema for values (optional)").fill('{"type": "object", "required": ["title"]}');
  releaseRead();
  await settled();
  await page.unroute(bannerRead);
  await expectText("This was changed elsewhere.");
  if ((await page.getByLabel("JSON schema for values (optional)").inputValue()) === "") throw new Error("a re-read for a change elsewhere replaced the schema being typed");
  await expectText('value needs "title"');
  await page.getByLabel("value of variation control").fill('{"title": "Hello"}');
  await page.getByLabel("value of variation treatment").fill('{"title": 7');
  await expectText("not valid JSON");
  await shot("json-validation");
  await page.getByRole("button", { name: "Review and save" }).click();
  await page.getByRole("alert").filter({ hasText: "Fix the invalid values first" }).waitFor();
  await page.getByLabel("value of variation treatment").fill('{"title": "Welcome"}');
  await reviewAndSave();
  // The page's own word that the save landed (the flake left the dialog closed and nothing stored).
  await expectText("Changes to banner saved.");
  await settled();
  const banner = await api("GET", "/projects/default/flags/banner");
  if (!banner.json_schema || banner.variations[1].value.title !== "Welcome") throw new Error(`json flag not stored: ${JSON.stringify(banner)}`);

  // Start a guarded release from the flag page.
  await page.goto(`${base}/#/flag/console-flag`);
  await page.getByRole("heading", { name: "Flag console-flag" }).waitFor();
  await openTab("Releases");
  await page.getByLabel("Guardrail: bad-event metric").fill("checkout_error");
  await page.getByRole("button", { name: "Start release in production" }).click();
  await expectText("Start releasing on of console-flag to everyone else in production?");
  await confirmCritical("production", "Enter"); // Enter in the name box confirms
  await page.getByRole("heading", { name: /^Release / }).waitFor();
  const started = (await api("GET", "/projects/default/environments/production/releases")).find((r) => r.flag === "console-flag");
  if (!started || started.guardrails[0].metric !== "checkout_error") throw new Error(`release not started: ${JSON.stringify(started)}`);
  await shot("release-started");
  // A release is in its own environment only: switching the header's environment on a release
  // page goes to that environment's releases list (app.js moveTo), and back.
  await page.getByLabel("Environment", { exact: true }).selectOption("staging");
  await page.getByRole("heading", { name: "Releases in staging" }).waitFor();
  if (!/^#\/releases\?(.*&)?env=staging/.test(new URL(page.url()).hash)) throw new Error(`not the staging releases list: ${page.url()}`);
  await page.getByLabel("Environment", { exact: true }).selectOption("production");
  await page.getByRole("heading", { name: "Releases in production" }).waitFor();
  await settled();

  await page.getByRole("link", { name: "Access" }).click();
  await page.getByLabel("Token name").fill("laptop");
  await page.getByRole("button", { name: "Create api token" }).click();
  await expectText("API token created. Copy it now");
  await settled();
  if (!(await page.getByRole("button", { name: "Revoke token laptop" }).isVisible())) throw new Error("the new token is not listed");
  // A writer may not mint SDK keys: the console says so.
  await page.getByLabel("SDK key name").fill("checkout-service");
  await page.getByRole("button", { name: "Create sdk key" }).click();
  await page.getByRole("alert").filter({ hasText: "Permission denied: not allowed to sdk-key:create" }).waitFor();
  await shot("access");

  // A release's live chart, with its decisions.
  await page.goto(`${base}/#/release/${releaseId}`);
  await page.getByRole("heading", { name: `Release ${releaseId}` }).waitFor();
  await page.locator("#release-chart").waitFor();
  await expectText("error: treated (solid) vs control (dashed)");
  await page.waitForFunction(() => document.querySelectorAll("#release-chart .decision").length >= 1);
  // The page re-reads the release: wait until the chart has drawn at least two samples.
  await page.waitForFunction(() => {
    const label = document.querySelector("#release-chart")?.getAttribute("aria-label") || "";
    const drawn = /, (\d+) samples;/.exec(label);
    return drawn !== null && Number(drawn[1]) >= 2;
  }, null, { timeout: 30000 });
  await shot("release-chart");

  // Phone width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/flags`);
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`the flag list overflows a phone screen by ${overflow}px`);
  await shot("phone");
  await page.goto(`${base}/#/setup`);
  await page.getByRole("heading", { name: "SDK setup for production" }).waitFor();
  await settled();
  const setupOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (setupOverflow > 2) throw new Error(`the SDK setup page overflows a phone screen by ${setupOverflow}px`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // Permission denied: a reader is told the flag is read-only, and its controls are disabled.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn("viewer");
  await page.goto(`${base}/#/flag/console-flag`);
  await page.getByRole("heading", { name: "Flag console-flag" }).waitFor();
  await expectText("Read-only for you in production: your access does not allow flag:toggle or flag:update on this flag.");
  for (const name of ["Turn off in production", "Kill in production", "Review and save"]) {
    if (!(await page.getByRole("button", { name, exact: true }).isDisabled())) throw new Error(`a reader may press ${name}`);
  }
  await shot("permission-denied");
  // A reader sees the setup page but may not change the environment's allowed origins.
  await page.getByRole("link", { name: "SDK setup" }).click();
  await page.getByRole("heading", { name: "SDK setup for production" }).waitFor();
  if (!(await page.getByRole("button", { name: "Save allowed origins of production" }).isDisabled())) throw new Error("a reader may change allowed origins");
  if (!(await api("GET", "/projects/default/environments/production/flags/console-flag")).on) throw new Error("a reader's toggle was applied");

  // An administrator: projects, a critical environment, accounts and roles.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn("owner");
  await page.getByRole("link", { name: "Projects" }).click();
  await page.getByRole("heading", { name: "Projects and environments" }).waitFor();
  await page.getByLabel("Critical (changes need the name typed)").nth(1).check(); // staging
  await page.getByRole("button", { name: "Save staging" }).click();
  await settled();
  if (!(await api("GET", "/projects/default/environments/staging")).critical) throw new Error("staging not marked critical");
  await page.getByLabel("Environment", { exact: true }).selectOption("staging");
  await settled();
  await page.goto(`${base}/#/flag/console-flag`);
  await page.getByRole("heading", { name: "Flag console-flag" }).waitFor();
  await page.getByRole("button", { name: "Turn on in staging" }).click();
  await expectText("staging is critical: type its name to confirm");
  await shot("critical-confirmation");
  await confirmCritical("staging");
  await page.getByRole("button", { name: "Turn off in staging" }).waitFor();
  if (!(await api("GET", "/projects/default/environments/staging/flags/console-flag")).on) throw new Error("staging toggle not stored");

  // SDK keys: the hint after creating one says where each kind goes (client keys: browsers only).
  await page.getByRole("link", { name: "Access" }).click();
  await page.getByLabel("SDK key name").fill("web-page");
  await page.getByLabel("kind", { exact: true }).selectOption("client");
  await page.getByRole("button", { name: "Create sdk key" }).click();
  await expectText("Client SDK key for staging created");
  const hint = await page.locator("#secret").innerText();
  if (!hint.includes("@openfeature/ofrep-web-provider") || hint.includes("Rust SDK")) throw new Error(`client key hint: ${hint}`);
  await page.getByRole("button", { name: "I have copied it" }).click();
  await settled();

  // The SDK setup page, reached from the SDK keys section: every snippet names this server and
  // the environment, a copy button copies it, and the allowed origins can be edited.
  await page.getByRole("link", { name: "How to connect an application to staging" }).click();
  await page.getByRole("heading", { name: "SDK setup for staging" }).waitFor();
  await settled();
  const snippets = await page.locator("section.snippet").evaluateAll((sections) => sections.map((s) => ({
    id: s.id, kind: s.dataset.keyKind, code: s.querySelector("pre").textContent })));
  const expected = ["rust", "node", "python", "go", "java", "browser", "track-node", "track-python", "otlp-env", "otel-node", "otel-python"].map((id) => `snippet-${id}`);
  for (const id of expected) if (!snippets.some((s) => s.id === id)) throw new Error(`no ${id} on the setup page: ${snippets.map((s) => s.id)}`);
  for (const s of snippets) {
    if (!s.code.includes(base)) throw new Error(`${s.id} does not name ${base}:\n${s.code}`);
    if (!/environment staging/.test(s.code)) throw new Error(`${s.id} does not name environment staging:\n${s.code}`);
  }
  if (snippets.find((s) => s.id === "snippet-browser").kind !== "client" || snippets.find((s) => s.id === "snippet-node").kind !== "server") throw new Error("wrong key kinds");
  if (!snippets.find((s) => s.id === "snippet-otlp-env").code.includes(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${base}/v1/traces`)) throw new Error("the OTLP endpoint is not this server's");
  await page.getByRole("button", { name: "Copy the Node.js (OpenFeature over OFREP) snippet" }).click();
  await page.locator("#snippet-node .copied", { hasText: "Copied" }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== snippets.find((s) => s.id === "snippet-node").code) throw new Error(`clipboard holds:\n${copied}`);
  await page.getByLabel("Allowed origins (space or comma separated; empty: any origin)").fill("https://app.example, http://localhost:3000");
  await page.getByRole("button", { name: "Save allowed origins of staging" }).click();
  await expectText("Pages from https://app.example, http://localhost:3000 may read staging's client-key answers.");
  const staging = await api("GET", "/projects/default/environments/staging");
  if (JSON.stringify(staging.allowed_origins) !== '["https://app.example","http://localhost:3000"]' || !staging.critical) throw new Error(`allowed origins not stored: ${JSON.stringify(staging)}`);
  await page.getByRole("button", { name: "Copy the Rust SDK (local evaluation) snippet" }).click();
  await page.locator("#snippet-rust .copied", { hasText: "Copied" }).waitFor();
  await shot("sdk-setup");
  // Without the clipboard API (plain HTTP from another host) the snippet is selected instead.
  await page.evaluate(() => Object.defineProperty(navigator, "clipboard", { value: undefined }));
  await page.getByRole("button", { name: "Copy the Python (OpenFeature over OFREP) snippet" }).click();
  await page.locator("#snippet-python .copied", { hasText: "Selected" }).waitFor();
  const selected = await page.evaluate(() => window.getSelection().toString());
  if (selected.trimEnd() !== snippets.find((s) => s.id === "snippet-python").code.trimEnd()) throw new Error(`selection holds:\n${selected}`);
  await page.getByRole("link", { name: "Projects" }).click();
  await page.getByRole("heading", { name: "Projects and environments" }).waitFor();
  await page.getByLabel("New project key").fill("mobile");
  await page.getByLabel("new project name").fill("Mobile apps");
  await page.getByRole("button", { name: "Create project" }).click();
  await expectText("Environments of mobile");
  await page.getByLabel("New environment key").fill("beta");
  await page.getByRole("button", { name: "Create environment" }).click();
  await settled();
  if ((await api("GET", "/projects/mobile/environments")).map((e) => e.key).join() !== "beta") throw new Error("project environment not created");
  await shot("projects");
  await page.getByRole("link", { name: "Access" }).click();
  await page.getByLabel("New account name").fill("colleague");
  await page.getByLabel("Initial password (12 or more characters)").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await settled();
  await page.getByLabel("New role name").fill("staging-toggler");
  await page.getByRole("button", { name: "Create role" }).click();
  await settled();
  await page.getByRole("button", { name: "Add statement to staging-toggler" }).click();
  await page.getByLabel("staging-toggler statement actions").last().fill("flag:toggle");
  await page.getByLabel("staging-toggler statement resources").last().fill("proj/*:env/staging:flag/*");
  await page.getByRole("button", { name: "Save role staging-toggler" }).click();
  await settled();
  await page.getByLabel("colleague has role staging-toggler").check();
  await page.getByRole("button", { name: "Save colleague" }).click();
  await settled();
  const colleague = await api("GET", "/accounts/colleague"), role = await api("GET", "/roles/staging-toggler");
  if (colleague.roles.join() !== "reader,staging-toggler") throw new Error(`account roles: ${JSON.stringify(colleague)}`);
  if (role.statements.length !== 2 || role.statements[1].actions[0] !== "flag:toggle") throw new Error(`role: ${JSON.stringify(role)}`);
  await shot("accounts-roles");
  // Change requests: staging requires one approval. The editor's toggle waits (202) and changes
  // nothing; the owner reviews its diff and approves it with a comment; then it takes effect.
  const stagingPath = "/projects/default/environments/staging";
  const before = await api("GET", stagingPath);
  await api("PUT", stagingPath, { key: "staging", name: before.name, critical: before.critical, required_approvals: 1, version: before.version });
  const signedIn = await fetch(`${base}/api/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ account: "editor", password: PASSWORD }) });
  const editorToken = (await signedIn.json()).token;
  const targetingPath = `${stagingPath}/flags/console-flag`;
  const wasOn = (await api("GET", targetingPath)).on;
  const held = await fetch(`${base}/api/v1${targetingPath}/toggle`, { method: "POST", headers: { authorization: `Bearer ${editorToken}`, "content-type": "application/json" }, body: JSON.stringify({ on: !wasOn, comment: "flip it in staging" }) });
  if (held.status !== 202) throw new Error(`a toggle in staging answered ${held.status}, not 202`);
  const pendingId = (await held.json()).change_request.id;
  if ((await api("GET", targetingPath)).on !== wasOn) throw new Error("a held toggle took effect");
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn("owner");
  await page.locator("#project").selectOption("default"); // the tab chose mobile above
  await settled();
  await page.getByRole("link", { name: "Change requests" }).click();
  await page.getByRole("heading", { name: "Change requests" }).waitFor();
  const card = page.locator(`#change-request-${pendingId}`);
  await card.locator(".diff-add").first().waitFor();
  await card.getByLabel(`Comment on change request ${pendingId}`).fill("checked with the team");
  await shot("change-request");
  await card.getByRole("button", { name: `Approve change request ${pendingId}` }).click();
  await card.locator(".state-applied").waitFor({ timeout: 10000 });
  if ((await api("GET", targetingPath)).on === wasOn) throw new Error("the approved toggle did not take effect");
  const approvedRequest = await api("GET", `/projects/default/change-requests/${pendingId}`);
  if (approvedRequest.approvals[0].account !== "owner" || approvedRequest.approvals[0].comment !== "checked with the team") throw new Error(`approval: ${JSON.stringify(approvedRequest.approvals)}`);
  if ((await card.textContent()).includes("null")) throw new Error(`the card shows null: ${await card.textContent()}`);
  await shot("change-request-applied");

  // Revising: the owner's own held toggle in staging, its body edited as JSON on its page. A
  // refused body shows the server's 422 with the field it names; a valid one makes revision 2.
  // The same page gives it a time and takes it away again.
  const ownerToken = (await (await fetch(`${base}/api/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ account: "owner", password: PASSWORD }) })).json()).token;
  const asOwner = (path, body) => fetch(`${base}/api/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const stagingOn = (await api("GET", targetingPath)).on;
  // The flag for the end dates below, made now: the page re-reads for other people's commits,
  // and waiting for the held toggle's card below also waits for these.
  await api("POST", "/projects/default/flags", { key: "promo", kind: "boolean" });
  await api("PUT", "/projects/default/environments/production/flags/promo", { version: 0, on: true, targets: [{ kind: "user", variation: 0, values: ["alice", "bob"] }], fallthrough: { variation: 1 } });
  const ownHeld = await asOwner(`${targetingPath}/toggle`, { on: !stagingOn, comment: "first try" });
  if (ownHeld.status !== 202) throw new Error(`the owner's toggle in staging answered ${ownHeld.status}, not 202`);
  const ownId = (await ownHeld.json()).change_request.id;
  // The list shows it once the page has re-read for it (and for every commit before it); from
  // then on nothing re-renders the page under the edits below.
  await page.locator(`#change-request-${ownId}`).waitFor();
  await settled();
  await page.locator(`#change-request-${ownId} h2 a`).click();
  await page.getByRole("heading", { name: `Change request ${ownId}` }).waitFor();
  await settled();
  const own = page.locator(`#change-request-${ownId}`);
  await own.locator("summary", { hasText: "Revise…" }).click();
  const revisedBody = own.getByLabel(`Request body of change request ${ownId} (JSON)`);
  if (JSON.parse(await revisedBody.inputValue()).comment !== "first try") throw new Error("the revision box does not hold the request");
  await revisedBody.fill(JSON.stringify({ on: !stagingOn, comment: "second try", colour: "red" }));
  await own.getByRole("button", { name: `Submit revision of change request ${ownId}` }).click();
  await own.getByRole("alert").filter({ hasText: "(request.colour)" }).waitFor();
  await shot("revision-refused");
  await revisedBody.fill(JSON.stringify({ on: !stagingOn, comment: "second try" }));
  await own.getByRole("button", { name: `Submit revision of change request ${ownId}` }).click();
  await own.getByText(`Change request ${ownId}, revision 2`).waitFor();
  const revised = await api("GET", `/projects/default/change-requests/${ownId}`);
  if (revised.revision !== 2 || revised.request.comment !== "second try" || revised.state !== "pending") throw new Error(`revision: ${JSON.stringify(revised)}`);
  const utcText = (ms) => `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
  await own.locator("summary", { hasText: "Schedule…" }).click();
  await own.getByLabel(`Time for change request ${ownId}`).fill("2031-01-31T18:00");
  await own.getByRole("button", { name: `Schedule change request ${ownId}` }).click();
  const chosenMs = await page.evaluate(() => new Date("2031-01-31T18:00").getTime()); // the browser's own time zone
  await own.locator(".scheduled-at", { hasText: utcText(chosenMs) }).waitFor();
  if ((await api("GET", `/projects/default/change-requests/${ownId}`)).run_at_ms !== chosenMs) throw new Error("the chosen time was not stored");
  await own.getByRole("button", { name: `Remove the schedule of change request ${ownId}` }).click();
  await own.locator(".scheduled-at").waitFor({ state: "detached" });
  const unscheduled = await api("GET", `/projects/default/change-requests/${ownId}`);
  if (unscheduled.run_at_ms !== undefined || unscheduled.state !== "pending") throw new Error(`unscheduling: ${JSON.stringify(unscheduled)}`);
  await own.getByRole("button", { name: `Withdraw change request ${ownId}` }).click();
  await own.locator(".state-withdrawn").waitFor();

  // End dates in production (no approvals needed there): a far removal of one individual
  // target, and "turn off" a few seconds ahead, both through the flag page; the runner (every
  // second, on the wall clock) applies the turn-off and the pages show it. Meanwhile a change
  // scheduled in staging without its approval expires, and the Scheduled filter shows why.
  await page.getByLabel("Environment", { exact: true }).selectOption("production");
  await settled();
  await page.goto(`${base}/#/flag/promo`);
  await page.getByRole("heading", { name: "Flag promo" }).waitFor();
  await settled();
  await page.locator("#target-end-dates tr", { hasText: "alice" }).locator("summary", { hasText: "Remove on…" }).click();
  await page.getByLabel("Remove user alice on", { exact: true }).fill("2031-01-31T18:00");
  await page.getByRole("button", { name: "Schedule removal of user alice" }).click();
  await confirmCritical("production");
  await page.locator("#scheduled-changes li", { hasText: "Remove user alice" }).waitFor();
  // A few seconds ahead, to the second (fill() refuses a value the input rewrites, and a
  // datetime-local value drops ":00" seconds).
  const soon = await page.evaluate(() => {
    let at = Math.ceil((Date.now() + 6000) / 1000) * 1000;
    if (new Date(at).getSeconds() === 0) at += 1000;
    const d = new Date(at), pad = (n) => String(n).padStart(2, "0");
    return { at, local: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` };
  });
  await page.locator("summary", { hasText: "Turn off on…" }).click();
  await page.getByLabel("Turn promo off in production at (your time)").fill(soon.local);
  await page.getByRole("button", { name: "Schedule turn off" }).click();
  await confirmCritical("production");
  const listed = page.locator("#scheduled-changes li", { hasText: "Turn promo off in production" });
  await listed.waitFor();
  // Scheduled after the form is done with: its commit re-renders the page.
  const expiring = await asOwner("/projects/default/scheduled-changes", { environment: "staging", operation: "toggle", target: "console-flag", request: { on: !stagingOn }, at: new Date(soon.at).toISOString() });
  if (expiring.status !== 202) throw new Error(`scheduling in staging answered ${expiring.status}: ${await expiring.text()}`);
  const expiringId = (await expiring.json()).change_request.id;
  if (!(await listed.textContent()).includes(utcText(soon.at))) throw new Error(`the scheduled turn-off is listed without its time: ${await listed.textContent()}`);
  if (Date.now() < soon.at - 1000 && !(await api("GET", "/projects/default/environments/production/flags/promo")).on) throw new Error("the turn-off applied before its time");
  await shot("scheduled-changes");
  await listed.getByRole("link").click();
  await page.getByRole("heading", { name: /^Change request / }).waitFor();
  await page.locator(".state-applied").waitFor({ timeout: 20000 });
  if ((await api("GET", "/projects/default/environments/production/flags/promo")).on) throw new Error("the scheduled turn-off did not take effect");
  await page.goto(`${base}/#/change-requests?state=expired&scheduled=true`);
  const expiredCard = page.locator(`#change-request-${expiringId}`);
  await expiredCard.locator(".reason", { hasText: "Expired: its time came with 0 of the 1 approvals it needs" }).waitFor({ timeout: 20000 });
  await shot("scheduled-expired");
  // The flag page shows it off, and only the removal still waits; it is moved, then run now.
  await page.goto(`${base}/#/flag/promo`);
  await page.getByRole("button", { name: "Turn on in production" }).waitFor();
  await settled();
  if ((await page.locator("#scheduled-changes li").count()) !== 1) throw new Error("the applied turn-off is still listed as scheduled");
  await page.locator("#scheduled-changes li", { hasText: "Remove user alice" }).getByRole("link").click();
  const removal = page.locator("article.change-request");
  await removal.locator("summary", { hasText: "Reschedule…" }).click();
  await removal.getByLabel(/^Time for change request/).fill("2032-02-29T12:30");
  await removal.getByRole("button", { name: /^Schedule change request/ }).click();
  const movedMs = await page.evaluate(() => new Date("2032-02-29T12:30").getTime());
  await removal.locator(".scheduled-at", { hasText: utcText(movedMs) }).waitFor();
  await removal.getByRole("button", { name: /^Remove the schedule of change request/ }).click();
  await confirmCritical("production"); // it has its (zero) approvals: it applies now
  await removal.locator(".state-applied").waitFor();
  const promo = await api("GET", "/projects/default/environments/production/flags/promo");
  if (promo.targets.flatMap((t) => t.values).join() !== "bob" || promo.on) throw new Error(`after the removal: ${JSON.stringify(promo)}`);
  const after = await api("GET", stagingPath);
  await api("PUT", stagingPath, { key: "staging", name: after.name, critical: after.critical, required_approvals: 0, version: after.version });
  console.log(`OK ${step} screenshots in ${shots}`);

  // Evaluations of console-flag through OFREP, for its Insights chart.
  const sdkKey = (await api("POST", "/projects/default/environments/production/sdk-keys", { name: "insights", kind: "server" })).key;
  for (let i = 0; i < 30; i++) {
    const r = await fetch(`${base}/ofrep/v1/evaluate/flags/console-flag`, { method: "POST", headers: { authorization: `Bearer ${sdkKey}`, "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: `user-${i}` } }) });
    if (!r.ok) throw new Error(`OFREP: ${r.status} ${await r.text()}`);
  }
  // The flag's Insights chart: a time axis in local time with its zone, a value axis with its
  // unit, ticks, and a legend naming the variations.
  for (const deadline = Date.now() + 20000; !(await api("GET", "/projects/default/environments/production/flags/console-flag/evaluations")).length;) {
    if (Date.now() > deadline) throw new Error("the evaluations were never counted");
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.goto(`${base}/#/flag/console-flag?project=default&env=production&tab=insights`);
  const chart = page.locator("#exposures-chart");
  await chart.waitFor();
  const xLabel = await chart.locator(".x-label").textContent(), yLabel = await chart.locator(".y-label").textContent();
  if (!/^Time \(.+\)$/.test(xLabel) || yLabel !== "Evaluations per minute") throw new Error(`insights chart axes: ${xLabel} / ${yLabel}`);
  if ((await chart.locator(".x-tick").count()) < 2 || (await chart.locator(".y-tick").count()) < 2) throw new Error("insights chart has no tick labels");
  const legend = await chart.locator(".legend-label").allTextContents();
  if (!legend.length || !legend.every((l) => /\((true|false)\)$/.test(l))) throw new Error(`insights legend does not name the variations: ${JSON.stringify(legend)}`);
  await shot("insights-chart");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
