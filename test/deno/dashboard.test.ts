/**
 * The live dashboard's server on Deno (node:http through Deno's Node compatibility): the page
 * and its policy, the event stream of a running hive, and a prompt close with a viewer attached.
 *
 * @module
 */
import { createHive } from "../../src/index.ts";
import { assertEquals } from "./assert.ts";

const tasks = new URL("../fixtures/dashboard-tasks.mjs", import.meta.url);

/** Reads SSE messages from `response` until `done` says so (or 15 s pass). */
async function readEvents(response: Response, done: (messages: { event: string; data: unknown }[]) => boolean): Promise<{ event: string; data: unknown }[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const messages: { event: string; data: unknown }[] = [];
  let buffer = "";
  const end = Date.now() + 15_000;
  while (!done(messages) && Date.now() < end) {
    const { value, done: closed } = await reader.read();
    if (closed) break;
    buffer += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) messages.push({ event, data: JSON.parse(data) });
    }
  }
  await reader.cancel();
  return messages;
}

Deno.test("a hive on Deno serves its live dashboard: the page under its policy, and the event stream", async () => {
  await using hive = createHive({ backend: "inline", tasks, agents: [{ id: "a", concurrency: 2 }, { id: "b" }] });
  await hive.start();
  const server = await hive.serve({ port: 0 });
  const page = await fetch(`${server.url}/`);
  assertEquals(page.status, 200);
  assertEquals(page.headers.get("content-security-policy")?.startsWith("default-src 'none'; script-src 'sha256-"), true);
  assertEquals((await page.text()).includes('new EventSource("events")'), true);

  const runs = Array.from({ length: 6 }, () => hive.run({ kind: "sleep", input: { ms: 1_500 } }));
  const response = await fetch(`${server.url}/events`);
  assertEquals(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const messages = await readEvents(response, (m) =>
    m.some((x) => x.event === "machines" && (x.data as { machines: { kind: string }[] }).machines.some((d) => d.kind === "agent")) &&
    m.some((x) => x.event === "frame" && (x.data as { agents: { busy: number }[] }).agents.some((a) => a.busy > 0)));
  const frame = messages.find((x) => x.event === "frame" && (x.data as { agents: { busy: number }[] }).agents.some((a) => a.busy > 0))?.data as {
    agents: { id: string }[];
    machines: { kind: string }[];
  };
  assertEquals(frame.agents.map((a) => a.id), ["a", "b"]);
  assertEquals(frame.machines.some((m) => m.kind === "agent"), true);
  await Promise.all(runs);

  // A viewer still attached does not hold the server open.
  const viewer = await fetch(`${server.url}/events`);
  const t0 = performance.now();
  await server.close();
  assertEquals(performance.now() - t0 < 2_000, true);
  await viewer.body?.cancel();
  await hive.stop();
});
