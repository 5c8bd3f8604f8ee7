// Switchyard console: the audit log. A classic script sharing the page's globals (app.js loads first).
"use strict";

// ---- audit ---------------------------------------------------------------------------------

// Lines of a diff shown before "Show all": a record of a large flag or import can have tens of
// thousands, and the page must stay responsive.
const DIFF_LINES_SHOWN = 200;

// Lines removed and added, built with loops (no argument spreading: a huge array spread into a
// call overflows the stack), the first DIFF_LINES_SHOWN at once and the rest on request.
function diff(before, after) {
  const a = JSON.stringify(before ?? null, null, 2).split("\n"), b = JSON.stringify(after ?? null, null, 2).split("\n");
  const inA = new Set(a), inB = new Set(b);
  const lines = [];
  for (const l of a) if (!inB.has(l)) lines.push(["diff-del", `- ${l}`]);
  for (const l of b) if (!inA.has(l)) lines.push(["diff-add", `+ ${l}`]);
  const pre = h("pre", {});
  const show = (from, to) => {
    const part = document.createDocumentFragment();
    for (let i = from; i < to; i++) part.append(h("div", { class: lines[i][0] }, lines[i][1]));
    pre.append(part);
  };
  show(0, Math.min(lines.length, DIFF_LINES_SHOWN));
  if (lines.length <= DIFF_LINES_SHOWN) return pre;
  const more = h("button", { type: "button", class: "show-all", onclick: () => {
    show(DIFF_LINES_SHOWN, lines.length);
    more.remove();
  } }, `Show all ${lines.length} changed lines`);
  return h("div", {}, pre, more);
}

// One record: its diff is built when it is opened, not for every record of the page.
function auditRecord(r) {
  const details = h("details", {}, h("summary", {}, `#${r.seq} ${time(r.at_ms)} ${r.action} ${r.resource} — ${r.outcome} — ${r.actor.kind}:${r.actor.account || r.actor.id}${r.comment ? ` — ${r.comment}` : ""}`));
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) details.append(diff(r.before, r.after));
  });
  return h("li", {}, details);
}

// The chain check is asked for only when the token allows it (`GET /me` audits nothing): a
// refused verify would add an audited denial on every visit.
async function chainStatus() {
  const may = await permissions("audit");
  if (!may("audit:verify")) return "Chain status: your access does not allow audit:verify.";
  const chain = await api("GET", "/audit/verify").catch((e) => ({ error: e.message }));
  return chain.error ? `Chain status unavailable: ${chain.error}` : chain.ok ? `Chain verified: ${chain.records} records intact.` : `Chain BROKEN at record ${chain.first_broken}`;
}

async function auditView(params) {
  const resource = params.get("resource") || "";
  const query = new URLSearchParams({ limit: "50" });
  if (resource) query.set("resource", resource);
  const [audit, chainText] = await Promise.all([api("GET", `/audit?${query}`), chainStatus()]);
  const filter = h("form", { class: "row", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const value = e.target.resource.value.trim();
    location.hash = value ? `#/audit?resource=${encodeURIComponent(value)}` : "#/audit";
  } }, h("label", {}, "Resource starts with ", h("input", { name: "resource", value: resource, size: 50, placeholder: "proj/default:env/production:flag/" })),
  h("button", { type: "submit" }, "Filter"));
  const list = h("ul", { id: "audit" });
  if (!audit.records.length) list.append(h("li", {}, "No records."));
  for (const r of audit.records) list.append(auditRecord(r));
  page("Audit log", h("p", { id: "chain-status" }, chainText), filter, list);
}

// Change requests and scheduled changes: change-requests.js.

