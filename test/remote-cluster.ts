// What the remote-backend tests share: a throwaway redis-server and worker nodes in child
// processes (`bin/apiary.js worker`), killed by pid. Without redis-server the tests skip with
// one line saying how to install it; with APIARY_REQUIRE_REDIS=1 (CI) they fail instead.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { redisServerBinary } from "../bench/redis-server.ts";

export { startRedisServer } from "../bench/redis-server.ts";
export type { RedisServer } from "../bench/redis-server.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REMOTE_TASKS = join(root, "test/fixtures/remote-tasks.mjs");

/** True when the Redis tests can run; prints the one line that says why not otherwise. */
export function redisAvailable(): boolean {
  if (redisServerBinary() !== undefined) return true;
  if (process.env.APIARY_REQUIRE_REDIS === "1") throw new Error("APIARY_REQUIRE_REDIS=1 but redis-server is not installed: apt-get install redis-server");
  console.log("skipping the Redis tests: redis-server is not installed (apt-get install redis-server)");
  return false;
}

/** A worker node in a child process. */
export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  /** Everything it printed. */
  output(): string;
  /** The base URL of its health server (with `port` in its spec), else undefined. */
  readonly url: string | undefined;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (a clean leave), and wait for the exit. */
  stop(): Promise<number | null>;
}

export interface NodeSpec {
  id: string;
  agents: { id: string; capabilities?: Record<string, number>; concurrency?: number }[];
  threads?: number;
  leaseMs?: number;
  prefix?: string;
  /** Serve /metrics and health on this port (0: a free one; read it from {@link NodeProcess.url}). */
  port?: number;
}

/** A scratch folder for a test's files (agents files, logs). */
export function scratch(): { dir: string; file(name: string): string; lines(name: string): Record<string, unknown>[]; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "apiary-remote-"));
  return {
    dir,
    file: (name) => join(dir, name),
    lines: (name) => {
      let text = "";
      try {
        text = readFileSync(join(dir, name), "utf8");
      } catch {
        return [];
      }
      return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts `apiary worker` for `spec` and resolves once it has joined. */
export async function startNode(redisUrl: string, spec: NodeSpec, dir: string): Promise<NodeProcess> {
  const agentsFile = join(dir, `agents-${spec.id}-${Date.now()}.json`);
  writeFileSync(agentsFile, JSON.stringify(spec.agents));
  const args = [
    join(root, "bin/apiary.js"),
    "worker",
    "--redis",
    redisUrl,
    "--agents",
    agentsFile,
    "--tasks",
    REMOTE_TASKS,
    "--id",
    spec.id,
    "--threads",
    String(spec.threads ?? 1),
    "--lease-ms",
    String(spec.leaseMs ?? 1_000),
    ...(spec.prefix !== undefined ? ["--prefix", spec.prefix] : []),
    ...(spec.port !== undefined ? ["--port", String(spec.port)] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${spec.id} did not join within 30 s:\n${out}`)), 30_000);
    const look = (): void => {
      if (out.includes("joined")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${spec.id} exited with ${code}:\n${out}`));
    });
  });
  return {
    id: spec.id,
    child,
    output: () => out,
    url: /serves (http:\/\/\S+)\/metrics/.exec(out)?.[1],
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Resolves once `predicate` holds, polling every 20 ms, or rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
