/**
 * The dashboard's page: one HTML document with its style and script inline, and the
 * Content-Security-Policy that allows exactly those two (by their SHA-256 hashes) and
 * connections to its own origin (the event stream) — nothing else, so the page fetches nothing
 * from the network and works with no internet. The script is plain JavaScript for any current
 * browser; it builds the page from the stream's `machines`, `frame` and `event` messages.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

const STYLE = `
:root { --ink: #1d1f24; --muted: #5f6673; --line: #d9dce3; --card: #ffffff; --bg: #f5f6f8; --honey: #f2b705; --honey-soft: #ffe9a8;
  --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --blue: #3867b4; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 14px; padding: 12px 20px; background: #1d1f24; color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header .meta { color: #c5c9d2; font-size: 13px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e6e8ed; color: var(--ink); }
.badge.ok { background: #dff3e2; color: var(--ok); } .badge.warn { background: #fff0d6; color: var(--warn); } .badge.bad { background: #fde2e2; color: var(--bad); }
.conn { margin-left: auto; font-size: 12px; } .conn.live::before { content: "● "; color: #5fd068; } .conn.down::before { content: "● "; color: #ff6b6b; }
main { padding: 16px 20px 32px; display: grid; gap: 16px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
section h2 { margin: 0 0 10px; font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; }
.card .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; } .card .k { color: var(--muted); font-size: 12px; }
.bars { display: grid; grid-template-columns: 90px 1fr 60px; gap: 6px 10px; align-items: center; font-variant-numeric: tabular-nums; }
.bar { height: 12px; background: #eef0f4; border-radius: 6px; overflow: hidden; } .bar > div { height: 100%; width: 0; background: var(--blue); }
.bars .n { text-align: right; }
svg.spark { width: 100%; height: 90px; display: block; } svg.spark .done { fill: none; stroke: var(--blue); stroke-width: 2; }
svg.spark .fail { fill: none; stroke: var(--bad); stroke-width: 1.5; } svg.spark .axis { stroke: var(--line); }
svg.spark text { font-size: 10px; fill: var(--muted); }
.machines { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fcfcfd; max-width: 100%; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; } figcaption span { color: var(--muted); font-weight: 400; }
svg.machine { display: block; max-width: 100%; height: auto; }
svg.machine .box { fill: #fff; stroke: #8a90a0; stroke-width: 1.2; } svg.machine .final { fill: none; stroke: #8a90a0; }
svg.machine .compound > .box { fill: #f7f8fa; }
svg.machine .state.on > .box { fill: var(--honey-soft); stroke: var(--honey); stroke-width: 2.5; }
svg.machine .name { font-size: 12px; font-weight: 600; fill: var(--ink); }
svg.machine .count { font-size: 12px; font-weight: 700; fill: #8a5a00; }
svg.machine .edge { fill: none; stroke: #9aa1b0; stroke-width: 1.2; } svg.machine .any-edge { stroke-dasharray: 4 3; }
svg.machine .arrowhead, svg.machine .initial { fill: #7a8090; }
svg.machine .any { fill: #eef0f4; stroke: #9aa1b0; stroke-dasharray: 3 2; } svg.machine .any-label { font-size: 10px; fill: var(--muted); }
svg.machine .event { font-size: 10px; fill: var(--muted); paint-order: stroke; stroke: #fcfcfd; stroke-width: 3px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eceef2; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; } td.crash { white-space: normal; color: var(--muted); max-width: 340px; }
td .slots { display: inline-block; width: 80px; vertical-align: middle; margin-right: 6px; }
ol.events { list-style: none; margin: 0; padding: 0; max-height: 260px; overflow-y: auto; font-size: 13px; }
ol.events li { padding: 3px 0; border-bottom: 1px solid #f0f1f4; } ol.events time { color: var(--muted); margin-right: 8px; font-variant-numeric: tabular-nums; }
ol.events .warn { color: var(--warn); } ol.events .error { color: var(--bad); }
.empty { color: var(--muted); }
`;

const SCRIPT = `
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const num = (v) => v == null ? "–" : v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v * 10) / 10);
  const secs = (s) => s == null || !isFinite(s) ? "–" : s < 1e-3 ? Math.round(s * 1e6) + " µs" : s < 1 ? (s * 1e3).toFixed(s < 0.01 ? 2 : 1) + " ms" : s.toFixed(2) + " s";
  const uptime = (ms) => { if (ms == null) return ""; const s = Math.floor(ms / 1000); const h = Math.floor(s / 3600); const m = Math.floor((s % 3600) / 60); return (h > 0 ? h + "h " : "") + (h > 0 || m > 0 ? m + "m " : "") + (s % 60) + "s"; };
  const tone = (state) => /degraded|draining|restarting|halfOpen|saturated|starting|stopping/.test(state) ? "warn" : /stopped|failed|open|error/.test(state) ? "bad" : "ok";
  const SVG = "http://www.w3.org/2000/svg";
  const PRIORITIES = ["critical", "high", "normal", "low", "background"];
  const figures = new Map();

  function renderMachines(message) {
    const box = $("machines");
    box.textContent = "";
    figures.clear();
    for (const m of message.machines) {
      const figure = el("figure");
      figure.dataset.machine = m.kind;
      const caption = el("figcaption", "", m.kind + " ");
      const count = el("span", "", "");
      caption.append(count);
      const holder = el("div");
      holder.innerHTML = m.svg;
      figure.append(caption, holder);
      box.append(figure);
      figures.set(m.kind, { count, svg: holder.firstElementChild });
    }
    if (latest) renderCounts(latest);
  }

  function renderCounts(frame) {
    const seen = new Map(frame.machines.map((m) => [m.kind, m]));
    for (const [kind, f] of figures) {
      const m = seen.get(kind);
      f.count.textContent = m ? "— " + m.actors + (m.actors === 1 ? " actor" : " actors") : "— no actors";
      for (const t of f.svg.querySelectorAll("[data-count]")) {
        const n = m ? m.states[t.dataset.count] || 0 : 0;
        t.textContent = n > 0 ? "× " + n : "";
        t.parentNode.classList.toggle("on", n > 0);
      }
    }
  }

  function card(id, value, key) {
    let c = $(id);
    if (!c) { c = el("div", "card"); c.id = id; c.append(el("div", "v"), el("div", "k")); $("cards").append(c); }
    c.firstChild.textContent = value;
    c.lastChild.textContent = key;
  }

  function renderQueue(queue) {
    const box = $("queue");
    box.textContent = "";
    if (!queue) { box.append(el("div", "empty", "no queue figures")); return; }
    const names = PRIORITIES.filter((p) => p in queue).concat(Object.keys(queue).filter((p) => !PRIORITIES.includes(p)));
    const most = Math.max(1, ...names.map((p) => queue[p]));
    for (const p of names) {
      const bar = el("div", "bar"); const fill = el("div"); fill.style.width = (100 * queue[p] / most).toFixed(1) + "%"; bar.append(fill);
      const row = [el("div", "", p), bar, el("div", "n", num(queue[p]))];
      row[0].dataset.priority = p;
      box.append(...row);
    }
  }

  function renderSpark(series, historyMs) {
    const svg = $("spark");
    svg.textContent = "";
    const w = 600, h = 90, top = 6, bottom = 16;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const most = Math.max(1, ...series.completed, ...series.failed);
    // The last minute at least, then as far back as there is data (up to the history).
    const span = Math.min(historyMs / 1000, Math.max(60, ...series.ago.map((a) => a + 1)));
    const x = (ago) => w - (ago / span) * w;
    const y = (v) => h - bottom - (v / most) * (h - top - bottom);
    const line = (values, cls) => {
      if (values.length < 2) return;
      const p = document.createElementNS(SVG, "polyline");
      p.setAttribute("class", cls);
      p.setAttribute("points", values.map((v, i) => x(series.ago[i]).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
      svg.append(p);
    };
    const axis = document.createElementNS(SVG, "line");
    axis.setAttribute("class", "axis"); axis.setAttribute("x1", "0"); axis.setAttribute("x2", String(w)); axis.setAttribute("y1", String(h - bottom)); axis.setAttribute("y2", String(h - bottom));
    svg.append(axis);
    line(series.completed, "done");
    line(series.failed, "fail");
    const label = (text, lx, anchor) => { const t = document.createElementNS(SVG, "text"); t.setAttribute("x", String(lx)); t.setAttribute("y", String(h - 3)); t.setAttribute("text-anchor", anchor); t.textContent = text; svg.append(t); };
    label(span >= 120 ? "−" + Math.round(span / 60) + " min" : "−" + Math.round(span) + " s", 2, "start");
    label("now", w - 2, "end");
    label("peak " + num(most) + "/s", w / 2, "middle");
  }

  function renderAgents(agents) {
    const body = $("agents");
    if (agents.length === 0) { body.textContent = ""; const tr = el("tr"); const td = el("td", "empty", "no agents reported"); td.colSpan = 8; tr.append(td); body.append(tr); return; }
    const rows = new Map([...body.querySelectorAll("tr[data-agent]")].map((r) => [r.dataset.agent, r]));
    for (const r of body.querySelectorAll("tr:not([data-agent])")) r.remove();
    const keep = new Set();
    for (const a of agents) {
      keep.add(a.id);
      let tr = rows.get(a.id);
      if (!tr) {
        tr = el("tr"); tr.dataset.agent = a.id;
        for (let i = 0; i < 8; i++) tr.append(el("td"));
        tr.cells[7].className = "crash";
        body.append(tr);
      }
      const c = tr.cells;
      c[0].textContent = a.id;
      c[1].textContent = ""; const st = el("span", "badge " + tone(a.state), a.state); st.dataset.state = a.state; c[1].append(st);
      if (a.status && a.status !== "up") c[1].append(" ", el("span", "badge " + tone(a.status), a.status));
      c[2].textContent = ""; const bar = el("span", "bar slots"); const fill = el("div"); fill.style.width = (a.concurrency > 0 ? (100 * a.busy / a.concurrency) : 0).toFixed(0) + "%"; bar.append(fill); c[2].append(bar, a.busy + " / " + a.concurrency);
      c[3].textContent = ""; if (a.breaker) c[3].append(el("span", "badge " + (a.breaker === "closed" ? "ok" : tone(a.breaker)), a.breaker));
      c[4].textContent = a.recentFailed == null ? "–" : String(a.recentFailed);
      c[5].textContent = a.failed == null ? "–" : num(a.failed);
      c[6].textContent = a.restarts == null ? "–" : String(a.restarts);
      c[7].textContent = a.lastCrash || "";
    }
    for (const [id, tr] of rows) if (!keep.has(id)) tr.remove();
  }

  function addEvent(e) {
    const list = $("events");
    const none = list.querySelector(".empty");
    if (none) none.remove();
    const li = el("li", e.level);
    li.dataset.kind = e.kind;
    const t = el("time", "", new Date(e.at).toLocaleTimeString());
    li.append(t, e.text);
    list.prepend(li);
    while (list.children.length > 100) list.lastChild.remove();
  }

  let latest;
  function renderFrame(f) {
    latest = f;
    const s = f.status;
    const state = $("state");
    state.textContent = s ? s.state : "—";
    state.className = "badge " + (s ? tone(s.state) : "");
    $("detail").textContent = s ? [s.detail, s.backend && "backend " + s.backend, s.uptimeMs != null && "up " + uptime(s.uptimeMs)].filter(Boolean).join(" · ") : "";
    const t = f.tasks || {};
    const last = f.series.completed.length ? f.series.completed[f.series.completed.length - 1] : null;
    card("c-completed", num(t.completed), "completed");
    card("c-failed", num(t.failed), "failed");
    card("c-dead", num(t.deadLettered), "dead-lettered");
    card("c-queued", num(t.queued), "queued");
    card("c-running", num(t.running), "running");
    card("c-rate", last == null ? "–" : num(last) + "/s", "throughput now");
    const l = f.latency;
    const span = Math.round((l ? l.windowMs : f.historyMs) / 60000) + " min";
    card("c-p50", l && l.count ? secs(l.p50) : "–", "latency p50, " + span);
    card("c-p95", l && l.count ? secs(l.p95) : "–", "p95, " + span);
    card("c-p99", l && l.count ? secs(l.p99) : "–", "p99, " + span);
    renderQueue(f.queue);
    renderSpark(f.series, f.historyMs);
    renderAgents(f.agents);
    renderCounts(f);
    $("updated").textContent = "updated " + new Date(f.at).toLocaleTimeString();
  }

  const source = new EventSource("events");
  const conn = $("conn");
  source.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
  source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn down"; };
  source.addEventListener("machines", (e) => renderMachines(JSON.parse(e.data)));
  source.addEventListener("frame", (e) => renderFrame(JSON.parse(e.data)));
  source.addEventListener("event", (e) => addEvent(JSON.parse(e.data)));
})();
`;

const BODY = `
<header><h1 id="title"></h1><span id="state" class="badge">—</span><span id="detail" class="meta"></span><span id="updated" class="meta"></span><span id="conn" class="conn">connecting…</span></header>
<main>
  <div class="row">
    <section><h2>Tasks</h2><div id="cards" class="cards"></div></section>
    <section><h2>Queue by priority</h2><div id="queue" class="bars"></div></section>
    <section><h2>Throughput (tasks/s)</h2><svg id="spark" class="spark" preserveAspectRatio="none" role="img" aria-label="tasks completed and failed per second"></svg></section>
  </div>
  <section><h2>Machines</h2><div id="machines" class="machines"><span class="empty">waiting for the first frame…</span></div></section>
  <section><h2>Agents</h2><table><thead><tr><th>agent</th><th>state</th><th>slots in use</th><th>breaker</th><th>failed, last minutes</th><th>failed</th><th>restarts</th><th>last crash</th></tr></thead><tbody id="agents"></tbody></table></section>
  <section><h2>Restarts, escalations, breakers</h2><ol id="events" class="events"><li class="empty">nothing yet</li></ol></section>
</main>`;

/** The page for `title`, its Content-Security-Policy and its length in bytes. */
export interface DashboardPage {
  html: string;
  csp: string;
  bytes: number;
}

const pages = new Map<string, DashboardPage>();

/** The dashboard page titled `title` (built once per title). */
export function dashboardPage(title: string): DashboardPage {
  let page = pages.get(title);
  if (page !== undefined) return page;
  // The title is set by the script from a JSON literal, so the markup itself is the same for every title.
  const script = `${SCRIPT}document.getElementById("title").textContent = ${JSON.stringify(title).replace(/</g, "\\u003c")};\n`;
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeText(title)}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}
<script>${script}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(script)}'`,
    `style-src '${sha256(STYLE)}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  page = { html, csp, bytes: Buffer.byteLength(html) };
  if (pages.size < 16) pages.set(title, page);
  return page;
}

function sha256(text: string): string {
  return `sha256-${createHash("sha256").update(text, "utf8").digest("base64")}`;
}

function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
