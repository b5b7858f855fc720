import { describe, expect, it } from "vitest";
import { LogHistogram } from "../src/metrics/histogram.ts";
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { isApiaryError } from "../src/core/errors.ts";

/** A seeded generator (mulberry32) so the data sets are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

/**
 * A strict parser of the Prometheus text format 0.0.4 for what the registry emits: every family
 * starts with HELP then TYPE; each sample's name is the family name or (summary) its _sum/_count;
 * label values are unescaped; values parse as Go floats do (NaN, +Inf, -Inf).
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help) {
      expect(families.has(help[1] as string), `family ${help[1]} declared twice`).toBe(false);
      current = { name: help[1] as string, help: (help[2] as string).replace(/\\n/g, "\n").replace(/\\\\/g, "\\"), type: "", samples: [] };
      families.set(current.name, current);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line);
    if (type) {
      expect(current?.name).toBe(type[1]);
      expect(current?.samples).toEqual([]);
      (current as Family).type = type[2] as string;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    expect(sample, `not a valid sample line: ${line}`).not.toBeNull();
    const [, name, labelBlock, valueText] = sample as unknown as [string, string, string | undefined, string];
    const family = current as Family;
    const allowed = family.type === "summary" ? [family.name, `${family.name}_sum`, `${family.name}_count`] : [family.name];
    expect(allowed, `sample ${name} outside its family ${family.name}`).toContain(name);
    const labels: Record<string, string> = {};
    if (labelBlock !== undefined) {
      const body = labelBlock.slice(1, -1);
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let consumed = 0;
      for (let m = re.exec(body); m !== null; m = re.exec(body)) {
        labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
        consumed = re.lastIndex;
      }
      expect(consumed, `bad label block ${labelBlock}`).toBe(body.length);
    }
    const value = valueText === "NaN" ? NaN : valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    expect(Number.isNaN(value) && valueText !== "NaN", `bad value ${valueText}`).toBe(false);
    family.samples.push({ name, labels, value });
  }
  return families;
}

describe("LogHistogram", () => {
  it("reports quantiles within its relative error of the exact ones, over six decades", () => {
    const random = rng(42);
    const h = new LogHistogram();
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const v = 10 ** (random() * 6 - 3); // 0.001 .. 1000
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999]) {
      const exact = exactQuantile(values, q);
      expect(Math.abs(h.quantile(q) - exact) / exact, `q=${q}`).toBeLessThanOrEqual(1 / 64 + 1e-9);
    }
    const s = h.summary();
    expect(s.count).toBe(100_000);
    expect(s.min).toBe(values[0]);
    expect(s.max).toBe(values.at(-1));
    expect(s.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 6);
    expect(h.bucketBytes).toBeLessThanOrEqual(64 * 32 * 8 + 8);
  });

  it("keeps memory bounded whatever is recorded", () => {
    const h = new LogHistogram();
    for (const v of [0, 1e-300, 5e-324, 1e300, Number.MAX_VALUE, 1, 2, 3]) h.record(v);
    h.record(-1);
    h.record(NaN);
    expect(h.count).toBe(8);
    expect(h.bucketBytes).toBeLessThanOrEqual((64 * 32 + 1) * 8);
    expect(h.quantile(1)).toBe(Number.MAX_VALUE);
    expect(h.quantile(0)).toBe(0);
  });

  it("is exact for a single value and zero when empty", () => {
    const h = new LogHistogram();
    expect(h.summary()).toEqual({ count: 0, sum: 0, mean: 0, min: 0, max: 0, p50: 0, p95: 0, p99: 0 });
    h.record(0.25);
    expect(h.summary()).toMatchObject({ count: 1, p50: 0.25, p99: 0.25, max: 0.25, mean: 0.25 });
  });

  it("merges histograms", () => {
    const a = new LogHistogram();
    const b = new LogHistogram();
    for (let i = 1; i <= 50; i++) a.record(i);
    for (let i = 51; i <= 100; i++) b.record(i * 1000);
    a.merge(b);
    expect(a.count).toBe(100);
    expect(a.quantile(1)).toBe(100_000);
    expect(Math.abs(a.quantile(0.5) - 50) / 50).toBeLessThan(1 / 32);
  });
});

describe("MetricsRegistry", () => {
  it("counts, gauges and histograms per label set, in a plain JSON snapshot", () => {
    const m = new MetricsRegistry({ prefix: "apiary_" });
    const done = m.counter({ name: "tasks_completed_total", help: "Tasks completed.", labelNames: ["kind", "agent"] });
    const depth = m.gauge({ name: "queue_depth", help: "Tasks queued." });
    const latency = m.histogram({ name: "task_duration_seconds", help: "Run time.", labelNames: ["kind"] });
    done.inc({ kind: "sim", agent: "a1" });
    done.inc({ kind: "sim", agent: "a1" });
    done.add(3, { kind: "plan", agent: "a2" });
    depth.set(7);
    depth.dec();
    for (let i = 1; i <= 100; i++) latency.record(i / 1000, { kind: "sim" });
    const snap = m.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap[0]).toEqual({
      type: "counter",
      name: "apiary_tasks_completed_total",
      help: "Tasks completed.",
      labelNames: ["kind", "agent"],
      series: [
        { labels: { kind: "sim", agent: "a1" }, value: 2 },
        { labels: { kind: "plan", agent: "a2" }, value: 3 },
      ],
    });
    expect(snap[1]).toMatchObject({ type: "gauge", series: [{ labels: {}, value: 6 }] });
    const h = snap[2];
    expect(h?.type).toBe("histogram");
    const series = h?.series[0] as { count: number; p50: number; p99: number; max: number; mean: number };
    expect(series.count).toBe(100);
    expect(series.max).toBe(0.1);
    expect(Math.abs(series.p50 - 0.05) / 0.05).toBeLessThan(1 / 32);
    expect(Math.abs(series.p99 - 0.099) / 0.099).toBeLessThan(1 / 32);
    expect(series.mean).toBeCloseTo(0.0505, 9);
  });

  it("writes Prometheus text that parses back to the recorded values", () => {
    const m = new MetricsRegistry({ prefix: "apiary_" });
    const done = m.counter({ name: "tasks_completed_total", help: "Tasks completed.\nBy kind.", labelNames: ["kind", "agent"] });
    const busy = m.gauge({ name: "agents_busy", help: "Busy agents." });
    const latency = m.histogram({ name: "task_duration_seconds", help: "Task run time in seconds.", labelNames: ["kind"] });
    m.histogram({ name: "idle_seconds", help: "Never recorded." });
    done.inc({ kind: 'we"ird\\kind\n', agent: "a1" });
    done.labels({ kind: "sim", agent: "a2" }).add(41);
    done.inc({ kind: "sim", agent: "a2" });
    busy.set(-2.5);
    const bound = latency.labels({ kind: "sim" });
    for (let i = 1; i <= 1000; i++) bound.record(i / 1000);

    const families = parsePrometheus(m.toPrometheus());
    expect([...families.keys()]).toEqual([
      "apiary_tasks_completed_total",
      "apiary_agents_busy",
      "apiary_task_duration_seconds",
      "apiary_task_duration_seconds_max",
      "apiary_idle_seconds",
      "apiary_idle_seconds_max",
    ]);
    const counter = families.get("apiary_tasks_completed_total") as Family;
    expect(counter.type).toBe("counter");
    expect(counter.help).toBe("Tasks completed.\nBy kind.");
    expect(counter.samples).toEqual([
      { name: "apiary_tasks_completed_total", labels: { kind: 'we"ird\\kind\n', agent: "a1" }, value: 1 },
      { name: "apiary_tasks_completed_total", labels: { kind: "sim", agent: "a2" }, value: 42 },
    ]);
    expect(families.get("apiary_agents_busy")).toMatchObject({ type: "gauge", samples: [{ value: -2.5, labels: {} }] });

    const summary = families.get("apiary_task_duration_seconds") as Family;
    expect(summary.type).toBe("summary");
    const byName = (name: string, q?: string) => summary.samples.find((s) => s.name === name && s.labels["quantile"] === q && s.labels["kind"] === "sim")?.value;
    expect(byName("apiary_task_duration_seconds_count")).toBe(1000);
    expect(byName("apiary_task_duration_seconds_sum")).toBeCloseTo(500.5, 9);
    for (
      const [q, exact] of [
        ["0.5", 0.5],
        ["0.95", 0.95],
        ["0.99", 0.99],
      ] as const
    ) {
      expect(Math.abs((byName("apiary_task_duration_seconds", q) as number) - exact) / exact).toBeLessThan(1 / 32);
    }
    expect(families.get("apiary_task_duration_seconds_max")?.samples).toEqual([
      { name: "apiary_task_duration_seconds_max", labels: { kind: "sim" }, value: 1 },
    ]);
    const idle = families.get("apiary_idle_seconds") as Family;
    expect(idle.samples.filter((s) => s.labels["quantile"] !== undefined).every((s) => Number.isNaN(s.value))).toBe(true);
    expect(idle.samples.find((s) => s.name === "apiary_idle_seconds_count")?.value).toBe(0);
  });

  it("runs collectors before each exposition, and survives one that throws", () => {
    const m = new MetricsRegistry();
    const depth = m.gauge({ name: "queue_depth", help: "Tasks queued." });
    let queued = 3;
    m.onCollect(() => depth.set(queued));
    const off = m.onCollect(() => {
      throw new Error("broken");
    });
    expect(m.snapshot()[0]).toMatchObject({ series: [{ value: 3 }] });
    queued = 5;
    off();
    expect(m.toPrometheus()).toContain("queue_depth 5\n");
  });

  it("returns the same metric for the same name, and refuses a clash", () => {
    const m = new MetricsRegistry();
    const a = m.counter({ name: "x_total", help: "x", labelNames: ["kind"] });
    expect(m.counter({ name: "x_total", help: "x", labelNames: ["kind"] })).toBe(a);
    expect(() => m.gauge({ name: "x_total", help: "x" })).toThrow(/the name is taken by a counter with labels \[kind\]/);
  });

  it("validates names, labels and increments with messages naming the field and value", () => {
    const m = new MetricsRegistry();
    expect(() => m.counter({ name: "bad-name", help: "x" })).toThrow(/"name" must match .*, received "bad-name"/);
    expect(() => m.counter({ name: "ok", help: "x", labelNames: ["__x"] })).toThrow(/"labelNames\[0\]" must not start with "__"/);
    expect(() => m.histogram({ name: "h", help: "x", labelNames: ["quantile"] })).toThrow(/"quantile" is reserved/);
    expect(() => new MetricsRegistry({ prefix: "9x" })).toThrow(/"prefix" must be empty or match/);
    const c = m.counter({ name: "c_total", help: "x", labelNames: ["kind"] });
    try {
      c.add(-1, { kind: "a" });
      expect.unreachable();
    } catch (error) {
      expect(isApiaryError(error, "INVALID_OPTIONS")).toBe(true);
      expect((error as Error).message).toMatch(/"n" must be ≥ 0, received -1/);
    }
    expect(() => c.inc({ kind: "a", agent: "b" } as never)).toThrow(/unknown label "agent"/);
    expect(() => c.inc({} as never)).toThrow(/label "kind" must be a string or number, received undefined/);
    expect(() => c.inc()).toThrow(/labels "kind" are required/);
  });

  it("resets values but keeps metrics registered", () => {
    const m = new MetricsRegistry();
    const c = m.counter({ name: "c_total", help: "x" });
    const h = m.histogram({ name: "h_seconds", help: "x", labelNames: ["kind"] });
    c.inc();
    h.record(1, { kind: "a" });
    m.reset();
    expect(c.get()).toBe(0);
    expect(m.snapshot()[1]?.series).toEqual([]);
  });

  it("merges a histogram's series into one total", () => {
    const m = new MetricsRegistry();
    const h = m.histogram({ name: "d_seconds", help: "x", labelNames: ["kind", "agent"] });
    h.record(1, { kind: "a", agent: "1" });
    h.record(3, { kind: "a", agent: "2" });
    h.record(100, { kind: "b", agent: "1" });
    expect(h.total((l) => l["kind"] === "a")).toMatchObject({ count: 2, max: 3, sum: 4 });
    expect(h.total().count).toBe(3);
  });
});
