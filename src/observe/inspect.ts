/**
 * Watching the hive's actors: {@link filterInspect} keeps only the inspection events worth their
 * cost, {@link startInspector} starts a loopback relay and returns the observer to pass to XState
 * plus the URLs a person opens, and {@link replayTrace} sends a trace recorded by
 * `createTraceWriter` (see `trace.ts`) into a relay.
 *
 * The relay speaks the protocol of `@statelyai/inspect/server` — a WebSocket hub that rebroadcasts
 * each message of one client to the others — and adds what a viewer that connects late needs: it
 * keeps every live actor's registration and latest snapshot (`census.ts`) and sends those first,
 * so every machine is drawn in its current state, then the live stream. Actors that stop are
 * dropped, so memory stays bounded whatever the run's length. Its observer, in this process,
 * writes the messages `@statelyai/inspect` would (`stately.ts`), only while someone watches, and
 * sends an actor's snapshot once per turn (its latest).
 * At `/` it serves the offline dashboard of those actors (`dashboard.ts`); at `/stately` a page
 * that frames Stately's inspector UI, the one part that needs the internet.
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
import { WebSocket, WebSocketServer } from "ws";
import type { InspectionEvent, Observer } from "xstate";
import { z } from "zod";
import { AbortedError, describeValue, InvalidOptionsError, ServeFailedError, TraceFailedError } from "../core/errors.ts";
import { ActorCensus } from "./census.ts";
import { createDashboard } from "./dashboard.ts";
import { relayDashboard } from "./relay-dashboard.ts";
import { actorMessage, type ActorRefInternals, eventMessage, recordMessage, stringifyMessage } from "./stately.ts";
import type { InspectionEventType, TraceRecord } from "./trace.ts";
import { parseFor, positiveInt, positiveNumber } from "../core/validation.ts";

/** What XState's `inspect` option takes: a function or an observer object. */
export type InspectObserver = ((event: InspectionEvent) => void) | Observer<InspectionEvent>;

/** Options of {@link filterInspect}. */
export interface FilterInspectOptions {
  /** Only these inspection event types pass. @default every type */
  types?: readonly InspectionEventType[];
  /**
   * Keep 1 in N of the given types (the 1st, N+1th, …), e.g. `{ "@xstate.snapshot": 10 }`.
   * Leave `@xstate.actor` unsampled if the inspector is to draw every actor. A snapshot that
   * ends an actor (status `done`, `error` or `stopped`) always passes: viewers learn it is gone.
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
  const o = parseFor(filterSchema, options, "filter inspection events");
  const next = toNext(observer);
  const allowed = o.types === undefined ? undefined : new Set<string>(o.types);
  // per sampled type: keep 1 in `every`, `seen` counts since the last one kept.
  const sampled = new Map<string, { every: number; seen: number }>();
  for (const [type, every] of Object.entries(o.sample ?? {})) if (every !== undefined && every > 1) sampled.set(type, { every, seen: 0 });
  return (event) => {
    if (allowed !== undefined && !allowed.has(event.type)) return;
    if (sampled.size > 0) {
      const s = sampled.get(event.type);
      if (s !== undefined && !(event.type === "@xstate.snapshot" && (event.snapshot as { status?: string }).status !== "active")) {
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
  /** Port of the relay (dashboard, inspector page and WebSocket); `0` picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. Anything but loopback exposes actor state to the network. @default "127.0.0.1" */
  host?: string;
  /** The inspector UI the page at `/stately` frames. @default "https://stately.ai/inspect" */
  inspectorUrl?: string;
  /**
   * Actors known only from clients' messages (a replayed trace, another process) kept for late
   * viewers at most; past it, those not heard of for longest are dropped. Live actors of this
   * process are kept while they run, and dropped when they stop.
   * @default 10000
   */
  maxActors?: number;
  /** @deprecated Ignored: late viewers get every live actor and its latest snapshot, not a tail of messages. */
  maxBuffered?: number;
  /** @deprecated Ignored: the observer runs in this process and needs no connection. */
  connectTimeoutMs?: number;
  /** Closes the relay when aborted. */
  signal?: AbortSignal;
}

/** A running inspector relay. */
export interface InspectorRelay extends AsyncDisposable {
  /** Pass as XState's `inspect` option (optionally through {@link filterInspect}). */
  readonly inspect: (event: InspectionEvent) => void;
  /** The dashboard of the relay's actors, e.g. `http://127.0.0.1:41234` (offline: no request leaves it). */
  readonly url: string;
  /** The page that frames Stately's inspector UI (`${url}/stately`; that UI loads from the internet). */
  readonly statelyUrl: string;
  /** The relay's WebSocket URL (for `replayTrace` and other clients). */
  readonly wsUrl: string;
  /** The port bound. */
  readonly port: number;
  /** Inspection messages the relay has taken in (from this process's actors and from clients). */
  readonly relayed: number;
  /** Actors the relay keeps for viewers that connect later (those alive now). */
  readonly actors: number;
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
  maxActors: positiveInt().optional(),
  maxBuffered: positiveInt().optional(),
  connectTimeoutMs: positiveNumber().optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
});

/**
 * A viewer this far behind (bytes queued on its socket) gets no more messages until it is down to
 * {@link CAUGHT_UP_BYTES}; then it gets every live actor as it is now (as a new viewer does) and
 * the stream again. Memory per viewer stays bounded, and the viewer's picture right.
 */
const BEHIND_BYTES = 4 * 1024 * 1024;
const CAUGHT_UP_BYTES = 256 * 1024;

/**
 * A message waiting to go out: its text (or what makes it, at the end of the turn), and who sent
 * it; `text` undefined when a later message of the same turn superseded it.
 */
interface Outgoing {
  text: string | (() => string) | undefined;
  from: WebSocket | undefined;
}

/**
 * Starts the inspector relay on loopback (no browser is opened); its observer is ready at once.
 *
 * @throws {InvalidOptionsError} When an option is invalid.
 * @throws {ServeFailedError} (rejects) When the port cannot be bound.
 * @throws {AbortedError} (rejects) When `signal` is aborted.
 */
export async function startInspector(options: StartInspectorOptions = {}): Promise<InspectorRelay> {
  const o = parseFor(startSchema, options, "start inspector");
  const host = o.host ?? "127.0.0.1";
  const inspectorUrl = o.inspectorUrl ?? "https://stately.ai/inspect";
  if (o.signal?.aborted === true) throw new AbortedError("Cannot start inspector: the signal was aborted", { cause: o.signal.reason });

  const census = new ActorCensus({ maxActors: o.maxActors ?? 10_000 });
  const dashboard = createDashboard(relayDashboard(census, "apiary inspector relay"));
  let wsUrl = "";
  const http = createServer((request, response) => {
    if (dashboard.handle(request, response)) return;
    const path = (request.url ?? "/").split("?", 1)[0];
    if (path !== "/stately" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    response.end(request.method === "HEAD" ? undefined : bridgePage(wsUrl, inspectorUrl));
  });
  const hub = new WebSocketServer({ server: http });
  // clients brought up to date (census first), who get every message from then on.
  const viewers = new Set<WebSocket>();
  // viewers that fell behind: skipped until they catch up, then brought up to date again.
  const behind = new Set<WebSocket>();
  // messages of the current turn, sent together at its end, in order.
  let outbox: Outgoing[] = [];
  // the snapshot message of each actor in the outbox (one per actor and turn: the latest).
  const snapshots = new Map<string, Outgoing>();
  let relayed = 0;

  const flush = (): void => {
    if (outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    snapshots.clear();
    for (const item of batch) {
      if (item.text === undefined) continue;
      // Written now: a registration once the actor has its first snapshot (just after XState
      // announced it), a snapshot as it stands at the end of the turn.
      const text = typeof item.text === "string" ? item.text : item.text();
      for (const viewer of viewers) {
        if (viewer === item.from || viewer.readyState !== WebSocket.OPEN) continue;
        if (behind.has(viewer)) {
          if (viewer.bufferedAmount > CAUGHT_UP_BYTES) continue;
          behind.delete(viewer);
          for (const message of census.replay()) viewer.send(message);
        } else if (viewer.bufferedAmount > BEHIND_BYTES) {
          behind.add(viewer);
          continue;
        }
        viewer.send(text);
      }
    }
  };
  const enqueue = (item: Outgoing): void => {
    if (outbox.length === 0) queueMicrotask(flush);
    outbox.push(item);
  };

  hub.on("connection", (socket) => {
    // What is queued belongs to the stream before this viewer: it goes to the others, then the
    // newcomer gets every live actor as it is now, then the stream.
    flush();
    for (const message of census.replay()) socket.send(message);
    viewers.add(socket);
    socket.on("close", () => {
      viewers.delete(socket);
      behind.delete(socket);
    });
    socket.on("message", (data: Buffer) => {
      const text = data.toString();
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return; // not an inspector message
      }
      if (!census.observeMessage(message, text)) return;
      relayed++;
      enqueue({ text, from: socket });
    });
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
  try {
    await bound;
  } catch (error) {
    dashboard.close();
    throw error;
  }
  const port = (http.address() as AddressInfo).port;
  const hostText = host.includes(":") ? `[${host}]` : host;
  wsUrl = `ws://${hostText}:${port}`;

  let closed = false;
  const inspect = (event: InspectionEvent): void => {
    if (closed) return;
    census.observeLive(event);
    if (event.type !== "@xstate.actor" && event.type !== "@xstate.event" && event.type !== "@xstate.snapshot") return;
    relayed++;
    // Nobody watching: the census is all a viewer connecting later needs.
    if (viewers.size === 0) return;
    if (event.type === "@xstate.actor") {
      const ref = event.actorRef as unknown as ActorRefInternals;
      enqueue({ text: () => stringifyMessage(actorMessage(ref, event.rootId)), from: undefined });
    } else if (event.type === "@xstate.snapshot") {
      // One snapshot per actor and turn, the latest, written at the end of the turn: an actor of
      // a busy hive changes many times in one turn, in place (the machines mutate their context),
      // so the steps before would all read as the last one anyway — and serialising a snapshot is
      // most of a viewer's cost.
      const item: Outgoing = { text: () => stringifyMessage(eventMessage(event)!), from: undefined };
      const superseded = snapshots.get(event.actorRef.sessionId);
      if (superseded !== undefined) superseded.text = undefined;
      snapshots.set(event.actorRef.sessionId, item);
      enqueue(item);
    } else {
      // Serialised now: an event's payload may change after it was sent.
      enqueue({ text: stringifyMessage(eventMessage(event)!), from: undefined });
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      o.signal?.removeEventListener("abort", onAbort);
      dashboard.close();
      for (const client of hub.clients) client.terminate();
      viewers.clear();
      behind.clear();
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

  const url = `http://${hostText}:${port}`;
  return {
    inspect,
    url,
    statelyUrl: `${url}/stately`,
    wsUrl,
    port,
    get relayed() {
      return relayed;
    },
    get actors() {
      return census.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Options of {@link replayTrace}. */
export interface ReplayTraceOptions {
  /**
   * Pace of the replay against the trace's own clock (its records' `at`): 1 replays at the speed
   * it was recorded, 10 ten times faster; `Infinity` sends everything at once.
   * @default Infinity
   */
  speed?: number;
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
 * @throws {InvalidOptionsError} (rejects) When `speed` is not a positive number.
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
  const speed = options.speed ?? Infinity;
  if (typeof speed !== "number" || !(speed > 0)) throw new InvalidOptionsError(`Cannot replay trace: "speed" must be a positive number, received ${describeValue(speed)}`);
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
    // Pacing: the first record's time, and when (real time) it was sent.
    let first: { at: number; sentAt: number } | undefined;
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
        const event = recordMessage(record);
        if (event === undefined) continue;
        if (speed !== Infinity && typeof record.at === "number") {
          first ??= { at: record.at, sentAt: performance.now() };
          const dueIn = first.sentAt + (record.at - first.at) / speed - performance.now();
          if (dueIn > 5) {
            await Promise.all(pending);
            pending = [];
            await sleep(dueIn, signal);
            if (isAborted(signal)) throw aborted();
          }
        }
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

function toNext(observer: InspectObserver): (event: InspectionEvent) => void {
  if (typeof observer === "function") return observer;
  if (typeof observer === "object" && observer !== null && typeof observer.next === "function") {
    const o = observer;
    return (event) => o.next?.(event);
  }
  throw new InvalidOptionsError(`Cannot filter inspection events: "observer" must be a function or an observer, received ${describeValue(observer)}`);
}

/** The page at `/stately`: Stately's inspector UI in a frame, fed from the relay's WebSocket. */
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

/** Waits `ms` (or until `signal` aborts). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

// A function, so the compiler does not keep an earlier check's narrowing across awaits.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
