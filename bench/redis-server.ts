/**
 * A throwaway `redis-server` for the remote backend's tests and benchmark: a free loopback port,
 * a temporary folder, append-only persistence (so a restart from the AOF can be tested), no RDB
 * snapshots, `noeviction` (what BullMQ requires). Stopped by its pid, never by name.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Its folder (the AOF lives here). */
  readonly dir: string;
  /** The server process's id. */
  readonly pid: number;
  /** Kills it with SIGKILL (a crash: what the AOF holds survives) and waits for its exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (it reloads the AOF). */
  restart(): Promise<void>;
  /** Stops it and deletes its folder. */
  close(): Promise<void>;
}

/** `redis-server` when it is on PATH, else undefined. */
export function redisServerBinary(): string | undefined {
  const r = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return r.status === 0 ? "redis-server" : undefined;
}

/** A loopback port free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a redis-server on a free loopback port in a fresh temporary folder and resolves once it
 * accepts connections.
 * @throws Error when no redis-server is installed or it does not come up within 10 s
 */
export async function startRedisServer(): Promise<RedisServer> {
  const binary = redisServerBinary();
  if (binary === undefined) throw new Error("redis-server is not installed (apt-get install redis-server)");
  const dir = mkdtempSync(join(tmpdir(), "apiary-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction"];
    const started = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${log}`)), 10_000);
      const onData = (chunk: Buffer): void => {
        log += chunk.toString();
        if (/Ready to accept connections/i.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      started.stdout?.on("data", onData);
      started.stderr?.on("data", onData);
      started.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${log}`));
      });
    });
    started.stdout?.removeAllListeners("data");
    started.stderr?.removeAllListeners("data");
    started.stdout?.resume();
    started.stderr?.resume();
  };
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    c.kill(signal);
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    kill: () => stop("SIGKILL"),
    restart: async () => {
      await stop("SIGKILL");
      await launch();
    },
    close: async () => {
      await stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
