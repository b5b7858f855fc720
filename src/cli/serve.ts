/**
 * `apiary serve`: runs the demo hive under a steady load and serves its metrics and health
 * (`/metrics`, `/health/live`, `/health/ready`) until Ctrl-C or `--duration-ms`.
 *
 * @module
 */
import type { BackendName } from "../backends/registry.ts";
import { createHive } from "../hive/hive.ts";
import { DEMO_AGENTS } from "./demo.ts";
import { runDemoLoad } from "./demo-load.ts";
import { untilStopped } from "./run-until.ts";

/** Options of {@link runServe}. */
export interface ServeCommandOptions {
  /** Port; 0 picks a free one. @default 9464 */
  port: number;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  seed: number;
  threads?: number | undefined;
  backend?: BackendName | undefined;
  /** Stop after this many ms. @default until Ctrl-C */
  durationMs?: number | undefined;
  /** Tasks kept in flight. @default 4 */
  inFlight?: number | undefined;
}

/** Runs `apiary serve`; writes the URL, then a summary line when it stops. Resolves to the exit code. */
export async function runServe(o: ServeCommandOptions, out: (line: string) => void): Promise<number> {
  const hive = createHive({
    agents: DEMO_AGENTS,
    seed: o.seed,
    defaults: { timeoutMs: 60_000, retries: 1 },
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
  });
  const life = untilStopped(o.durationMs);
  try {
    await hive.start();
    const server = await hive.serve({ port: o.port, ...(o.host !== undefined ? { host: o.host } : {}) });
    out(`serving ${server.url}  (/metrics /health/live /health/ready; Ctrl-C to stop)`);
    const ended = await runDemoLoad(hive, { seed: o.seed, signal: life.signal, ...(o.inFlight !== undefined ? { inFlight: o.inFlight } : {}) });
    const { tasks } = hive.stats();
    out(`stopped after ${ended} tasks (completed ${tasks.completed}, failed ${tasks.failed})`);
    return 0;
  } finally {
    life.dispose();
    await hive.stop();
  }
}
