import assert from "node:assert/strict";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { serveHealth } from "../../src/observe/serve.ts";

Deno.test("serveHealth serves metrics, liveness and readiness on Deno over loopback", async () => {
  const registry = new MetricsRegistry({ prefix: "apiary_" });
  const latency = registry.histogram({ name: "task_duration_seconds", help: "Run time.", labelNames: ["kind"] });
  latency.record(0.5, { kind: "sim" });
  let ready = false;
  await using server = await serveHealth({
    port: 0,
    metrics: () => registry.toPrometheus(),
    ready: () => (ready ? { ready: true } : { ready: false, reason: "starting" }),
  });
  assert.ok(server.port > 0);

  const metrics = await fetch(`${server.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.ok(metrics.headers.get("content-type")?.startsWith("text/plain; version=0.0.4"));
  const text = await metrics.text();
  assert.match(text, /apiary_task_duration_seconds_count\{kind="sim"\} 1\n/);
  assert.match(text, /apiary_task_duration_seconds_max\{kind="sim"\} 0.5\n/);

  const live = await fetch(`${server.url}/health/live`);
  assert.equal(live.status, 200);
  assert.deepEqual(await live.json(), { live: true });

  let readiness = await fetch(`${server.url}/health/ready`);
  assert.equal(readiness.status, 503);
  assert.deepEqual(await readiness.json(), { ready: false, reason: "starting" });
  ready = true;
  readiness = await fetch(`${server.url}/health/ready`);
  assert.equal(readiness.status, 200);
  await readiness.body?.cancel();

  const missing = await fetch(`${server.url}/elsewhere`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("serveHealth closes when its signal aborts on Deno", async () => {
  const controller = new AbortController();
  const server = await serveHealth({ port: 0, metrics: () => "", signal: controller.signal });
  controller.abort();
  await server.close();
  await assert.rejects(fetch(`${server.url}/metrics`));
});
