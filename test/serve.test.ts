import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { PROMETHEUS_CONTENT_TYPE, type Readiness, serveHealth } from "../src/observe/serve.ts";

describe("serveHealth over a real loopback socket", () => {
  it("serves Prometheus text at /metrics with the 0.0.4 content type", async () => {
    const registry = new MetricsRegistry({ prefix: "apiary_" });
    const done = registry.counter({ name: "tasks_completed_total", help: "Tasks completed.", labelNames: ["kind"] });
    done.inc({ kind: "sim" });
    await using server = await serveHealth({ port: 0, metrics: () => registry.toPrometheus() });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    done.inc({ kind: "sim" });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(response.headers.get("content-type")?.startsWith("text/plain; version=0.0.4")).toBe(true);
    const text = await response.text();
    expect(text).toContain("# TYPE apiary_tasks_completed_total counter\n");
    expect(text).toContain('apiary_tasks_completed_total{kind="sim"} 2\n');
  });

  it("answers liveness 200 or 503 with a JSON reason", async () => {
    let alive = true;
    await using server = await serveHealth({ port: 0, metrics: () => "", live: () => alive });
    let response = await fetch(`${server.url}/health/live`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ live: true });
    alive = false;
    response = await fetch(`${server.url}/health/live`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ live: false, reason: "liveness check returned false" });
  });

  it("answers readiness 503 with the reason the check gives, and when the check throws", async () => {
    let state: Readiness | Error = { ready: false, reason: "draining: 3 tasks left" };
    await using server = await serveHealth({
      port: 0,
      metrics: () => "",
      ready: () => {
        if (state instanceof Error) throw state;
        return state;
      },
    });
    let response = await fetch(`${server.url}/health/ready`);
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({ ready: false, reason: "draining: 3 tasks left" });
    state = { ready: true };
    response = await fetch(`${server.url}/health/ready?verbose=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ready: true });
    state = new Error("store unreachable");
    response = await fetch(`${server.url}/health/ready`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ready: false, reason: "readiness check threw: store unreachable" });
  });

  it("answers 404 for other paths, 405 for other methods, 500 when metrics throw", async () => {
    await using server = await serveHealth({
      port: 0,
      metrics: () => {
        throw new Error("registry broken");
      },
    });
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "not found: /nope" });
    const post = await fetch(`${server.url}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.body?.cancel();
    const broken = await fetch(`${server.url}/metrics`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ error: "metrics failed: registry broken" });
  });

  it("closes on close(), on abort, and frees the port", async () => {
    const controller = new AbortController();
    const server = await serveHealth({ port: 0, metrics: () => "x 1\n", signal: controller.signal });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    controller.abort();
    await server.close();
    await expect(fetch(`${server.url}/metrics`)).rejects.toThrow();
    // The port is free again: a plain server can bind it.
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(server.port, "127.0.0.1", resolve));
    expect((other.address() as AddressInfo).port).toBe(server.port);
    await new Promise((resolve) => other.close(resolve));
    await server.close();
  });

  it("rejects a port in use with SERVE_FAILED and bad options with INVALID_OPTIONS", async () => {
    await using first = await serveHealth({ port: 0, metrics: () => "" });
    await expect(serveHealth({ port: first.port, metrics: () => "" })).rejects.toMatchObject({
      code: "SERVE_FAILED",
      message: expect.stringContaining("EADDRINUSE"),
    });
    await expect(serveHealth({ port: 70_000, metrics: () => "" })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"port" must be an integer from 0 to 65535, received 70000'),
    });
    await expect(serveHealth({ port: 0, metrics: "x" as never })).rejects.toMatchObject({
      message: expect.stringContaining('"metrics" must be a function, received "x"'),
    });
    await expect(serveHealth({ port: 0, metrics: () => "", signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
  });
});
