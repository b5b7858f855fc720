// Headless Chromium for the HTML report tests: finds a browser, runs it on a file and waits for
// it to exit. Without Chromium the tests skip and say so, unless APIARY_REQUIRE_BROWSER=1 (CI
// sets it), in which case they fail.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const required = process.env.APIARY_REQUIRE_BROWSER === "1";

/** `$APIARY_CHROMIUM`, or the first Chromium-like browser on the PATH. */
function findChromium(): string | undefined {
  const named = process.env.APIARY_CHROMIUM;
  if (named !== undefined && named !== "") return named;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const path = join(dir, name);
      if (dir !== "" && existsSync(path)) return path;
    }
  }
  return undefined;
}

/** The browser the tests use, if there is one. */
export const chromium = findChromium();
const MISSING = "no Chromium found (install Debian's `chromium` or set APIARY_CHROMIUM to a browser binary)";

/** Skips the test when there is no browser (fails instead under APIARY_REQUIRE_BROWSER=1). */
export function needBrowser(skip: (note?: string) => never): void {
  if (chromium !== undefined) return;
  if (required) throw new Error(`APIARY_REQUIRE_BROWSER=1 but ${MISSING}`);
  skip(MISSING);
}

/** Runs Chromium headless on `file` with `args` (a fresh profile under `dir`); resolves to its stdout once it has exited. */
export async function browse(dir: string, file: string, ...args: string[]): Promise<string> {
  const profile = await mkdtemp(join(dir, "profile-"));
  const { stdout } = await run(
    chromium!,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      "--hide-scrollbars",
      ...args,
      `file://${file}`,
    ],
    { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** The text a probe script wrote into `<pre id="verdict">`, as JSON. */
export function verdictOf<T>(dom: string): T | undefined {
  const json = /<pre id="verdict">([\s\S]*?)<\/pre>/.exec(dom)?.[1];
  return json === undefined ? undefined : JSON.parse(json.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as T;
}
