// The direction of dependencies, checked on the source: worker-side modules and machines import of
// src/ only the kernel everything shares (errors, random), never the hive; and no
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
/** What every layer may import: the bottom of src/. */
const kernel = new Set(["src/errors.ts", "src/random.ts"]);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("layers", () => {
  it("worker-side modules import only worker-side modules and the kernel", () => {
    const bad = [...graph].flatMap(([f, deps]) => (f.startsWith("workers/") ? deps.filter((d) => !d.target.startsWith("workers/") && !kernel.has(d.target)).map((d) => `${f} -> ${d.target}`) : []));
    expect(bad).toEqual([]);
  });

  it("machines import of src/ only the shared kernel (errors, random), and never the hive", () => {
    const bad = [...graph].flatMap(([f, deps]) => (f.startsWith("actors/") ? deps.filter((d) => d.target.startsWith("src/") && !kernel.has(d.target)).map((d) => `${f} -> ${d.target}`) : []));
    expect(bad).toEqual([]);
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
