/**
 * A Deno project outside this repository importing apiary's source, the way the README says:
 * its own deno.json maps apiary's npm dependencies (those of package.json) to `npm:` specifiers.
 * The project lives in a temporary folder and runs in a child `deno run -A`.
 *
 * @module
 */
import { assertEquals } from "./assert.ts";

const repo = new URL("../../", import.meta.url);

Deno.test("a Deno project outside the repository imports the source with an import map of npm: specifiers", async () => {
  const { dependencies } = JSON.parse(await Deno.readTextFile(new URL("package.json", repo))) as { dependencies: Record<string, string> };
  const imports = Object.fromEntries(Object.entries(dependencies).map(([name, range]) => [name, `npm:${name}@${range}`]));
  const dir = await Deno.makeTempDir({ prefix: "apiary-deno-project-" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports }, null, 2));
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { createHive, parseScenario } from ${JSON.stringify(new URL("src/index.ts", repo).href)};

const hive = createHive({ agents: [{ id: "a", capabilities: { sim: 0.9 }, concurrency: 2 }], backend: "inline" });
try {
  await hive.start();
  const echoed = await hive.run({ kind: "echo", input: { hello: "deno" }, requires: { sim: 0.5 } });
  const scenario = parseScenario({ name: "s", agents: [{ name: "w" }], workload: { kinds: [{ name: "j", duration: { constant: 5 } }], arrivals: { poisson: { ratePerSec: 1 } } }, run: { tasks: 3 } });
  console.log(JSON.stringify({ echoed, scenario: scenario.name, completed: hive.stats().tasks.completed }));
} finally {
  await hive.stop();
}
`,
    );
    const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", "main.ts"], cwd: dir, stdout: "piped", stderr: "piped" }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, stderr);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    assertEquals(JSON.parse(lines.at(-1)!), { echoed: { hello: "deno" }, scenario: "s", completed: 1 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
