/**
 * The hive's health server on `node:http` (Node, and Deno through its Node compatibility):
 * `/metrics` in the Prometheus text format, `/health/live` and `/health/ready` for orchestrators'
 * probes (200, or 503 with a JSON body saying why), with a `dashboard` source the live dashboard
 * at `/` (its event stream at `/events`, see `dashboard.ts`), 404 for anything else. Binds to
 * loopback unless told otherwise.
 *
 * @example
 * ```ts
 * await using server = await serveHealth({
 *   port: 9464,
 *   metrics: () => registry.toPrometheus(),
 *   ready: () => (hive.accepting ? { ready: true } : { ready: false, reason: "draining" }),
 * });
 * console.log(`${server.url}/metrics`);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { AbortedError, describeValue, InvalidOptionsError, ServeFailedError } from "../core/errors.ts";
import { fn, parseFor } from "../core/validation.ts";
import { createDashboard, type Dashboard, type DashboardOptions, type DashboardSource } from "./dashboard.ts";

/** The answer of a readiness check. */
export interface Readiness {
  /** True when the hive takes work. */
  ready: boolean;
  /** Why not, when not ready (goes into the 503 body). */
  reason?: string | undefined;
}

/** Options of {@link serveHealth}. */
export interface HealthServerOptions {
  /** TCP port; `0` picks a free one (read it back from the result). */
  port: number;
  /**
   * Interface to bind. Anything but loopback exposes the metrics to the network.
   * @default "127.0.0.1"
   */
  host?: string;
  /** Renders the metrics in the Prometheus text format (for example `registry.toPrometheus()`). */
  metrics: () => string | Promise<string>;
  /** Liveness: false (or a throw) answers 503. @default always live */
  live?: () => boolean;
  /** Readiness: `{ ready: false, reason }` (or a throw) answers 503 with the reason. @default always ready */
  ready?: () => Readiness | Promise<Readiness>;
  /** Serves the live dashboard of this source at `/` (and its event stream at `/events`). @default no dashboard */
  dashboard?: DashboardSource;
  /** How the dashboard samples its source. @default { intervalMs: 1000, historyMs: 300000 } */
  dashboardOptions?: DashboardOptions;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/** A running health server. */
export interface HealthServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:9464` (no trailing slash). */
  readonly url: string;
  /** The port bound (the one picked when `port` was 0). */
  readonly port: number;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

/** Port of the health server when none is given (`hive.serve()`, `apiary serve`). */
export const DEFAULT_HEALTH_PORT = 9464;

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const optionsSchema = z.strictObject({
  port: z
    .number({ error: "must be an integer from 0 to 65535" })
    .int({ error: "must be an integer from 0 to 65535" })
    .min(0, { error: "must be an integer from 0 to 65535" })
    .max(65_535, { error: "must be an integer from 0 to 65535" }),
  host: z.string({ error: "must be a host name or address" }).min(1, { error: "must be a host name or address" }).optional(),
  metrics: fn<() => string | Promise<string>>(),
  live: fn<() => boolean>().optional(),
  ready: fn<() => Readiness | Promise<Readiness>>().optional(),
  dashboard: z.custom<DashboardSource>((v) => typeof v === "object" && v !== null && typeof (v as DashboardSource).sample === "function", {
    error: "must be a dashboard source { title, sample, subscribe? }",
  }).optional(),
  dashboardOptions: z.strictObject({ intervalMs: z.number().int().positive().optional(), historyMs: z.number().int().positive().optional() }, {
    error: "must be an object { intervalMs, historyMs } of positive integers",
  }).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
});

/**
 * Starts the health server and resolves once it listens.
 *
 * @throws {InvalidOptionsError} When an option is invalid (the message names it and the value).
 * @throws {ServeFailedError} (rejects) When the port cannot be bound (in use, no permission).
 * @throws {AbortedError} (rejects) When `signal` is already aborted or aborts while starting.
 */
export async function serveHealth(options: HealthServerOptions): Promise<HealthServer> {
  const o = parseFor(optionsSchema, options, "serve health");
  const host = o.host ?? "127.0.0.1";
  const live = o.live ?? (() => true);
  const ready = o.ready ?? (() => ({ ready: true }));
  if (o.signal?.aborted === true) throw new AbortedError("Cannot serve health: the signal was aborted", { cause: o.signal.reason });

  let dashboard: Dashboard | undefined;
  const server = createServer((request, response) => {
    if (dashboard?.handle(request, response) === true) return;
    handle(request, response, o.metrics, live, ready).catch((error: unknown) => {
      // handle() answers every request itself; this only guards against a broken socket.
      if (!response.headersSent) send(response, 500, "application/json", JSON.stringify({ error: messageOf(error) }), false);
      else response.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      o.signal?.removeEventListener("abort", onAbort);
      reject(
        new ServeFailedError(
          `Cannot serve health on ${host}:${o.port}: ${(error as { code?: string }).code ?? error.message}`,
          { cause: error },
        ),
      );
    };
    const onAbort = (): void => {
      server.off("error", onError);
      server.close();
      reject(new AbortedError("Cannot serve health: the signal was aborted", { cause: o.signal?.reason }));
    };
    o.signal?.addEventListener("abort", onAbort, { once: true });
    server.once("error", onError);
    server.listen(o.port, host, () => {
      server.off("error", onError);
      o.signal?.removeEventListener("abort", onAbort);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  if (o.dashboard !== undefined) dashboard = createDashboard(o.dashboard, dashboardOptionsOf(o.dashboardOptions));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      o.signal?.removeEventListener("abort", onAbort);
      // Event streams stay open until ended: end them, or close() would wait for their viewers.
      dashboard?.close();
      server.close(() => resolve());
      // Keep-alive sockets would hold close() open until they time out.
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    return closing;
  };
  const onAbort = (): void => void close();
  o.signal?.addEventListener("abort", onAbort, { once: true });

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  metrics: () => string | Promise<string>,
  live: () => boolean,
  ready: () => Readiness | Promise<Readiness>,
): Promise<void> {
  const path = (request.url ?? "/").split("?", 1)[0];
  const known = path === "/metrics" || path === "/health/live" || path === "/health/ready";
  if (!known) {
    send(response, 404, "application/json", JSON.stringify({ error: `not found: ${path}` }), request.method === "HEAD");
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    send(response, 405, "application/json", JSON.stringify({ error: `method not allowed: ${request.method}` }), false);
    return;
  }
  const head = request.method === "HEAD";
  if (path === "/metrics") {
    let text: string;
    try {
      text = await metrics();
    } catch (error) {
      send(response, 500, "application/json", JSON.stringify({ error: `metrics failed: ${messageOf(error)}` }), head);
      return;
    }
    send(response, 200, PROMETHEUS_CONTENT_TYPE, text, head);
    return;
  }
  if (path === "/health/live") {
    let ok: boolean;
    let reason: string | undefined;
    try {
      ok = live() === true;
      if (!ok) reason = "liveness check returned false";
    } catch (error) {
      ok = false;
      reason = `liveness check threw: ${messageOf(error)}`;
    }
    const body = ok ? { live: true } : { live: false, reason };
    send(response, ok ? 200 : 503, "application/json", JSON.stringify(body), head);
    return;
  }
  let answer: Readiness;
  try {
    answer = await ready();
    if (typeof answer !== "object" || answer === null || typeof answer.ready !== "boolean") {
      answer = { ready: false, reason: "readiness check returned no { ready } object" };
    }
  } catch (error) {
    answer = { ready: false, reason: `readiness check threw: ${messageOf(error)}` };
  }
  const body = answer.ready ? { ready: true } : { ready: false, reason: answer.reason ?? "not ready" };
  send(response, answer.ready ? 200 : 503, "application/json", JSON.stringify(body), head);
}

function dashboardOptionsOf(o: { intervalMs?: number | undefined; historyMs?: number | undefined } | undefined): DashboardOptions {
  return { ...(o?.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}), ...(o?.historyMs !== undefined ? { historyMs: o.historyMs } : {}) };
}

function send(response: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  response.statusCode = status;
  response.setHeader("Content-Type", type);
  response.setHeader("Cache-Control", "no-store");
  response.setHeader("Content-Length", Buffer.byteLength(body));
  response.end(head ? undefined : body);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `serveHealth` behind a public `serve(options)` (`hive.serve()`, a worker node's `serve()`):
 * checks `options` is an object of `port`, `host` and `signal` only, serves the owner's
 * `endpoints` (port {@link DEFAULT_HEALTH_PORT} unless told), and keeps the server in `servers`
 * until it closes, so the owner closes what is left when it stops.
 * @throws InvalidOptionsError (rejects) naming what is wrong with `options`
 */
export async function serveOwned(
  options: unknown,
  servers: Set<HealthServer>,
  endpoints: Pick<HealthServerOptions, "metrics" | "live" | "ready" | "dashboard">,
): Promise<HealthServer> {
  if (options === null || typeof options !== "object") throw new InvalidOptionsError(`Cannot serve health: options must be an object { port, host, signal }, received ${describeValue(options)}`);
  const { port, host, signal, ...unknown } = options as { port?: number; host?: string; signal?: AbortSignal };
  const extra = Object.keys(unknown);
  if (extra.length > 0) {
    throw new InvalidOptionsError(`Cannot serve health: ${extra.map((k) => JSON.stringify(k)).join(", ")} ${extra.length === 1 ? "is not a known option" : "are not known options"}`);
  }
  const server = await serveHealth({
    port: port ?? DEFAULT_HEALTH_PORT,
    ...(host !== undefined ? { host } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...endpoints,
  });
  servers.add(server);
  const close = (): Promise<void> => {
    servers.delete(server);
    return server.close();
  };
  return { url: server.url, port: server.port, close, [Symbol.asyncDispose]: close };
}
