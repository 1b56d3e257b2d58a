// The faasml dashboard: polls the gateway's /ui/api/state and the selector's recent
// decisions once a second and redraws. Plain DOM, no library: the page must work offline.
"use strict";

const POLL_MS = 1000;
const MAX_DECISIONS = 40;
let lastSeq = 0;
let decisions = [];

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
const fmt = (value, digits = 1) => value === null || value === undefined ? "–" : Number(value).toFixed(digits);

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function drawNodes(nodes) {
  const box = document.getElementById("nodes");
  box.replaceChildren(...nodes.map(node => el("div", { class: "card", "data-node": node.name },
    el("h3", {}, node.name, " ", el("span", { class: "muted" }, `${node.cpus ?? "?"} cpu`)),
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
    if (!chips.length) chips.push(el("span", { class: "chip off" }, f.unschedulable ? "unschedulable" : "none"));
    return el("tr", { "data-function": f.name },
      el("td", {}, f.name, f.role === "selector" ? el("span", { class: "muted" }, " (selector)") : ""),
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
    const late = d.predicted_ms !== null && d.predicted_ms !== undefined && d.actual_ms > d.predicted_ms * 1.5;
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
  const answered = decisions.filter(d => d.variant && d.predicted_ms);
  const ratio = answered.length
    ? answered.reduce((sum, d) => sum + d.actual_ms / d.predicted_ms, 0) / answered.length : null;
  document.getElementById("decision-summary").textContent = decisions.length
    ? `${decisions.length} shown, newest first; actual/predicted latency, mean: ${fmt(ratio, 2)}×`
    : "no requests through the selector yet";
}

async function pollDecisions(selector) {
  const label = document.getElementById("selector-name");
  if (!selector) { label.textContent = "(no selector deployed)"; return; }
  label.textContent = `(selector: ${selector})`;
  // Through the gateway's own route: it holds the selector's API key when keys are on.
  const view = await getJson(`api/decisions?after=${lastSeq}&limit=${MAX_DECISIONS}`);
  if (view.last_seq < lastSeq) { lastSeq = 0; decisions = []; }   // the selector restarted
  const fresh = new Set(view.decisions.map(d => d.seq));
  decisions = view.decisions.concat(decisions).slice(0, MAX_DECISIONS);
  lastSeq = view.last_seq;
  drawDecisions(fresh);
}

async function tick() {
  const dot = document.getElementById("connection");
  try {
    const state = await getJson("api/state");
    drawNodes(state.nodes);
    drawFunctions(state.functions);
    try { await pollDecisions(state.selector); } catch (error) {
      document.getElementById("decision-summary").textContent = `selector not answering (${error.message})`;
    }
    dot.className = "dot live";
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()} · faasml ${state.version}`;
  } catch (error) {
    dot.className = "dot down";
    document.getElementById("updated").textContent = `no answer from the gateway (${error.message})`;
  }
  setTimeout(tick, POLL_MS);
}

tick();
