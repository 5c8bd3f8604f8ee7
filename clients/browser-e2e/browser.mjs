// A page on another origin, built with the official OpenFeature web SDK and OFREP web provider
// and a client SDK key, in Debian's headless Chromium (playwright-core, no browser download).
// Run by crates/cli/tests/cli/browser.rs, which owns the Switchyard server and answers this
// script's requests on stdin:
//
//   node browser.mjs SERVER_BASE CLIENT_KEY ADMIN_TOKEN SCREENSHOT_DIR
//
//   prints `origin ORIGIN`  (the page's origin)   waits for `go`
//   prints `kill`           (stop the server)     waits for `down`
//   prints `restart`        (same port and data)  waits for `up`
//   prints `measured …`, `note …` lines, and finally `OK …` (exit 0) or an error (exit 1).
//
// The page is served by a static server started here on its own port, and reached by Chromium
// under another host name (app.test, mapped to 127.0.0.1): a different site, not only a
// different port, from the Switchyard server.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const [server, clientKey, adminToken, shots] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

// The page, its script, the published packages it imports and the tracking wrapper's source:
// nothing else is served.
const TYPES = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript" };
const tracking = join(here, "../openfeature-tracking-js/src");
const pages = createServer((request, response) => {
  const path = normalize(decodeURIComponent(new URL(request.url, "http://page").pathname));
  const [file, under] = path === "/" ? [join(here, "page/index.html"), here]
    : path.startsWith("/node_modules/@openfeature/") ? [join(here, path), join(here, "node_modules/@openfeature")]
    : path.startsWith("/tracking/") ? [join(tracking, path.slice("/tracking/".length)), tracking]
    : [join(here, "page", path), join(here, "page")];
  const type = TYPES[file.slice(file.lastIndexOf("."))];
  if (!file.startsWith(under + "/") || !type) {
    response.writeHead(404).end();
    return;
  }
  try {
    const body = readFileSync(file);
    response.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
const origin = `http://app.test:${pages.address().port}`;

// The test's answers, one per line, in order.
const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request, expected) {
  console.log(request);
  const { value, done } = await answers.next();
  if (done || value.trim() !== expected) throw new Error(`asked ${request}, got ${done ? "end of input" : value}`);
}

const api = async (method, path, body) => {
  const r = await fetch(`${server}/api/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const toggle = (flag, on, comment) =>
  api("POST", `/projects/default/environments/production/flags/${flag}/toggle`, { on, comment });

let step = 0;
let page;
const shot = async (name) => page.screenshot({ path: `${shots}/${String(++step).padStart(2, "0")}-${name}.png`, fullPage: true });
const shown = () => page.evaluate(() => window.shown);
// Waits (generously) until the page shows `value` for `flag`; returns how long after `since`
// (a Date.now() in this process, same clock as the page's) the page first showed it.
async function shownWithin(flag, value, since, seconds) {
  await page.waitForFunction(([flag, value]) => window.shown?.flags[flag]?.value === value,
    [flag, value], { timeout: seconds * 1000, polling: 20 });
  const now = await shown();
  return { ms: now.changedAt[flag] - since, event: now.event };
}
function expectFlag(flags, flag, value, reason) {
  const got = flags[flag];
  if (!got || got.value !== value || (reason && got.reason !== reason)) {
    throw new Error(`${flag}: expected ${JSON.stringify(value)} (${reason ?? "any reason"}), page shows ${JSON.stringify(got)}`);
  }
}

let browser;
// What the page or its requests reported going wrong (shown with any failure).
const problems = [];
try {
  await ask(`origin ${origin}`, "go");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP app.test 127.0.0.1"],
  });
  page = await browser.newPage({ viewport: { width: 900, height: 500 } });
  // A blocked cross-origin request shows only as a console error: any before the server is
  // stopped fails the run.
  let serverDown = false;
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" && !serverDown) problems.push(`console: ${m.text()}`); });
  // (A request the page itself abandons is no refusal.)
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText;
    if (!serverDown && why !== "net::ERR_ABORTED") problems.push(`request failed: ${r.method()} ${r.url()} ${why}`);
  });
  const failIfProblems = () => { if (problems.length) throw new Error(problems.join("\n")); };

  // (a) The values show, with their reasons; a flag the client key may not see is not found.
  await page.goto(`${origin}/?server=${encodeURIComponent(server)}&key=${encodeURIComponent(clientKey)}`);
  await page.waitForFunction(() => window.shown?.status === "READY", null, { timeout: 15000 });
  let now = await shown();
  expectFlag(now.flags, "new-checkout", true, "STATIC");
  expectFlag(now.flags, "greeting", "hallo", "TARGETING_MATCH");
  expectFlag(now.flags, "internal-only", false, "ERROR");
  if (now.flags["internal-only"].errorCode !== "FLAG_NOT_FOUND") throw new Error(`internal-only: ${JSON.stringify(now.flags["internal-only"])}`);
  failIfProblems();
  await shot("values");

  // A click is tracked through the tracking wrapper: its batch crosses origins to the event
  // intake (readable, so counted as sent), and the metric lands in the visitor's cohort.
  await page.getByRole("button", { name: "Buy" }).click();
  await page.waitForFunction(() => window.trackingStats().sent >= 1, null, { timeout: 15000, polling: 50 });
  const stats = await page.evaluate(() => window.trackingStats());
  if (stats.dropped || stats.invalid) throw new Error(`tracking: ${JSON.stringify(stats)}`);
  const metrics = `/projects/default/environments/production/flags/new-checkout/metrics`;
  const deadline = Date.now() + 15000;
  let cohort;
  while (!(cohort = (await api("GET", metrics)).find((m) => m.metric === "checkout-clicked" && m.variation === "on" && m.count >= 1))) {
    if (Date.now() > deadline) throw new Error(`checkout-clicked never reached the cohort: ${JSON.stringify(await api("GET", metrics))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log(`note tracked checkout-clicked from the page: ${cohort.count} in cohort ${cohort.variation}`);
  failIfProblems();

  // (b) A toggle through the API reaches the page (a generous deadline; the time is reported).
  let since = Date.now();
  await toggle("new-checkout", false, "browser test: off");
  let reached = await shownWithin("new-checkout", false, since, 10);
  console.log(`measured toggle-to-page ${reached.ms} ms (${reached.event?.message})`);
  now = await shown();
  expectFlag(now.flags, "new-checkout", false, "DISABLED");
  since = Date.now();
  await toggle("greeting", false, "browser test: plain greeting");
  reached = await shownWithin("greeting", "hello", since, 10);
  console.log(`measured toggle-to-page ${reached.ms} ms (${reached.event?.message})`);
  failIfProblems();
  await shot("toggled");

  // (c) The server stops: the page keeps its last values (the provider says it is stale).
  serverDown = true;
  await ask("kill", "down");
  await page.waitForFunction(() => ["STALE", "ERROR"].includes(window.shown?.status), null, { timeout: 15000 });
  now = await shown();
  expectFlag(now.flags, "new-checkout", false);
  expectFlag(now.flags, "greeting", "hello");
  console.log(`note while down the provider is ${now.status} (${now.event?.message}) and the page still shows the last values`);
  // Even a reload while it is down shows them (the provider's local cache), and the reloaded
  // page's stream, once it connects, must still hear of a change it did not see.
  await page.reload();
  await page.waitForFunction(() => window.shown?.flags["new-checkout"] !== undefined, null, { timeout: 15000 });
  now = await shown();
  expectFlag(now.flags, "new-checkout", false, "CACHED");
  expectFlag(now.flags, "greeting", "hello", "CACHED");
  await shot("server-down");

  // … and once it is back (same origin, same data), a further toggle reaches the page, even
  // when it is made before the page's stream has reconnected.
  await ask("restart", "up");
  serverDown = false;
  since = Date.now();
  await toggle("new-checkout", true, "browser test: on again");
  reached = await shownWithin("new-checkout", true, since, 30);
  console.log(`measured after-restart toggle-to-page ${reached.ms} ms (${reached.event?.message})`);
  now = await shown();
  expectFlag(now.flags, "new-checkout", true, "STATIC");
  expectFlag(now.flags, "greeting", "hello");
  await shot("after-restart");
  failIfProblems();
  console.log(`OK ${step} screenshots`);
} catch (error) {
  console.error(error?.stack ?? String(error));
  if (problems.length) console.error(`the page reported:\n${problems.join("\n")}`);
  if (page) await shot("failure").catch(() => {});
  process.exitCode = 1;
} finally {
  await browser?.close();
  pages.close();
  process.stdin.destroy();
}
