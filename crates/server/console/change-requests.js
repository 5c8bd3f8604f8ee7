// Switchyard console: change requests and scheduled changes. Loaded after app.js, whose helpers
// it shares (h, api, page, gate, permissions, showError, confirmAction, select, diff, time).
// A scheduled change is a change request with a time (`run_at_ms`); a flag's end dates ("turn
// off on…", "remove this target on…") are scheduled changes too (docs/governance.md).
"use strict";

const REQUEST_STATES = ["all", "pending", "conflict", "applied", "rejected", "withdrawn", "expired", "failed"];

// A time as the viewer reads it, and in UTC: a schedule is agreed across time zones.
function whenText(ms) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const local = new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  return `${local} (${zone}) · ${time(ms)} UTC`;
}

// A datetime-local value (the viewer's own time, no offset) as RFC 3339 in UTC; null if unset.
function utcFromLocal(value) {
  const at = value ? new Date(value) : null;
  return at && !Number.isNaN(at.getTime()) ? at.toISOString() : null;
}

// The banner after a write the server made a scheduled change request (202).
function scheduledNotice(request) {
  const approvals = request.required_approvals
    ? `, if by then it has ${plural(request.required_approvals, "approval")} by someone else` : "";
  return `Scheduled: change request ${request.id} applies at ${whenText(request.run_at_ms)}${approvals} (see Change requests).`;
}

// What a change request does, in words (the list on a flag's page, the review card's title).
function describeRequest(r) {
  const body = r.request || {};
  if (r.operation === "toggle") return `Turn ${r.target} ${body.on ? "on" : "off"} in ${r.environment}`;
  if (r.operation === "remove_targets") return `Remove ${body.kind || "user"} ${(body.values || []).join(", ")} from the individual targets of ${r.target} in ${r.environment}`;
  return `${r.operation.replaceAll("_", " ")} ${r.target} in ${r.environment}`;
}

// A time input in the viewer's time, to the second (near times are scheduled too). Typing in it
// marks the page as edited, so a live re-render does not wipe it.
function whenInput(label) {
  return h("input", { type: "datetime-local", step: 1, required: true, "aria-label": label, oninput: () => { state.dirty = true; } });
}

// ---- the review page -----------------------------------------------------------------------

// Changes held for approval where an environment requires it, and scheduled changes, each with
// its diff and history; approve or reject with a comment, withdraw or revise your own, give an
// open one a time or take it away. The server decides who may (nobody approves their own);
// controls the token may not use are disabled.
async function changeRequestsView(params) {
  const shown = params.get("state") || "all", scheduled = params.get("scheduled") || "";
  const query = new URLSearchParams();
  if (shown !== "all") query.set("state", shown);
  if (scheduled) query.set("scheduled", scheduled);
  const requests = await api("GET", `${projectPath()}/change-requests?${query}`);
  const go = (name, value) => {
    const next = new URLSearchParams({ state: shown, scheduled });
    next.set(name, value);
    if (!next.get("scheduled")) next.delete("scheduled");
    location.hash = `#/change-requests?${next}`;
  };
  const filter = h("p", { class: "row" },
    h("label", {}, "Show ", select("state", REQUEST_STATES, shown, { onchange: (e) => go("state", e.target.value) })),
    h("label", {}, "Scheduled ", select("scheduled", [["", "any"], ["true", "scheduled"], ["false", "not scheduled"]], scheduled,
      { onchange: (e) => go("scheduled", e.target.value) })));
  const cards = await Promise.all(requests.map(changeRequestCard));
  const none = shown === "all" && !scheduled ? `No change requests in project ${state.project}.` : "No change requests match.";
  page("Change requests", filter, cards.length ? cards : h("p", {}, none));
}

// One change request's own page (linked from a flag's scheduled changes).
async function changeRequestView(id) {
  const request = await api("GET", `${projectPath()}/change-requests/${encodeURIComponent(id)}`);
  page(`Change request ${request.id}`, h("p", {}, h("a", { href: "#/change-requests" }, "All change requests")), await changeRequestCard(request));
}

async function changeRequestCard(r) {
  const may = await permissions(`proj/${r.project}:env/${r.environment}:change-request/${r.id}`);
  const path = `${projectPath()}/change-requests/${encodeURIComponent(r.id)}`;
  const comment = h("input", { size: 40, "aria-label": `Comment on change request ${r.id}` });
  const card = h("article", { id: `change-request-${r.id}`, class: "change-request" });
  const send = async (method, suffix, body, where) => {
    // Done: its disclosure closes (a re-render keeps open ones open).
    try { await api(method, `${path}${suffix}`, body); for (const d of card.querySelectorAll("details")) d.open = false; route(); }
    catch (error) { showError(error, where || card); }
  };
  const act = (verb) => () => send("POST", `/${verb}`, { comment: comment.value.trim() || undefined, revision: verb === "approve" ? r.revision : undefined });
  const button = (verb, label, action) => gate(h("button", { type: "button", onclick: act(verb), "aria-label": `${label} change request ${r.id}` }, label), may, action);
  const mine = r.author === state.account;
  const open = r.state === "pending" || r.state === "conflict";
  // Why it closed by itself: the runner's last step says.
  const last = r.history[r.history.length - 1];
  const why = (r.state === "expired" || r.state === "failed") && last && last.comment
    ? h("p", { class: "notice reason" }, `${r.state === "expired" ? "Expired" : "Failed"}: ${last.comment}`) : null;
  const timing = r.run_at_ms
    ? h("p", { class: "scheduled-at" }, `${r.state === "pending" ? "Scheduled for" : "Was scheduled for"} ${whenText(r.run_at_ms)}`) : null;
  card.append(...[
    h("h2", {}, h("a", { href: `#/change-request/${encodeURIComponent(r.id)}` }, describeRequest(r))),
    h("p", {}, `Change request ${r.id}, revision ${r.revision}, by ${r.author} at ${time(r.created_ms)}: `,
      h("strong", { class: `state-${r.state}` }, r.state), ` · ${r.approved} of ${r.required_approvals} approvals`,
      r.comment ? ` · ${r.comment}` : ""),
    timing, why,
    diff(r.before, r.after),
    h("ul", {}, r.history.map((s) => h("li", {}, `${time(s.at_ms)} ${s.account} ${s.step}${s.comment ? `: ${s.comment}` : ""}`))),
    open ? h("p", { class: "row" }, comment,
      mine ? button("withdraw", "Withdraw", "change-request:update")
        : [button("approve", "Approve", "change-request:approve"), button("reject", "Reject", "change-request:approve")]) : "",
    // Its author or an approver decides when a pending request applies.
    r.state === "pending" ? scheduleControls(r, may, mine, send) : null,
    open && mine ? reviseForm(r, may, send) : null].filter(Boolean));
  return card;
}

function scheduleControls(r, may, mine, send) {
  const allowed = may("change-request:approve") || (mine && may("change-request:update"));
  const when = whenInput(`Time for change request ${r.id}`);
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const at = utcFromLocal(when.value);
    if (!at) return showError(new Error("Choose a time."), form);
    await send("POST", "/schedule", { at, revision: r.revision }, form);
  } }, h("label", {}, "Apply at (your time) ", when),
  h("button", { type: "submit", "aria-label": `Schedule change request ${r.id}` }, "Schedule"));
  const controls = h("div", { class: "row" }, h("details", { id: `schedule-${r.id}` }, h("summary", {}, r.run_at_ms ? "Reschedule…" : "Schedule…"), form));
  if (r.run_at_ms) {
    controls.append(h("button", { type: "button", "aria-label": `Remove the schedule of change request ${r.id}`, onclick: async () => {
      // Without a time, a request that has its approvals applies at once.
      if (r.approved >= r.required_approvals
        && !(await confirmAction(`Remove the time of change request ${r.id}? It has its approvals, so it applies now: ${describeRequest(r)}.`, r.environment))) return;
      await send("POST", "/schedule", { at: null, revision: r.revision }, controls);
    } }, "Remove schedule"));
  }
  if (!allowed) for (const el of controls.querySelectorAll("button, input")) { el.disabled = true; el.title = "Only its author or an approver may schedule it"; }
  return controls;
}

// The author's new revision: the route's body as JSON (it rebases the request and drops the
// earlier approvals). The server's 422 names the field it refused.
function reviseForm(r, may, send) {
  const body = h("textarea", { rows: 6, "aria-label": `Request body of change request ${r.id} (JSON)`, oninput: () => { state.dirty = true; } },
    JSON.stringify(r.request, null, 2));
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    let request;
    try { request = JSON.parse(body.value); }
    catch (_) { body.setAttribute("aria-invalid", "true"); return showError(new Error("The request body is not valid JSON."), form); }
    body.setAttribute("aria-invalid", "false");
    await send("PUT", "", { request, revision: r.revision }, form);
  } }, body, h("div", { class: "row" }, h("button", { type: "submit", class: "primary", "aria-label": `Submit revision of change request ${r.id}` }, "Submit revision")));
  return h("details", { class: "revise", id: `revise-${r.id}` }, h("summary", {}, "Revise…"), gate(form, may, "change-request:update"));
}

// ---- end dates on a flag's page ------------------------------------------------------------

// A flag's end dates in the chosen environment: turn it off at a time, or remove one
// individual target at a time, each a scheduled change (202, a change request); and the
// pending scheduled changes of this flag here, each linked to its review.
async function flagSchedules(key, flag, may) {
  const query = new URLSearchParams({ scheduled: "true", environment: state.env, state: "pending" });
  const requests = await api("GET", `${projectPath()}/change-requests?${query}`).catch(() => null);
  const ours = (requests || []).filter((r) => r.target === key).sort((a, b) => a.run_at_ms - b.run_at_ms);
  const list = requests === null ? h("p", { class: "muted" }, "Your access does not allow change-request:read here.")
    : !ours.length ? h("p", { class: "muted", id: "scheduled-changes" }, `No scheduled changes of ${key} in ${state.env}.`)
      : h("ul", { id: "scheduled-changes" }, ours.map((r) => h("li", {}, `${whenText(r.run_at_ms)}: ${describeRequest(r)}`,
        r.required_approvals ? ` (${r.approved} of ${r.required_approvals} approvals)` : "", " ",
        h("a", { href: `#/change-request/${encodeURIComponent(r.id)}` }, `Review change request ${r.id}`))));
  const turnOff = gate(scheduleForm("turn-off", "Turn off on…", `Turn ${key} off in ${state.env} at (your time)`, "Schedule turn off",
    (comment) => ({ operation: "toggle", request: { on: false, comment }, what: `Turn ${key} off in ${state.env}` })), may, "flag:toggle");
  const targets = [];
  for (const t of flag.targets || []) {
    const kind = t.kind || "user", served = (flag.variations[t.variation] || {}).key || t.variation;
    for (const value of t.values) targets.push({ kind, value, served });
  }
  const targetRows = targets.map(({ kind, value, served }) => h("tr", {}, h("td", {}, value), h("td", {}, kind), h("td", {}, served),
    h("td", {}, gate(scheduleForm(`remove-${kind}-${value}`, "Remove on…", `Remove ${kind} ${value} on`, `Schedule removal of ${kind} ${value}`,
      (comment) => ({ operation: "remove_targets", request: { kind, values: [value], comment }, what: `Remove ${kind} ${value} from the individual targets of ${key} in ${state.env}` })),
    may, "flag:update"))));
  const ends = targetRows.length ? h("div", { class: "scroll" }, h("table", { id: "target-end-dates" },
    h("thead", {}, h("tr", {}, ["Key", "Kind", "Served", "End date"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, targetRows)))
    : h("p", { class: "muted" }, "No individual targets here.");
  return h("div", { id: "flag-schedules" }, list, turnOff, h("h3", {}, "Individual targets' end dates"), ends);

  // A disclosure with a time, an optional comment and a button that schedules `build(comment)`.
  function scheduleForm(id, summary, label, buttonLabel, build) {
    const when = whenInput(label);
    const note = h("input", { size: 30, "aria-label": `${buttonLabel}: comment`, placeholder: "comment (optional)", oninput: () => { state.dirty = true; } });
    const form = h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      const at = utcFromLocal(when.value);
      if (!at) return showError(new Error("Choose a time."), form);
      const { operation, request, what } = build(note.value.trim() || undefined);
      if (!(await confirmAction(`${what} at ${whenText(Date.parse(at))}?`, state.env))) return;
      try {
        await api("POST", `${projectPath()}/scheduled-changes`, { environment: state.env, operation, target: key, request, at });
        disclosure.open = false;
        route();
      } catch (error) { showError(error, form); }
    } }, when, note, h("button", { type: "submit" }, buttonLabel));
    const disclosure = h("details", { id: `end-date-${id}` }, h("summary", {}, summary), form);
    return disclosure;
  }
}
