// `apiary serve`, `apiary inspect` and `apiary replay` as real child processes on the built
// package, talked to over real loopback sockets, stopped with SIGINT (Ctrl-C).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createHive, createTraceWriter } from "../src/index.ts";
import { fixtureTasks } from "./helpers.ts";

const bin = fileURLToPath(new URL("../bin/apiary.js", import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  /** Resolves with the first match of `pattern` in stdout (rejects if the process exits first). */
  line(pattern: RegExp): Promise<RegExpExecArray>;
  /** Sends SIGINT and resolves with the exit code and everything written. */
  interrupt(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function start(...args: string[]): Running {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  const waiting = new Set<() => void>();
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
    for (const w of waiting) w();
  });
  child.stderr!.on("data", (d: Buffer) => void (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = pattern.exec(stdout);
          if (m) {
            waiting.delete(check);
            resolve(m);
          }
        };
        waiting.add(check);
        check();
        void exited.then((code) => {
          if (waiting.has(check)) reject(new Error(`apiary exited (${code}) before printing ${pattern}: ${stdout}${stderr}`));
        });
      }),
    interrupt: async () => {
      child.kill("SIGINT");
      const code = await exited;
      return { code, stdout, stderr };
    },
  };
}

/** Connects a viewer to the relay and collects the messages it gets. */
async function viewer(wsUrl: string): Promise<{ messages: { type: string }[]; until(n: number): Promise<void>; close(): void }> {
  const socket = new WebSocket(wsUrl);
  const messages: { type: string }[] = [];
  const waiters = new Set<() => void>();
  socket.on("message", (data: Buffer) => {
    messages.push(JSON.parse(data.toString()) as { type: string });
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return {
    messages,
    until: (n) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (messages.length >= n) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      }),
    close: () => socket.terminate(),
  };
}

describe("apiary serve", () => {
  it("serves the demo hive's metrics and health on loopback until Ctrl-C", { timeout: 60_000 }, async () => {
    const run = start("serve", "--port", "0", "--threads", "1");
    const [, url] = await run.line(/serving (http:\/\/127\.0\.0\.1:\d+)/);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain("# TYPE apiary_tasks_total counter");
    expect(text).toContain("# TYPE apiary_queue_depth gauge");
    expect(text).toContain("# TYPE apiary_task_latency_seconds histogram");
    const dashboard = await fetch(`${url}/`);
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get("content-security-policy")).toContain("default-src 'none'");
    const { code, stdout, stderr } = await run.interrupt();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/stopped after \d+ tasks \(completed \d+, failed 0\)/);
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });

  it("stops by itself after --duration-ms and rejects a bad port", { timeout: 60_000 }, async () => {
    const run = start("serve", "--port", "0", "--threads", "1", "--duration-ms", "300");
    await run.line(/stopped after \d+ tasks/);
    const bad = start("serve", "--port", "70000");
    await expect(bad.line(/never/)).rejects.toThrow(/exited \(2\)/);
  });
});

describe("apiary replay", () => {
  it("sends a recorded hive trace into the relay; a viewer connecting afterwards gets the actors still alive at its end", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "apiary-cli-replay-"));
    dirs.push(dir);
    const file = join(dir, "trace.jsonl");
    // Closed before the hive stops: at the end of the trace its actors are alive.
    const trace = createTraceWriter({ file });
    const hive = createHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a" }], inspect: trace });
    await hive.start();
    await hive.run({ kind: "double", input: { n: 1 } });
    await trace.close();
    await hive.stop();

    const run = start("replay", file, "--port", "0", "--speed", "max");
    const [, url] = await run.line(/relay at (http:\/\/127\.0\.0\.1:\d+)/);
    await run.line(/Stately inspector at http:\/\/127\.0\.0\.1:\d+\/stately/);
    const [, sent] = await run.line(/replayed (\d+) inspection events/);
    expect(Number(sent)).toBeGreaterThan(5);
    const v = await viewer(url!.replace("http:", "ws:"));
    // queen, supervisor, agent a, its worker and the worker's port: a registration and a snapshot each.
    await v.until(10);
    expect(v.messages.filter((m) => m.type === "@xstate.actor")).toHaveLength(5);
    expect(v.messages.filter((m) => m.type === "@xstate.snapshot")).toHaveLength(5);
    v.close();
    expect((await fetch(url!)).headers.get("content-security-policy")).toContain("default-src 'none'");
    const { code } = await run.interrupt();
    expect(code).toBe(0);
    const bad = start("replay", file, "--speed", "0");
    await expect(bad.line(/never/)).rejects.toThrow(/exited \(2\)/);
  });

  it("fails with TRACE_FAILED on a file that is not a trace", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "apiary-cli-replay-"));
    dirs.push(dir);
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, "not json\n");
    const run = start("replay", file, "--port", "0");
    const err = await run.line(/never/).catch((e: Error) => e.message);
    expect(err).toMatch(/exited \(1\)/);
    expect(err).toContain("line 1 is not JSON");
    expect(err).toContain("[TRACE_FAILED]");
  });
});

describe("apiary inspect", () => {
  it("prints the dashboard's and the relay's URLs and streams the live demo hive's actors to a viewer", { timeout: 60_000 }, async () => {
    const run = start("inspect", "--port", "0", "--threads", "1");
    const [, dashboard] = await run.line(/dashboard at (http:\/\/127\.0\.0\.1:\d+)/);
    expect((await fetch(`${dashboard}/`)).headers.get("content-security-policy")).toContain("default-src 'none'");
    const [, url] = await run.line(/relay at (http:\/\/127\.0\.0\.1:\d+)/);
    const page = await fetch(`${url}/stately`);
    expect(page.status).toBe(200);
    const v = await viewer(url!.replace("http:", "ws:"));
    // First every live actor (a registration, then its snapshot), then the live stream.
    await v.until(100);
    expect(v.messages[0]?.type).toBe("@xstate.actor");
    const types = new Set(v.messages.map((m) => m.type));
    expect(types.has("@xstate.actor")).toBe(true);
    expect(types.has("@xstate.event")).toBe(true);
    // The default filter leaves out what the inspector does not draw.
    expect(types.has("@xstate.microstep")).toBe(false);
    v.close();
    const { code, stdout } = await run.interrupt();
    expect(code).toBe(0);
    expect(stdout).toMatch(/\d+ inspection messages relayed/);
  });
});
