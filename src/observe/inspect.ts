/**
 * Watching the hive's actors in the Stately inspector: {@link filterInspect} keeps only the
 * inspection events worth their cost, {@link startInspector} starts a loopback relay and returns
 * the observer to pass to XState plus the URL a person opens, and {@link replayTrace} sends a
 * trace recorded by `createTraceWriter` (see `trace.ts`) into a relay.
 *
 * The relay speaks the protocol of `@statelyai/inspect/server` (a WebSocket hub that rebroadcasts
 * each message to the other clients and keeps the last ones for late viewers, plus a page that
 * frames the Stately inspector), but is our own: `createInspectorServer` listens on every
 * interface, cannot pick a free port (its page embeds the port asked for, not the one bound) and
 * does not wait for its sockets on `stop()`. The observer is `@statelyai/inspect`'s own
 * `createWebSocketInspector`, which converts XState's events to the inspector's format.
 * Everything runs offline; only the page a person opens loads the inspector from the network.
 *
 * @example
 * ```ts
 * await using inspector = await startInspector({ port: 0 });
 * console.log(`open ${inspector.url}`);
 * const actor = createActor(machine, { inspect: filterInspect(inspector.inspect, { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"] }) });
 * ```
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { createWebSocketInspector, type StatelyInspectionEvent } from "@statelyai/inspect";
import { WebSocket, WebSocketServer } from "ws";
import type { InspectionEvent, Observer } from "xstate";
import { z } from "zod";
import { AbortedError, describeValue, InvalidOptionsError, ServeFailedError, TraceFailedError } from "../core/errors.ts";
import type { InspectionEventType, TraceRecord } from "./trace.ts";
import { parseOptions, positiveInt, positiveNumber } from "../core/validate.ts";

/** What XState's `inspect` option takes: a function or an observer object. */
export type InspectObserver = ((event: InspectionEvent) => void) | Observer<InspectionEvent>;

/** Options of {@link filterInspect}. */
export interface FilterInspectOptions {
  /** Only these inspection event types pass. @default every type */
  types?: readonly InspectionEventType[];
  /**
   * Keep 1 in N of the given types (the 1st, N+1th, …), e.g. `{ "@xstate.snapshot": 10 }`.
   * Leave `@xstate.actor` unsampled if the inspector is to draw every actor.
   * @default keep every event
   */
  sample?: Partial<Record<InspectionEventType, number>>;
}

const INSPECTION_TYPES = [
  "@xstate.event",
  "@xstate.snapshot",
  "@xstate.actor",
  "@xstate.microstep",
  "@xstate.action",
  "@xstate.transition",
] as const satisfies readonly InspectionEventType[];

const typeEnum = z.enum(INSPECTION_TYPES, { error: `must be one of ${INSPECTION_TYPES.map((t) => `"${t}"`).join(", ")}` });

const filterSchema = z.strictObject({
  types: z.array(typeEnum, { error: "must be an array of inspection event types" }).optional(),
  sample: z.partialRecord(typeEnum, positiveInt(), { error: "must map inspection event types to positive integers" }).optional(),
});

/**
 * Wraps an inspect observer so it sees only the inspection events of `types`, and of the
 * `sample`d types only 1 in N. XState still builds every inspection event; this saves what the
 * observer would do with them (serialising, writing, sending).
 *
 * @throws {InvalidOptionsError} When `observer` or an option is invalid.
 */
export function filterInspect(observer: InspectObserver, options: FilterInspectOptions = {}): (event: InspectionEvent) => void {
  const o = parseOptions(filterSchema, options, "filter inspection events");
  const next = toNext(observer);
  const allowed = o.types === undefined ? undefined : new Set<string>(o.types);
  // per sampled type: keep 1 in `every`, `seen` counts since the last one kept.
  const sampled = new Map<string, { every: number; seen: number }>();
  for (const [type, every] of Object.entries(o.sample ?? {})) if (every !== undefined && every > 1) sampled.set(type, { every, seen: 0 });
  return (event) => {
    if (allowed !== undefined && !allowed.has(event.type)) return;
    if (sampled.size > 0) {
      const s = sampled.get(event.type);
      if (s !== undefined) {
        const keep = s.seen === 0;
        s.seen = (s.seen + 1) % s.every;
        if (!keep) return;
      }
    }
    next(event);
  };
}

/** Options of {@link startInspector}. */
export interface StartInspectorOptions {
  /** Port of the relay (page and WebSocket); `0` picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. Anything but loopback exposes actor state to the network. @default "127.0.0.1" */
  host?: string;
  /** The inspector UI the page frames. @default "https://stately.ai/inspect" */
  inspectorUrl?: string;
  /** Messages the relay keeps for viewers that connect late. @default 1000 */
  maxBuffered?: number;
  /** How long to wait for the observer's socket to connect, in ms. @default 5000 */
  connectTimeoutMs?: number;
  /** Closes the relay when aborted. */
  signal?: AbortSignal;
}

/** A running inspector relay. */
export interface InspectorRelay extends AsyncDisposable {
  /** Pass as XState's `inspect` option (optionally through {@link filterInspect}). */
  readonly inspect: (event: InspectionEvent) => void;
  /** The page a person opens, e.g. `http://127.0.0.1:41234` (it loads the inspector UI). */
  readonly url: string;
  /** The relay's WebSocket URL (for `replayTrace` and other clients). */
  readonly wsUrl: string;
  /** The port bound. */
  readonly port: number;
  /** Messages relayed so far. */
  readonly relayed: number;
  /** Stops the observer, disconnects every client and stops listening. Idempotent. */
  close(): Promise<void>;
}

const startSchema = z.strictObject({
  port: z
    .number({ error: "must be an integer from 0 to 65535" })
    .int({ error: "must be an integer from 0 to 65535" })
    .min(0, { error: "must be an integer from 0 to 65535" })
    .max(65_535, { error: "must be an integer from 0 to 65535" })
    .optional(),
  host: z.string({ error: "must be a host name or address" }).min(1, { error: "must be a host name or address" }).optional(),
  inspectorUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  maxBuffered: positiveInt().optional(),
  connectTimeoutMs: positiveNumber().optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
});

/**
 * Starts the inspector relay on loopback (no browser is opened) and connects
 * `@statelyai/inspect`'s WebSocket observer to it; resolves once that observer is connected,
 * so no early event is lost.
 *
 * @throws {InvalidOptionsError} When an option is invalid.
 * @throws {ServeFailedError} (rejects) When the port cannot be bound or the observer cannot connect.
 * @throws {AbortedError} (rejects) When `signal` is aborted.
 */
export async function startInspector(options: StartInspectorOptions = {}): Promise<InspectorRelay> {
  const o = parseOptions(startSchema, options, "start inspector");
  const host = o.host ?? "127.0.0.1";
  const inspectorUrl = o.inspectorUrl ?? "https://stately.ai/inspect";
  const maxBuffered = o.maxBuffered ?? 1_000;
  if (o.signal?.aborted === true) throw new AbortedError("Cannot start inspector: the signal was aborted", { cause: o.signal.reason });

  let wsUrl = "";
  const http = createServer((request, response) => {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (path !== "/" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    response.end(request.method === "HEAD" ? undefined : bridgePage(wsUrl, inspectorUrl));
  });
  const hub = new WebSocketServer({ server: http });
  // the last `maxBuffered` messages, replayed to each client that connects.
  const buffer: string[] = [];
  let relayed = 0;
  let firstClient: (() => void) | undefined;
  hub.on("connection", (socket) => {
    for (const message of buffer) socket.send(message);
    socket.on("message", (data) => {
      const message = data.toString();
      relayed++;
      buffer.push(message);
      if (buffer.length > maxBuffered) buffer.shift();
      for (const client of hub.clients) if (client !== socket && client.readyState === WebSocket.OPEN) client.send(message);
    });
    firstClient?.();
  });

  const bound = new Promise<void>((resolve, reject) => {
    http.once("error", (error) =>
      reject(
        new ServeFailedError(`Cannot start inspector on ${host}:${o.port ?? 0}: ${(error as { code?: string }).code ?? error.message}`, {
          cause: error,
        }),
      ));
    http.listen(o.port ?? 0, host, () => resolve());
  });
  // ws re-emits the http server's errors on the hub; they are handled through `bound`.
  hub.on("error", () => {});
  await bound;
  const port = (http.address() as AddressInfo).port;
  const hostText = host.includes(":") ? `[${host}]` : host;
  wsUrl = `ws://${hostText}:${port}`;

  const stately = createWebSocketInspector({ url: wsUrl, autoStart: false });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      o.signal?.removeEventListener("abort", onAbort);
      stately.stop();
      for (const client of hub.clients) client.terminate();
      await new Promise<void>((resolve) => hub.close(() => resolve()));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        (http as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    })();
    return closing;
  };
  const onAbort = (): void => void close();
  o.signal?.addEventListener("abort", onAbort, { once: true });

  const connected = new Promise<void>((resolve, reject) => {
    const timeoutMs = o.connectTimeoutMs ?? 5_000;
    const timer = setTimeout(
      () => reject(new ServeFailedError(`Cannot start inspector: the observer did not connect to ${wsUrl} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    firstClient = () => {
      firstClient = undefined;
      clearTimeout(timer);
      resolve();
    };
    o.signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new AbortedError("Cannot start inspector: the signal was aborted", { cause: o.signal?.reason }));
    }, { once: true });
  });
  stately.start();
  try {
    await connected;
  } catch (error) {
    await close();
    throw error;
  }

  const next = stately.inspect.next?.bind(stately.inspect);
  return {
    inspect: (event) => next?.(event),
    url: `http://${hostText}:${port}`,
    wsUrl,
    port,
    get relayed() {
      return relayed;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Options of {@link replayTrace}. */
export interface ReplayTraceOptions {
  /** Stops the replay (rejects with `ABORTED`). */
  signal?: AbortSignal;
}

/**
 * Sends a trace file written by `createTraceWriter` into an inspector relay, in order, as the
 * events `@statelyai/inspect` would have sent live (actor, event and snapshot records; microstep,
 * action and transition records have no counterpart in the inspector and are skipped).
 *
 * @param target - The relay (from {@link startInspector}) or its WebSocket URL.
 * @returns How many events were sent.
 * @throws {TraceFailedError} (rejects) When the file cannot be read or a line is not a trace record.
 * @throws {ServeFailedError} (rejects) When the relay cannot be reached.
 * @throws {AbortedError} (rejects) When `signal` aborts.
 */
export async function replayTrace(
  file: string | URL,
  target: { wsUrl: string } | string,
  options: ReplayTraceOptions = {},
): Promise<number> {
  const wsUrl = typeof target === "string" ? target : target?.wsUrl;
  if (typeof wsUrl !== "string" || !/^wss?:\/\//.test(wsUrl)) {
    throw new TraceFailedError(`Cannot replay trace: "target" must be a relay or a ws:// URL, received ${describeValue(target)}`);
  }
  const { signal } = options;
  const aborted = () => new AbortedError(`Stopped replaying ${describeValue(String(file))}: the signal was aborted`, { cause: signal?.reason });
  if (signal?.aborted === true) throw aborted();

  const socket = new WebSocket(wsUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", (error) => reject(new ServeFailedError(`Cannot replay trace: cannot reach ${wsUrl}: ${error.message}`, { cause: error })));
    });
    const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
    let sent = 0;
    let lineNo = 0;
    let pending: Promise<void>[] = [];
    try {
      for await (const line of lines) {
        lineNo++;
        if (isAborted(signal)) throw aborted();
        if (line.trim() === "") continue;
        let record: TraceRecord;
        try {
          record = JSON.parse(line) as TraceRecord;
        } catch (error) {
          throw new TraceFailedError(`Cannot replay ${describeValue(String(file))}: line ${lineNo} is not JSON`, { cause: error });
        }
        if (typeof record !== "object" || record === null || typeof record.type !== "string" || typeof record.actor?.sessionId !== "string") {
          throw new TraceFailedError(
            `Cannot replay ${describeValue(String(file))}: line ${lineNo} is not a trace record, received ${describeValue(record)}`,
          );
        }
        const event = toStatelyEvent(record);
        if (event === undefined) continue;
        pending.push(new Promise<void>((resolve, reject) => socket.send(JSON.stringify(event), (e) => (e ? reject(e) : resolve()))));
        sent++;
        // Bounded in-flight sends: wait now and then so a big trace does not pile up in memory.
        if (pending.length >= 512) {
          await Promise.all(pending);
          pending = [];
        }
      }
      await Promise.all(pending);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT" || (error as { code?: string }).code === "EACCES") {
        throw new TraceFailedError(`Cannot replay ${describeValue(String(file))}: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    } finally {
      lines.close();
    }
    return sent;
  } finally {
    await new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      socket.once("close", () => resolve());
      socket.close();
    });
  }
}

// The @statelyai/inspect version whose event format this module writes (see its convertXStateEvent).
const STATELY_EVENT_VERSION = "0.7.2";

/** A trace record as `@statelyai/inspect` sends it live, or undefined for types it does not send. */
export function toStatelyEvent(record: TraceRecord): StatelyInspectionEvent | undefined {
  const base = {
    sessionId: record.actor.sessionId,
    rootId: record.rootId,
    createdAt: String(record.at),
    id: String(record.seq),
    _version: STATELY_EVENT_VERSION,
  };
  switch (record.type) {
    case "@xstate.actor": {
      let name = record.actor.id;
      if (name === record.actor.sessionId && record.definition !== undefined) {
        try {
          const id = (JSON.parse(record.definition) as { id?: unknown }).id;
          if (typeof id === "string") name = id;
        } catch {
          // keep the session id as name
        }
      }
      return {
        ...base,
        type: "@xstate.actor",
        name,
        definition: record.definition,
        parentId: record.parentId,
        snapshot: (record.snapshot ?? { status: "active" }) as never,
      };
    }
    case "@xstate.event":
      return { ...base, type: "@xstate.event", event: record.event ?? { type: "" }, sourceId: record.source?.sessionId };
    case "@xstate.snapshot":
      return { ...base, type: "@xstate.snapshot", event: record.event ?? { type: "" }, snapshot: record.snapshot as never };
    default:
      return undefined;
  }
}

function toNext(observer: InspectObserver): (event: InspectionEvent) => void {
  if (typeof observer === "function") return observer;
  if (typeof observer === "object" && observer !== null && typeof observer.next === "function") {
    const o = observer;
    return (event) => o.next?.(event);
  }
  throw new InvalidOptionsError(`Cannot filter inspection events: "observer" must be a function or an observer, received ${describeValue(observer)}`);
}

/** The page a person opens: the inspector UI in a frame, fed from the relay's WebSocket. */
function bridgePage(wsUrl: string, inspectorUrl: string): string {
  const attr = inspectorUrl.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>apiary — Stately inspector</title>
  <style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style>
</head>
<body>
  <iframe id="inspector" src="${attr}"></iframe>
  <script>
    const iframe = document.getElementById("inspector");
    const buffer = [];
    let connected = false;
    window.addEventListener("message", (e) => {
      if (e.data && e.data.type === "@statelyai.connected") {
        connected = true;
        for (const event of buffer) iframe.contentWindow.postMessage(event, "*");
        buffer.length = 0;
      }
    });
    const ws = new WebSocket(${JSON.stringify(wsUrl).replace(/</g, "\\u003c")});
    ws.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (connected) iframe.contentWindow.postMessage(data, "*");
      else buffer.push(data);
    };
  </script>
</body>
</html>
`;
}

// A function, so the compiler does not keep an earlier check's narrowing across awaits.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
