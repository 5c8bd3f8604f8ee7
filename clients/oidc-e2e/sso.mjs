// Signs in to the console through the real provider in Debian's headless Chromium
// (crates/cli/tests/cli/oidc.rs): the "Sign in with SSO" link, the provider's login and consent
// pages, back in the console as the person with the session token out of the address bar; then
// Sign out revokes that token. Prints "OK ..." lines; exits non-zero on any failure.
// With MODE "wrong-secret" the server's code exchange must be refused instead ("OK refused").
// Usage: node sso.mjs SWITCHYARD_URL PERSON MODE SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, person, mode, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const page = await browser.newPage();
page.setDefaultTimeout(30000);
page.on("pageerror", (error) => console.error("page error:", error.message));
try {
  await page.goto(`${base}/`);
  await page.getByRole("link", { name: "Sign in with SSO" }).click();
  // The provider's development login page, then its consent page.
  await page.locator("input[name=login]").fill(person);
  await page.locator("input[name=password]").fill("anything");
  await page.locator("button[type=submit]").click();
  await page.locator("button[type=submit]").click();
  await page.waitForURL((url) => url.origin === new URL(base).origin, { timeout: 30000 });
  if (mode === "wrong-secret") await refused();
  else await signedInAndOut();
} catch (error) {
  await page.screenshot({ path: `${shots}/failure.png` }).catch(() => {});
  console.error(error.stack || String(error), "\nat", page.url());
  process.exitCode = 1;
} finally {
  await browser.close();
}

async function refused() {
  await page.getByText("single sign-on refused").waitFor();
  await page.screenshot({ path: `${shots}/refused.png` });
  console.log("OK refused");
}

async function signedInAndOut() {
  await page.locator("#who").filter({ hasText: `Signed in as ${person}` }).waitFor();
  const url = page.url();
  if (url.includes("sso-token")) throw new Error(`the token stayed in the address bar: ${url}`);
  await page.getByRole("heading", { name: "Flags" }).waitFor();
  await page.screenshot({ path: `${shots}/01-signed-in.png` });
  const token = await page.evaluate(() => sessionStorage.getItem("sy_token"));
  const me = await page.evaluate(async (t) => (await fetch("/api/v1/me", { headers: { authorization: `Bearer ${t}` } })).json(), token);
  if (me.account !== person) throw new Error(`signed in as ${JSON.stringify(me)}`);
  console.log(`OK signed-in ${person}`);

  await page.locator("#signout").click();
  await page.getByRole("link", { name: "Sign in with SSO" }).waitFor();
  let status = 0;
  for (let i = 0; i < 100 && status !== 401; i++) {
    status = await page.evaluate(async (t) => (await fetch("/api/v1/me", { headers: { authorization: `Bearer ${t}` } })).status, token);
    if (status !== 401) await page.waitForTimeout(100);
  }
  if (status !== 401) throw new Error(`the session token still answers ${status} after sign-out`);
  await page.screenshot({ path: `${shots}/02-signed-out.png` });
  console.log("OK signed-out token-revoked");
}
