/**
 * Recording XState's inspection stream: {@link toTraceRecord} turns an inspection event into a
 * plain JSON record (actor refs become `{ id, sessionId }`, never the object), and
 * {@link createTraceWriter} is an inspect observer that writes those records as JSON lines to a
 * file, batched, with a `sanitize` hook to keep secrets out. `replayTrace` (in `inspect.ts`) sends
 * such a file to the Stately inspector.
 *
 * @example
 * ```ts
 * await using trace = createTraceWriter({
 *   file: "hive.trace.jsonl",
 *   sanitize: (r) => (r.event?.type === "auth.token" ? undefined : r),
 * });
 * const actor = createActor(machine, { inspect: trace }).start();
 * ```
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import type { AnyEventObject, InspectionEvent } from "xstate";
import { z } from "zod";
import { describeValue, TraceFailedError } from "../core/errors.ts";
import { fn, parseOptions, positiveInt, positiveNumber } from "../core/validate.ts";

/** The inspection event types XState emits. */
export type InspectionEventType = InspectionEvent["type"];

/** An actor ref as written to a trace: its ids, never the object. */
export interface TracedActor {
  /** The actor's id (its `systemId`-independent local id). */
  id: string;
  /** The actor's unique session id (what the Stately inspector keys on). */
  sessionId: string;
}

/** One line of a trace file: an inspection event as plain JSON. */
export interface TraceRecord {
  /** Sequence number in this trace, from 1. */
  seq: number;
  /** When it was recorded, in ms of the writer's clock. */
  at: number;
  /** The inspection event type. */
  type: InspectionEventType;
  /** Session id of the root actor of the system. */
  rootId: string;
  /** The actor concerned (the target of an `@xstate.event`). */
  actor: TracedActor;
  /** `@xstate.actor`: the parent's session id, if any. */
  parentId?: string;
  /** `@xstate.actor`: the machine's config as JSON text, without its `context` (what the Stately inspector draws). */
  definition?: string;
  /** `@xstate.event`: the sender, if any. */
  source?: TracedActor;
  /** The event (`@xstate.event`, `@xstate.snapshot`, `@xstate.microstep`, `@xstate.transition`). */
  event?: AnyEventObject;
  /** The snapshot as JSON (`@xstate.snapshot`, microstep, transition; the initial one for `@xstate.actor`). */
  snapshot?: unknown;
  /** `@xstate.action`: the action executed. */
  action?: { type: string; params: unknown };
}

/** Options of {@link createTraceWriter}. */
export interface TraceWriterOptions {
  /** Path of the JSON-lines file (created, or truncated unless `append`). */
  file: string | URL;
  /**
   * Sees each record before it is written; return it (changed or not) to write it, `undefined`
   * to leave it out. Runs synchronously inside the inspect call; a throw drops the record.
   */
  sanitize?: (record: TraceRecord) => TraceRecord | undefined;
  /** Append to an existing file instead of truncating it. @default false */
  append?: boolean;
  /**
   * Write once this many records are buffered.
   * @default 256
   */
  batchSize?: number;
  /**
   * Also write buffered records after this many milliseconds (real time).
   * @default 1000
   */
  flushIntervalMs?: number;
  /**
   * Records held in memory while the disk is slower than the actors; past it new records are
   * dropped (and counted in `dropped`).
   * @default 100000
   */
  maxBuffered?: number;
  /** Timestamps for `at`, in ms. Pass the hive clock's `now` for simulated time. @default Date.now */
  now?: () => number;
}

/** An XState inspect observer that writes a trace; call `close()` to flush and close the file. */
export interface TraceWriter extends AsyncDisposable {
  /** The observer: pass the writer itself as `inspect` to `createActor`. */
  (event: InspectionEvent): void;
  /** Records written to the file so far. */
  readonly written: number;
  /** Records dropped because `maxBuffered` was reached (not those `sanitize` left out). */
  readonly dropped: number;
  /** Writes what is buffered now. Rejects with the first write error, if any. */
  flush(): Promise<void>;
  /** Flushes, closes the file, and stops recording. Idempotent; rejects with the first write error. */
  close(): Promise<void>;
}

const writerSchema = z.strictObject({
  file: z.union([z.string().min(1, { error: "must be a file path or URL" }), z.instanceof(URL)], {
    error: "must be a file path or URL",
  }),
  sanitize: fn().optional(),
  append: z.boolean({ error: "must be a boolean" }).optional(),
  batchSize: positiveInt().optional(),
  flushIntervalMs: positiveNumber().optional(),
  maxBuffered: positiveInt().optional(),
  now: fn().optional(),
});

/**
 * Creates an inspect observer that writes the inspection stream to `file` as JSON lines.
 *
 * @throws {InvalidOptionsError} When an option is invalid (the message names it and the value).
 */
export function createTraceWriter(options: TraceWriterOptions): TraceWriter {
  const o = parseOptions(writerSchema, options, "create trace writer");
  const sanitize = options.sanitize;
  const now = options.now ?? Date.now;
  const batchSize = o.batchSize ?? 256;
  const flushIntervalMs = o.flushIntervalMs ?? 1_000;
  const maxBuffered = o.maxBuffered ?? 100_000;
  const file = o.file;

  let handle: Promise<FileHandle> | undefined;
  let lines: string[] = [];
  let seq = 0;
  let written = 0;
  let dropped = 0;
  let closed = false;
  let failure: unknown;
  // writes run one after another in this chain, so lines keep their order in the file.
  let chain: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const write = (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (lines.length === 0) return chain;
    const batch = lines;
    lines = [];
    chain = chain.then(async () => {
      if (failure !== undefined) return;
      try {
        handle ??= open(file, o.append === true ? "a" : "w");
        await (await handle).write(batch.join(""));
        written += batch.length;
      } catch (error) {
        failure = error;
      }
    });
    return chain;
  };

  const observer = (event: InspectionEvent): void => {
    if (closed || failure !== undefined) return;
    if (lines.length >= maxBuffered) {
      dropped++;
      return;
    }
    let line: string;
    try {
      let record: TraceRecord | undefined = toTraceRecord(event, ++seq, now());
      if (sanitize !== undefined) record = sanitize(record);
      if (record === undefined) return;
      line = `${JSON.stringify(record)}\n`;
    } catch {
      // A sanitizer or a snapshot that cannot be serialised loses its record, not the actor.
      return;
    }
    lines.push(line);
    if (lines.length >= batchSize) void write();
    else if (timer === undefined) {
      timer = setTimeout(() => void write(), flushIntervalMs);
      (timer as { unref?: () => void }).unref?.();
    }
  };

  const flush = async (): Promise<void> => {
    await write();
    if (failure !== undefined) {
      throw new TraceFailedError(`Cannot write trace to ${describeValue(String(file))}: ${String(failure)}`, { cause: failure });
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await flush();
      } finally {
        closed = true;
        if (handle !== undefined) await (await handle.catch(() => undefined))?.close();
      }
    })();
    return closing;
  };

  return Object.defineProperties(observer, {
    written: { get: () => written },
    dropped: { get: () => dropped },
    flush: { value: flush },
    close: { value: close },
    [Symbol.asyncDispose]: { value: close },
  }) as TraceWriter;
}

/** Converts an XState inspection event into a plain, JSON-safe {@link TraceRecord}. */
export function toTraceRecord(event: InspectionEvent, seq: number, at: number): TraceRecord {
  const record: TraceRecord = { seq, at, type: event.type, rootId: event.rootId, actor: traced(event.actorRef) };
  switch (event.type) {
    case "@xstate.actor": {
      const ref = event.actorRef as ActorInternals;
      const parentId = ref._parent?.sessionId;
      if (parentId !== undefined) record.parentId = parentId;
      // The config's `context` is left out: drawing the machine does not need it, and a secret in
      // an initial context would otherwise slip past a sanitizer that scrubs snapshots only.
      const config = ref.logic?.config;
      const definition = toPlain(config ?? { id: ref.id }, 0, new WeakSet());
      if (typeof definition === "object" && definition !== null) delete (definition as { context?: unknown }).context;
      record.definition = JSON.stringify(definition);
      // XState announces an actor before its first snapshot exists (getSnapshot may throw then).
      try {
        const snapshot = toPlain(event.actorRef.getSnapshot(), 0, new WeakSet());
        if (snapshot !== undefined) record.snapshot = snapshot;
      } catch {
        // no snapshot yet: the inspector shows the actor as active until its first snapshot event
      }
      break;
    }
    case "@xstate.event":
      if (event.sourceRef !== undefined) record.source = traced(event.sourceRef);
      record.event = toPlain(event.event, 0, new WeakSet()) as AnyEventObject;
      break;
    case "@xstate.snapshot":
    case "@xstate.microstep":
    case "@xstate.transition":
      record.event = toPlain(event.event, 0, new WeakSet()) as AnyEventObject;
      record.snapshot = toPlain(event.snapshot, 0, new WeakSet());
      break;
    case "@xstate.action":
      record.action = { type: event.action.type, params: toPlain(event.action.params, 0, new WeakSet()) };
      break;
  }
  return record;
}

/** The parts of an actor ref XState does not type publicly but every `Actor` has. */
interface ActorInternals {
  id?: string;
  sessionId: string;
  _parent?: { sessionId: string };
  logic?: { config?: unknown };
}

function traced(ref: unknown): TracedActor {
  const r = ref as { id?: unknown; sessionId?: unknown };
  const sessionId = typeof r.sessionId === "string" ? r.sessionId : "unknown";
  return { id: typeof r.id === "string" ? r.id : sessionId, sessionId };
}

function isActorRef(value: object): boolean {
  const v = value as { sessionId?: unknown; send?: unknown };
  return typeof v.sessionId === "string" && typeof v.send === "function";
}

const MAX_DEPTH = 12;

/**
 * A JSON-safe copy of `value`: actor refs become `{ id, sessionId }`, `toJSON` is honoured,
 * functions become `{ type: name }` (as XState's own serialisation does), bigints strings,
 * errors `{ name, message }`, Maps and Sets arrays; cycles and depth past 12 become markers.
 */
export function toPlain(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
    case "symbol":
      return undefined;
    case "function":
      return { type: (value as { name?: string }).name || "anonymous" };
  }
  if (value === null) return null;
  const object = value as object;
  if (isActorRef(object)) return traced(object);
  if (depth >= MAX_DEPTH) return "[MaxDepth]";
  if (seen.has(object)) return "[Circular]";
  seen.add(object);
  try {
    if (object instanceof Error) return { name: object.name, message: object.message };
    if (object instanceof Map) return [...object].map(([k, v]) => [toPlain(k, depth + 1, seen), toPlain(v, depth + 1, seen)]);
    if (object instanceof Set) return [...object].map((v) => toPlain(v, depth + 1, seen));
    if (Array.isArray(object)) return object.map((v) => toPlain(v, depth + 1, seen) ?? null);
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      const json: unknown = toJSON.call(object);
      if (json !== object) return toPlain(json, depth + 1, seen);
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      const v = toPlain((object as Record<string, unknown>)[key], depth + 1, seen);
      if (v !== undefined) out[key] = v;
    }
    return out;
  } finally {
    // Only ancestors count as cycles; an object shared by two branches is written twice.
    seen.delete(object);
  }
}
