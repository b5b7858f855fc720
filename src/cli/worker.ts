/**
 * `apiary worker`: runs a worker node — this process's agents and threads join a coordinator
 * hive (a hive on the `remote` backend) through Redis — until Ctrl-C or SIGTERM, then leaves
 * cleanly (its running attempts finish first).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { MAX_THREADS } from "../hive/schema.ts";
import { startWorkerNode } from "../node/start.ts";
import { type CommandOptions, intFlag, parseCommandArgs, reportFailure, UsageError } from "./args.ts";
import { aborted, untilStopped } from "./run-until.ts";

const STRING = { type: "string" } as const;

/** The flags of `apiary worker`. */
export const WORKER_OPTIONS = {
  redis: STRING,
  agents: STRING,
  tasks: STRING,
  threads: STRING,
  "min-threads": STRING,
  "max-threads": STRING,
  "idle-timeout-ms": STRING,
  id: STRING,
  prefix: STRING,
  "lease-ms": STRING,
  "duration-ms": STRING,
  port: STRING,
  host: STRING,
  help: { type: "boolean", short: "h", default: false },
} as const satisfies CommandOptions;

/** `apiary worker --help`. */
export const WORKER_USAGE = `Usage: apiary worker --redis URL --agents FILE [options]

Joins the cluster on Redis as a worker node: the agents in FILE (a JSON array of
{ id, capabilities, concurrency }) join the coordinator hive's swarm, and the attempts
placed on them run on this process's threads, as do the replicas of sweeps run with
apiary sweep --redis. Ctrl-C (or SIGTERM) leaves cleanly.

Options:
  --redis URL         Redis the coordinator uses (redis://host:port)
  --agents FILE       JSON array of agents this node brings
  --tasks MODULE      task handler module (default: the built-ins only)
  --threads N         worker threads (default: one per CPU)
  --min-threads N     a pool that grows and shrinks: fewest threads (not with --threads)
  --max-threads N     ... and most threads (default: one per CPU)
  --idle-timeout-ms N how long a thread above --min-threads idles before it stops (default 60000)
  --id NODE           node id in the cluster (default: host name and process id)
  --prefix P          the cluster's key prefix (default: apiary)
  --lease-ms N        heartbeat lease, ms (default 5000)
  --duration-ms N     leave after N ms instead of on Ctrl-C
  --port N            serve /metrics, /health/live, /health/ready on port N (0: a free one)
  --host H            interface for --port (default 127.0.0.1)
  -h, --help          show this help
`;

/** Runs `apiary worker`; resolves to the exit code. */
export async function runWorkerCommand(argv: readonly string[], out: (line: string) => void): Promise<number> {
  let options: Parameters<typeof startWorkerNode>[0];
  let durationMs: number | undefined;
  let port: number | undefined;
  let host: string | undefined;
  try {
    const { values, positionals } = parseCommandArgs("worker", argv, WORKER_OPTIONS);
    if (values.help) {
      process.stdout.write(WORKER_USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`"worker" takes no arguments, received ${JSON.stringify(positionals[0])}`);
    if (values.redis === undefined) throw new UsageError(`"--redis" is required: the Redis URL the coordinator uses, e.g. --redis redis://127.0.0.1:6379`);
    if (values.agents === undefined) throw new UsageError(`"--agents" is required: a JSON file with the agents this node brings`);
    const threads = intFlag("threads", values.threads, 1, MAX_THREADS);
    const minThreads = intFlag("min-threads", values["min-threads"], 1, MAX_THREADS);
    const maxThreads = intFlag("max-threads", values["max-threads"], 1, MAX_THREADS);
    const idleTimeoutMs = intFlag("idle-timeout-ms", values["idle-timeout-ms"], 1, 2_147_483_647);
    if (threads !== undefined && (minThreads !== undefined || maxThreads !== undefined)) {
      throw new UsageError(`"--threads" is a fixed pool: give it, or "--min-threads"/"--max-threads" for one that grows and shrinks, not both (received --threads ${threads})`);
    }
    if (minThreads !== undefined && maxThreads !== undefined && minThreads > maxThreads) {
      throw new UsageError(`"--min-threads" must be at most "--max-threads" (${maxThreads}), received ${minThreads}`);
    }
    const leaseMs = intFlag("lease-ms", values["lease-ms"], 300, 600_000);
    durationMs = intFlag("duration-ms", values["duration-ms"], 1, 2_147_483_647);
    port = intFlag("port", values.port, 0, 65_535);
    if (values.host !== undefined && port === undefined) throw new UsageError(`"--host" needs "--port": the health server's port, received --host ${JSON.stringify(values.host)}`);
    host = values.host;
    options = {
      redis: values.redis,
      agents: readAgents(values.agents),
      ...(values.tasks !== undefined ? { tasks: pathToFileURL(resolve(values.tasks)) } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(minThreads !== undefined ? { minThreads } : {}),
      ...(maxThreads !== undefined ? { maxThreads } : {}),
      ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
      ...(values.id !== undefined ? { id: values.id } : {}),
      ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
      ...(leaseMs !== undefined ? { leaseMs } : {}),
    };
  } catch (error) {
    if (error instanceof RangeError || error instanceof UsageError) {
      process.stderr.write(`apiary worker: ${error.message}\n\n${WORKER_USAGE}`);
      return 2;
    }
    throw error;
  }
  const life = untilStopped(durationMs);
  try {
    const node = await startWorkerNode({ ...options, signal: life.signal });
    const agents = options.agents.map((a) => a.id).join(", ");
    const server = port === undefined ? undefined : await node.serve({ port, ...(host !== undefined ? { host } : {}) }).catch(async (error: unknown) => {
      await node.stop();
      throw error;
    });
    if (server !== undefined) out(`worker node ${node.id} serves ${server.url}/metrics, ${server.url}/health/ready`);
    out(
      `worker node ${node.id} (incarnation ${node.incarnation}) joined ${options.redis}: agents ${agents}; ${threadsLine(node.stats().pool.threads, options.minThreads, options.maxThreads)}; kinds ${
        node.kinds.join(", ")
      }`,
    );
    await aborted(life.signal);
    out(`worker node ${node.id} leaving`);
    await node.stop();
    const s = node.stats();
    out(`worker node ${node.id} left after ${s.attempts} attempts in ${s.jobs} jobs`);
    return 0;
  } catch (error) {
    reportFailure("worker", error);
    return 1;
  } finally {
    life.dispose();
  }
}

/** The agents in `file`: a JSON array (or `{ "agents": [...] }`). */
function readAgents(file: string): Parameters<typeof startWorkerNode>[0]["agents"] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`"--agents" must name a readable JSON file, received ${JSON.stringify(file)} (${error instanceof Error ? error.message : String(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`"--agents" file ${JSON.stringify(file)} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const agents = Array.isArray(parsed) ? parsed : (parsed as { agents?: unknown } | null)?.agents;
  if (!Array.isArray(agents)) throw new UsageError(`"--agents" file ${JSON.stringify(file)} must hold a JSON array of agents (or { "agents": [...] })`);
  return agents as Parameters<typeof startWorkerNode>[0]["agents"];
}

/** "2 threads", or for a pool that grows and shrinks "1 to 3 threads (1 now)". */
function threadsLine(now: number, min: number | undefined, max: number | undefined): string {
  if (min === undefined && max === undefined) return `${now} thread${now === 1 ? "" : "s"}`;
  return `${min ?? 1} to ${max ?? "one per CPU"} threads (${now} now)`;
}
