/**
 * Bench scope `metrics`: the cost of one record on the hive's hot path (a labelled histogram,
 * a labelled counter), against the naive alternative (pushing samples into an array, which
 * grows without bound) in the same run. `extra.nsPerRecord` is what the hive pays per task.
 * Then the whole hive (inline backend, tiny tasks) with metrics on against metrics off, same run:
 * the target is a ratio of at least 0.95.
 *
 * @module
 */
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { benchHive, hiveOpsPerSecond } from "./hive-load.ts";

const N = 100_000;

const scope: BenchScope = async ({ quick }) => {
  const minMs = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 3;
  const kinds = ["simulate", "plan", "burn", "energy"];
  const agents = Array.from({ length: 16 }, (_, i) => `agent-${i}`);
  const values = Float64Array.from({ length: N }, (_, i) => 0.0005 + ((i * 7919) % 1000) / 100);
  const registry = new MetricsRegistry({ prefix: "apiary_" });
  const latency = registry.histogram({ name: "task_duration_seconds", help: "x", labelNames: ["kind", "agent"] });
  const done = registry.counter({ name: "tasks_completed_total", help: "x", labelNames: ["kind", "agent"] });
  const bound = latency.labels({ kind: "simulate", agent: "agent-0" });
  let naive: number[] = [];

  const naiveRun = () =>
    opsPerSecond(
      () => {
        for (let i = 0; i < N; i++) naive.push(values[i] as number);
        if (naive.length > 10_000_000) naive = [];
      },
      N,
      { minMs },
    );

  const results: BenchResult[] = [];
  const add = (r: BenchResult) => {
    r.extra = { nsPerRecord: Math.round((1e9 / r.opsPerSec) * 10) / 10 };
    results.push(r);
  };
  add(
    await compare(
      "metrics: histogram.record(v, {kind, agent})",
      "array.push(v)",
      () =>
        opsPerSecond(
          () => {
            for (let i = 0; i < N; i++) {
              latency.record(values[i] as number, { kind: kinds[i & 3] as string, agent: agents[i & 15] as string });
            }
          },
          N,
          { minMs },
        ),
      naiveRun,
      rounds,
    ),
  );
  add(
    await compare(
      "metrics: bound histogram .record(v)",
      "array.push(v)",
      () =>
        opsPerSecond(
          () => {
            for (let i = 0; i < N; i++) bound.record(values[i] as number);
          },
          N,
          { minMs },
        ),
      naiveRun,
      rounds,
    ),
  );
  add(
    await compare(
      "metrics: counter.inc({kind, agent})",
      "array.push(v)",
      () =>
        opsPerSecond(
          () => {
            for (let i = 0; i < N; i++) done.inc({ kind: kinds[i & 3] as string, agent: agents[i & 15] as string });
          },
          N,
          { minMs },
        ),
      naiveRun,
      rounds,
    ),
  );
  const on = await benchHive({ metrics: true });
  const off = await benchHive({ metrics: false });
  try {
    const r = await compare("hive, metrics on", "hive, metrics off", () => hiveOpsPerSecond(on, minMs), () => hiveOpsPerSecond(off, minMs), rounds + 2);
    // Scraping is part of the cost too: render once, as a scrape would, and say how long it took.
    const t0 = performance.now();
    const text = on.metricsText();
    r.extra = { target: ">= 0.95", scrapeMs: Math.round((performance.now() - t0) * 1_000) / 1_000, scrapeBytes: text.length };
    results.push(r);
  } finally {
    await Promise.all([on.stop(), off.stop()]);
  }
  return results;
};

export default scope;
