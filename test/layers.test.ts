// The direction of dependencies, checked on the source: worker-side modules, machines and
// building blocks import of src/ only core/ (errors, clock, random, validation), never the hive; and no
// module reaches itself again through the modules it imports (value imports: `import type` is
// erased and cannot make a cycle at run time).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Relative imports of a module: each target (repo-relative) and whether only types come of it. */
function importsOf(file: string): { target: string; typeOnly: boolean }[] {
  const text = readFileSync(join(root, file), "utf8");
  const out: { target: string; typeOnly: boolean }[] = [];
  const pattern = /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?["'](\.[^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) {
    const clause = m[0];
    // `import { type A, type B } from` is type-only too.
    const braces = /\{([^}]*)\}/.exec(clause)?.[1];
    const allTypes = braces !== undefined && braces.split(",").map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith("type "));
    out.push({ target: relative(root, resolve(root, dirname(file), m[3]!)), typeOnly: m[2] !== undefined || allTypes });
  }
  // Dynamic imports are value imports too.
  for (const m of text.matchAll(/import\(\s*["'](\.[^"']+)["']\s*\)/g)) out.push({ target: relative(root, resolve(root, dirname(file), m[1]!)), typeOnly: false });
  return out;
}

const files = [...sources("src"), ...sources("actors"), ...sources("workers")];
/** The bottom of src/: what machines, worker-side modules and building blocks may import. */
const isCore = (f: string): boolean => f.startsWith("src/core/");
/** Stand-alone building blocks: each imports only core/, itself and (for the store) nothing else. */
const blocks = ["src/breaker/", "src/cache/", "src/metrics/", "src/observe/", "src/store/", "src/journal/", "src/backends/"];
/** Building blocks that build on other blocks (never on the hive or what sits above it). */
const allowedBlockDeps: Record<string, string[]> = {
  "src/cache/": ["src/store/"],
  "src/journal/": ["src/store/"],
  "src/observe/": ["src/metrics/"],
  "src/backends/": ["workers/"],
};
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("layers", () => {
  it("worker-side modules import only worker-side modules and core/", () => {
    const bad = [...graph].flatMap(([f, deps]) => (f.startsWith("workers/") ? deps.filter((d) => !d.target.startsWith("workers/") && !isCore(d.target)).map((d) => `${f} -> ${d.target}`) : []));
    expect(bad).toEqual([]);
  });

  it("machines import of src/ only core/, and never the hive", () => {
    const bad = [...graph].flatMap(([f, deps]) => (f.startsWith("actors/") ? deps.filter((d) => d.target.startsWith("src/") && !isCore(d.target)).map((d) => `${f} -> ${d.target}`) : []));
    expect(bad).toEqual([]);
  });

  it("core/ imports nothing of the project above it", () => {
    const bad = [...graph].flatMap((
      [f, deps],
    ) => (isCore(f)
      ? deps.filter((d) => !isCore(d.target) && (d.target.startsWith("src/") || d.target.startsWith("actors/") || d.target.startsWith("workers/"))).map((d) => `${f} -> ${d.target}`)
      : [])
    );
    expect(bad).toEqual([]);
  });

  it("building blocks import core/, machines and their own folder (and the blocks they build on), never the hive, sim or cli", () => {
    const bad = [...graph].flatMap(([f, deps]) => {
      const block = blocks.find((b) => f.startsWith(b));
      if (block === undefined) return [];
      const ok = (t: string): boolean => !t.startsWith("src/") && !t.startsWith("workers/") ? true : isCore(t) || t.startsWith(block) || (allowedBlockDeps[block] ?? []).some((b) => t.startsWith(b));
      return deps.filter((d) => !ok(d.target)).map((d) => `${f} -> ${d.target}`);
    });
    expect(bad).toEqual([]);
  });

  it("every module of src/ sits in a layer folder (only the public surface at the root)", () => {
    const loose = files.filter((f) => f.startsWith("src/") && f.split("/").length === 2 && f !== "src/index.ts");
    expect(loose).toEqual([]);
  });

  it("no module imports itself again through the modules it imports (value imports)", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, "open");
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (d.typeOnly || !graph.has(d.target)) continue;
        const s = state.get(d.target);
        if (s === "open") cycles.push([...stack.slice(stack.indexOf(d.target)), d.target].join(" -> "));
        else if (s === undefined) visit(d.target);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
