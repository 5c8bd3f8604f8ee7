// A newcomer's walk through the console (getting started, onboarding.js) and the Playground
// (playground.js) in Debian's headless Chromium.
// Usage: node playground.mjs BASE_URL ACCOUNT PASSWORD SCREENSHOT_DIR
// The default project is empty; project `lab` (production) has `checkout` (u-target targeted,
// rule beta-users for segment beta = u-beta, rule pro-plan for plan "pro", else off),
// `dependent` (requires `gate`, which is off) and `dark` (off).
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [base, account, password, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
// Only our own screenshots go: the directory may be docs/walkthrough.
for (const name of readdirSync(shots)) if (name.endsWith(".png")) rmSync(join(shots, name));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
let step = 0;
const written = [];
const violations = [];
let page = null;

async function until(what, check, seconds = 15) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  for (;;) {
    try { last = await check(); if (last === true) return; } catch (error) { last = error.message; }
    if (Date.now() > deadline) throw new Error(`${what}: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, permissions: ["clipboard-read", "clipboard-write"] });
  page = await context.newPage();
  page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  const idle = () => page.waitForFunction(() => !document.querySelector("#main").hasAttribute("aria-busy"));
  // axe-core's serious and critical findings on the page as it is (a11y.mjs checks every page
  // as it first opens; these are the states only this walk reaches: steps done, a secret shown,
  // answers in the playground).
  const axe = async (where) => {
    await idle();
    if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
    const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.help} at ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", ")}`));
    violations.push(...found.map((v) => `${where}: ${v}`));
  };
  const shot = async (name) => {
    await idle();
    const path = join(shots, `${String(++step).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path });
    written.push(path);
  };

  // ---- the newcomer's walk ----------------------------------------------------------------
  await page.goto(`${base}/#/flags`);
  await page.getByLabel("Account").fill(account);
  await page.getByLabel("Password").fill(password);
  await shot("sign-in");
  await page.getByRole("button", { name: "Sign in" }).click();

  // The empty project leads through getting started, from the flag list.
  const steps = page.getByRole("region", { name: "Get started with default in production" });
  await steps.waitFor();
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await shot("empty-project");
  await axe("empty project's flag list");
  await steps.getByLabel("Flag key").fill("new-checkout");
  await steps.getByRole("button", { name: "Create flag" }).click();
  await page.waitForURL(/#\/start/);
  await page.getByText("Flag new-checkout created").waitFor();
  await steps.getByText("default has 1 flag, such as new-checkout.").waitFor();
  await shot("flag-created");

  // Step 1: a server key, shown once, copied with the Copy button.
  const keyForm = page.getByRole("form", { name: "Create an SDK key for production" });
  await keyForm.getByLabel("Kind").selectOption("server");
  await keyForm.getByRole("button", { name: "Create SDK key" }).click();
  const secret = page.locator("#secret-value");
  await secret.waitFor();
  await page.locator("#secret").getByRole("button", { name: "Copy" }).click();
  await page.locator("#secret").getByText("Copied", { exact: true }).waitFor();
  // Read back as a person would paste it.
  const sdkKey = await page.evaluate(() => navigator.clipboard.readText());
  if (sdkKey !== (await secret.innerText()) || !sdkKey.startsWith("sys_")) throw new Error(`clipboard holds ${sdkKey}`);
  await steps.getByText("production has 1 server key and 0 client keys.").waitFor();
  await shot("key-created");
  await axe("a key shown once");
  await page.getByRole("button", { name: "I have copied it" }).click();

  // Step 2: the SDK setup page, waiting for the first evaluation.
  await steps.getByRole("link", { name: "SDK setup page for production" }).click();
  await page.getByRole("heading", { name: "SDK setup for production" }).waitFor();
  const watch = page.locator("p.activity");
  await watch.getByText("Waiting for the first evaluation in production…").waitFor();
  // The curl snippet names this server and the flag.
  const curl = await page.locator("#snippet-curl pre").innerText();
  if (!curl.includes(`${base}/ofrep/v1/evaluate/flags/new-checkout`)) throw new Error(`curl snippet:\n${curl}`);
  await shot("setup-page");

  // Step 3: a real OFREP evaluation with the copied key.
  const answer = await fetch(`${base}/ofrep/v1/evaluate/flags/new-checkout`, {
    method: "POST", headers: { authorization: `Bearer ${sdkKey}`, "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey: "user-42", country: "DE" } }),
  });
  const evaluated = await answer.json();
  if (answer.status !== 200 || evaluated.value !== false) throw new Error(`OFREP: ${answer.status} ${JSON.stringify(evaluated)}`);
  await watch.getByText(/^✓ First evaluation seen at .+ · 1 evaluation of 1 flag in the last 24 hours\.$/).waitFor({ timeout: 20000 });
  await page.getByRole("heading", { name: "Check the connection" }).evaluate((el) => el.scrollIntoView({ block: "start" }));
  await shot("first-evaluation-seen");
  await axe("setup page, first evaluation seen");

  // The playground: the context just seen, picked from the recent exposures (key only).
  await page.getByRole("link", { name: "Playground" }).first().click();
  await page.getByRole("heading", { name: "Playground" }).waitFor();
  // The flag is searched as you type (the project's first 20 matches offered), chosen on change.
  await page.getByLabel("Flag", { exact: true }).pressSequentially("new-");
  await page.locator("#play-flag-options option[value=new-checkout]").waitFor({ state: "attached" });
  await page.getByLabel("Flag", { exact: true }).fill("new-checkout");
  await page.getByLabel("Flag", { exact: true }).blur();
  await idle();
  await page.getByText("Exposures keep no attributes, only each context's kind and key").waitFor();
  await page.getByLabel("Recently exposed to new-checkout").selectOption({ index: 1 });
  await until("recent context filled in", async () => (await page.getByLabel("Key", { exact: true }).inputValue()) === "user-42" || (await page.getByLabel("Key", { exact: true }).inputValue()));
  await page.getByRole("button", { name: "Add attribute" }).click();
  await idle();
  await page.getByLabel("Attribute 1 name").fill("country");
  await page.getByLabel("Attribute 1 value").fill("DE");
  await page.getByRole("button", { name: "Evaluate" }).click();
  const row = (flag) => page.locator(`#play-answer tr[data-flag="${flag}"]`);
  const expectAnswer = (flag, reason, ...words) => until(`${flag} answers ${reason} with ${words.join(", ")}`, async () => {
    const r = row(flag);
    if (!(await r.count())) return "no row";
    const text = (await r.innerText()).replace(/\s+/g, " ");
    const lower = text.toLowerCase();
    return ((await r.getAttribute("data-reason")) === reason && words.every((w) => lower.includes(w.toLowerCase()))) || text;
  });
  await expectAnswer("new-checkout", "OFF", "off false", "The flag is off in production");
  await idle();
  await page.locator("#play-answer").evaluate((el) => el.scrollIntoView({ block: "end" }));
  await shot("playground");

  // ---- every kind of reason, in project lab --------------------------------------------------
  await page.locator("#project").selectOption("lab");
  await page.getByRole("heading", { name: "Playground" }).waitFor();
  await idle();
  await until("all flags chosen", async () => (await page.getByLabel("Flag", { exact: true }).inputValue()) === "" || "still one flag");
  await page.getByLabel("Key", { exact: true }).fill("u-beta");
  await page.getByRole("button", { name: "Remove attribute 1" }).click();
  await idle();
  await page.getByRole("button", { name: "Evaluate" }).click();
  // A rule, through a segment, named by its id and described by its condition.
  await expectAnswer("checkout", "RULE_MATCH", "on true", "Rule matched", "Rule 1 (beta-users): if ", "Segment beta: the context is in it");
  // A failed prerequisite, named.
  await expectAnswer("dependent", "PREREQUISITE_FAILED", "Prerequisite failed", "Prerequisite gate: it did not serve a required variation");
  await expectAnswer("dark", "OFF", "off false", "The flag is off in production");
  // No variation served (off without an off variation, which a boolean never is): the
  // application's own default, never "null".
  const defaultServed = await page.evaluate(() => [servedCell({ flag: "x", reason: "OFF", variation: null, value: null }).textContent,
    servedCell({ flag: "x", reason: "ERROR", variation: null, value: null, error_code: "FLAG_NOT_FOUND" }).textContent]);
  if (defaultServed.some((t) => t !== "the application's own default")) throw new Error(`no variation served: ${JSON.stringify(defaultServed)}`);
  await axe("playground answering for all flags");
  // An individual target.
  await idle();
  await page.getByLabel("Key", { exact: true }).fill("u-target");
  await page.getByRole("button", { name: "Evaluate" }).click();
  await expectAnswer("checkout", "TARGET_MATCH", "on true", "Individual target user u-target");
  // A typed attribute matches the second rule; without it, the default rule.
  await idle();
  await page.getByLabel("Key", { exact: true }).fill("u-pro");
  await page.getByRole("button", { name: "Add attribute" }).click();
  await idle();
  await page.getByLabel("Attribute 1 name").fill("plan");
  await page.getByLabel("Attribute 1 value").fill("pro");
  await page.getByRole("button", { name: "Evaluate" }).click();
  await expectAnswer("checkout", "RULE_MATCH", "Rule 2 (pro-plan): if user.plan", "pro");
  await idle();
  await page.getByRole("button", { name: "Remove attribute 1" }).click();
  await idle();
  await page.getByRole("button", { name: "Evaluate" }).click();
  await expectAnswer("checkout", "FALLTHROUGH", "off false", "The default rule: no individual target or rule matched");

  // A pasted JSON context, for one flag; a broken one is refused on the page.
  await idle();
  await page.getByLabel("Flag", { exact: true }).fill("checkout");
  await page.getByLabel("Flag", { exact: true }).blur();
  await idle();
  await page.getByLabel("Paste JSON").check();
  await idle();
  const json = page.getByLabel(/Context as JSON/);
  await json.fill('{"kind": "user", "key": "u-json", "plan": ');
  await page.getByRole("button", { name: "Evaluate" }).click();
  await page.getByRole("alert").getByText(/The context is not valid JSON/).waitFor();
  await idle();
  await json.fill('{"kind": "user", "key": "u-json", "plan": "pro"}');
  await page.getByRole("button", { name: "Evaluate" }).click();
  await expectAnswer("checkout", "RULE_MATCH", "Rule 2 (pro-plan): if user.plan", "pro");
  if (await row("dark").count()) throw new Error("one flag asked, others answered");
  await axe("playground answering in JSON mode");
  if (violations.length) throw new Error(`axe-core: serious or critical violations:\n${violations.join("\n")}`);

  const sizes = written.map((p) => `${p.split("/").pop()} ${Math.round(statSync(p).size / 1024)} KB`);
  console.log(`OK ${step} screenshots in ${shots}: ${sizes.join(", ")}`);
} catch (error) {
  console.error(error.stack || String(error));
  if (page) await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
  if (page) console.error(`activity: ${await page.evaluate(async () => (await fetch("/api/v1/projects/default/environments/production/activity", { headers: { authorization: `Bearer ${sessionStorage.getItem("sy_token")}` } })).text()).catch((e) => e.message)}`);
  if (page) console.error(`page text:\n${await page.locator("body").innerText().catch(() => "")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
