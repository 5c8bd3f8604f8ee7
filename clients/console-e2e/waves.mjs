// Drives the console's Release plans page (crates/server/console/waves.js) in Debian's headless
// Chromium. Usage: node waves.mjs BASE_URL ADMIN_TOKEN READER_TOKEN PLAN_ID SCREENSHOT_DIR
// The plan (flag `waves`) must run over staging → production → eu with wave 1 held at its
// first stage (a long bake), so its waves read running, pending, pending.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";

const [base, adminToken, readerToken, planId, shots] = process.argv.slice(2);
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let step = 0;
const api = async (method, path, body) => {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};

// A page signed in with `token` (the console keeps it in the tab's session storage).
async function signedIn(token) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => { console.error(`page error: ${e.stack}`); process.exitCode = 1; });
  await page.addInitScript((t) => sessionStorage.setItem("sy_token", t), token);
  return page;
}

// The cells of wave `n`'s row in the plan's table.
async function waveRow(card, n) {
  const row = card.locator("tbody tr").nth(n - 1);
  return (await row.locator("td").allInnerTexts()).map((s) => s.trim());
}

// Waits until the plan's waves read `states` (the page re-reads itself every few seconds).
async function expectWaves(card, states) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const seen = [];
    for (let n = 1; n <= states.length; n++) seen.push((await waveRow(card, n))[2]);
    if (seen.join() === states.join()) return;
    if (Date.now() > deadline) throw new Error(`waves ${seen.join(", ")}, expected ${states.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  const page = await signedIn(adminToken);
  const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });

  // From the flag's page to its plans.
  await page.goto(`${base}/#/flag/waves?tab=releases`); // the flag page lists its plans under Releases
  await page.locator("#flag-release-plans").getByText(`Plan ${planId} (running): staging running → production pending → eu pending`).waitFor();
  await page.getByRole("link", { name: "Release plans of waves" }).click();
  await page.getByRole("heading", { name: "Release plans of waves" }).waitFor();
  const card = page.getByRole("region", { name: `Release plan ${planId}` });
  await card.waitFor();
  await card.getByText("running", { exact: true }).first().waitFor();
  const first = await waveRow(card, 1);
  if (first[1] !== "staging" || first[2] !== "running" || first[3] !== `${planId}-1` || !first[4].startsWith("1 of 1: 20 %")) throw new Error(`wave 1: ${first}`);
  if (!first[5].includes("after it completes")) throw new Error(`wave 1's bake: ${first}`);
  await expectWaves(card, ["running", "pending", "pending"]);
  if ((await waveRow(card, 3))[1] !== "eu") throw new Error("wave 3 is not eu");
  // Each action only in the states that admit it.
  const resume = card.getByRole("button", { name: `Resume release plan ${planId}` });
  if (!(await resume.isDisabled()) || (await resume.getAttribute("title")) !== "Not while the plan is running") throw new Error("Resume is offered while running");
  await shot("plan-running");

  // A reader sees the plan but may not act on it: the buttons say why.
  const reader = await signedIn(readerToken);
  await reader.goto(`${base}/#/release-plans`);
  const readerCard = reader.getByRole("region", { name: `Release plan ${planId}` });
  const readerAbort = readerCard.getByRole("button", { name: `Abort release plan ${planId}` });
  await readerAbort.waitFor();
  if (!(await readerAbort.isDisabled()) || !(await readerAbort.getAttribute("title")).includes("does not allow release:update")) throw new Error("a reader may abort");
  if (!(await reader.getByRole("button", { name: "Start release plan" }).isDisabled())) throw new Error("a reader may start a plan");
  await reader.close();

  // Abort: the running wave's release is aborted and the later waves never start.
  await card.getByLabel(`Comment on release plan ${planId}`).fill("wrong build");
  await card.getByRole("button", { name: `Abort release plan ${planId}` }).click();
  await page.getByText(`Abort release plan ${planId} of waves?`).waitFor();
  await page.getByRole("button", { name: "Confirm" }).click();
  await card.locator(".plan-aborted").waitFor();
  await expectWaves(card, ["aborted", "not started", "not started"]);
  const stored = await api("GET", `/projects/default/release-plans/${planId}`);
  if (stored.state !== "aborted") throw new Error(`stored plan: ${JSON.stringify(stored)}`);
  await shot("plan-aborted");

  // A new plan from a JSON body: a misspelt field is refused and named under the box.
  // The abort's re-render (and any re-read) finishes first: a render landing after the fill
  // would replace the box with its example and submit that instead.
  await page.waitForFunction(() => !document.querySelector("main[aria-busy]"));
  const body = page.getByLabel("Release plan (JSON)");
  const plan = { flag: "waves", variation: "on", waves: [{ environment: "staging", stages: [{ percent: 20, min_bake_s: 3600 }], bake_secs: 60 }] };
  await body.fill(JSON.stringify(plan));
  await page.getByRole("button", { name: "Start release plan" }).click();
  await page.locator("#release-plan-form .error[role=alert]").getByText("bake_secs").waitFor();
  await shot("plan-refused");
  delete plan.waves[0].bake_secs;
  plan.waves[0].bake_s = 60;
  await body.fill(JSON.stringify(plan));
  await page.getByRole("button", { name: "Start release plan" }).click();
  await page.getByText(/^Release plan [0-9a-f]+ started/).waitFor();
  const plans = await api("GET", "/projects/default/release-plans?flag=waves");
  const started = plans.find((p) => p.id !== planId);
  if (!started || started.state !== "running") throw new Error(`started: ${JSON.stringify(plans)}`);
  await page.getByRole("region", { name: `Release plan ${started.id}` }).waitFor();
  await shot("plan-started");
  console.log(`OK ${step} screenshots in ${shots}`);
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
