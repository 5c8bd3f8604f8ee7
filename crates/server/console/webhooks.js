// Switchyard console: webhook subscriptions (docs/webhooks.md). Loaded after app.js, whose
// helpers it shares (h, api, page, gate, permissions, showError, showSecret, confirmAction,
// select, table, createForm, deleteButton, time, plural).
// A change subscription receives every change of the project its resource and action globs
// match, from the durable outbox; its delivery log shows the last attempts, and any delivery
// can be sent again with its id.
"use strict";

// "a, b c" → ["a", "b", "c"]: globs never hold spaces or commas.
function globList(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

// Where a subscription's outbox stands, in words.
function outboxText(hook) {
  if (!hook.resources.length && !hook.actions.length) return "release and kill events only";
  if (!hook.outbox) return "starting";
  const o = hook.outbox;
  if (!o.failed_attempts) return `delivered up to change ${o.delivered_seq}`;
  return `failing: ${plural(o.failed_attempts, "attempt")} at the change after ${o.delivered_seq} (${o.last_error || "no answer"}); retrying`;
}

async function webhooksView(params) {
  const hooksPath = `${projectPath()}/webhooks`;
  const may = await permissions(`proj/${state.project}:webhook/new`);
  const shown = params.get("log") || "";
  const create = createForm("webhook", hooksPath, [
    h("label", {}, "URL ", h("input", { name: "url", type: "url", required: true, size: 36, placeholder: "https://hooks.example.com/switchyard" })),
    h("label", { title: "Globs over the changed resource: * for every change of the project; proj/web:env/production:* for one environment" },
      "Resources ", h("input", { name: "resources", value: "*", size: 24 })),
    h("label", { title: "Globs over the audit action, such as flag:toggle or release:*; empty for every action" },
      "Actions ", h("input", { name: "actions", size: 20, placeholder: "flag:*, release:*" })),
    h("label", {}, "Format ", select("format", [["json", "JSON"], ["slack", "Slack text"]], "json")),
  ], (f) => ({ url: f.url.value.trim(), resources: globList(f.resources.value), actions: globList(f.actions.value), format: f.format.value }),
  (hook) => { showSecret(`Webhook ${hook.id} created. Its signing secret, shown once:`, hook.secret); return route(); });
  gate(create, may, "webhook:create");

  const logSection = async (hook) => {
    const log = await api("GET", `${hooksPath}/${hook.id}/deliveries`);
    const redeliver = (attempt) => gate(h("button", { type: "button", onclick: async (e) => {
      try {
        const again = await api("POST", `${hooksPath}/${hook.id}/deliveries/${encodeURIComponent(attempt.delivery)}/redeliver`);
        state.notice = again.ok ? `Delivery ${attempt.delivery} sent again: ${again.status}.` : `Delivery ${attempt.delivery} failed again: ${again.error}.`;
        route();
      } catch (error) { showError(error, e.target.closest("section") || undefined); }
    } }, `Redeliver ${attempt.delivery}`), may, "webhook:create");
    return h("section", { "aria-label": `Deliveries of ${hook.id}` }, h("h2", {}, `Deliveries of webhook ${hook.id}`),
      table(log, [
        ["When", (a) => time(a.at_ms)],
        ["Delivery", (a) => a.delivery],
        ["Result", (a) => (a.ok ? h("span", { class: "on" }, `${a.status}`) : h("span", { class: "off" }, a.error || "failed"))],
        ["Took", (a) => `${a.duration_ms} ms`],
        ["", (a) => (a.redelivery ? "redelivery" : "")],
        ["", (a) => redeliver(a)],
      ], "No deliveries yet."));
  };

  // The list answers every token, showing the webhooks it may read.
  const hooks = await api("GET", hooksPath);
  const follows = (w) => w.resources.length > 0 || w.actions.length > 0;
  const list = table(hooks, [
    ["URL", (w) => w.url],
    ["Changes", (w) => [w.resources.length ? `resources ${w.resources.join(", ")}` : "", w.actions.length ? `actions ${w.actions.join(", ")}` : ""].filter(Boolean).join("; ") || "–"],
    ["Events", (w) => (w.events.length ? w.events.join(", ") : follows(w) ? "–" : "all release and kill events")],
    ["Format", (w) => w.format],
    ["Outbox", (w) => outboxText(w)],
    ["", (w) => (follows(w) ? h("a", { href: `#/webhooks?log=${encodeURIComponent(w.id)}` }, `Deliveries of ${w.id}`) : "")],
    ["", (w) => gate(deleteButton("Delete webhook", w.id, `${hooksPath}/${w.id}`), may, "webhook:delete")],
  ], "No webhooks yet: subscribe a URL below.");
  const picked = hooks.find((w) => w.id === shown);
  page("Webhooks",
    h("p", { class: "muted" }, "Every change a subscription's resource and action globs match is sent to its URL, signed (X-Switchyard-Signature), in order, retried until it is accepted; the X-Switchyard-Delivery id lets the receiver drop repeats."),
    list,
    h("h2", {}, "Subscribe"), create,
    picked ? await logSection(picked) : null);
}
