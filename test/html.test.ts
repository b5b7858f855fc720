// The HTML report over fixture reports: one self-contained file, every chart drawn from the
// report's figures, user text escaped, the awkward cases (no samples, no agents, hundreds of
// agents) handled, and the same report always giving the same bytes.
import { describe, expect, it } from "vitest";
import { renderHtml } from "../src/sim/html.ts";
import type { RunReport } from "../src/sim/report.ts";
import { HOSTILE_NAME, loadReport, runReport, sweepReport } from "./fixtures/reports.ts";

/** The `<svg>` of the chart named `kind` (the first one, or the `n`th). */
function chart(html: string, kind: string, n = 0): string {
  const all = [...html.matchAll(new RegExp(`<svg class="chart" data-chart="${kind}"[\\s\\S]*?</svg>`, "g"))].map((m) => m[0]);
  const found = all[n];
  if (found === undefined) throw new Error(`no chart ${kind} #${n} (found ${all.length})`);
  return found;
}

function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, "g"))].length;
}

describe("renderHtml", () => {
  it("writes one self-contained document: inline CSS and SVG, no script, nothing to fetch", () => {
    for (const report of [runReport(), loadReport(), sweepReport()]) {
      const html = renderHtml(report);
      expect(html.startsWith("<!doctype html>")).toBe(true);
      expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
      expect(html).toMatch(/<style>[\s\S]+<\/style>/);
      expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|url\(|@import/i);
      // The only URL is the SVG namespace, which nothing fetches.
      expect(html.match(/https?:\/\/[^"\s]*/g)?.every((u) => u === "http://www.w3.org/2000/svg")).toBe(true);
    }
  });

  it("escapes the scenario name and agent ids wherever they appear", () => {
    const html = renderHtml(runReport());
    expect(html).not.toContain(HOSTILE_NAME);
    expect(html).not.toContain("<script>");
    expect(html).toContain("<h1>&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#39;friends&#39;</h1>");
    expect(html).toContain("<title>apiary load run — &lt;script&gt;");
    expect(html).not.toContain("flaky-<b>");
    expect(chart(html, "utilisation")).toContain(">flaky-&lt;b&gt;</text>");
    expect(chart(html, "timeline")).toContain("flaky-&lt;b&gt;: crashed at 1.25 s");
  });

  it("puts the headline figures in the header and a reconciled task table in the body", () => {
    const html = renderHtml(runReport());
    expect(html).toContain("<dt>throughput</dt><dd>334.3 /s</dd>");
    expect(html).toContain("<dt>success</dt><dd>98.3%<small>1,170 of 1,190 accepted</small></dd>");
    expect(html).toContain("<dt>latency p50 / p95 / p99</dt><dd>7.20 / 19.8 / 48.3 ms</dd>");
    expect(html).toContain("<dt>shed / rejected</dt><dd>6 / 10</dd>");
    expect(html).toContain("<dt>duration</dt><dd>3.50 s<small>after 500 ms warm-up</small></dd>");
    expect(html).toContain('<td>shed (queue overflow)</td><td class="num">6</td>');
    expect(html).toContain('<p class="ok">Every accepted task ended exactly once');
    const lost: RunReport = { ...runReport(), tasks: { ...runReport().tasks, accepted: 1_193 } };
    expect(renderHtml(lost)).toContain('<p class="bad">3 accepted tasks have no terminal state.</p>');
  });

  it("draws the latency histogram bucket by bucket on a log axis, with p50, p95 and p99 marked at their values", () => {
    const svg = chart(renderHtml(runReport()), "latency-histogram");
    expect(count(svg, /<rect class="bar"/)).toBe(8);
    expect(svg).toContain("<title>4.00–8.00 ms: 510 tasks</title>");
    expect(svg).toContain(">p50 7.20 ms</text>");
    expect(svg).toContain(">p95 19.8 ms</text>");
    expect(svg).toContain(">p99 48.3 ms</text>");
    // Each marker where its value is: p50 7.2 ms inside the 4–8 ms bar, not at the bar's centre.
    const xs = [...svg.matchAll(/<line class="marker" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(3);
    const bar = /<rect class="bar" x="([\d.]+)"[^>]*width="([\d.]+)"[^>]*><title>4.00–8.00 ms/.exec(svg)!;
    const [left, width] = [Number(bar[1]), Number(bar[2])];
    expect(xs[0]!).toBeGreaterThan(left + width * 0.75);
    expect(xs[0]!).toBeLessThan(left + width);
    expect(xs[1]! - xs[0]!).toBeGreaterThan(50);
    // Labels sit above the plot (the band over the bars), never on a bar.
    const top = Math.min(...[...svg.matchAll(/<rect class="bar" x="[\d.]+" y="([\d.]+)"/g)].map((m) => Number(m[1])));
    for (const m of svg.matchAll(/<text class="marker-label" x="[\d.]+" y="([\d.]+)"/g)) expect(Number(m[1])).toBeLessThan(top);
  });

  it("draws latency over time from the per-interval percentiles, breaking the line where nothing completed", () => {
    const r = runReport({ points: 10 });
    r.series.forEach((p, i) => {
      if (i === 4) {
        delete p.latencyP50Ms;
        delete p.latencyP95Ms;
        delete p.latencyP99Ms;
        return;
      }
      p.latencyP50Ms = 5 + i;
      p.latencyP95Ms = 20 + i;
      p.latencyP99Ms = 40 + i;
    });
    const svg = chart(renderHtml(r), "latency-over-time");
    expect(count(svg, /<polyline class="line c-p95"/)).toBe(2);
    expect(svg).toContain(">p99</text>");
  });

  it("draws throughput and queue depth over time from the series, warm-up shaded", () => {
    const html = renderHtml(runReport({ points: 40 }));
    const throughput = chart(html, "throughput");
    const points = /<polyline class="line c-throughput" points="([^"]+)"/.exec(throughput)?.[1]?.split(" ") ?? [];
    expect(points).toHaveLength(40);
    expect(throughput).toContain('<rect class="warmup"');
    const queue = chart(html, "queue-depth");
    expect(queue).toContain('class="line c-queued"');
    expect(queue).toContain('class="line c-running"');
    // 5,000 samples are averaged down to at most 600 points.
    const long = chart(renderHtml(runReport({ points: 5_000 })), "throughput");
    const n = (/points="([^"]+)"/.exec(long)?.[1] ?? "").split(" ").length;
    expect(n).toBeGreaterThan(100);
    expect(n).toBeLessThanOrEqual(600);
  });

  it("draws a utilisation bar per agent and a timeline lane with crash, restart and breaker marks", () => {
    const html = renderHtml(runReport());
    const util = chart(html, "utilisation");
    expect(count(util, /<rect class="bar( troubled)?"/)).toBe(4);
    expect(util).toContain("flaky-&lt;b&gt;: 48.0% · 310 done · 7 failed · 1 restart · 1 trip");
    expect(html).toContain("The agents&#39; 7 failed attempts count every attempt that failed on an agent inside the window");
    const tl = chart(html, "timeline");
    expect(count(tl, /<text class="lane-label"/)).toBe(5); // 4 agents + one that joined later
    expect(tl).toContain('<g class="mark mark-crashed"');
    expect(tl).toContain('<g class="mark mark-restarted"');
    expect(tl).toContain('<g class="mark mark-breaker-open"');
    expect(tl).toContain("flaky-&lt;b&gt;: restarting from 1.26 s to 1.60 s");
    expect(tl).toContain("flaky-&lt;b&gt;: breaker open from 1.20 s to 2.20 s");
    expect(tl).toContain("flaky-&lt;b&gt;: breaker halfOpen from 2.20 s to 2.30 s");
    expect(tl).toContain("late-joiner: up from 3.00 s to 4.00 s");
  });

  it("says what it left out when there are more agents than lanes", () => {
    const html = renderHtml(runReport({ agents: 500 }));
    expect(count(chart(html, "utilisation"), /<rect class="bar( troubled)?"/)).toBe(40);
    expect(html).toContain("460 more agents are not drawn (utilisation over all 500: min 35.0%, mean");
    const tl = chart(html, "timeline");
    expect(count(tl, /<text class="lane-label"/)).toBe(30);
    // The agents something happened to keep their lanes.
    expect(tl).toContain(">flaky-&lt;b&gt;<title>");
    expect(tl).toContain(">late-joiner<title>");
    expect(html).toContain("471 agents have no lane (at most 30; agents with marks first).");
  });

  it("draws placeholders, not broken charts, for a run with no samples and no agents", () => {
    const html = renderHtml({ ...runReport({ agents: 0, points: 0 }), histogram: [], latencyMs: { count: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 } });
    expect(chart(html, "latency-histogram")).toContain("no completed tasks to draw");
    expect(chart(html, "throughput")).toContain("no samples over time");
    expect(chart(html, "queue-depth")).toContain("no samples over time");
    expect(chart(html, "utilisation")).toContain("no agents in this run");
    expect(chart(html, "timeline")).toContain("no agents in this run");
    expect(html).not.toMatch(/NaN|Infinity|undefined/);
  });

  it("gives a load test a comparison table and charts, then one section per level", () => {
    const html = renderHtml(loadReport([10, 100, 1_000]));
    expect(html).toContain("<dt>levels</dt><dd>10 / 100 / 1,000<small>tasks in flight</small></dd>");
    expect(html).toContain("<dt>lost</dt><dd>0<small>every accepted task ended once</small></dd>");
    expect(html).toMatch(/<h2>Levels compared<\/h2><table>[\s\S]*?<td class="num">1,000<\/td><td class="num">1,190<\/td><td class="num">1,170<\/td>/);
    expect(count(chart(html, "level-throughput"), /<rect class="bar s0"/)).toBe(3);
    const latency = chart(html, "level-latency");
    expect(count(latency, /<rect class="bar s[012]"/)).toBe(9);
    expect(latency).toContain("<title>1,000 in flight — p99: 1,449</title>");
    for (const level of [10, 100, 1_000]) expect(html).toContain(`<section class="level" id="level-${level}">`);
    expect(count(html, /data-chart="latency-histogram"/)).toBe(3);
    expect(count(html, /data-chart="timeline"/)).toBe(3);
  });

  it("gives a sweep its means with 95% intervals, as narrow tables in plain words and as error bars", () => {
    const html = renderHtml(sweepReport());
    expect(html).toContain("<h1>capacity &lt;plan&gt;</h1>");
    expect(html).toContain("<caption>Throughput (tasks/s) and outcomes (tasks submitted in the window)</caption>");
    expect(html).toContain('<th class="num">tasks/s</th>');
    expect(html).toContain("<caption>Latency, submit to completion, of completed tasks (ms)</caption>");
    expect(html).toContain('<th class="num">p99</th>');
    expect(html).toMatch(/<td class="num" title="throughput: mean 71.20, 95% CI 69.00 to 73.40 \(n=3\)">71.20<small>\[69.00, 73.40\]<\/small><\/td>/);
    expect(html).toContain(">900.0<small>[780.0, 1,020]</small></td>");
    const est = chart(html, "estimates", 1);
    expect(count(est, /<circle class="mean"/)).toBe(4);
    expect(count(est, /<line class="whisker"/)).toBe(12);
    expect(est).toContain("2 · 100 — latency (submit to completion), p99: 900.0 ms (95% CI 780.0 ms to 1,020 ms, n=3)");
  });

  it("names the worker nodes a report ran on over Redis, and nothing of nodes for one run on this machine", () => {
    const sweep = renderHtml({ ...sweepReport(), nodes: [{ id: "n1", threads: 2, replicas: 5 }, { id: "<n2>", threads: 1, replicas: 1 }] });
    expect(sweep).toContain("<dt>worker nodes</dt><dd>2<small>over Redis — n1: 2 threads, 5 replicas; &lt;n2&gt;: 1 thread, 1 replica</small></dd>");
    const load = renderHtml({ ...loadReport([10]), nodes: [{ id: "a", threads: 1, agents: ["a/w", "a/v"] }] });
    expect(load).toContain("<dt>worker nodes</dt><dd>1<small>over Redis — a: 1 thread, agents a/w a/v</small></dd>");
    expect(renderHtml(sweepReport())).not.toContain("worker nodes");
  });

  it("names the figures that are zero everywhere instead of drawing charts of zeros, and keeps rates within 100%", () => {
    const r = sweepReport();
    for (const row of r.rows) {
      row.figures["tasks.shed"] = { n: 3, mean: 0, stddev: 0, ci95: [0, 0] };
      row.figures["successRate"] = { n: 3, mean: 1, stddev: 0, ci95: [1, 1] };
    }
    const html = renderHtml(r);
    expect(html).toContain("Zero in every combination and every replica, so not tabulated or drawn: tasks shed.");
    expect(html).not.toContain("tasks shed (");
    const success = [...html.matchAll(/<svg class="chart" data-chart="estimates"[\s\S]*?<\/svg>/g)].map((m) => m[0]).find((svg) => svg.includes("<title>success:"))!;
    const ticks = [...success.matchAll(/<text class="tick y"[^>]*>([^<]*)</g)].map((m) => m[1]!);
    expect(ticks.length).toBeGreaterThan(1);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(ticks.every((t) => t.endsWith("%") && Number.parseFloat(t) <= 100)).toBe(true);
  });

  it("labels value axes so that every tick reads differently", () => {
    const r = sweepReport();
    r.rows.forEach((row, i) => (row.figures["throughputPerSec"] = { n: 3, mean: 0.8 + i * 0.002, stddev: 0.001, ci95: [0.799 + i * 0.002, 0.801 + i * 0.002] }));
    const svg = chart(renderHtml(r), "estimates", 0);
    const ticks = [...svg.matchAll(/<text class="tick y"[^>]*>([^<]*)</g)].map((m) => m[1]!);
    expect(new Set(ticks).size).toBe(ticks.length);
  });

  it("renders the same report to the same bytes", () => {
    expect(renderHtml(loadReport())).toBe(renderHtml(loadReport()));
    expect(renderHtml(sweepReport())).toBe(renderHtml(JSON.parse(JSON.stringify(sweepReport()))));
  });

  it("rejects something that is not a report, naming the field and the value", () => {
    expect(() => renderHtml({ mode: "party" } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"mode" must be one of "simulation", "load", "sweep", "plan", received "party"') }),
    );
    expect(() => renderHtml(null as never)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining("received null") }));
  });
});
