// Drives the console's readable history (crates/server/console/audit.js) and release page
// (releases.js) in Debian's headless Chromium, in New York time.
// Usage: node audit.mjs BASE_URL ADMIN_TOKEN ANA_TOKEN RITA_TOKEN SCREENSHOT_DIR
// `ana` is a writer and `rita` a reader; the script makes ana's changes, then over 2,000 more
// records: the administrator's toggles and rita's refused ones (an audited refusal is the
// cheapest real record: a toggle costs about twice as much).
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";

const [base, adminToken, anaToken, ritaToken, shots] = process.argv.slice(2);
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });
const LOAD_FLAGS = 20, TOGGLES_PER_FLAG = 10, REFUSED = 1800, AT_ONCE = 8;

const call = (token) => async (method, path, body) => {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const admin = call(adminToken), ana = call(anaToken);
const refusedToggle = (i) => fetch(`${base}/api/v1/projects/default/environments/production/flags/load-${i % LOAD_FLAGS}/toggle`, {
  method: "POST", headers: { authorization: `Bearer ${ritaToken}`, "content-type": "application/json" }, body: JSON.stringify({ on: i % 2 === 0 }) })
  .then((r) => { if (r.status !== 403) throw new Error(`rita's toggle: ${r.status}`); });
const env = "/projects/default/environments/production";
const fail = (what) => { throw new Error(what.length > 2000 ? `${what.slice(0, 2000)}…` : what); };

// ---- the records ----
const anaStart = Date.now();
await ana("POST", "/projects/default/flags", { key: "model", kind: "string", variations: [
  { key: "small", name: "Small model", value: "gpt-small" }, { key: "large", name: "Large model", value: "gpt-large" }], off_variation: "small" });
await ana("PUT", `${env}/flags/model`, { version: 0, on: true, off_variation: 0, fallthrough: { variation: 1 }, comment: "try the large one" });
await ana("POST", `${env}/flags/model/toggle`, { on: false, comment: "too expensive" });
// A release of ana's, running: its page shows the stage's bake deadline.
await ana("POST", "/projects/default/flags", { key: "new-search", kind: "boolean" });
await ana("PUT", `${env}/flags/new-search`, { version: 0, on: true, off_variation: 1, fallthrough: { variation: 1 } });
const release = await ana("POST", `${env}/releases`, { flag: "new-search", variation: "on",
  stages: [{ percent: 5, min_bake_s: 3600 }, { percent: 50, min_bake_s: 3600 }], guardrails: [{ metric: "error" }] });
const anaEnd = Date.now();
// The administrator toggles twenty flags ten times each (the flags at once), then rita tries to.
await Promise.all(Array.from({ length: LOAD_FLAGS }, (_, i) => admin("POST", "/projects/default/flags", { key: `load-${i}`, kind: "boolean" })));
const loadStart = Date.now();
await Promise.all(Array.from({ length: LOAD_FLAGS }, async (_, i) => {
  for (let n = 0; n < TOGGLES_PER_FLAG; n++) await admin("POST", `${env}/flags/load-${i}/toggle`, { on: n % 2 === 0 });
}));
const togglesMs = Date.now() - loadStart;
let next = 0;
await Promise.all(Array.from({ length: AT_ONCE }, async () => { while (next < REFUSED) await refusedToggle(next++); }));
console.error(`${LOAD_FLAGS * TOGGLES_PER_FLAG} toggles in ${togglesMs} ms, ${REFUSED} refused toggles in ${Date.now() - loadStart - togglesMs} ms`);

// What the API answers for a filter: every record, paged with next_before.
async function apiRecords(filters) {
  const all = [];
  let before = null;
  do {
    const q = new URLSearchParams(Object.assign({ limit: "500" }, filters, before ? { before: String(before) } : {}));
    const page = await admin("GET", `/audit?${q}`);
    all.push(...page.records);
    before = page.next_before;
  } while (before);
  return all;
}
const everything = await apiRecords({});
if (everything.length < 2000) fail(`only ${everything.length} records`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let step = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "America/New_York", locale: "en-US" });
  const page = await context.newPage();
  page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  await page.addInitScript((t) => sessionStorage.setItem("sy_token", t), adminToken);
  const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });
  const history = page.locator("section.history").first();
  // The list once loaded (not busy), with its records' sequence numbers.
  const shown = async () => {
    await page.waitForFunction(() => {
      const box = document.querySelector("section.history");
      return box && !box.hasAttribute("aria-busy") && box.querySelector(".pager") && !document.querySelector("main[aria-busy]");
    });
    return history.locator("li.audit-entry").evaluateAll((items) => items.map((li) => Number(li.dataset.seq)));
  };
  // Waits until the page of the current address (not the one before) is rendered and idle: a
  // changed URL alone does not say the page was re-rendered, nor that the render has begun.
  const settled = () => page.waitForFunction(() => {
    const main = document.querySelector("main");
    return main.dataset.shown === location.hash && !main.hasAttribute("aria-busy");
  });
  const open = async (hash) => {
    await page.goto(`${base}/${hash}`);
    await settled();
  };
  // Clicks a pager button and waits for another page than `from`.
  const turn = async (name, from) => {
    await history.getByRole("button", { name, exact: true }).click();
    await page.waitForFunction((first) => {
      const box = document.querySelector("section.history");
      const top = box && box.querySelector("li.audit-entry");
      return box && !box.hasAttribute("aria-busy") && (!top || Number(top.dataset.seq) !== first);
    }, from);
    return shown();
  };

  // ---- paging over the whole log, 200 a page, to the oldest record and back ----
  await open(`#/audit?size=200`);
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  let seqs = await shown();
  const newestSeq = seqs[0];
  if (newestSeq !== everything[0].seq) fail(`the first page starts at ${newestSeq}, the log at ${everything[0].seq}`);
  await history.getByText(new RegExp(`^rita was refused flag:toggle on load-\\d+ in production\\.$`)).first().waitFor();
  const seen = [...seqs];
  let pages = 1;
  while (!(await history.getByRole("button", { name: "Older", exact: true }).isDisabled())) {
    seqs = await turn("Older", seqs[0]);
    seen.push(...seqs);
    pages++;
    if (pages > 50) fail("more pages than records");
  }
  if (!/before=\d+/.test(page.url())) fail(`the page's position is not in its URL: ${page.url()}`);
  if (seen.join() !== everything.map((r) => r.seq).join()) fail(`paged ${seen.length} records, the log holds ${everything.length}`);
  await history.getByText(/\(the oldest\)/).waitFor();
  await history.getByText(/ created account admin\.$/).waitFor();
  await shot("oldest-page");
  let back = 1;
  while (!(await history.getByRole("button", { name: "Newer", exact: true }).isDisabled())) {
    seqs = await turn("Newer", seqs[0]);
    back++;
  }
  if (back !== pages || seqs[0] !== newestSeq) fail(`back at ${seqs[0]} after ${back} of ${pages} pages`);
  console.error(`paged ${seen.length} records in ${pages} pages and back`);

  // ---- sentences with names, variation names, the comment, local time with zone ----
  await open(`#/audit?person=ana`);
  let filtered = await shown();
  const byAna = await apiRecords({ actor: "ana" });
  if (filtered.join() !== byAna.map((r) => r.seq).join()) fail(`person filter shows ${filtered}, the API ${byAna.map((r) => r.seq)}`);
  if (filtered.length < 5 || filtered.length >= 50) fail(`ana's records: ${filtered.length}`);
  if ((await page.getByLabel("Person", { exact: true }).inputValue()) !== "ana") fail("the person filter is not shown");
  const toggle = history.locator("li.audit-entry", { hasText: "too expensive" });
  await toggle.getByText("ana turned model off in production: everyone gets Small model (\"gpt-small\").").waitFor();
  await history.getByText("ana changed the targeting of model in production: turned it on; the default rule now serves Large model.").waitFor();
  const when = await toggle.locator("time").innerText();
  if (!/\b(EST|EDT)\b/.test(when)) fail(`the time lacks its zone: ${when}`);
  await page.getByText("Times are in your time zone (America/New_York).").waitFor();
  await toggle.getByText("Show changes").click();
  await toggle.locator(".diff-add", { hasText: '"on": false' }).waitFor();
  await history.getByText(/^ana started the release of new-search to on in production/).waitFor();
  await shot("ana");

  // ---- filters: flag and action (a prefix), time ----
  await open(`#/audit`);
  await shown();
  await page.getByLabel("Flag", { exact: true }).fill("model");
  await page.getByLabel("Action", { exact: true }).selectOption("flag:toggle");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/flag=model/);
  await settled();
  filtered = await shown();
  const modelToggles = await apiRecords({ project: "default", flag: "model", action: "flag:toggle" });
  if (filtered.length !== 1 || filtered[0] !== modelToggles[0].seq) fail(`flag and action filter: ${filtered} vs ${modelToggles.map((r) => r.seq)}`);
  await open(`#/audit?action=${encodeURIComponent("release:*")}`);
  filtered = await shown();
  const releases = await apiRecords({ action: "release:*" });
  if (!filtered.length || filtered.join() !== releases.map((r) => r.seq).join()) fail(`action prefix: ${filtered} vs ${releases.map((r) => r.seq)}`);
  // Ana's minutes only: from and to typed as the browser's local time, to the second.
  // In the form the input keeps: Chromium drops zero seconds ("…T13:48:00" reads back "…T13:48"),
  // and Playwright's fill calls a value that reads back otherwise malformed (1 run in 60 failed).
  const local = (ms) => page.evaluate((t) => new Date(t - new Date(t).getTimezoneOffset() * 60000).toISOString().slice(0, 19).replace(/:00$/, ""), ms);
  // The API's `to` is exclusive: the window ends where the second after anaEnd's starts, also
  // when that second is a minute's first (the form writes back the seconds the input drops).
  const from = Math.floor(anaStart / 1000) * 1000;
  const through = await local(Math.floor(anaEnd / 1000) * 1000);
  const to = Math.floor(anaEnd / 1000) * 1000 + 1000;
  await open(`#/audit`);
  await shown();
  await page.getByLabel("From", { exact: true }).fill(await local(from));
  await page.getByLabel("To", { exact: true }).fill(through);
  await page.getByLabel("Per page", { exact: true }).selectOption("500");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/from=/);
  await settled();
  filtered = await shown();
  const inWindow = everything.filter((r) => r.at_ms >= from && r.at_ms < to).map((r) => r.seq);
  const times = await history.locator("li.audit-entry time").evaluateAll((els) => els.map((t) => Date.parse(t.getAttribute("datetime"))));
  if (times.some((t) => t < from || t >= to)) fail(`time filter shows ${times} outside ${from}..${to}`);
  if (filtered.join() !== inWindow.join() || filtered.length >= everything.length / 2) fail(`time filter at ${page.url()} shows ${filtered}, the window holds ${inWindow}`);
  await shot("time-filter");
  // A "to" on a minute's first second, which the input reads back without seconds, is written
  // into the address with them: it means through that second, not the whole minute.
  await page.getByLabel("To", { exact: true }).fill(await local(Math.floor(anaEnd / 60000) * 60000));
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL((url) => /T\d\d:\d\d:00$/.test(new URLSearchParams(url.hash.split("?")[1]).get("to") || ""));
  await settled();

  // ---- the component a flag's History tab shows ----
  const component = await page.evaluate(async () => {
    const box = await historyList({ project: "default", flag: "model" });
    box.id = "component";
    document.querySelector("main").append(box);
    return [...box.querySelectorAll("li.audit-entry .sentence")].map((p) => p.textContent);
  });
  if (component.length !== 3 || !component[0].startsWith("ana turned model off") || !component[2].startsWith("ana created flag model")) fail(`historyList: ${JSON.stringify(component)}`);

  // ---- sentences of other kinds, from records as the server writes them ----
  const sentences = await page.evaluate(async (releaseId) => {
    const base = { seq: 1, at_ms: Date.now(), outcome: "allowed", actor: { kind: "token", id: "t", account: "ana" }, actor_name: "ana" };
    const records = [
      { actor: { kind: "release", id: releaseId }, actor_name: "guard", action: "release:roll_back", resource: `proj/default:env/production:release/${releaseId}`,
        after: { state: "rolled_back", evidence: { evaluations: { treated: 1000, control: 1000 }, guardrails: [{ metric: "error", kind: "bad_events", treated: 51, control: 10, breached: true }] } } },
      { action: "config:apply", resource: "proj/default", after: [{}, {}, {}] },
      { action: "change-request:approve", resource: "proj/default:env/production:change-request/cr1" },
      { action: "token:create", resource: "account/ana:token/t1", after: { name: "ci" } },
      { action: "flag:archive", resource: "proj/default:flag/model" },
      { action: "widget:frobnicate", resource: "widget/1" },
    ];
    const book = nameBook();
    return Promise.all(records.map(async (r) => (await historyEntry(Object.assign({}, base, r), book)).querySelector(".sentence").textContent));
  }, release.id);
  const expectedSentences = [
    "guard rolled back the release of new-search in production (error rate 5.1 % vs 1.0 %).",
    "ana applied a configuration to project default (3 changes).",
    "ana approved change request cr1 in production.",
    "ana created an API token ci of ana.",
    "ana archived flag model.",
    "ana did widget:frobnicate on widget/1.",
  ];
  if (sentences.join("\n") !== expectedSentences.join("\n")) fail(`sentences:\n${sentences.join("\n")}`);

  // ---- the release page: axes, units, legends, the bake deadline apart from the guard's look ----
  await open(`#/release/${release.id}`);
  await page.getByRole("heading", { name: `Release ${release.id}` }).waitFor();
  const chart = page.locator("#release-chart");
  await chart.locator(".x-label", { hasText: /^Time \((EST|EDT)\)$/ }).waitFor();
  await chart.locator(".y-label", { hasText: "Treated share (%)" }).waitFor();
  if ((await chart.locator(".x-tick").count()) < 3 || (await chart.locator(".y-tick").count()) < 2) fail("the release chart's axes have no ticks");
  await chart.locator(".legend-label", { hasText: "Observed treated share" }).waitFor();
  await chart.locator(".legend-label", { hasText: "Stage target (5 %)" }).waitFor();
  const deadline = await page.locator("#bake-deadline time").getAttribute("datetime");
  const status = await admin("GET", `${env}/releases/${release.id}`);
  const expected = status.stage_ends_at_ms || status.stage_started_ms + 3600 * 1000;
  if (Date.parse(deadline) !== expected) fail(`bake deadline ${deadline}, the release's ${new Date(expected).toISOString()}`);
  if (!/\b(EST|EDT)\b/.test(await page.locator("#bake-deadline").innerText())) fail("the bake deadline lacks its zone");
  await page.getByText("Started by").waitFor();
  await page.locator("dd", { hasText: /^ana · / }).waitFor();
  await page.getByRole("region", { name: "Decisions" }).getByText(/^ana started the release of new-search/).waitFor();
  await shot("release");

  // ---- Kill on the release page names what everyone gets (the server's serves_when_off) ----
  const offNow = (await admin("GET", `${env}/flags/new-search`)).serves_when_off;
  const variation = (await admin("GET", "/projects/default/flags/new-search")).variations.find((v) => v.key === offNow.variation);
  const gets = `${variation.name || variation.key} (${JSON.stringify(variation.value)})`;
  await page.getByRole("button", { name: "Kill flag" }).click();
  // The dialog opens once the flag's targeting is read.
  await page.locator("#confirm-text", { hasText: /^Kill new-search/ }).waitFor();
  const killText = (await page.locator("#confirm-text").innerText()).trim();
  if (killText !== `Kill new-search in production? Everyone in production will get ${gets}. Its active releases in production are aborted.`) fail(`release page kill says: ${killText}`);
  await page.locator("#confirm-ok").click();
  await page.locator("#banner", { hasText: `Killed new-search in production: everyone now gets ${gets}. Aborted 1 release: ${release.id}.` }).waitFor();
  // The abort is a decision marker drawn in the theme's "bad" colour: a style attribute would be
  // refused by the content security policy and leave it without a stroke.
  await page.locator("#release-chart line.decision.chart-bad").first().waitFor({ state: "attached" });
  const stroke = await page.locator("#release-chart line.decision.chart-bad").first().evaluate((l) => getComputedStyle(l).stroke);
  if (!stroke || stroke === "none") fail(`the abort marker's stroke: ${stroke}`);
  const series = await page.locator("#release-chart g.series").first().evaluate((g) => getComputedStyle(g).color);
  const axis = await page.locator("#release-chart line.axis").first().evaluate((l) => getComputedStyle(l).stroke);
  if (series === axis) fail(`the treated share is drawn in the axis colour ${axis}`);
  await shot("release-killed");
  console.log(`OK paged ${seen.length} records in ${pages} pages`);
} finally {
  await browser.close();
}
