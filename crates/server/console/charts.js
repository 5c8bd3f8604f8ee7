// Charts shared by the release and flag pages: SVG with axes, units and a legend, coloured by
// app.css's chart classes (the content security policy forbids style attributes).

const CHART_NS = "http://www.w3.org/2000/svg";

function chartNode(tag, attrs, ...children) {
  const el = document.createElementNS(CHART_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c.nodeType ? c : document.createTextNode(String(c)));
  return el;
}

// Round tick values from 0 to at least `max`.
function chartTicks(max) {
  const raw = max / 4, magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= raw) || raw;
  const ticks = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

const CLOCK = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const ZONE = (new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(new Date()).find((p) => p.type === "timeZoneName") || { value: "local" }).value;

// A line chart over time: `series` [{label, color, dashed, points: [[ms, value]]}] with a time
// axis (local clock, its zone named), a value axis in `unit`, a legend, and `markers` [{at, label,
// bad}] as vertical lines. Colours are app.css's chart classes (`color` of a class, drawn with
// `currentColor`): the content security policy forbids style attributes, and both themes draw
// them legibly; control is dashed as well, so the two read apart without colour.
function timeChart({ id, title, summary, unit, format, t0, t1, series, markers = [] }) {
  // The legend takes rows of three above the plot.
  const legendRows = Math.max(1, Math.ceil(series.length / 3));
  const W = 640, H = 224 + 16 * legendRows, left = 76, right = 16, top = 18 + 16 * legendRows, bottom = 50;
  // An empty chart still gets a readable scale: 0 to 1 of the unit.
  const max = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))) || 1;
  const ticks = chartTicks(max), yMax = ticks[ticks.length - 1];
  const span = Math.max(1000, t1 - t0);
  const x = (t) => left + ((t - t0) / span) * (W - left - right), y = (v) => top + (1 - v / yMax) * (H - top - bottom);
  const axisY = H - bottom;
  const xTicks = [0, 1, 2, 3, 4].map((i) => t0 + (span * i) / 4);
  const latest = series.map((s) => `${s.label} ${s.points.length ? format(s.points[s.points.length - 1][1]) : "no data yet"}`).join(", ");
  return chartNode("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", id, class: "time-chart",
    "aria-label": `${summary || title}; ${unit} over local time (${ZONE}); latest ${latest}` },
  chartNode("title", {}, title),
  ticks.map((t) => [chartNode("line", { x1: left, x2: W - right, y1: y(t), y2: y(t), class: "grid" }),
    chartNode("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "tick y-tick" }, format(t))]),
  chartNode("line", { x1: left, x2: W - right, y1: axisY, y2: axisY, class: "axis" }),
  chartNode("line", { x1: left, x2: left, y1: top, y2: axisY, class: "axis" }),
  xTicks.map((t, i) => chartNode("text", { x: x(t), y: axisY + 16, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "tick x-tick" }, CLOCK.format(new Date(t)))),
  chartNode("text", { x: left + (W - left - right) / 2, y: H - 8, "text-anchor": "middle", class: "axis-label x-label" }, `Time (${ZONE})`),
  chartNode("text", { x: 14, y: top + (axisY - top) / 2, "text-anchor": "middle", class: "axis-label y-label", transform: `rotate(-90 14 ${top + (axisY - top) / 2})` }, unit),
  markers.map((m) => chartNode("line", { x1: x(m.at), x2: x(m.at), y1: top, y2: axisY, class: `decision ${m.bad ? "chart-bad" : "chart-axis"}`, stroke: "currentColor", "stroke-dasharray": "2 3" },
    chartNode("title", {}, `${m.label} at ${zonedTime(m.at)}`))),
  series.map((s) => chartNode("g", { class: `series ${s.color}` },
    s.points.length > 1 ? chartNode("polyline", { class: "line", fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-dasharray": s.dashed ? "6 4" : null,
      points: s.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" ") }) : null,
    s.points.map((p) => chartNode("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.5, class: "dot", fill: "currentColor" })))),
  series.map((s, i) => chartNode("g", { transform: `translate(${left + (i % 3) * 190},${14 + 16 * Math.floor(i / 3)})`, class: `legend-item ${s.color}` },
    chartNode("line", { x1: 0, x2: 22, y1: 0, y2: 0, stroke: "currentColor", "stroke-width": 2, "stroke-dasharray": s.dashed ? "6 4" : null }),
    chartNode("text", { x: 28, y: 4, class: "legend-label" }, s.label))));
}
