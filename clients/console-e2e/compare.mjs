// Drives the console's Compare page (crates/server/console/compare.js) in Debian's headless
// Chromium. Usage: node compare.mjs BASE_URL ADMIN_TOKEN SCREENSHOT_DIR
// Flag `promo` is on in staging with rule r1 (plan "pro" gets "on") and serves "off" by
// default there; production never edited it; `qa` requires one approval.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";

const [base, adminToken, shots] = process.argv.slice(2);
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

// Waits until the card's table reads `expected` (one line per difference): the page re-renders
// after every change it hears of.
async function expectRows(card, expected) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const rows = (await card.locator("tbody tr").allInnerTexts()).map((r) => r.replace(/\s+/g, " ").trim());
    if (rows.join("\n") === expected.join("\n")) return;
    if (Date.now() > deadline) throw new Error(`differences:\n${rows.join("\n")}\nexpected:\n${expected.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  await page.addInitScript((t) => sessionStorage.setItem("sy_token", t), adminToken);
  const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });

  // From the header to staging beside production.
  await page.goto(`${base}/#/flags`);
  await page.getByRole("link", { name: "Compare" }).click();
  await page.getByRole("heading", { name: "Compare environments" }).waitFor();
  // Production is the signed-in page's environment, so it is the default on the right.
  if ((await page.getByLabel("with environment").inputValue()) !== "production") throw new Error("not compared with production");
  await page.getByLabel("Compare environment").selectOption("staging");
  await page.waitForURL(/#\/compare\?project=default&env=production&from=staging&to=production$/);
  const card = page.getByRole("region", { name: "Flag promo" });
  await card.waitFor();
  // The differences in words, each side under its environment's name.
  await expectRows(card, [
    "on on off",
    'rules[id=r1] if user.plan in "pro" serve variation "on" not set',
    'fallthrough variation "off" variation "on"',
  ]);
  await shot("compare");

  // Copy the rules and the default rule, not on/off: production stays off.
  await card.getByLabel("Copy on/off of promo").uncheck();
  await card.getByLabel("Comment on copying promo").fill("rules first");
  await card.getByRole("button", { name: "Copy to production" }).click();
  await page.getByText("Copy rules, default rule of promo from staging to production?").waitFor();
  // Production is critical: its name is typed to confirm.
  await page.locator("#confirm-name").fill("production");
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByText("Copied rules, default rule of promo from staging to production.").waitFor();
  const [staging, production] = await Promise.all(["staging", "production"].map((env) =>
    api("GET", `/projects/default/environments/${env}/flags/promo`)));
  if (JSON.stringify(production.rules) !== JSON.stringify(staging.rules) || production.on !== false) throw new Error(`production: ${JSON.stringify(production)}`);
  // What is left to copy is on/off alone.
  await expectRows(card, ["on on off"]);
  await shot("copied");

  // Into qa, which requires an approval: the change request is shown, nothing changes yet.
  await page.getByLabel("with environment").selectOption("qa");
  await page.waitForURL(/#\/compare\?project=default&env=production&from=staging&to=qa$/);
  const qaCard = page.getByRole("region", { name: "Flag promo" });
  await qaCard.getByRole("button", { name: "Copy to qa" }).waitFor();
  await qaCard.getByRole("button", { name: "Copy to qa" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  const link = page.getByRole("link", { name: /^change request [0-9a-f]+$/ });
  await link.waitFor();
  const id = (await link.innerText()).split(" ").pop();
  const held = await api("GET", `/projects/default/change-requests/${id}`);
  if (held.state !== "pending" || held.operation !== "update_targeting" || held.environment !== "qa") throw new Error(`held: ${JSON.stringify(held)}`);
  const qa = await api("GET", "/projects/default/environments/qa/flags/promo");
  if (qa.version !== 0) throw new Error(`qa changed: ${JSON.stringify(qa)}`);
  await shot("held");
  console.log(`OK ${step} screenshots in ${shots}`);
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
