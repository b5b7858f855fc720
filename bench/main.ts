/**
 * `npm run bench -- --scope NAME [--json] [--quick]`: runs one benchmark scope and prints its
 * results, or with `--json` one JSON object `{ scope, results }`.
 *
 * @module
 */
import type { BenchScope } from "./harness.ts";

// Each scope lives in its own file; loaded lazily so a scope pays only for what it imports.
const scopes: Record<string, () => Promise<BenchScope>> = {
  pool: async () => (await import("./pool.ts")).default,
  orchestration: async () => (await import("./orchestration.ts")).default,
  chaos: async () => (await import("./chaos.ts")).default,
  faults: async () => (await import("./faults.ts")).default,
  bus: async () => (await import("./bus.ts")).default,
  metrics: async () => (await import("./metrics.ts")).default,
  inspect: async () => (await import("./inspect.ts")).default,
  breaker: async () => (await import("./breaker.ts")).default,
  cache: async () => (await import("./cache.ts")).default,
  durability: async () => (await import("./durability.ts")).default,
  load: async () => (await import("./load.ts")).default,
  simulate: async () => (await import("./simulate.ts")).default,
  sweep: async () => (await import("./sweep.ts")).default,
  remote: async () => (await import("./remote.ts")).default,
  transfer: async () => (await import("./transfer.ts")).default,
};

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes("--json");
  const quick = argv.includes("--quick");
  const at = argv.indexOf("--scope");
  const scope = at >= 0 ? argv[at + 1] : undefined;
  const load = scope === undefined ? undefined : scopes[scope];
  if (load === undefined) {
    process.stderr.write(
      `bench: "--scope" must be one of ${Object.keys(scopes).join(", ")}; received ${scope === undefined ? "nothing" : JSON.stringify(scope)}\n`,
    );
    return 2;
  }
  const results = await (await load())({ quick });
  if (json) {
    process.stdout.write(`${JSON.stringify({ scope, results })}\n`);
  } else {
    for (const r of results) {
      process.stdout.write(
        `${r.name.padEnd(40)} ${Math.round(r.opsPerSec).toLocaleString("en").padStart(12)} ops/s  vs ${r.baseline}: ${Math.round(r.baselineOpsPerSec).toLocaleString("en").padStart(12)} ops/s  ratio ${
          r.ratio.toFixed(3)
        }${r.extra ? `  ${JSON.stringify(r.extra)}` : ""}\n`,
      );
    }
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
