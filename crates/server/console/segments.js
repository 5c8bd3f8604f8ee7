// Switchyard console: segments. A classic script sharing the page's globals (app.js loads first).
"use strict";

// 100 segments a page, like the flag list (listPage in flags.js).
async function segmentsView() {
  const { items: segments, pager } = await listPage({ path: `${envPath()}/segments`, query: new URLSearchParams(), params: hashParams(),
    hashPath: "/segments", noun: "Segments", id: "segment-count" });
  const keys = (lists) => (lists || []).filter((l) => (l.kind || "user") === "user").flatMap((l) => l.values).join(", ");
  const parse = (text) => { const values = text.split(",").map((v) => v.trim()).filter(Boolean); return values.length ? [{ kind: "user", values }] : []; };
  const editor = (segment) => {
    const working = JSON.parse(JSON.stringify(segment));
    working.rules = working.rules || [];
    const markDirty = () => { state.dirty = true; };
    const included = h("input", { value: keys(segment.included), size: 40, "aria-label": `users included in ${segment.key}` });
    const excluded = h("input", { value: keys(segment.excluded), size: 40, "aria-label": `users excluded from ${segment.key}` });
    const rulesBox = h("div", {});
    const renderRules = () => rulesBox.replaceChildren(...working.rules.map((rule, i) => h("fieldset", {},
      h("legend", {}, `${segment.key} rule ${i + 1}: contexts matching all of`),
      ...conditionEditor(rule, `${segment.key} rule ${i + 1}`, markDirty, renderRules),
      h("button", { type: "button", onclick: () => { working.rules.splice(i, 1); markDirty(); renderRules(); } }, `Delete ${segment.key} rule ${i + 1}`))),
    h("button", { type: "button", onclick: () => {
      working.rules.push({ id: `rule-${Date.now().toString(36)}`, condition: { all: [{ kind: "user", attribute: "", op: "in", values: [] }] } });
      markDirty(); renderRules();
    } }, `Add rule to ${segment.key}`));
    renderRules();
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      // Key lists of other context kinds are kept as they are; the inputs edit the user lists.
      const others = (lists) => (lists || []).filter((l) => (l.kind || "user") !== "user");
      const body = Object.assign({}, working, { included: [...parse(included.value), ...others(segment.included)],
        excluded: [...parse(excluded.value), ...others(segment.excluded)], version: segment.version });
      delete body.environment;
      try { await api("PUT", `${envPath()}/segments/${encodeURIComponent(segment.key)}`, body); saved(`Segment ${segment.key}`); }
      catch (error) { showError(error, form); }
    } }, h("fieldset", {}, h("legend", {}, `${segment.key} (version ${segment.version})`),
      h("div", { class: "row" }, h("span", {}, "Included users"), included),
      h("div", { class: "row" }, h("span", {}, "Excluded users"), excluded),
      h("p", { class: "muted" }, "Also included: contexts matching any of these rules."), rulesBox,
      h("div", { class: "row" }, h("button", { type: "submit" }, `Save ${segment.key}`),
        deleteButton("Delete segment", segment.key, `${envPath()}/segments/${encodeURIComponent(segment.key)}`, state.env))));
    form.addEventListener("input", markDirty);
    return form;
  };
  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try { await api("POST", `${envPath()}/segments`, { key: e.target.key.value.trim(), included: [], excluded: [] }); route(); }
    catch (error) { showError(error, create); }
  } }, h("label", {}, "New segment key ", h("input", { name: "key", required: true })), h("button", { type: "submit", class: "primary" }, "Create segment"));
  page(`Segments in ${state.env}`, create, pager(), segmentKeysList(segments), ...segments.map(editor));
}

// A table of `rows`; each column is [heading, cell(row)].
