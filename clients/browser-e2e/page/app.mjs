// A page on its own origin that evaluates Switchyard flags with the official OpenFeature web
// SDK and OFREP web provider and a client SDK key, and tracks a click through Switchyard's
// OpenFeature tracking wrapper (clients/openfeature-tracking-js). Parameters come from the
// URL: ?server=http://flags.example:8080&key=syc_…
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { withTracking } from "@switchyard/openfeature-tracking";

const params = new URLSearchParams(location.search);
const server = params.get("server");
const key = params.get("key");
// [flag key, type, the default the page falls back to]
const FLAGS = [
  ["new-checkout", "boolean", false],
  ["greeting", "string", "(default)"],
  ["internal-only", "boolean", false],
];

const client = OpenFeature.getClient();
// What the page showed, and when each flag's shown value last changed (read by browser.mjs).
window.shown = { renders: 0, status: "starting", event: null, flags: {}, changedAt: {} };

function render(event) {
  const body = document.getElementById("flags");
  body.replaceChildren();
  for (const [flag, type, fallback] of FLAGS) {
    const details = type === "boolean"
      ? client.getBooleanDetails(flag, fallback)
      : client.getStringDetails(flag, fallback);
    const before = window.shown.flags[flag];
    if (!before || before.value !== details.value) window.shown.changedAt[flag] = Date.now();
    window.shown.flags[flag] = {
      value: details.value, reason: details.reason, variant: details.variant ?? null,
      errorCode: details.errorCode ?? null,
    };
    const row = document.createElement("tr");
    row.dataset.flag = flag;
    for (const text of [flag, JSON.stringify(details.value), details.reason, details.variant ?? "", details.errorCode ?? ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    body.append(row);
  }
  const status = client.providerStatus;
  window.shown.status = status;
  window.shown.renders += 1;
  const shownStatus = document.getElementById("status");
  shownStatus.textContent = status;
  shownStatus.dataset.status = status;
}

for (const type of [ProviderEvents.Ready, ProviderEvents.ConfigurationChanged, ProviderEvents.Stale, ProviderEvents.Error]) {
  client.addHandler(type, (details) => {
    window.shown.event = { type, message: details?.message ?? null, at: Date.now() };
    document.getElementById("event").textContent = `${type}${details?.message ? `: ${details.message}` : ""}`;
    render();
  });
}

await OpenFeature.setContext({ targetingKey: "visitor-1", country: "DE" });
const provider = withTracking(new OFREPWebProvider({
  baseUrl: server,
  headers: [["Authorization", `Bearer ${key}`]],
  // Changes arrive on the OFREP event stream; should it fail, the provider polls this often.
  pollInterval: 300,
}), { url: server, sdkKey: key, flushIntervalMs: 200 });
await OpenFeature.setProviderAndWait(provider);
render();

// A click is a metric event for the visitor's cohorts (sent cross-origin to the event intake).
document.getElementById("buy").addEventListener("click", () => {
  client.track("checkout-clicked", { value: 1 });
  window.shown.tracking = provider.tracking.stats();
});
window.trackingStats = () => provider.tracking.stats();
