// Switchyard console: environments side by side (docs/environments.md). Loaded after app.js,
// whose helpers it shares (h, api, page, gate, permissions, showError, confirmAction, select,
// table, plural, projectPath, state, route). Two environments' targeting compared flag by flag
// in words (the API's own descriptions), and "Copy to {to}" per flag with the parts that differ
// as checkboxes, through the promote API: validated, audited and held for approval exactly as
// an edit of the target's targeting.
"use strict";

// The part of a targeting a described field belongs to ("rules[id=r1].serve" → "rules").
const PART_LABELS = { on: "on/off", off_variation: "off variation", prerequisites: "prerequisites", targets: "individual targets", rules: "rules", fallthrough: "default rule" };

// A promotion the target held for approval, shown with a link until the next comparison.
let compareHeld = null;

function compareHash(from, to) {
  return `#/compare?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
}

// One flag that differs: its differences in words, and the copy form.
async function compareCard(flag, from, to) {
  const may = await permissions(`proj/${state.project}:env/${to}:flag/${flag.flag}`);
  const card = h("section", { class: "compare-flag", "aria-label": `Flag ${flag.flag}` });
  const boxes = flag.parts.map((part) => h("label", {},
    h("input", { type: "checkbox", name: "part", value: part, checked: true, "aria-label": `Copy ${PART_LABELS[part] || part} of ${flag.flag}` }),
    ` ${PART_LABELS[part] || part}`));
  const comment = h("input", { name: "comment", size: 30, "aria-label": `Comment on copying ${flag.flag}`, placeholder: "comment (optional)" });
  const copy = h("button", { type: "submit", class: "primary" }, `Copy to ${to}`);
  const form = h("form", { class: "row", "aria-label": `Copy ${flag.flag} to ${to}`, onsubmit: async (e) => {
    e.preventDefault();
    const parts = [...form.querySelectorAll("input[name=part]:checked")].map((box) => box.value);
    if (!parts.length) { showError(new Error("Pick at least one part to copy."), card); return; }
    const words = parts.map((p) => PART_LABELS[p] || p).join(", ");
    if (!(await confirmAction(`Copy ${words} of ${flag.flag} from ${from} to ${to}?`, to))) return;
    try {
      const answer = await api("POST", `${projectPath()}/flags/${encodeURIComponent(flag.flag)}/promote`,
        { from, to, parts, version: flag.to_version, comment: comment.value.trim() || undefined });
      if (answer && answer.change_request) compareHeld = { flag: flag.flag, id: answer.change_request.id };
      else state.notice = `Copied ${words} of ${flag.flag} from ${from} to ${to}.`;
      route();
    } catch (error) { showError(error, card); }
  } }, ...boxes, comment, copy);
  gate(form, may, "flag:update");
  card.append(
    h("h2", {}, h("a", { href: `#/flag/${encodeURIComponent(flag.flag)}` }, flag.flag), flag.archived ? " (archived)" : ""),
    table(flag.differences, [
      ["Field", (d) => h("code", {}, d.field)],
      [from, (d) => (d.before == null ? h("span", { class: "muted" }, "not set") : d.before)],
      [to, (d) => (d.after == null ? h("span", { class: "muted" }, "not set") : d.after)],
    ]),
    form);
  return card;
}

async function compareView(params) {
  const keys = state.envs.map((e) => e.key);
  const to = keys.includes(params.get("to")) ? params.get("to") : state.env;
  const from = keys.includes(params.get("from")) ? params.get("from") : keys.find((k) => k !== to) || to;
  // Either select moves to the pair both show now (never to a pair an older render held).
  const fromSelect = select("from", keys, from, { "aria-label": "Compare environment" });
  const toSelect = select("to", keys, to, { "aria-label": "with environment" });
  const pick = () => { location.hash = compareHash(fromSelect.value, toSelect.value); };
  fromSelect.addEventListener("change", pick);
  toSelect.addEventListener("change", pick);
  const pickers = h("div", { class: "row" }, h("label", {}, "Compare ", fromSelect), h("label", {}, "with ", toSelect));
  if (from === to) return page("Compare environments", pickers, h("p", { class: "muted" }, "Pick two different environments."));
  const comparison = await api("GET", `${projectPath()}/environments/${encodeURIComponent(from)}/compare/${encodeURIComponent(to)}`);
  const differing = comparison.flags.filter((f) => !f.same);
  const same = comparison.flags.filter((f) => f.same).map((f) => f.flag);
  const held = compareHeld;
  compareHeld = null;
  page("Compare environments", pickers,
    h("p", { class: "muted" }, `Each flag's targeting in ${from} beside ${to}. Copying goes through the same checks, audit and approvals as editing the flag in ${to}.`),
    held ? h("p", { class: "notice", role: "status" }, `Copying ${held.flag} waits for approval: `,
      h("a", { href: `#/change-request/${encodeURIComponent(held.id)}` }, `change request ${held.id}`)) : null,
    differing.length ? await Promise.all(differing.map((f) => compareCard(f, from, to)))
      : h("p", {}, `No differences between ${from} and ${to}.`),
    same.length ? h("p", { class: "muted", id: "compare-same" }, `The same in both: ${same.join(", ")}.`) : null,
    comparison.omitted ? h("p", { class: "muted" }, `${plural(comparison.omitted, "flag")} left out: your access does not allow reading them in both environments.`) : null);
}
