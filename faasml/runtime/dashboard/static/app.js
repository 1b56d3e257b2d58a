// The faasml dashboard: polls the gateway's /ui/api/state and the selector's recent
// decisions once a second, redraws the tables and three live charts (requests per second
// per variant, latency percentiles, predicted against actual latency). Plain DOM and
// SVG, no library: the page must work offline.
"use strict";

const POLL_MS = 1000;
const MAX_DECISIONS = 40;          // rows in the decisions table
const CHART_WINDOW_S = 300;        // the charts show the last five minutes
const BUCKET_S = 10;               // latency percentiles and medians per 10 s
const LATE_FACTOR = 1.5;           // an answer slower than 1.5x its prediction is "late" (red)
const PALETTE = ["#2f6fd6", "#2e9d57", "#d08b12", "#8e44ad", "#c8383b", "#16a2b8", "#7a5c3e", "#e0569b",
                 "#5f6b7a", "#94b021"];

// Every URL from the page's origin and path, never from the address bar as typed: a page
// opened as http://admin:password@host/ui/ has credentials in its base URL, and fetch()
// refuses any request built from such a URL. The browser still sends the basic auth it
// used for the page (the same realm and path) with each of these requests.
const BASE = new URL(".", window.location.origin + window.location.pathname);
const api = path => new URL(path, BASE).toString();

let lastSeq = 0;
let decisions = [];                 // newest first, for the table
let calibration = null;             // the selector's actual/predicted figures (GET /decisions)
const history = { rps: new Map(), decisions: [], colors: new Map() };

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
};
const svg = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
};
const fmt = (value, digits = 1) => value === null || value === undefined ? "–" : Number(value).toFixed(digits);

async function getJson(path) {
  const response = await fetch(api(path), { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function colorOf(name) {
  if (!history.colors.has(name)) history.colors.set(name, PALETTE[history.colors.size % PALETTE.length]);
  return history.colors.get(name);
}

function drawNodes(nodes) {
  const box = document.getElementById("nodes");
  box.replaceChildren(...nodes.map(node => el("div", { class: "card", "data-node": node.name },
    el("h3", {}, node.name, " ", el("span", { class: "muted" },
      `${node.cpus ?? "?"} ${node.cpus === 1 ? "CPU" : "CPUs"}`)),
    el("div", { class: "figures" },
      el("span", {}, el("b", { class: "replicas" }, node.replicas), "replicas"),
      el("span", {}, el("b", { class: "inflight" }, node.in_flight), "in flight")),
    el("div", { class: "muted" }, node.functions.join(", ") || "nothing placed"))));
}

function drawFunctions(functions) {
  const body = document.querySelector("#functions tbody");
  const most = Math.max(1, ...functions.map(f => f.in_flight));
  body.replaceChildren(...functions.map(f => {
    const chips = Object.entries(f.per_node).map(([node, n]) =>
      el("span", { class: n.ready ? "chip" : "chip off" }, `${node} ${n.ready}/${n.replicas}`));
    if (!chips.length) chips.push(el("span", { class: "chip off", title: f.unschedulable || "" },
                                     f.unschedulable ? "unschedulable" : "none"));
    return el("tr", { "data-function": f.name },
      el("td", {}, f.role !== "selector" ? el("span", { class: "swatch", style: `background:${colorOf(f.name)}` }) : "",
         f.name, f.role === "selector" ? el("span", { class: "muted" }, " (selector)") : ""),
      el("td", { class: "wide" }, f.task ?? ""),
      el("td", { class: "num wide" }, f.accuracy === null ? "" : fmt(f.accuracy, 3)),
      el("td", {}, ...chips),
      el("td", { class: "num inflight" }, f.in_flight,
         el("span", { class: "bar", style: `width:${(40 * f.in_flight) / most}px` })),
      el("td", { class: "num rps" }, fmt(f.requests_per_s)),
      el("td", { class: "num wide invocations" }, f.invocations));
  }));
}

function clientLabel(d) {
  const tradeoff = d.tradeoff === null || d.tradeoff === undefined ? "0.5" : d.tradeoff;
  return d.client_class === "pinned" ? "pinned" : `${d.client_class} (${tradeoff})`;
}

function drawDecisions(fresh) {
  const body = document.querySelector("#decisions tbody");
  body.replaceChildren(...decisions.map(d => {
    const late = d.predicted_ms !== null && d.predicted_ms !== undefined && d.actual_ms > d.predicted_ms * LATE_FACTOR;
    const limits = [d.max_latency_ms ? `≤${d.max_latency_ms} ms` : "", d.min_accuracy ? `≥${d.min_accuracy} acc` : ""]
      .filter(Boolean).join(" ");
    const ok = d.status < 400;
    return el("tr", { "data-seq": d.seq, "data-variant": d.variant ?? "", class: fresh.has(d.seq) ? "fresh" : "" },
      el("td", {}, new Date(d.at * 1000).toLocaleTimeString()),
      el("td", {}, clientLabel(d)),
      el("td", { class: "wide" }, limits || "–"),
      el("td", { class: "variant" }, d.variant ?? d.code ?? ""),
      el("td", { class: "num" }, fmt(d.predicted_ms)),
      el("td", { class: late ? "num late" : "num early" }, fmt(d.actual_ms)),
      el("td", { class: "num wide" }, d.attempts ?? "–"),
      el("td", { class: ok ? "status-ok" : "status-err" }, ok ? d.status : `${d.status} ${d.code ?? ""}`));
  }));
  // The selector's own figures over its ring of recent answers (GET /decisions'
  // `calibration`): the median and 90th percentile of actual / predicted latency. A
  // calibrated prediction has its median between 0.8 and 1.25 and its p90 under 2.
  const c = calibration || {};
  const p50 = c.actual_over_predicted_p50, p90 = c.actual_over_predicted_p90;
  const calibrated = p50 !== null && p50 !== undefined && p50 >= 0.8 && p50 <= 1.25 && p90 < 2;
  const summary = document.getElementById("decision-summary");
  summary.textContent = decisions.length
    ? `${decisions.length} shown, newest first; actual/predicted latency over the selector's last ` +
      `${c.answered ?? 0} answers: median ${fmt(p50, 2)}×, p90 ${fmt(p90, 2)}×`
    : "no requests through the selector yet";
  summary.dataset.calibrated = p50 === null || p50 === undefined ? "" : String(calibrated);
}

// -- history kept by the page for the charts -------------------------------------------
function remember(state) {
  const now = state.generated_at;
  for (const f of state.functions) {
    if (f.role === "selector" || f.requests_per_s === null || f.requests_per_s === undefined) continue;
    if (!history.rps.has(f.name)) history.rps.set(f.name, []);
    history.rps.get(f.name).push([now, f.requests_per_s]);
  }
  for (const [name, points] of history.rps) {
    while (points.length && points[0][0] < now - CHART_WINDOW_S) points.shift();
    if (!points.length) history.rps.delete(name);
  }
  history.decisions = history.decisions.filter(d => d.at >= now - CHART_WINDOW_S);
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position), high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

// Answered decisions in 10 s buckets: [bucket end time, values...] per bucket.
function buckets(now, pick) {
  const answered = history.decisions.filter(d => d.variant && d.status < 400);
  const rows = [];
  for (let end = Math.ceil(now / BUCKET_S) * BUCKET_S; end > now - CHART_WINDOW_S; end -= BUCKET_S) {
    const inside = answered.filter(d => d.at > end - BUCKET_S && d.at <= end);
    if (inside.length) rows.unshift([Math.min(end, now), pick(inside)]);
  }
  return rows;
}

function latencySeries(now) {
  const rows = buckets(now, inside => {
    const actual = inside.map(d => d.actual_ms).sort((a, b) => a - b);
    return [quantile(actual, 0.5), quantile(actual, 0.95), quantile(actual, 0.99)];
  });
  return [["p50", "#2f6fd6"], ["p95", "#d08b12"], ["p99", "#c8383b"]].map(([name, color], i) =>
    ({ name, color, points: rows.map(([t, values]) => [t, values[i]]) }));
}

function predictionSeries(now) {
  const rows = buckets(now, inside => {
    const predicted = inside.filter(d => d.predicted_ms !== null && d.predicted_ms !== undefined)
      .map(d => d.predicted_ms).sort((a, b) => a - b);
    const actual = inside.map(d => d.actual_ms).sort((a, b) => a - b);
    return [quantile(predicted, 0.5), quantile(actual, 0.5)];
  });
  return [["predicted (median)", "#8e44ad", "6 4"], ["actual (median)", "#2e9d57", ""]].map(([name, color, dash], i) =>
    ({ name, color, dash, points: rows.map(([t, values]) => [t, values[i]]).filter(([, v]) => v !== null) }));
}

// -- a line chart in SVG: time on x (the last CHART_WINDOW_S), one line per series ----------
const CHART = { width: 560, height: 200, left: 46, right: 10, top: 10, bottom: 24 };

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map(m => m * step).find(m => m >= value);
}

function drawChart(id, series, now, unit) {
  const box = document.getElementById(id);
  const { width, height, left, right, top, bottom } = CHART;
  const plotted = series.filter(s => s.points.length);
  const top_value = niceMax(Math.max(0, ...plotted.flatMap(s => s.points.map(([, v]) => v))));
  const x = t => left + (width - left - right) * (1 - (now - t) / CHART_WINDOW_S);
  const y = v => top + (height - top - bottom) * (1 - v / top_value);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
                             "aria-label": box.dataset.title || id });
  for (let i = 0; i <= 4; i++) {
    const value = (top_value * i) / 4;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
    const label = svg("text", { x: left - 6, y: y(value) + 4, class: "tick", "text-anchor": "end" });
    label.textContent = value >= 10 ? value.toFixed(0) : Number(value.toFixed(2)).toString();
    chart.append(label);
  }
  for (const minutes of [5, 4, 3, 2, 1, 0]) {
    const label = svg("text", { x: x(now - minutes * 60), y: height - 6, class: "tick", "text-anchor": "middle" });
    label.textContent = minutes ? `-${minutes} min` : "now";
    chart.append(label);
  }
  const unitLabel = svg("text", { x: left + 4, y: top + 10, class: "tick" });   // inside the plot, clear of the ticks
  unitLabel.textContent = unit;
  chart.append(unitLabel);
  for (const s of plotted) {
    const points = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: s.color, "stroke-width": 2,
                                   "stroke-dasharray": s.dash || "", "data-series": s.name,
                                   "data-points": s.points.length }));
    if (s.points.length === 1) {   // one point: a dot, a line needs two
      const [t, v] = s.points[0];
      chart.append(svg("circle", { cx: x(t), cy: y(v), r: 3, fill: s.color }));
    }
  }
  const legend = el("div", { class: "chart-legend" }, ...series.map(s =>
    el("span", { class: s.points.length ? "" : "muted" },
       el("span", { class: s.dash ? "swatch dashed" : "swatch", style: `background:${s.color}` }), s.name)));
  const empty = plotted.length ? [] : [el("div", { class: "muted chart-empty" }, box.dataset.empty || "no data yet")];
  box.replaceChildren(chart, legend, ...empty);
}

function drawCharts(now) {
  const rps = [...history.rps].map(([name, points]) => ({ name, color: colorOf(name), points }));
  drawChart("chart-rps", rps, now, "req/s");
  drawChart("chart-latency", latencySeries(now), now, "ms");
  drawChart("chart-prediction", predictionSeries(now), now, "ms");
}

async function pollDecisions(selector) {
  const label = document.getElementById("selector-name");
  if (!selector) { label.textContent = "(no selector deployed)"; return; }
  label.textContent = `(selector: ${selector})`;
  // Through the gateway's own route: it holds the selector's API key when keys are on.
  // Everything new (up to the selector's ring), so the charts miss none between polls.
  const view = await getJson(`api/decisions?after=${lastSeq}`);
  if (view.last_seq < lastSeq) { lastSeq = 0; decisions = []; history.decisions = []; }   // the selector restarted
  const fresh = new Set(view.decisions.map(d => d.seq));
  decisions = view.decisions.concat(decisions).slice(0, MAX_DECISIONS);
  history.decisions = history.decisions.concat(view.decisions);
  lastSeq = view.last_seq;
  calibration = view.calibration;
  drawDecisions(fresh);
}

async function tick() {
  const dot = document.getElementById("connection");
  try {
    const state = await getJson("api/state");
    drawNodes(state.nodes);
    drawFunctions(state.functions);
    dot.className = "dot live";   // the gateway answered; the selector's part may still fail below
    dot.title = "live: the gateway answered the last poll";
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()} · faasml ${state.version}`;
    try { await pollDecisions(state.selector); } catch (error) {
      document.getElementById("decision-summary").textContent = `selector not answering (${error.message})`;
    }
    try { remember(state); drawCharts(state.generated_at); } catch (error) {
      console.error("charts:", error);   // a drawing fault is not the gateway's
    }
  } catch (error) {
    dot.className = "dot down";
    dot.title = "no answer from the gateway";
    document.getElementById("updated").textContent = `no answer from the gateway (${error.message})`;
  }
  setTimeout(tick, POLL_MS);
}

tick();
