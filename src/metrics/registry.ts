/**
 * A metrics registry: counters, gauges and latency histograms with labels, a plain-JSON
 * `snapshot()` and the Prometheus text exposition format (`toPrometheus()`). A histogram series
 * counts its values into fixed buckets, exposed as a Prometheus histogram (`_bucket{le=…}`,
 * `_sum`, `_count`: what `histogram_quantile` and `sum by` aggregate over instances and time),
 * and keeps a bounded {@link LogHistogram} beside them for lifetime quantiles within 1.6%,
 * exposed for convenience as the gauges `<name>_p50`, `_p95`, `_p99` and `_max`.
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
import { parseFor } from "../core/validation.ts";

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

/** Options of a histogram. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /**
   * Upper bounds (`le`) of the buckets, in the metric's unit, strictly ascending and finite;
   * `+Inf` is always added.
   * @default {@link DEFAULT_BUCKETS}
   */
  buckets?: readonly number[];
}

/** The Prometheus clients' default buckets, in seconds: 5 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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
  /** Cumulative counts, as Prometheus has them: values ≤ `le` (`"+Inf"` last, equal to `count`). */
  buckets: { le: string; count: number }[];
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

const bucketsSchema = z
  .array(z.number({ error: "must be an array of finite numbers" }).finite({ error: "must be an array of finite numbers" }), { error: "must be an array of finite numbers" })
  .min(1, { error: "must name at least one bound" })
  .refine((b) => b.every((v, i) => i === 0 || v > (b[i - 1] as number)), { error: "must be strictly ascending" })
  .optional();

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

  /** @param first - Makes the unlabelled series when a subclass's `create` needs its own fields, not yet set here. */
  constructor(name: string, help: string, labelNames: readonly L[], first?: () => S) {
    // Constructed directly (they are exported for types and instanceof), not through a registry.
    if (typeof name !== "string" || typeof help !== "string" || !Array.isArray(labelNames)) {
      throw new InvalidOptionsError(`Cannot create metric: create it with a MetricsRegistry (registry.counter({ name, help, labelNames })), received ${describeValue(name)}`);
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    if (labelNames.length === 0) {
      this.single = first !== undefined ? first() : this.create();
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

/** The convenience gauges beside each histogram: name suffix and what it holds. */
const QUANTILE_GAUGES = [["p50", "Median (within 1.6%)"], ["p95", "95th percentile (within 1.6%)"], ["p99", "99th percentile (within 1.6%)"], ["max", "Largest value"]] as const;

/** One histogram series: bucket counts (not cumulative; the last is `+Inf`) and the log histogram. */
class HistogramState {
  readonly counts: Float64Array;
  readonly log: LogHistogram = new LogHistogram();

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }

  record(value: number, bounds: Float64Array): void {
    if (!(value >= 0)) return;
    // The first bound ≥ value (le is inclusive); past the last one, the +Inf bucket.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((bounds[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]! += 1;
    this.log.record(value);
  }

  reset(): void {
    this.counts.fill(0);
    this.log.reset();
  }
}

/**
 * A latency (or size) histogram: per series, counts in fixed buckets (a Prometheus histogram)
 * and count, sum, mean, min, max and p50/p95/p99 in bounded memory. Values are in the unit the
 * name says (`_seconds` by Prometheus convention). Negative and NaN values are ignored.
 */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = "histogram" as const;
  /** The buckets' upper bounds, ascending (without +Inf). */
  readonly buckets: readonly number[];
  // the bounds as a typed array, for the search on each record.
  readonly #bounds: Float64Array;

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[] = DEFAULT_BUCKETS) {
    // The bounds must exist before the base class creates the unlabelled series.
    const bounds = Float64Array.from(buckets);
    super(name, help, labelNames, () => new HistogramState(bounds.length));
    this.buckets = [...buckets];
    this.#bounds = bounds;
  }

  protected create(): HistogramState {
    return new HistogramState(this.#bounds.length);
  }

  /** Records `value` in the series of `labels`. */
  record(value: number, labels?: LabelValues<L>): void {
    this.stateOf(labels).record(value, this.#bounds);
  }

  /** The series of `labels`, bound. */
  labels(labels: LabelValues<L>): BoundHistogram {
    const h = this.stateOf(labels);
    const bounds = this.#bounds;
    return { record: (v) => h.record(v, bounds) };
  }

  /** The summary of the series of `labels`. */
  get(labels?: LabelValues<L>): HistogramSummary {
    return this.stateOf(labels).log.summary();
  }

  /** All series merged into one summary (for example every agent of a task kind). */
  total(filter?: (labels: Record<string, string>) => boolean): HistogramSummary {
    const all = new LogHistogram();
    for (const { labels, state } of this.series.values()) if (filter === undefined || filter(labels)) all.merge(state.log);
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
      series: [...this.series.values()].map(({ labels, state }) => ({ labels: { ...labels }, ...state.log.summary(), buckets: this.#cumulative(state) })),
    };
  }

  toPrometheus(): string {
    const name = this.name;
    const lines = [`# HELP ${name} ${escapeHelp(this.help)}`, `# TYPE ${name} histogram`];
    // Lifetime quantiles and the maximum as plain gauges, one family each (a `quantile` label
    // belongs to summaries only).
    const gauges = QUANTILE_GAUGES.map((
      [suffix, what],
    ) => [`# HELP ${name}_${suffix} ${escapeHelp(`${what} of ${name} since start, for convenience (aggregate the buckets instead).`)}`, `# TYPE ${name}_${suffix} gauge`]);
    for (const { labels, state } of this.series.values()) {
      for (const b of this.#cumulative(state)) lines.push(`${name}_bucket${labelText(labels, `le="${b.le}"`)} ${formatNumber(b.count)}`);
      const s = state.log.summary();
      lines.push(`${name}_sum${labelText(labels)} ${formatNumber(s.sum)}`);
      lines.push(`${name}_count${labelText(labels)} ${formatNumber(s.count)}`);
      const values = [s.p50, s.p95, s.p99, s.max];
      for (let i = 0; i < gauges.length; i++) gauges[i]!.push(`${name}_${QUANTILE_GAUGES[i]![0]}${labelText(labels)} ${s.count === 0 ? "NaN" : formatNumber(values[i] as number)}`);
    }
    return `${[lines, ...gauges].map((l) => l.join("\n")).join("\n")}\n`;
  }

  #cumulative(state: HistogramState): { le: string; count: number }[] {
    const out: { le: string; count: number }[] = [];
    let seen = 0;
    for (let i = 0; i < state.counts.length; i++) {
      seen += state.counts[i] as number;
      out.push({ le: i < this.#bounds.length ? formatNumber(this.#bounds[i] as number) : "+Inf", count: seen });
    }
    return out;
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
    this.#prefix = parseFor(registrySchema, options, "create metrics registry").prefix ?? "";
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
   * A histogram: a Prometheus histogram (`_bucket`, `_sum`, `_count`) plus the gauges
   * `_p50`, `_p95`, `_p99` (since start) and `_max`.
   * @throws {InvalidOptionsError} On an invalid name, label name (`le` and `quantile` are reserved) or
   *   bucket list, or a name taken (by another kind, other labels or other buckets).
   */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    for (const reserved of ["le", "quantile"]) {
      if (options.labelNames?.includes(reserved as L) === true) {
        throw new InvalidOptionsError(`Cannot create histogram "${options.name}": label name "${reserved}" is reserved`);
      }
    }
    const { buckets: _buckets, ...metric } = options;
    const buckets = parseFor(z.strictObject({ buckets: bucketsSchema }), { buckets: options.buckets }, `create histogram "${options.name}"`).buckets ?? DEFAULT_BUCKETS;
    const histogram = this.#register("histogram", metric, (n, h, l) => new Histogram<L>(n, h, l, buckets));
    if (histogram.buckets.join() !== buckets.join()) {
      throw new InvalidOptionsError(`Cannot create histogram "${histogram.name}": the name is taken by a histogram with buckets [${histogram.buckets.join(", ")}]`);
    }
    return histogram;
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
    const o = parseFor(metricSchema, options, `create ${type}`);
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
