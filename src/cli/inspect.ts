/**
 * `apiary inspect` (the demo hive, live, in the Stately inspector) and `apiary replay`
 * (a recorded trace sent into the inspector relay).
 *
 * @module
 */
import { open } from "node:fs/promises";
import type { BackendName } from "../backends/registry.ts";
import { replayTrace, startInspector } from "../observe/inspect.ts";
import { inspectHive } from "../hive/inspect-hive.ts";
import { DEMO_AGENTS } from "./demo.ts";
import { runDemoLoad } from "./demo-load.ts";
import { UsageError } from "./args.ts";
import { aborted, untilStopped } from "./run-until.ts";

/** Options of {@link runInspect}. */
export interface InspectCommandOptions {
  /** Relay port; 0 picks a free one. @default 0 */
  port: number;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  seed: number;
  threads?: number | undefined;
  backend?: BackendName | undefined;
  /** Stop after this many ms. @default until Ctrl-C */
  durationMs?: number | undefined;
  /** Tasks kept in flight. @default 2 */
  inFlight?: number | undefined;
}

/** Runs `apiary inspect`: prints the URL to open, runs the demo until stopped. Resolves to the exit code. */
export async function runInspect(o: InspectCommandOptions, out: (line: string) => void): Promise<number> {
  const life = untilStopped(o.durationMs);
  try {
    await using inspected = await inspectHive(
      {
        agents: DEMO_AGENTS,
        seed: o.seed,
        defaults: { timeoutMs: 60_000, retries: 1 },
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        ...(o.backend !== undefined ? { backend: o.backend } : {}),
      },
      { port: o.port, ...(o.host !== undefined ? { host: o.host } : {}) },
    );
    out(`inspector relay at ${inspected.url} — open it in a browser (Ctrl-C to stop)`);
    await inspected.hive.start();
    const ended = await runDemoLoad(inspected.hive, { seed: o.seed, signal: life.signal, inFlight: o.inFlight ?? 2 });
    out(`stopped after ${ended} tasks; ${inspected.relay.relayed} inspection messages relayed`);
    return 0;
  } finally {
    life.dispose();
  }
}

/** Options of {@link runReplay}. */
export interface ReplayCommandOptions {
  /** The trace file (JSON lines from `inspect: { file }`). */
  file: string;
  /** Relay port; 0 picks a free one. @default 0 */
  port: number;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  /** Keep serving this many ms after the replay (for viewers). @default until Ctrl-C */
  durationMs?: number | undefined;
}

/**
 * Runs `apiary replay`: starts the relay (keeping every message for viewers that connect
 * later), prints the URL, sends the trace, and serves until stopped. Resolves to the exit code.
 * @throws UsageError before the relay starts, when the trace file cannot be read
 */
export async function runReplay(o: ReplayCommandOptions, out: (line: string) => void): Promise<number> {
  await assertReadableFile(o.file);
  const life = untilStopped(o.durationMs);
  try {
    await using relay = await startInspector({ port: o.port, maxBuffered: 10_000_000, ...(o.host !== undefined ? { host: o.host } : {}) });
    out(`inspector relay at ${relay.url} — open it in a browser to watch the replay (Ctrl-C to stop)`);
    let sent: number;
    try {
      sent = await replayTrace(o.file, relay, { signal: life.signal });
    } catch (error) {
      if (life.signal.aborted) return 0; // Ctrl-C during the replay
      throw error;
    }
    out(`replayed ${sent} inspection events from ${o.file}`);
    await aborted(life.signal);
    return 0;
  } finally {
    life.dispose();
  }
}

/** Opens `file` to see that it is a readable file, so that nothing starts for a trace that is not there. */
async function assertReadableFile(file: string): Promise<void> {
  let problem: string | undefined;
  try {
    const handle = await open(file, "r");
    try {
      if (!(await handle.stat()).isFile()) problem = "not a file";
    } finally {
      await handle.close();
    }
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  if (problem !== undefined) throw new UsageError(`cannot read trace file ${JSON.stringify(file)}: ${problem}`);
}
