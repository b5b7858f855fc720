/**
 * Which file a scenario argument names: a path that exists always wins; otherwise a bare name
 * (`mm1`, `mm1.json`) finds the example of that name shipped in the package's
 * `examples/scenarios/`, so `apiary simulate mm1` works wherever apiary is installed.
 *
 * @module
 */
import { readdir, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";

// examples/ sits beside src/ in the source, and one folder further up from dist/src/cli/.
const EXAMPLE_DIRS = ["../../examples/scenarios/", "../../../examples/scenarios/"].map((up) => new URL(up, import.meta.url));

/** A bare example name: letters, digits, `-` and `_`, with or without `.json`. */
const EXAMPLE_NAME = /^[\w-]+(\.json)?$/;

/** The folder of the bundled example scenarios, if this copy of apiary has one on disk. */
async function examplesDir(): Promise<URL | undefined> {
  for (const url of EXAMPLE_DIRS) {
    if (url.protocol !== "file:") return undefined; // imported over the network: nothing on disk
    if (await exists(fileURLToPath(url), "directory")) return url;
  }
  return undefined;
}

async function exists(path: string, kind: "file" | "directory" = "file"): Promise<boolean> {
  try {
    const s = await stat(path);
    return kind === "file" ? s.isFile() : s.isDirectory();
  } catch {
    return false;
  }
}

/** The names of the bundled example scenarios (`mm1`, `mmc`, …), sorted; empty when none ship. */
export async function bundledExamples(): Promise<string[]> {
  const dir = await examplesDir();
  if (dir === undefined) return [];
  return (await readdir(dir)).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -".json".length)).sort();
}

/**
 * The path to read for the scenario argument `file`: `file` itself when it exists, else the
 * bundled example it names, else `file` unchanged (reading it then reports what is wrong).
 */
export async function scenarioPath(file: string): Promise<string> {
  if ((await exists(file)) || !EXAMPLE_NAME.test(file)) return file;
  const dir = await examplesDir();
  if (dir === undefined) return file;
  const example = fileURLToPath(new URL(file.endsWith(".json") ? file : `${file}.json`, dir));
  return (await exists(example)) ? example : file;
}

/** What to add after "cannot read scenario file …": the bundled examples a bare name may give. */
export async function examplesHint(): Promise<string> {
  const names = await bundledExamples();
  return names.length === 0 ? "" : `; a bundled example may be named instead: ${names.join(", ")}`;
}
