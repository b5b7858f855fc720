// The package as npm users get it: `npm pack` (of the build in dist/), installed with npm into a
// folder outside the repository, its CLI and the README's Node example run there on this Node.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));
let app = "";

/** Runs `cmd` in the app folder; resolves to its exit code and output. */
async function inApp(cmd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: app, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const apiary = (...args: string[]) => inApp(process.execPath, join(app, "node_modules", ".bin", "apiary"), ...args);

/** The fenced block of README.md whose first line is `firstLine`. */
function block(readme: string, firstLine: string): string {
  const at = readme.indexOf(`\n${firstLine}\n`);
  if (at < 0) throw new Error(`README.md has no code block starting with ${firstLine}`);
  return readme.slice(at + 1, readme.indexOf("\n```", at) + 1);
}

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), "apiary-packed-"));
  // --ignore-scripts: pack the build the suite made instead of building again (prepare).
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", app], { cwd: repo });
  const tarball = join(app, stdout.trim().split("\n").at(-1)!);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await run("npm", ["install", tarball, "--no-audit", "--no-fund"], { cwd: app, timeout: 120_000 });
}, 180_000);

afterAll(async () => {
  if (app !== "") await rm(app, { recursive: true, force: true });
});

describe("the npm package, installed outside the repository", () => {
  it("prints its version, and finds a bundled example scenario by name", async () => {
    const { version } = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { version: string };
    const v = await apiary("--version");
    expect(v.stdout).toBe(`apiary ${version}\n`);
    const sweep = await apiary("sweep", "outage", "--replicas", "1", "--threads", "1", "--vary", "run.durationMs=60000", "--json");
    expect(sweep.code).toBe(0);
    expect(JSON.parse(sweep.stdout)).toMatchObject({ mode: "sweep", scenario: "outage", replicas: 1 });
    const missing = await apiary("simulate", "no-such-example");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read scenario file "no-such-example"');
    expect(missing.stderr).toContain("a bundled example may be named instead: mm1, mmc, outage, swarm-day");
  });

  it("reads a file of an example's name when there is one: a path always wins", async () => {
    const local = { name: "local", agents: [{ name: "w" }], workload: { kinds: [{ name: "job", duration: { constant: 10 } }], arrivals: { poisson: { ratePerSec: 10 } } }, run: { durationMs: 5_000 } };
    await writeFile(join(app, "mm1"), JSON.stringify(local));
    const sim = await apiary("simulate", "mm1", "--json");
    expect(sim.code).toBe(0);
    expect(JSON.parse(sim.stdout)).toMatchObject({ scenario: "local", durationMs: 5_000 });
  });

  it("runs the README's Node example (main.mjs and tasks.mjs) as written", async () => {
    const readme = await readFile(join(repo, "README.md"), "utf8");
    await writeFile(join(app, "main.mjs"), block(readme, "// main.mjs — runs as is on Node ≥ 20.19"));
    await writeFile(join(app, "tasks.mjs"), block(readme, "// tasks.mjs"));
    const { code, stdout, stderr } = await inApp(process.execPath, "main.mjs");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // the listener's line for each task, then the handler's 42, π and the stats
    expect(stdout).toMatch(/^\S+ sim-1 [\d.]+\n/);
    expect(stdout).toMatch(/\n42 \{[^}]*estimate: 3\.14/);
  });
});
