/**
 * A metrics registry: counters, gauges and latency histograms with labels, a plain-JSON
 * `snapshot()` and the Prometheus text exposition format (`toPrometheus()`). Histograms are
 * bounded {@link LogHistogram}s (never a growing array of samples) and are exposed to Prometheus
 * as summaries (quantiles 0.5, 0.95, 0.99 plus `_sum` and `_count`) with a `_max` gauge beside.
 *
 * Recording is cheap enough for every task: a series is found by a short string key, and
 * `labels()` returns a bound series for hot paths that skips even that.
 *
 * @example
 * ```ts
 * const metrics = new MetricsRegistry({ prefix: "apiary_" });
 * const done = metrics.counter({ name: "tasks_completed_total", help: "Tasks completed.", labelNames: ["kind"] });
 * const latency = metrics.histogram({ name: "task_duration_seconds", help: "Task run time.", labelNames: ["kind", "agent"] });
 * done.inc({ kind: "simulate" });
 * latency.record(0.012, { kind: "simulate", agent: "sim-1" });
 * metrics.toPrometheus();
 * ```
 *
 * @module
 */
import { z } from "zod";
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { type HistogramSummary, LogHistogram } from "./histogram.ts";
import { parseOptions } from "../core/validate.ts";

/** The kinds of metric. */
export type MetricType = "counter" | "gauge" | "histogram";

/** Label values by label name. Numbers are rendered with `String`. */
export type LabelValues<L extends string> = Readonly<Record<L, string | number>>;

/** Options shared by every metric. */
export interface MetricOptions<L extends string> {
  /** Metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), without the registry prefix. Put the unit in it: `_seconds`, `_total`. */
  name: string;
  /** One line for the `# HELP` line. */
  help: string;
  /** Label names, in exposition order. @default [] */
  labelNames?: readonly L[];
}

/** Options of {@link MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /** Prepended to every metric name, e.g. `"apiary_"`. @default "" */
  prefix?: string;
}

/** One series of a counter or gauge in a snapshot. */
export interface ValueSeries {
  labels: Record<string, string>;
  value: number;
}

/** One series of a histogram in a snapshot. */
export interface HistogramSeries extends HistogramSummary {
  labels: Record<string, string>;
}

/** One metric in a snapshot (plain JSON). */
export type MetricSnapshot =
  | { type: "counter" | "gauge"; name: string; help: string; labelNames: string[]; series: ValueSeries[] }
  | { type: "histogram"; name: string; help: string; labelNames: string[]; series: HistogramSeries[] };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const metricSchema = z.strictObject({
  name: z.string({ error: "must be a string" }).regex(METRIC_NAME, { error: "must match [a-zA-Z_:][a-zA-Z0-9_:]*" }),
  help: z.string({ error: "must be a string" }),
  labelNames: z
    .array(
      z
        .string({ error: "must be a string" })
        .regex(LABEL_NAME, { error: "must match [a-zA-Z_][a-zA-Z0-9_]*" })
        .refine((n) => !n.startsWith("__"), { error: 'must not start with "__" (reserved)' }),
      { error: "must be an array of label names" },
    )
    .refine((names) => new Set(names).size === names.length, { error: "must not repeat a name" })
    .optional(),
});

const registrySchema = z.strictObject({
  prefix: z.string({ error: "must be a string" }).regex(/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/, {
    error: "must be empty or match [a-zA-Z_:][a-zA-Z0-9_:]*",
  }).optional(),
});

/** What every metric kind shares: its name, help, label names and its series by key. */
abstract class Metric<L extends string, S> {
  /** Full name, prefix included. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;
  // label value → (label value → …) → series state; one level per label name.
  readonly #tree: LabelTree = new Map();
  // series by label key (label values joined by \u0001, "" without labels); insertion-ordered, for export.
  protected readonly series: Map<string, { labels: Record<string, string>; state: S }> = new Map();
  // the series used when there are no labels, created up front so unlabelled records skip the map.
  protected readonly single: S | undefined;

  constructor(name: string, help: string, labelNames: readonly L[]) {
    // Constructed directly (they are exported for types and instanceof), not through a registry.
    if (typeof name !== "string" || typeof help !== "string" || !Array.isArray(labelNames)) {
      throw new InvalidOptionsError(`Cannot create metric: create it with a MetricsRegistry (registry.counter({ name, help, labelNames })), received ${describeValue(name)}`);
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    if (labelNames.length === 0) {
      this.single = this.create();
      this.series.set("", { labels: {}, state: this.single });
    }
  }

  protected abstract create(): S;

  /** The state of the series for `labels`, created on first use (labels are checked then). */
  protected stateOf(labels: LabelValues<L> | undefined): S {
    if (this.single !== undefined) return this.single;
    if (labels === undefined) {
      throw new InvalidOptionsError(
        `Cannot record "${this.name}": labels ${this.labelNames.map((n) => `"${n}"`).join(", ")} are required, received undefined`,
      );
    }
    // One Map level per label: Map.get on the caller's (usually interned) strings is far cheaper
    // than building and hashing a joined key on every record.
    const names = this.labelNames;
    const last = names.length - 1;
    let node = this.#tree;
    for (let i = 0; i < last; i++) {
      let value: unknown = labels[names[i] as L];
      if (typeof value === "number") value = String(value);
      const next = node.get(value);
      if (next === undefined) return this.#add(labels);
      node = next as LabelTree;
    }
    let value: unknown = labels[names[last] as L];
    if (typeof value === "number") value = String(value);
    const leaf = node.get(value);
    return leaf === undefined ? this.#add(labels) : (leaf as S);
  }

  #add(labels: LabelValues<L>): S {
    const copy: Record<string, string> = {};
    for (const name of this.labelNames) {
      const value = labels[name];
      if (typeof value !== "string" && typeof value !== "number") {
        throw new InvalidOptionsError(
          `Cannot record "${this.name}": label "${name}" must be a string or number, received ${describeValue(value)}`,
        );
      }
      copy[name] = String(value);
    }
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name as L)) {
        throw new InvalidOptionsError(
          `Cannot record "${this.name}": unknown label "${name}" (label names are ${this.labelNames.map((n) => `"${n}"`).join(", ")})`,
        );
      }
    }
    const state = this.create();
    let node = this.#tree;
    const values = this.labelNames.map((name) => copy[name] as string);
    for (const value of values.slice(0, -1)) {
      let next = node.get(value) as LabelTree | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(value, next);
      }
      node = next;
    }
    node.set(values.at(-1), state);
    this.series.set(values.join("\u0001"), { labels: copy, state });
    return state;
  }

  /** Forgets every labelled series (the unlabelled one is kept). */
  protected clearSeries(): void {
    this.#tree.clear();
    if (this.single === undefined) this.series.clear();
  }

  /** Drops every labelled series and zeroes the unlabelled one. */
  abstract reset(): void;

  /** This metric as plain JSON. */
  abstract snapshot(): MetricSnapshot;

  /** This metric in Prometheus text format (HELP, TYPE and sample lines). */
  abstract toPrometheus(): string;
}

/** Nested maps from label values to a series' state. */
type LabelTree = Map<unknown, unknown>;

/** A mutable number (a counter's or gauge's value). */
interface Cell {
  value: number;
}

/** A series bound to its labels, for hot paths. */
export interface BoundCounter {
  /** Adds 1. */
  inc(): void;
  /** Adds `n` (≥ 0). */
  add(n: number): void;
}

/** A counter: a value that only goes up (tasks completed, bytes sent). */
export class Counter<L extends string = never> extends Metric<L, Cell> {
  readonly type = "counter" as const;

  protected create(): Cell {
    return { value: 0 };
  }

  /** Adds 1 to the series of `labels`. */
  inc(labels?: LabelValues<L>): void {
    this.stateOf(labels).value++;
  }

  /**
   * Adds `n` to the series of `labels`.
   * @throws {InvalidOptionsError} When `n` is negative or NaN (a counter never goes down).
   */
  add(n: number, labels?: LabelValues<L>): void {
    if (!(n >= 0)) throw new InvalidOptionsError(`Cannot add to counter "${this.name}": "n" must be ≥ 0, received ${describeValue(n)}`);
    this.stateOf(labels).value += n;
  }

  /** The series of `labels`, bound: its methods skip the label lookup. */
  labels(labels: LabelValues<L>): BoundCounter {
    const cell = this.stateOf(labels);
    const name = this.name;
    return {
      inc: () => void cell.value++,
      add: (n) => {
        if (!(n >= 0)) throw new InvalidOptionsError(`Cannot add to counter "${name}": "n" must be ≥ 0, received ${describeValue(n)}`);
        cell.value += n;
      },
    };
  }

  /** The current value of the series of `labels` (0 if never recorded). */
  get(labels?: LabelValues<L>): number {
    return this.stateOf(labels).value;
  }

  reset(): void {
    if (this.single !== undefined) this.single.value = 0;
    this.clearSeries();
  }

  snapshot(): MetricSnapshot {
    return valueSnapshot(this);
  }

  toPrometheus(): string {
    return valueExposition(this, this.series);
  }

  /** @internal the series, for the snapshot helpers. */
  entries(): IterableIterator<{ labels: Record<string, string>; state: Cell }> {
    return this.series.values();
  }
}

/** A series of a gauge bound to its labels. */
export interface BoundGauge {
  /** Sets the value. */
  set(value: number): void;
  /** Adds 1. */
  inc(): void;
  /** Subtracts 1. */
  dec(): void;
  /** Adds `n` (may be negative). */
  add(n: number): void;
}

/** A gauge: a value that goes up and down (queue depth, busy agents). */
export class Gauge<L extends string = never> extends Metric<L, Cell> {
  readonly type = "gauge" as const;

  protected create(): Cell {
    return { value: 0 };
  }

  /** Sets the series of `labels` to `value`. */
  set(value: number, labels?: LabelValues<L>): void {
    this.stateOf(labels).value = value;
  }

  /** Adds 1. */
  inc(labels?: LabelValues<L>): void {
    this.stateOf(labels).value++;
  }

  /** Subtracts 1. */
  dec(labels?: LabelValues<L>): void {
    this.stateOf(labels).value--;
  }

  /** Adds `n` (may be negative). */
  add(n: number, labels?: LabelValues<L>): void {
    this.stateOf(labels).value += n;
  }

  /** The series of `labels`, bound. */
  labels(labels: LabelValues<L>): BoundGauge {
    const cell = this.stateOf(labels);
    return {
      set: (v) => void (cell.value = v),
      inc: () => void cell.value++,
      dec: () => void cell.value--,
      add: (n) => void (cell.value += n),
    };
  }

  /** The current value of the series of `labels`. */
  get(labels?: LabelValues<L>): number {
    return this.stateOf(labels).value;
  }

  reset(): void {
    if (this.single !== undefined) this.single.value = 0;
    this.clearSeries();
  }

  snapshot(): MetricSnapshot {
    return valueSnapshot(this);
  }

  toPrometheus(): string {
    return valueExposition(this, this.series);
  }

  /** @internal the series, for the snapshot helpers. */
  entries(): IterableIterator<{ labels: Record<string, string>; state: Cell }> {
    return this.series.values();
  }
}

/** A series of a histogram bound to its labels. */
export interface BoundHistogram {
  /** Records one value. */
  record(value: number): void;
}

/**
 * A latency (or size) histogram: count, sum, mean, min, max and p50/p95/p99 per series, in
 * bounded memory. Values are in the unit the name says (`_seconds` by Prometheus convention).
 * Negative and NaN values are ignored.
 */
export class Histogram<L extends string = never> extends Metric<L, LogHistogram> {
  readonly type = "histogram" as const;

  protected create(): LogHistogram {
    return new LogHistogram();
  }

  /** Records `value` in the series of `labels`. */
  record(value: number, labels?: LabelValues<L>): void {
    this.stateOf(labels).record(value);
  }

  /** The series of `labels`, bound. */
  labels(labels: LabelValues<L>): BoundHistogram {
    const h = this.stateOf(labels);
    return { record: (v) => h.record(v) };
  }

  /** The summary of the series of `labels`. */
  get(labels?: LabelValues<L>): HistogramSummary {
    return this.stateOf(labels).summary();
  }

  /** All series merged into one summary (for example every agent of a task kind). */
  total(filter?: (labels: Record<string, string>) => boolean): HistogramSummary {
    const all = new LogHistogram();
    for (const { labels, state } of this.series.values()) if (filter === undefined || filter(labels)) all.merge(state);
    return all.summary();
  }

  reset(): void {
    if (this.single !== undefined) this.single.reset();
    this.clearSeries();
  }

  snapshot(): MetricSnapshot {
    return {
      type: "histogram",
      name: this.name,
      help: this.help,
      labelNames: [...this.labelNames],
      series: [...this.series.values()].map(({ labels, state }) => ({ labels: { ...labels }, ...state.summary() })),
    };
  }

  toPrometheus(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} summary`];
    const maxLines = [`# HELP ${this.name}_max ${escapeHelp(`Largest value of ${this.name}.`)}`, `# TYPE ${this.name}_max gauge`];
    for (const { labels, state } of this.series.values()) {
      const s = state.summary();
      const empty = s.count === 0;
      for (
        const [q, v] of [
          ["0.5", s.p50],
          ["0.95", s.p95],
          ["0.99", s.p99],
        ] as const
      ) {
        lines.push(`${this.name}${labelText(labels, `quantile="${q}"`)} ${empty ? "NaN" : formatNumber(v)}`);
      }
      lines.push(`${this.name}_sum${labelText(labels)} ${formatNumber(s.sum)}`);
      lines.push(`${this.name}_count${labelText(labels)} ${formatNumber(s.count)}`);
      maxLines.push(`${this.name}_max${labelText(labels)} ${empty ? "NaN" : formatNumber(s.max)}`);
    }
    return `${lines.join("\n")}\n${maxLines.join("\n")}\n`;
  }
}

/**
 * Holds metrics by name and renders them all. Asking again for a metric of the same name, kind
 * and labels returns the existing one.
 */
export class MetricsRegistry {
  readonly #prefix: string;
  // metrics by full name, in registration order (the exposition order).
  readonly #metrics = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();
  // called before every snapshot/exposition, to refresh sampled gauges.
  readonly #collectors = new Set<() => void>();

  /** @throws {InvalidOptionsError} When `prefix` is not a valid metric name prefix. */
  constructor(options: MetricsRegistryOptions = {}) {
    this.#prefix = parseOptions(registrySchema, options, "create metrics registry").prefix ?? "";
  }

  /**
   * A counter.
   * @throws {InvalidOptionsError} On an invalid name or label name, or a name taken by another kind or labels.
   */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.#register("counter", options, (n, h, l) => new Counter<L>(n, h, l));
  }

  /**
   * A gauge.
   * @throws {InvalidOptionsError} On an invalid name or label name, or a name taken by another kind or labels.
   */
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.#register("gauge", options, (n, h, l) => new Gauge<L>(n, h, l));
  }

  /**
   * A histogram (exposed as a Prometheus summary plus a `_max` gauge).
   * @throws {InvalidOptionsError} On an invalid name or label name (`quantile` is reserved), or a name taken.
   */
  histogram<L extends string = never>(options: MetricOptions<L>): Histogram<L> {
    if (options.labelNames?.includes("quantile" as L) === true) {
      throw new InvalidOptionsError(`Cannot create histogram "${options.name}": label name "quantile" is reserved`);
    }
    return this.#register("histogram", options, (n, h, l) => new Histogram<L>(n, h, l));
  }

  /**
   * Calls `collect` before each `snapshot()` and `toPrometheus()`, to set sampled gauges
   * (queue depth, busy agents). A collector that throws is skipped for that collection.
   * @returns A function that removes the collector.
   */
  onCollect(collect: () => void): () => void {
    if (typeof collect !== "function") {
      throw new InvalidOptionsError(`Cannot add collector: "collect" must be a function, received ${describeValue(collect)}`);
    }
    this.#collectors.add(collect);
    return () => void this.#collectors.delete(collect);
  }

  /** Every metric as plain JSON, in registration order. */
  snapshot(): MetricSnapshot[] {
    this.#collect();
    return [...this.#metrics.values()].map((m) => m.snapshot());
  }

  /** Every metric in the Prometheus text exposition format (version 0.0.4). */
  toPrometheus(): string {
    this.#collect();
    let text = "";
    for (const m of this.#metrics.values()) text += m.toPrometheus();
    return text;
  }

  /** Zeroes counters and gauges and empties histograms; metrics stay registered. */
  reset(): void {
    for (const m of this.#metrics.values()) m.reset();
  }

  #collect(): void {
    for (const collect of this.#collectors) {
      try {
        collect();
      } catch {
        // A broken collector must not take the metrics endpoint down with it.
      }
    }
  }

  #register<L extends string, M extends Counter<L> | Gauge<L> | Histogram<L>>(
    type: MetricType,
    options: MetricOptions<L>,
    make: (name: string, help: string, labelNames: readonly L[]) => M,
  ): M {
    const o = parseOptions(metricSchema, options, `create ${type}`);
    const name = this.#prefix + o.name;
    const labelNames: readonly L[] = [...(options.labelNames ?? [])];
    const existing = this.#metrics.get(name);
    if (existing !== undefined) {
      if (existing.type === type && existing.labelNames.join() === labelNames.join()) return existing as unknown as M;
      throw new InvalidOptionsError(
        `Cannot create ${type} "${name}": the name is taken by a ${existing.type} with labels [${existing.labelNames.join(", ")}]`,
      );
    }
    const metric = make(name, o.help, labelNames);
    this.#metrics.set(name, metric as unknown as Counter<string>);
    return metric;
  }
}

function valueSnapshot(m: Counter<string> | Gauge<string>): MetricSnapshot {
  return {
    type: m.type,
    name: m.name,
    help: m.help,
    labelNames: [...m.labelNames],
    series: [...m.entries()].map(({ labels, state }) => ({ labels: { ...labels }, value: state.value })),
  };
}

function valueExposition(
  m: { name: string; help: string; type: MetricType },
  series: Map<string, { labels: Record<string, string>; state: Cell }>,
): string {
  let text = `# HELP ${m.name} ${escapeHelp(m.help)}\n# TYPE ${m.name} ${m.type}\n`;
  for (const { labels, state } of series.values()) text += `${m.name}${labelText(labels)} ${formatNumber(state.value)}\n`;
  return text;
}

function labelText(labels: Record<string, string>, extra?: string): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
