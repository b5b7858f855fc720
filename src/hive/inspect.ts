/**
 * The hive's `inspect` option: either an XState inspect observer (passed to the actors as is),
 * or a trace description `{ file, sanitize, types, sample }` that the hive turns into a trace
 * writer behind a filter, and closes when it stops.
 *
 * @module
 */
import type { InspectionEvent } from "xstate";
import { filterInspect, type FilterInspectOptions, type InspectObserver } from "../observe/inspect.ts";
import { createTraceWriter, type TraceRecord, type TraceWriter } from "../observe/trace.ts";

/** `createHive({ inspect: { file } })`: record the inspection stream as JSON lines. */
export interface HiveTraceOptions {
  /** Path or file URL of the trace (JSON lines; created, or truncated unless `append`). */
  file: string | URL;
  /**
   * Sees each record before it is written; return it (changed or not) to keep it, `undefined`
   * to drop it. Use it to keep secrets (task inputs, outputs) out of traces.
   * @default every record as is
   */
  sanitize?: (record: TraceRecord) => TraceRecord | undefined;
  /** Only these inspection event types are recorded. @default every type */
  types?: FilterInspectOptions["types"];
  /** Keep 1 in N of the given types, e.g. `{ "@xstate.snapshot": 10 }`. @default every event */
  sample?: FilterInspectOptions["sample"];
  /** Append to an existing file instead of truncating it. @default false */
  append?: boolean;
}

/** What `createHive`'s `inspect` option takes. */
export type HiveInspectOption = InspectObserver | HiveTraceOptions;

/** The resolved option: the observer to hand to `createActor`, and what to close on stop. */
export interface ResolvedInspect {
  readonly observer: InspectObserver | undefined;
  /** The trace writer, when the hive owns one. */
  readonly writer: TraceWriter | undefined;
}

/** True when `value` is a trace description rather than an observer. */
export function isTraceOptions(value: unknown): value is HiveTraceOptions {
  return typeof value === "object" && value !== null && "file" in value && typeof (value as { next?: unknown }).next !== "function";
}

/**
 * Turns the `inspect` option into an observer. A trace description makes a trace writer
 * stamped by `now` (the hive clock), behind {@link filterInspect} when `types` or `sample` is set.
 *
 * @throws {InvalidOptionsError} When a trace or filter option is invalid.
 */
export function resolveInspect(option: unknown, now: () => number): ResolvedInspect {
  if (option === undefined) return { observer: undefined, writer: undefined };
  if (!isTraceOptions(option)) return { observer: option as InspectObserver, writer: undefined };
  const { file, sanitize, types, sample, append } = option;
  const writer = createTraceWriter({ file, now, ...(sanitize !== undefined ? { sanitize } : {}), ...(append !== undefined ? { append } : {}) });
  const filtered = types !== undefined || sample !== undefined;
  const observer: (event: InspectionEvent) => void = filtered ? filterInspect(writer, { ...(types !== undefined ? { types } : {}), ...(sample !== undefined ? { sample } : {}) }) : writer;
  return { observer, writer };
}
