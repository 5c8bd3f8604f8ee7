// Drives the console's flag page (crates/server/console/flags.js) in Debian's headless Chromium.
// Usage: node flag-page.mjs BASE_URL ADMIN_TOKEN SCREENSHOT_DIR
// Flag `model` (string: small "Small model", large "Large model"; off variation small) is on
// in production; production is critical (its name is typed to confirm a toggle).
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
const call = async (method, path, body) => {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
};
const api = async (method, path, body) => {
  const { status, body: answer } = await call(method, path, body);
  if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(answer)}`);
  return answer;
};
const check = (ok, what) => { if (!ok) throw new Error(what); };

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => { console.error(`page error: ${e.message}`); process.exitCode = 1; });
  await page.addInitScript((t) => sessionStorage.setItem("sy_token", t), adminToken);
  const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });
  const settled = () => page.waitForFunction(() => !document.querySelector("main[aria-busy]"));
  const dialogText = async () => (await page.locator("#confirm-text").innerText()).trim();
  const targeting = "/projects/default/environments/production/flags/model";

  // The state line says what off serves.
  await page.goto(`${base}/#/flag/model`);
  await page.getByRole("heading", { name: "Flag model" }).waitFor();
  await settled();
  await page.locator("#flag-state", { hasText: 'Off: everyone gets Small model ("small")' }).waitFor();

  // The off variation, edited in the Targeting tab and saved through review with a comment.
  await page.getByLabel("When off in production, serve").selectOption({ label: 'Large model ("large")' });
  await page.getByRole("button", { name: "Review and save" }).click();
  const review = page.getByRole("dialog", { name: "Review changes to model" });
  await review.waitFor();
  await review.getByRole("region", { name: "Targeting in production" }).locator(".diff-add", { hasText: '"off_variation": 1' }).waitFor();
  check(!(await review.getByRole("region", { name: /Settings and variations/ }).count()), "an unchanged definition is in the review");
  await review.getByLabel("Comment", { exact: true }).fill("large model when off");
  await shot("review");
  await review.getByRole("button", { name: "Save changes" }).click();
  await page.locator("#flag-state", { hasText: 'Off: everyone gets Large model ("large")' }).waitFor();
  await settled();
  check((await api("GET", targeting)).off_variation === 1, "the off variation was not stored");

  // Turn off (in the state line) and Kill (in the Emergency box) name what everyone gets.
  await page.locator("#flag-state").getByRole("button", { name: "Turn off in production" }).click();
  const turnOff = await dialogText();
  check(turnOff === 'Turn model OFF in production? Everyone in production will get Large model ("large").', `turn off says: ${turnOff}`);
  await shot("turn-off-dialog");
  await page.getByRole("button", { name: "Cancel" }).click();
  const emergency = page.getByRole("region", { name: "Emergency" });
  check(!(await emergency.getByRole("button", { name: /^Turn / }).count()), "Turn off is in the Emergency box");
  check(!(await page.locator("#flag-state").getByRole("button", { name: /^Kill/ }).count()), "Kill is in the state line");
  check(await emergency.getByRole("button", { name: "Kill in production" }).evaluate((b) => b.classList.contains("danger")), "Kill is not styled as danger");
  check(!(await page.locator("#flag-state").getByRole("button").evaluate((b) => b.classList.contains("danger"))), "Turn off is styled as danger");
  await emergency.getByRole("button", { name: "Kill in production" }).click();
  const killText = await dialogText();
  check(killText === 'Kill model in production? Everyone in production will get Large model ("large"). Its active releases in production are aborted.', `kill says: ${killText}`);
  await shot("kill-dialog");
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.locator("#banner", { hasText: 'Killed model in production: everyone now gets Large model ("large").' }).waitFor();
  await page.locator("#flag-state").getByRole("button", { name: "Turn on in production" }).waitFor();
  check(!(await api("GET", targeting)).on, "the kill did not turn it off");

  // The list says what off serves too.
  await page.goto(`${base}/#/flags`);
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await page.getByRole("row", { name: /model/ }).getByText('Off: everyone gets Large model ("large")').waitFor();

  // Two individual targets swapped: the review says both moves in words, and its line diff
  // shows them (a set difference of the lines showed nothing).
  const eventually = async (what, ok) => {
    for (const deadline = Date.now() + 20000; !(await ok());) {
      if (Date.now() > deadline) throw new Error(what);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const saveReview = async () => {
    await page.getByRole("button", { name: "Review and save" }).click();
    await page.getByRole("dialog", { name: "Review changes to model" }).getByRole("button", { name: "Save changes" }).click();
  };
  await page.goto(`${base}/#/flag/model`);
  await page.getByRole("heading", { name: "Flag model" }).waitFor();
  await settled();
  await page.getByLabel("Users served small").fill("alice");
  await page.getByLabel("Users served large").fill("bob");
  await saveReview();
  await eventually("alice and bob were not targeted", async () => ((await api("GET", targeting)).targets || []).length === 2);
  await page.locator("#unsaved", { hasText: "No unsaved changes." }).waitFor();
  await settled();
  await page.getByLabel("Users served small").fill("bob");
  await page.getByLabel("Users served large").fill("alice");
  await page.getByRole("button", { name: "Review and save" }).click();
  const swap = page.getByRole("dialog", { name: "Review changes to model" });
  const words = await swap.getByRole("list", { name: "The changes in words" }).innerText();
  check(words.includes("bob with Small model") && words.includes("alice with Large model"), `the swap in words: ${words}`);
  for (const who of ["alice", "bob"]) {
    await swap.locator(".diff-del", { hasText: `"${who}"` }).waitFor();
    await swap.locator(".diff-add", { hasText: `"${who}"` }).waitFor();
  }
  await shot("review-swap");
  await swap.getByRole("button", { name: "Save changes" }).click();
  await eventually("the swap was not saved", async () => {
    const t = await api("GET", targeting);
    return (t.targets || []).some((x) => x.variation === 0 && x.values.join() === "bob") && (t.targets || []).some((x) => x.variation === 1 && x.values.join() === "alice");
  });
  await page.locator("#unsaved", { hasText: "No unsaved changes." }).waitFor();
  await settled();

  // Removing a variation production still uses (its off variation and alice's target) is
  // refused with why, before anything is sent.
  await page.getByRole("tab", { name: "Variations" }).click();
  await page.getByRole("button", { name: "Add variation" }).click();
  await page.getByRole("button", { name: "Remove variation large" }).click();
  await page.getByRole("button", { name: "Review and save" }).click();
  const refusal = await page.locator("#variation-refusal").innerText();
  check(refusal.includes("production: when off uses Large model") && refusal.includes("alice"), `removing a used variation: ${refusal}`);
  check((await api("GET", "/projects/default/flags/model")).variations.length === 2, "the variations changed");

  // A leave cancelled after Back returns to the page without overwriting the entry before it.
  await page.evaluate(() => { state.dirty = false; });
  await page.goto(`${base}/#/flags`);
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await settled();
  await page.goto(`${base}/#/flag/model`);
  await page.getByRole("heading", { name: "Flag model" }).waitFor();
  await settled();
  await page.getByLabel("Users served small").fill("carol");
  await page.goBack();
  await page.locator("#confirm-text", { hasText: "Leave this page? Your unsaved changes will be lost." }).waitFor();
  await page.locator("#confirm-cancel").click();
  await page.waitForFunction(() => location.hash.startsWith("#/flag/model"));
  check((await page.getByLabel("Users served small").inputValue()) === "carol", "the unsaved edit is gone");
  await page.evaluate(() => { state.dirty = false; });
  await page.goBack();
  await page.waitForFunction(() => location.hash.startsWith("#/flags"));
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await settled();

  // Tabs by keyboard: arrows move and wrap, Home and End; the address keeps the tab.
  await page.goto(`${base}/#/flag/model`);
  await page.getByRole("heading", { name: "Flag model" }).waitFor();
  await settled();
  const selected = async () => page.getByRole("tab", { selected: true }).innerText();
  await page.getByRole("tab", { name: "Targeting" }).focus();
  await page.keyboard.press("ArrowRight");
  check((await selected()) === "Variations", `ArrowRight selected ${await selected()}`);
  check(await page.getByRole("tab", { name: "Variations" }).evaluate((t) => t === document.activeElement), "focus did not follow the tab");
  await page.getByRole("tabpanel", { name: "Variations" }).getByLabel("value of variation small").waitFor();
  check(!(await page.getByRole("tabpanel", { name: "Targeting" }).isVisible()), "the Targeting panel is still shown");
  check(/[?&]tab=variations/.test(page.url()), `the address has no tab: ${page.url()}`);
  await page.keyboard.press("End");
  check((await selected()) === "History", `End selected ${await selected()}`);
  await page.keyboard.press("ArrowRight");
  check((await selected()) === "Targeting", `ArrowRight from the last tab selected ${await selected()}`);
  await page.keyboard.press("ArrowLeft");
  check((await selected()) === "History", `ArrowLeft from the first tab selected ${await selected()}`);
  await settled();
  // The history tab holds the comment given when saving.
  await page.getByRole("tabpanel", { name: "History" }).getByText("large model when off").first().waitFor({ timeout: 10000 });
  await shot("history-tab");
  await page.keyboard.press("Home");
  check((await selected()) === "Targeting", `Home selected ${await selected()}`);
  // A reload opens the tab the address names.
  await page.goto(`${base}/#/flag/model?tab=insights`);
  await page.getByRole("tabpanel", { name: "Insights" }).locator("#stale-status").waitFor();
  check((await selected()) === "Insights", "the address's tab is not the one shown");

  // Creating a flag that is not boolean asks for its off variation.
  await page.goto(`${base}/#/flags`);
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await settled();
  const offChoice = page.getByLabel("Off variation (served when off)");
  check(!(await offChoice.isVisible()), "a boolean flag is asked for its off variation");
  await page.getByLabel("New flag key").fill("doomed");
  await page.getByLabel("kind", { exact: true }).last().selectOption("string");
  await offChoice.selectOption("treatment");
  await page.getByRole("button", { name: "Create flag" }).click();
  await page.getByRole("heading", { name: "Flag doomed" }).waitFor();
  check((await api("GET", "/projects/default/flags/doomed")).off_variation === "treatment", "the chosen off variation was not stored");
  await page.locator("#flag-state", { hasText: 'Off: everyone gets treatment ("b")' }).waitFor();
  // A prerequisite, found by searching the project's flags.
  await settled();
  await page.getByLabel("prerequisite flag").pressSequentially("mod");
  await page.locator("#prerequisite-flags option[value=model]").waitFor({ state: "attached" });
  await page.getByLabel("prerequisite flag").fill("model");
  await page.getByLabel("prerequisite flag").blur();
  await page.getByLabel("prerequisite variation").locator("option", { hasText: "Large model" }).waitFor({ state: "attached" });
  await page.getByLabel("prerequisite variation").selectOption({ label: 'Large model ("large")' });
  await page.getByRole("button", { name: "Add prerequisite" }).click();
  await page.getByText('Requires model to serve Large model ("large")').waitFor();
  await page.getByRole("button", { name: "Review and save" }).click();
  await page.getByRole("dialog", { name: "Review changes to doomed" }).getByRole("button", { name: "Save changes" }).click();
  await page.locator("#flag-state", { hasText: "version 1" }).waitFor();
  const required = (await api("GET", "/projects/default/environments/production/flags/doomed")).prerequisites;
  check(JSON.stringify(required) === '[{"key":"model","variations":[1]}]', `prerequisites stored: ${JSON.stringify(required)}`);

  // Archiving model, which doomed requires: with an unsaved edit the confirmation says it is
  // discarded; the server refuses, and "Archive anyway" names doomed and what it will serve.
  await page.goto(`${base}/#/flag/model?tab=settings`);
  await page.getByRole("heading", { name: "Flag model" }).waitFor();
  await settled();
  await page.locator("#flag-description").fill("edited, not saved");
  await page.getByRole("button", { name: "Archive flag" }).click();
  await page.locator("#confirm-text", { hasText: "Archive model?" }).waitFor();
  check((await dialogText()).endsWith("Your unsaved changes will be discarded."), `archive with unsaved edits says: ${await dialogText()}`);
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.locator("#confirm-text", { hasText: "Archive model anyway?" }).waitFor();
  const anyway = await dialogText();
  check(anyway.includes('doomed in production: everyone gets treatment ("b")') && !/force|409|prerequisite of/i.test(anyway), `archive anyway says: ${anyway}`);
  await page.locator("#confirm-cancel").click();
  check(!(await api("GET", "/projects/default/flags/model")).archived, "model was archived");
  await page.evaluate(() => { state.dirty = false; });
  await page.goto(`${base}/#/flag/doomed?tab=settings`);
  await page.getByRole("heading", { name: "Flag doomed" }).waitFor();

  // Archive, restore, then delete with its key typed.
  await settled();
  await page.getByRole("tab", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Archive flag" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.locator("#archived").waitFor();
  check((await api("GET", "/projects/default/flags/doomed")).archived, "archive not stored");
  check((await selected()) === "Settings", "the page left the Settings tab");
  await page.getByRole("button", { name: "Restore flag" }).click();
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.locator("#archived").waitFor({ state: "detached" });
  check(!(await api("GET", "/projects/default/flags/doomed")).archived, "restore not stored");
  await settled();
  await page.getByRole("button", { name: "Delete flag" }).click();
  const deleting = page.getByRole("dialog", { name: "Delete flag doomed?" });
  const confirmDelete = deleting.getByRole("button", { name: "Delete doomed" });
  check(await confirmDelete.isDisabled(), "delete is possible without typing the key");
  await deleting.getByLabel("Type doomed to confirm").fill("doome");
  check(await confirmDelete.isDisabled(), "delete is possible with a wrong key");
  await deleting.getByLabel("Type doomed to confirm").fill("doomed");
  await deleting.getByLabel("Comment on deleting").fill("never shipped");
  await shot("delete-dialog");
  await confirmDelete.click();
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await page.locator("#banner", { hasText: "Deleted flag doomed." }).waitFor();
  check((await call("GET", "/projects/default/flags/doomed")).status === 404, "the flag is still there");

  // Paging through 2,000 flags of another project, created in one config apply; a reload
  // lists the new project in the header.
  await api("POST", "/projects", { key: "many", name: "Many flags" });
  const flags = Array.from({ length: 2000 }, (_, i) => ({ key: `bulk-${String(i).padStart(4, "0")}`, kind: "boolean" }));
  const started = Date.now();
  const segments = Array.from({ length: 150 }, (_, i) => ({ environment: "production", key: `group-${String(i).padStart(3, "0")}` }));
  await api("POST", "/projects/many/config/apply", { config: { format: 1, project: { key: "many", name: "Many flags" },
    environments: [{ key: "production", name: "Production" }], flags, segments } });
  const created = Date.now() - started;
  await page.reload();
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await settled();
  await page.locator("#project").selectOption("many");
  const count = page.locator("#flag-count");
  await count.filter({ hasText: "Flags 1–100 of 2000" }).waitFor({ timeout: 20000 });
  await settled();
  // A shared link to a later page this tab never reached shows the first, and says so.
  await page.goto(`${page.url().split("#")[0]}#/flags?project=many&env=production&page=7`);
  await page.waitForFunction(() => !/[?&]page=/.test(location.hash) && document.querySelector("main").dataset.shown === location.hash);
  await count.filter({ hasText: "Flags 1–100 of 2000" }).waitFor({ timeout: 20000 });
  await settled();
  const pagingStarted = Date.now();
  for (let n = 2; n <= 20; n++) {
    await page.getByRole("button", { name: "Next page" }).click();
    await count.filter({ hasText: `Flags ${(n - 1) * 100 + 1}–${n * 100} of 2000` }).waitFor({ timeout: 20000 });
    await settled();
  }
  const paged = Date.now() - pagingStarted;
  check(!(await page.getByRole("button", { name: "Next page" }).count()), "the last page offers a next one");
  const links = await page.locator("main tbody tr td:first-child a").allInnerTexts();
  check(links.length === 100 && links[0] === "bulk-1900" && links[99] === "bulk-1999", `the last page lists ${links.length}: ${links[0]} … ${links[links.length - 1]}`);
  await shot("last-page");
  await page.getByRole("button", { name: "Previous page" }).click();
  await count.filter({ hasText: "Flags 1801–1900 of 2000" }).waitFor();
  await settled();
  await page.getByRole("search").getByLabel("Search").fill("bulk-19");
  await page.getByRole("button", { name: "Filter" }).click();
  await count.filter({ hasText: "Flags 1–100 of 100" }).waitFor();
  check(!(await page.getByRole("button", { name: "Next page" }).count()), "a search of 100 offers a next page");
  // Segments page the same way.
  await page.getByRole("link", { name: "Segments" }).click();
  const segmentCount = page.locator("#segment-count");
  await segmentCount.filter({ hasText: "Segments 1–100 of 150" }).waitFor();
  await settled();
  await page.getByRole("button", { name: "Next page" }).click();
  await segmentCount.filter({ hasText: "Segments 101–150 of 150" }).waitFor();
  await page.getByRole("button", { name: "Save group-149" }).waitFor();
  check(!(await page.getByRole("button", { name: "Save group-099" }).count()), "the second page of segments shows the first page's");
  console.log(`OK ${step} screenshots in ${shots}; 2000 flags created in ${created} ms, 19 pages in ${paged} ms`);
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
