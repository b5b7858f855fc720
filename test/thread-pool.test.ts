// The thread-pool settings a Piscina user expects: a pool that grows with demand from
// `minThreads` to `maxThreads` and shrinks back after `idleTimeoutMs`, and `workerData`, `env`
// and `execArgv` handed to the threads — on real threads (piscina, and comlink on Node).
// Growth and shrinking run on Piscina's and the threads' own timers, which fake timers cannot
// drive: the tests use a short idle timeout and poll the pool's state under a generous bound.
import { afterEach, describe, expect, it } from "vitest";
import { createHive, type Hive, type HiveOptions } from "../src/index.ts";

const tasks = new URL("./fixtures/pool-tasks.mjs", import.meta.url);
const hives: Hive[] = [];

function hiveOf(options: Partial<HiveOptions>): Hive {
  const hive = createHive({ tasks, agents: [{ id: "a", concurrency: 8 }], ...options });
  hives.push(hive);
  return hive;
}

afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

/** Polls `read` every 20 ms until `ok`, for at most `boundMs`; returns the last value read. */
async function until<T>(read: () => T, ok: (value: T) => boolean, boundMs: number): Promise<T> {
  const end = Date.now() + boundMs;
  let value = read();
  while (!ok(value) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    value = read();
  }
  return value;
}

describe.each(["piscina", "comlink"] as const)("a pool that grows and shrinks (%s)", (backend) => {
  it("grows to maxThreads under a burst and shrinks to minThreads after idleTimeoutMs, counting no restarts", async () => {
    const hive = hiveOf({ backend, minThreads: 1, maxThreads: 3, idleTimeoutMs: 300 });
    await hive.start();
    expect(hive.stats().pool.threads).toBe(1);
    const burst = Array.from({ length: 6 }, () => hive.run({ kind: "hold", input: { ms: 400 } }));
    const peak = await until(() => hive.stats().pool.threads, (n) => n === 3, 10_000);
    expect(peak).toBe(3);
    await expect(Promise.all(burst)).resolves.toEqual([400, 400, 400, 400, 400, 400]);
    expect(hive.stats().pool.threads).toBeLessThanOrEqual(3);
    const after = await until(() => hive.stats().pool.threads, (n) => n === 1, 15_000);
    expect(after).toBe(1);
    expect(hive.stats().pool.threadRestarts).toBe(0);
    // It grows again on demand.
    await expect(hive.run({ kind: "hold", input: { ms: 1 } })).resolves.toBe(1);
  });

  it("counts a thread that dies in a pool that shrinks as a restart", async () => {
    const hive = hiveOf({ backend, minThreads: 1, maxThreads: 2, idleTimeoutMs: 300 });
    await hive.start();
    await expect(hive.run({ kind: "exit" })).rejects.toMatchObject({ code: "WORKER_CRASHED" });
    expect(await until(() => hive.stats().pool.threadRestarts, (n) => n === 1, 5_000)).toBe(1);
    await expect(hive.run({ kind: "hold", input: { ms: 1 } })).resolves.toBe(1);
  });

  it("hands workerData, env and execArgv to the threads", async () => {
    const hive = hiveOf({
      backend,
      threads: 1,
      workerData: { region: "eu", limits: [1, 2] },
      env: { APIARY_POOL_VARIABLE: "set for the threads" },
      execArgv: ["--no-warnings"],
    });
    await hive.start();
    await expect(hive.run({ kind: "settings" })).resolves.toEqual({
      workerData: { region: "eu", limits: [1, 2] },
      variable: "set for the threads",
      hasPath: false,
      execArgv: ["--no-warnings"],
    });
  });

  it("refuses a V8 flag in execArgv when it starts, naming the option", async () => {
    const hive = hiveOf({ backend, threads: 1, execArgv: ["--max-old-space-size=64"] });
    await expect(hive.start()).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining(
        '"execArgv" must hold flags Node accepts for a worker thread (no V8 flags such as --max-old-space-size: use resourceLimits), received ["--max-old-space-size=64"]',
      ),
    });
  });
});

describe("thread-pool settings elsewhere", () => {
  it("gives the inline backend's handlers workerData as it is", async () => {
    const data = { region: "eu" };
    const hive = hiveOf({ backend: "inline", workerData: data });
    await hive.start();
    const out = await hive.run<{ workerData: unknown }>({ kind: "settings" });
    expect(out.workerData).toBe(data);
  });

  it("leaves a fixed pool's figures as they were: threads is the pool's size", async () => {
    const hive = hiveOf({ backend: "piscina", threads: 2 });
    await hive.start();
    expect(hive.stats().pool.threads).toBe(2);
  });
});

describe("thread-pool settings validation", () => {
  const refused = (options: Partial<HiveOptions>, fragment: string): void => {
    expect(() => createHive({ tasks, agents: [{ id: "a" }], ...options } as HiveOptions)).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining(fragment) }),
    );
  };

  it("names the field and the value of a bad thread count", () => {
    refused({ minThreads: 4, maxThreads: 2 }, '"maxThreads" must be at least "minThreads" (4), received 2');
    refused({ minThreads: -1 }, '"minThreads" must be an integer from 1 to 512, received -1');
    refused({ maxThreads: 1.5 }, '"maxThreads" must be an integer from 1 to 512, received 1.5');
    refused({ threads: 2, minThreads: 1 }, '"minThreads" must not be set with "threads"');
    refused({ idleTimeoutMs: 0 }, '"idleTimeoutMs" must be an integer from 1 to 2147483647, received 0');
  });

  it("names the field of bad workerData, env and execArgv", () => {
    refused({ workerData: { f: () => 1 } }, '"workerData" must be structured-cloneable ("workerData.f" is a function)');
    refused({ env: { A: 1 as never } }, '"env.A" must be a string, received 1');
    refused({ execArgv: "--no-warnings" as never }, '"execArgv" must be an array of node flags (strings), received "--no-warnings"');
  });

  it("refuses settings a backend cannot honour", () => {
    refused({ backend: "inline", env: { A: "1" } }, '"env" is not for backend "inline"');
    refused({ backend: "inline", minThreads: 1, maxThreads: 2 }, '"minThreads" is not for backend "inline"');
    refused({ backend: "remote", remote: { redis: "redis://127.0.0.1:6379" }, maxThreads: 2 }, '"maxThreads" is for the worker nodes with backend "remote": pass it to startWorkerNode');
  });
});
