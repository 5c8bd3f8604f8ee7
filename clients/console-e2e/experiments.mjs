// Drives the console's experiments pages (crates/server/console/experiments.js) in Debian's
// headless Chromium. Usage:
//   node experiments.mjs BASE_URL ADMIN_TOKEN READER_TOKEN CHECKOUT_ID BANNER_ID HELD_ID SCREENSHOT_DIR
// Flags checkout, banner and search are on in production serving "off"; metric `conversion`
// (proportion of `purchase`) exists; experiments CHECKOUT_ID (checkout, a large lift for "on")
// and BANNER_ID (banner, a sample ratio mismatch) are running with their traffic counted;
// HELD_ID is a draft on checkout in environment qa, which requires one approval.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";

const [base, adminToken, readerToken, checkout, banner, held, shots] = process.argv.slice(2);
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
const check = (ok, what) => { if (!ok) throw new Error(what); };

// A signed-in tab in India's zone, so the plan's start time has to say which zone it is in.
async function tab(token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "Asia/Kolkata", locale: "en-GB" });
  const page = await context.newPage();
  page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  // The plots are drawn under the console's strict policy: no inline style anywhere.
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) { console.error(`CSP: ${m.text()}`); process.exitCode = 1; } });
  await page.addInitScript((t) => sessionStorage.setItem("sy_token", t), token);
  return page;
}

try {
  const page = await tab(adminToken);
  const shot = async (p, name) => p.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });

  // ---- Metrics: listed, and one created with every field after a refused one.
  await page.goto(`${base}/#/flags`);
  await page.getByRole("link", { name: "Metrics", exact: true }).click();
  await page.getByRole("heading", { name: "Metrics in default" }).waitFor();
  await page.getByRole("cell", { name: "Checkout conversion", exact: true }).waitFor();
  const form = page.getByRole("form", { name: "New metric" });
  await form.getByLabel("Key", { exact: true }).fill("revenue_per_order");
  await form.getByLabel("Name", { exact: true }).fill("Revenue per order");
  await form.getByLabel("Event", { exact: true }).fill("revenue");
  await form.getByLabel("Kind").selectOption("ratio");
  await form.getByLabel("Denominator event").fill("order");
  await form.getByLabel("Better direction").selectOption("increase_is_good");
  await form.getByLabel("Minimum detectable effect (%)").fill("0");
  await form.getByLabel("Analysis window (hours)").fill("48");
  await form.getByLabel("Description").fill("Revenue over orders, per unit");
  await form.getByRole("button", { name: "Create metric" }).click();
  // The refusal stands beside the MDE, which is marked invalid; nothing was created.
  const mde = form.getByLabel("Minimum detectable effect (%)");
  const refusal = form.locator(".field:has(input[name=mde]) .field-error");
  await refusal.waitFor();
  check((await mde.getAttribute("aria-invalid")) === "true", "the MDE is not marked invalid");
  check((await api("GET", "/projects/default/metrics")).length === 1, "a refused metric was created");
  await shot(page, "metric-refused");
  await mde.fill("3");
  await form.getByRole("button", { name: "Create metric" }).click();
  await page.getByText("Metric revenue_per_order created.").waitFor();
  await page.getByRole("cell", { name: "revenue per order", exact: true }).waitFor();
  const metric = await api("GET", "/projects/default/metrics/revenue_per_order");
  const want = { key: "revenue_per_order", name: "Revenue per order", description: "Revenue over orders, per unit", event: "revenue", kind: "ratio", denominator_event: "order", direction: "increase_is_good", mde: 0.03, window_hours: 48 };
  for (const [k, v] of Object.entries(want)) check(metric[k] === v, `metric ${k}: ${JSON.stringify(metric)}`);

  // ---- Experiments in production: both running ones listed with their state.
  await page.getByRole("link", { name: "Experiments", exact: true }).click();
  await page.getByRole("heading", { name: "Experiments in production" }).waitFor();
  for (const name of ["New checkout", "Bigger banner"]) {
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
    check(/running/.test(await row.innerText()), `${name}: ${await row.innerText()}`);
  }
  // A new plan with every field; a traffic share over 100 % is refused beside its field.
  const plan = page.getByRole("form", { name: "New experiment" });
  await plan.getByLabel("Name", { exact: true }).fill("Search ranking");
  await plan.getByLabel("Flag", { exact: true }).selectOption("search");
  await plan.getByLabel("Compare on").waitFor();
  await plan.getByLabel("Rule").selectOption("");
  await plan.getByLabel("Control").selectOption("off");
  await plan.getByLabel("Weight of on").fill("60");
  await plan.getByLabel("Weight of off").fill("40");
  await plan.getByLabel("Traffic share (%)").fill("150");
  await plan.getByLabel("Hypothesis").fill("Ranking by recency raises conversion");
  await plan.getByLabel("Role of conversion").selectOption("primary");
  await plan.getByLabel("Role of revenue_per_order").selectOption("secondary");
  await plan.getByLabel("Method").selectOption("bayesian");
  await plan.getByLabel("Prior mean (%)").fill("1");
  await plan.getByLabel("Prior standard deviation (%)").fill("20");
  await plan.getByLabel("Alpha").fill("0.1");
  await plan.getByLabel("Correction").selectOption("benjamini_hochberg");
  await plan.getByLabel("CUPED").uncheck();
  await plan.getByLabel("Pre-period (hours)").fill("48");
  await plan.getByRole("button", { name: "Create experiment" }).click();
  await plan.locator(".field:has(input[name=traffic_percent]) .field-error").waitFor();
  check((await plan.getByLabel("Traffic share (%)").getAttribute("aria-invalid")) === "true", "the traffic share is not marked invalid");
  await shot(page, "experiment-refused");
  await plan.getByLabel("Traffic share (%)").fill("50");
  await plan.getByRole("button", { name: "Create experiment" }).click();
  await page.getByRole("heading", { name: "Experiment Search ranking" }).waitFor();
  await page.getByText("State draft").waitFor();
  await shot(page, "experiment-draft");

  // ---- A reader's start, stop and ship are disabled, saying why.
  const reader = await tab(readerToken);
  await reader.goto(`${base}/#/experiment/${checkout}`);
  await reader.getByRole("heading", { name: "Experiment New checkout" }).waitFor();
  for (const name of ["Start", "Stop", "Ship"]) check(await reader.getByRole("button", { name, exact: true }).isDisabled(), `${name} is enabled for a reader`);
  await reader.getByText("Your access does not allow experiment:stop here.").waitFor();
  await shot(reader, "reader");

  // ---- In qa, which requires an approval, a start becomes a change request, linked.
  await page.locator("#env").selectOption("qa");
  await page.goto(`${base}/#/experiment/${held}`);
  await page.getByRole("heading", { name: "Experiment Held start" }).waitFor();
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  const link = page.getByRole("link", { name: /^change request [0-9a-f]+$/ });
  await link.waitFor();
  const request = await api("GET", `/projects/default/change-requests/${(await link.innerText()).split(" ").pop()}`);
  check(request.state === "pending" && request.operation === "start_experiment" && request.environment === "qa", `held: ${JSON.stringify(request)}`);
  check((await api("GET", `/projects/default/environments/qa/experiments/${held}`)).state === "draft", "the held start took effect");
  await shot(page, "start-held");
  await page.locator("#env").selectOption("production");

  // ---- The results a product manager reads: checkout.
  await page.goto(`${base}/#/experiment/${checkout}/results`);
  await page.getByRole("heading", { name: "Results: New checkout" }).waitFor();
  const verdict = page.getByRole("region", { name: "Metric conversion" }).locator(".verdict");
  const words = await verdict.innerText();
  check(/^on raised Checkout conversion by [\d.,]+ ?% \[[\d.,]+ ?%, [\d.,]+ ?%\]/.test(words), `verdict: ${words}`);
  check(!(await page.getByRole("heading", { name: "Results untrustworthy" }).count()), "a trustworthy experiment is called untrustworthy");
  const lift = page.locator("svg.lift-plot").first();
  const liftText = await lift.textContent();
  for (const label of ["Relative lift vs off (%)", "no effect", "on", "0 %"]) check(liftText.includes(label), `lift plot lacks ${label}: ${liftText}`);
  const chart = page.locator("svg.cumulative-chart");
  const chartText = await chart.textContent();
  for (const label of ["Day (UTC)", "Cumulative lift (%)", "on vs off"]) check(chartText.includes(label), `cumulative chart lacks ${label}: ${chartText}`);
  const aside = await page.getByRole("complementary", { name: "Pre-registered plan" }).innerText();
  for (const label of ["fixed horizon", "0.05", "conversion", "MDE 5.0 %", "window 72 h"]) check(aside.includes(label), `plan lacks ${label}: ${aside}`);
  // In the viewer's zone, named (Chromium's ICU may call it by its older name), and in UTC.
  check(/\(Asia\/(Kolkata|Calcutta)\)/.test(aside) && / UTC/.test(aside), `plan's start time: ${aside}`);
  await shot(page, "results");

  // ---- banner: its sample ratio mismatch comes first, before any number.
  await page.goto(`${base}/#/experiment/${banner}/results`);
  await page.getByRole("heading", { name: "Results: Bigger banner" }).waitFor();
  const warnings = page.getByRole("region", { name: "Warnings" });
  await warnings.getByRole("heading", { name: "Results untrustworthy" }).waitFor();
  check(/Sample ratio mismatch/.test(await warnings.innerText()), "no sample ratio mismatch named");
  const first = await page.locator("main > :is(section, div)").first().getAttribute("id");
  check(first === "experiment-warnings", `the warnings are not first: ${first}`);
  const doubted = await page.getByRole("region", { name: "Metric conversion" }).locator(".verdict").innerText();
  check(doubted.startsWith("Untrustworthy: "), `verdict of an untrustworthy experiment: ${doubted}`);
  await shot(page, "results-srm");
  console.log(`OK ${step} screenshots in ${shots}`);
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
