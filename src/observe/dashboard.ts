/**
 * The live dashboard: a self-contained page (inline script and style allowed by their hashes in a
 * Content-Security-Policy that forbids every other source, so it makes no request outside its own
 * origin and works with no internet) and a Server-Sent Events stream it reads from the same
 * server. {@link createDashboard} turns a {@link DashboardSource} — the hive, or the inspector
 * relay's actors — into the two routes: `GET /` (the page) and `GET /events` (the stream), for
 * the `node:http` servers of `serveHealth` and the relay (on Node and Deno).
 *
 * Once a second it samples the source and sends every viewer a frame: how many actors each
 * machine kind has in each state, the agents, the queue by priority, task counts, throughput over
 * the last minutes (kept here, a point per sample) and latency percentiles. Each machine kind's
 * state diagram is rendered once (`diagram.ts`) and sent when it is ready; notable events
 * (restarts, escalations, breaker trips) go out as they happen, and the last ones to each new
 * viewer. Memory is bounded: the history holds at most `historyMs / intervalMs` points.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { fn, parseFor, positiveInt } from "../core/validation.ts";
import { activePaths, isMachineDefinition, renderMachine } from "./diagram.ts";
import { dashboardPage } from "./dashboard-page.ts";

/** An actor as the dashboard counts it: its machine's definition and its state value. */
export interface DashboardActor {
  definition: unknown;
  value: unknown;
}

/** One agent on the dashboard. */
export interface DashboardAgent {
  id: string;
  /** The Agent actor's state (idle, busy, saturated, failed, restarting, stopped). */
  state: string;
  /** Where it stands with its Supervisor (up, restarting, failed, removing). */
  status?: string | undefined;
  busy: number;
  concurrency: number;
  breaker?: string | undefined;
  completed?: number | undefined;
  /** Failed attempts since start (the dashboard shows those of the last minutes beside). */
  failed?: number | undefined;
  restarts?: number | undefined;
  lastCrash?: string | undefined;
}

/** What a {@link DashboardSource} reports at each sample. */
export interface DashboardSample {
  /** The whole: `running`, `degraded` (with why), `stopped`…, the backend, the uptime. */
  status?: { state: string; detail?: string | undefined; backend?: string | undefined; uptimeMs?: number | undefined } | undefined;
  /** Every actor now (those without a machine definition are left out). */
  actors: Iterable<DashboardActor>;
  agents?: readonly DashboardAgent[] | undefined;
  /** Tasks waiting, by priority. */
  queue?: Readonly<Record<string, number>> | undefined;
  /** Task counts since start (`completed`, `failed`, `queued`, `running`, …). */
  tasks?: Readonly<Record<string, number>> | undefined;
  /** Submit-to-completion latency of the last `windowMs`, in seconds. */
  latency?: { windowMs: number; count: number; p50: number; p95: number; p99: number; max: number } | undefined;
}

/** A notable event, shown as it happens. */
export interface DashboardEvent {
  /** Epoch ms. @default when it was published */
  at?: number;
  level: "info" | "warn" | "error";
  /** What happened, e.g. `agent.restarting`, `breaker.transition`, `hive.degraded`. */
  kind: string;
  text: string;
}

/** What a dashboard shows: the hive (`hive.serve()`), or the relay's actors (a replayed trace). */
export interface DashboardSource {
  /** The page's title. */
  readonly title: string;
  /** The figures now; called once per interval. A throw skips that frame. */
  sample(): DashboardSample;
  /** Calls `listener` with each notable event; returns what unsubscribes it. */
  subscribe?(listener: (event: DashboardEvent) => void): () => void;
}

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** How often the source is sampled and viewers get a frame, in ms. @default 1000 */
  intervalMs?: number;
  /** How far back throughput and recent failures reach, in ms. @default 300000 */
  historyMs?: number;
}

/** What the page receives each interval (`event: frame`). */
export interface DashboardFrame {
  /** Epoch ms. */
  at: number;
  status: DashboardSample["status"] | null;
  machines: { kind: string; actors: number; states: Record<string, number> }[];
  agents: (DashboardAgent & { recentFailed: number | null })[];
  queue: Readonly<Record<string, number>> | null;
  tasks: Readonly<Record<string, number>> | null;
  latency: DashboardSample["latency"] | null;
  /** Per second over the history: seconds before `at`, tasks completed and failed (or dead-lettered) per second, tasks queued. */
  series: { ago: number[]; completed: number[]; failed: number[]; queued: number[] };
  historyMs: number;
}

/** A dashboard's routes, to mount on a `node:http` server. */
export interface Dashboard {
  /** Answers `GET /` and `GET /events` (and HEAD); returns false for any other request. */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
  /** The latest frame (for tests and embedders). */
  frame(): DashboardFrame | undefined;
  /** Viewers connected now. */
  readonly viewers: number;
  /** Stops sampling and ends every viewer's stream (a server's `close()` waits for them). Idempotent. */
  close(): void;
}

interface HistoryPoint {
  at: number;
  completed: number;
  failed: number;
  queued: number;
  agentFailed: Map<string, number>;
}

const MAX_KINDS = 64;
const MAX_EVENTS = 100;
/** A viewer this far behind (bytes not yet sent) misses frames until it catches up. */
const SLOW_VIEWER_BYTES = 1 << 20;

const sourceSchema = z.object(
  { title: z.string({ error: "must be a string" }), sample: fn(), subscribe: fn().optional() },
  { error: "must be a dashboard source { title, sample, subscribe? }" },
);
const optionsSchema = z.strictObject({ intervalMs: positiveInt().optional(), historyMs: positiveInt().optional() }, {
  error: "must be an object { intervalMs, historyMs }",
});

/**
 * Makes the dashboard of `source` and starts sampling it.
 * @throws {InvalidOptionsError} When `source` is not a dashboard source or an option is invalid.
 * @example
 * ```ts
 * const dashboard = createDashboard(source);
 * createServer((req, res) => dashboard.handle(req, res) || notFound(res));
 * ```
 */
export function createDashboard(source: DashboardSource, options: DashboardOptions = {}): Dashboard {
  parseFor(z.strictObject({ source: sourceSchema, options: optionsSchema }), { source, options }, "create dashboard");
  const intervalMs = options.intervalMs ?? 1_000;
  const historyMs = options.historyMs ?? 300_000;
  const page = dashboardPage(source.title);
  const viewers = new Set<ServerResponse>();
  // diagrams by machine kind (kinds stay once seen: a stopped swarm still shows its machines);
  // `svg` is undefined while it renders.
  const diagrams = new Map<string, { definition: unknown; svg: string | undefined }>();
  let machinesMessage = "";
  const publishMachines = (): void => {
    const machines = [...diagrams].filter(([, d]) => d.svg !== undefined).map(([kind, d]) => ({ kind, svg: d.svg }));
    machinesMessage = sse("machines", { machines });
    broadcast(machinesMessage, false);
  };
  const draw = (kind: string, definition: unknown): void => {
    const entry: { definition: unknown; svg: string | undefined } = { definition, svg: undefined };
    diagrams.set(kind, entry);
    renderMachine(definition, kind).then(
      (svg) => {
        if (closed || diagrams.get(kind) !== entry) return;
        entry.svg = svg;
        publishMachines();
      },
      () => diagrams.delete(kind), // a definition the layout cannot take: counted, not drawn
    );
  };
  const history: HistoryPoint[] = [];
  const events: string[] = [];
  let latest: DashboardFrame | undefined;
  let latestMessage = "";
  let closed = false;

  const send = (response: ServerResponse, message: string, droppable: boolean): void => {
    if (droppable && response.writableLength > SLOW_VIEWER_BYTES) return;
    response.write(message);
  };
  const broadcast = (message: string, droppable: boolean): void => {
    for (const v of viewers) send(v, message, droppable);
  };

  const tick = (): void => {
    let sample: DashboardSample;
    try {
      sample = source.sample();
    } catch {
      return; // the source is stopping or broken: keep the last frame
    }
    const at = Date.now();
    const kinds = new Map<string, { actors: number; states: Record<string, number> }>();
    for (const actor of sample.actors) {
      const definition = actor.definition;
      if (!isMachineDefinition(definition)) continue;
      const kind = typeof definition.id === "string" ? definition.id : "machine";
      let k = kinds.get(kind);
      if (k === undefined) {
        k = { actors: 0, states: {} };
        kinds.set(kind, k);
        const known = diagrams.get(kind);
        if ((known === undefined && diagrams.size < MAX_KINDS) || (known !== undefined && known.definition !== definition)) draw(kind, definition);
      }
      k.actors++;
      for (const path of activePaths(actor.value)) k.states[path] = (k.states[path] ?? 0) + 1;
    }

    const tasks = sample.tasks;
    const agents = sample.agents ?? [];
    const queued = tasks?.["queued"] ?? Object.values(sample.queue ?? {}).reduce((a, b) => a + b, 0);
    history.push({
      at,
      completed: tasks?.["completed"] ?? 0,
      failed: (tasks?.["failed"] ?? 0) + (tasks?.["deadLettered"] ?? 0),
      queued,
      agentFailed: new Map(agents.map((a) => [a.id, a.failed ?? 0])),
    });
    while (history.length > 1 && at - history[0]!.at > historyMs) history.shift();
    const oldest = history[0]!;
    const series: DashboardFrame["series"] = { ago: [], completed: [], failed: [], queued: [] };
    for (let i = 1; i < history.length; i++) {
      const a = history[i - 1]!;
      const b = history[i]!;
      const seconds = (b.at - a.at) / 1_000;
      if (seconds <= 0) continue;
      series.ago.push(Math.round((at - b.at) / 100) / 10);
      series.completed.push(round2(Math.max(0, b.completed - a.completed) / seconds));
      series.failed.push(round2(Math.max(0, b.failed - a.failed) / seconds));
      series.queued.push(b.queued);
    }
    latest = {
      at,
      status: sample.status ?? null,
      machines: [...kinds].map(([kind, k]) => ({ kind, ...k })),
      agents: agents.map((a) => {
        const before = oldest.agentFailed.get(a.id);
        return { ...a, recentFailed: a.failed === undefined || before === undefined ? null : Math.max(0, a.failed - before) };
      }),
      queue: sample.queue ?? null,
      tasks: tasks ?? null,
      latency: sample.latency ?? null,
      series,
      historyMs,
    };
    latestMessage = sse("frame", latest);
    broadcast(latestMessage, true);
  };

  const unsubscribe = source.subscribe?.((event) => {
    if (closed) return;
    const message = sse("event", { at: event.at ?? Date.now(), level: event.level, kind: event.kind, text: event.text });
    events.push(message);
    if (events.length > MAX_EVENTS) events.shift();
    broadcast(message, false);
  });

  tick();
  const timer = setInterval(tick, intervalMs);
  (timer as { unref?: () => void }).unref?.();

  const handle = (request: IncomingMessage, response: ServerResponse): boolean => {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (path !== "/" && path !== "/index.html" && path !== "/events") return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("method not allowed\n");
      return true;
    }
    if (path !== "/events") {
      response.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": page.csp,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Length": page.bytes,
      });
      response.end(request.method === "HEAD" ? undefined : page.html);
      return true;
    }
    response.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff" });
    if (request.method === "HEAD" || closed) {
      response.end();
      return true;
    }
    // What a viewer connecting now needs: the diagrams, the latest frame, the last events.
    response.write(`retry: 2000\n\n${machinesMessage}${latestMessage}${events.join("")}`);
    viewers.add(response);
    const gone = (): void => void viewers.delete(response);
    request.once("close", gone);
    response.once("close", gone);
    return true;
  };

  return {
    handle,
    frame: () => latest,
    get viewers() {
      return viewers.size;
    },
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      unsubscribe?.();
      for (const v of viewers) v.end();
      viewers.clear();
    },
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
