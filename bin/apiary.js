#!/usr/bin/env node
// The `apiary` command: runs the compiled CLI (npm ci / npm run build make dist/).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { main } from "../dist/src/cli/main.js";
import { SIM_NODE_FLAG } from "../dist/src/sim/gc.js";

const args = process.argv.slice(2);

/**
 * `simulate` runs in virtual time in this process and allocates fast: on Node it runs again under
 * a young generation sized for it (dist/src/sim/gc.js says why). V8 sizes the heap only at start,
 * hence a second process. APIARY_NO_RELAUNCH=1, or any semi-space flag given, keeps this one.
 */
function needsRelaunch() {
  if (args[0] !== "simulate" || typeof globalThis.Deno !== "undefined" || process.env.APIARY_NO_RELAUNCH === "1") return false;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  return !/--(max|min)-semi-space-size/.test(given);
}

if (needsRelaunch()) {
  const child = spawnSync(process.execPath, [...process.execArgv, SIM_NODE_FLAG, fileURLToPath(import.meta.url), ...args], { stdio: "inherit" });
  if (child.error !== undefined) throw child.error;
  if (child.signal !== null) process.kill(process.pid, child.signal);
  process.exitCode = child.status ?? 1;
} else {
  process.exitCode = await main(args);
}
