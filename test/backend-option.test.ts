// The hive's `backend` option: a name from the registry (imported when the hive starts) or a
// factory of the user's own, and what a hive reports before its backend exists.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import { BACKEND_NAMES } from "../src/backends/registry.ts";
import { type BackendContext, type BackendFactory, createHive, type ExecutionBackend } from "../src/index.ts";
import { FunctionBackend } from "./fixtures/function-backend.ts";
import { fixtureTasks } from "./helpers.ts";

const agents = [{ id: "a", concurrency: 2 }];
const functions = (): FunctionBackend => new FunctionBackend({ double: (n) => (n as number) * 2 });

describe("the backend option", () => {
  it("names the backends apiary ships: piscina (the default), comlink, inline", () => {
    expect(BACKEND_NAMES).toEqual(["piscina", "comlink", "inline"]);
    expect(createHive({ agents }).stats().backend).toBe("piscina");
  });

  it("refuses anything but a shipped backend's name or a function, naming the field and the value", () => {
    for (const bad of ["gpu", 42, null, { start() {} }]) {
      expect(() => createHive({ agents, backend: bad as "inline" })).toThrow(
        expect.objectContaining({
          code: "INVALID_OPTIONS",
          message: expect.stringMatching(/^Cannot create hive: "backend" must be one of piscina, comlink, inline, or a backend factory function, received /),
        }),
      );
    }
  });

  it("reports the configured name and zero pool figures before start, and a stop before start resolves", async () => {
    const hive = createHive({ agents, backend: "comlink", threads: 3 });
    expect(hive.stats()).toMatchObject({ state: "created", backend: "comlink", pool: { threads: 0, inFlight: 0, messages: 0, threadRestarts: 0 } });
    const custom = createHive({ agents, backend: functions });
    expect(custom.stats().backend).toBe("custom");
    await hive.stop();
    await custom.stop();
    expect(hive.stats().state).toBe("stopped");
    await expect(hive.start()).rejects.toMatchObject({ code: "HIVE_STOPPED" });
  });

  it("runs the hive's tasks on a factory's backend, which names itself once made", async () => {
    const hive = createHive({ agents, backend: functions });
    const started = hive.waitFor("hive.started");
    await hive.start();
    expect(await started).toMatchObject({ backend: "functions" });
    try {
      expect(await hive.run({ kind: "double", input: 21 })).toBe(42);
      expect(hive.stats()).toMatchObject({ backend: "functions", pool: { threads: 0, inFlight: 0, messages: 1 } });
    } finally {
      await hive.stop();
    }
  });

  it("hands the factory the hive's execution options, its clock and its dependency channel", async () => {
    const clock = new SimulatedClock();
    let context: BackendContext | undefined;
    const hive = createHive({
      agents,
      tasks: fixtureTasks,
      threads: 3,
      maxBatch: 7,
      abortGraceMs: 250,
      startTimeoutMs: 5_000,
      resourceLimits: { maxOldGenerationSizeMb: 64 },
      clock,
      backend: async (c) => {
        context = c;
        return functions();
      },
    });
    await hive.start();
    await hive.stop();
    expect(context).toMatchObject({ tasksUrl: fixtureTasks.href, threads: 3, maxBatch: 7, abortGraceMs: 250, startTimeoutMs: 5_000, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    expect(context?.dependencies.states).toBeInstanceOf(SharedArrayBuffer);
    expect(typeof context?.dependencies.onReports).toBe("function");
    clock.increment(10);
    expect(context?.clock.now()).toBe(clock.now());
  });

  it("fails start with INVALID_OPTIONS naming backend when the factory throws, the error as cause", async () => {
    const boom = new Error("no Redis at localhost:6379");
    const hive = createHive({
      agents,
      backend: () => {
        throw boom;
      },
    });
    const error = await hive.start().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot start the hive: the "backend" factory threw: Error: no Redis at localhost:6379', cause: boom });
    expect(hive.stats()).toMatchObject({ state: "stopped", backend: "custom" });
    await hive.stop();
  });

  it("fails start with INVALID_OPTIONS listing what a factory's backend lacks", async () => {
    const halfDone = { name: "half", startsOnDispatch: true, start: async () => ({ kinds: [] }), exec() {} };
    for (
      const [made, lacks] of [
        [halfDone, "abort, stats, close"],
        [undefined, "name, startsOnDispatch, start, exec, abort, stats, close"],
      ] as const
    ) {
      const hive = createHive({ agents, backend: (() => made) as unknown as BackendFactory });
      await expect(hive.start()).rejects.toMatchObject({
        code: "INVALID_OPTIONS",
        message: expect.stringContaining(`the "backend" factory must return an execution backend (name, startsOnDispatch, start, exec, abort, stats, close); it lacks ${lacks}, received`),
      });
      await hive.stop();
    }
  });

  it("closes a backend made after stop() was called, and start rejects HIVE_STOPPED", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let closed = 0;
    const hive = createHive({
      agents,
      backend: async () => {
        await gate;
        const backend: ExecutionBackend = functions();
        const close = backend.close.bind(backend);
        backend.close = () => {
          closed++;
          return close();
        };
        return backend;
      },
    });
    const starting = hive.start();
    const stopping = hive.stop();
    release();
    await expect(starting).rejects.toMatchObject({ code: "HIVE_STOPPED", message: "Cannot start the hive: it was stopped while starting" });
    await stopping;
    expect(closed).toBeGreaterThanOrEqual(1);
    expect(hive.stats().state).toBe("stopped");
  });
});

describe("loading backends", () => {
  it("importing the package loads neither Piscina nor comlink: each loads when a hive on it starts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "apiary-imports-"));
    try {
      const log = join(dir, "imports.log");
      const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
      await promisify(execFile)(process.execPath, ["--import", fixture("log-imports.mjs"), fixture("import-backends.mjs")], { env: { ...process.env, APIARY_IMPORT_LOG: log }, timeout: 60_000 });
      // Modules resolved during each step, up to its mark.
      const steps = new Map<string, string[]>();
      let current: string[] = [];
      for (const line of (await readFile(log, "utf8")).split("\n")) {
        if (line.startsWith("# ")) {
          steps.set(line.slice(2), current);
          current = [];
        } else if (line !== "") current.push(line);
      }
      const loads = (step: string, pkg: string): boolean => (steps.get(step) ?? []).some((url) => url.includes(`/node_modules/${pkg}/`));
      expect([...steps.keys()]).toEqual(["imported", "inline created", "inline ran", "piscina created", "piscina ran", "comlink created", "comlink ran"]);
      expect(steps.get("imported")!.some((url) => url.endsWith("/dist/src/index.js"))).toBe(true);
      for (const step of ["imported", "inline created", "inline ran", "piscina created"]) {
        expect(loads(step, "piscina"), `piscina loaded by "${step}"`).toBe(false);
        expect(loads(step, "comlink"), `comlink loaded by "${step}"`).toBe(false);
      }
      expect(loads("piscina ran", "piscina")).toBe(true);
      expect(loads("piscina ran", "comlink")).toBe(false);
      expect(loads("comlink created", "comlink")).toBe(false);
      expect(loads("comlink ran", "comlink")).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps backends below the simulation: no module in src/backends imports from sim/, cli/ or the hive", async () => {
    const dir = new URL("../src/backends/", import.meta.url);
    const { readdir } = await import("node:fs/promises");
    for (const file of await readdir(dir)) {
      const source = await readFile(new URL(file, dir), "utf8");
      expect(source, file).not.toMatch(/from "\.\.\/(sim|cli)\/|from "\.\.\/hive\.ts"|import\("\.\.\/(sim|cli)\//);
    }
  });
});
