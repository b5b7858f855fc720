// Every validation failure reads in the house form: `Cannot <action>: "field" must …, received …`,
// whatever the schema — zod's own wording never reaches a caller.
import { z } from "zod";
import { describe, expect, it } from "vitest";
import {
  CircuitBreaker,
  createFileStore,
  createHive,
  createMemoryStore,
  createTraceWriter,
  EventBus,
  filterInspect,
  InvalidOptionsError,
  isApiaryError,
  MetricsRegistry,
  ResultCache,
  serveHealth,
} from "../src/index.ts";
import { parseOrThrow } from "../src/hive/schema.ts";
import { describeIssue, issueMessage, parseFor } from "../src/core/validation.ts";

/** Zod's default English, as it words each issue code. */
const ZOD_WORDING = /Too small|Too big|Invalid input|Invalid option|Invalid key|Invalid element|Invalid string|Invalid discriminator|expected .+, received|Unrecognized key/;

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (!isApiaryError(error)) throw error;
    return error.message;
  }
  throw new Error("expected a throw");
}

async function rejectionMessage(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    if (!isApiaryError(error)) throw error;
    return error.message;
  }
  throw new Error("expected a rejection");
}

function phrase(schema: z.ZodType, value: unknown): string {
  const result = schema.safeParse(value);
  if (result.success) throw new Error("expected a failure");
  return issueMessage("check", result.error.issues[0], value);
}

describe("zod issues in the house form", () => {
  it("words each issue code as what the field must be, with the value received", () => {
    const o = (shape: z.ZodRawShape) => z.strictObject(shape);
    expect(phrase(o({ a: z.string() }), { a: 1 })).toBe('Cannot check: "a" must be a string, received 1');
    expect(phrase(o({ a: z.number().int() }), { a: 1.5 })).toBe('Cannot check: "a" must be an integer, received 1.5');
    expect(phrase(o({ a: z.object({}) }), { a: "x" })).toBe('Cannot check: "a" must be an object, received "x"');
    expect(phrase(o({ a: z.string().min(1) }), { a: "" })).toBe('Cannot check: "a" must be a non-empty string, received ""');
    expect(phrase(o({ a: z.string().min(3) }), { a: "ab" })).toBe('Cannot check: "a" must be a string of at least 3 characters, received "ab"');
    expect(phrase(o({ a: z.string().max(2) }), { a: "abc" })).toBe('Cannot check: "a" must be at most 2 characters, received "abc"');
    expect(phrase(o({ a: z.number().min(5) }), { a: 1 })).toBe('Cannot check: "a" must be a number >= 5, received 1');
    expect(phrase(o({ a: z.number().positive() }), { a: 0 })).toBe('Cannot check: "a" must be a positive number, received 0');
    expect(phrase(o({ a: z.number().max(5) }), { a: 9 })).toBe('Cannot check: "a" must be a number <= 5, received 9');
    expect(phrase(o({ a: z.number().lt(5) }), { a: 5 })).toBe('Cannot check: "a" must be a number < 5, received 5');
    expect(phrase(o({ a: z.array(z.number()).min(2) }), { a: [1] })).toBe('Cannot check: "a" must have at least 2 items, received an array of 1');
    expect(phrase(o({ a: z.array(z.number()).nonempty() }), { a: [] })).toBe('Cannot check: "a" must not be empty, received an array of 0');
    expect(phrase(o({ a: z.number().multipleOf(5) }), { a: 7 })).toBe('Cannot check: "a" must be a multiple of 5, received 7');
    expect(phrase(o({ a: z.enum(["x", "y"]) }), { a: "z" })).toBe('Cannot check: "a" must be one of x, y, received "z"');
    expect(phrase(o({ a: z.literal(5) }), { a: 3 })).toBe('Cannot check: "a" must be 5, received 3');
    expect(phrase(o({ a: z.string().startsWith("ap") }), { a: "x" })).toBe('Cannot check: "a" must start with "ap", received "x"');
    expect(phrase(o({ a: z.email() }), { a: "x" })).toBe('Cannot check: "a" must be a valid email, received "x"');
    expect(phrase(o({ a: z.union([z.string(), z.number()]) }), { a: true })).toBe('Cannot check: "a" must be a string or a number, received true');
    expect(phrase(o({ a: z.record(z.string().min(1), z.number()) }), { a: { "": 1 } })).toBe('Cannot check: "a" must have valid keys (a key must be a non-empty string), received the key ""');
    expect(phrase(o({ a: z.custom(() => false) }), { a: 1 })).toBe('Cannot check: "a" must be valid, received 1');
    expect(phrase(o({ a: z.array(z.number()) }), { a: [1, "x"] })).toBe('Cannot check: "a[1]" must be a number, received "x"');
    expect(phrase(o({}), { b: 1, c: 2 })).toBe('Cannot check: "b", "c" are not known options');
  });

  it("keeps a schema's own `must …` message", () => {
    const schema = z.strictObject({ n: z.number({ error: "must be a count" }) });
    expect(phrase(schema, { n: "x" })).toBe('Cannot check: "n" must be a count, received "x"');
    const issue = schema.safeParse({ n: "x" }).error!.issues[0]!;
    expect(describeIssue(issue)).toEqual({ path: ["n"], phrase: "must be a count" });
  });

  it("reads the same from every parse helper: unknown options and field paths", () => {
    const schema = z.strictObject({ list: z.array(z.strictObject({ n: z.number().int() })).optional() });
    const viaFor = messageOf(() => parseFor(schema, { list: [{ n: 1.5 }] }, "create thing"));
    const viaOrThrow = messageOf(() => parseOrThrow(schema, { list: [{ n: 1.5 }] }, "create thing", (m) => new InvalidOptionsError(m)));
    expect(viaFor).toBe('Cannot create thing: "list[0].n" must be an integer, received 1.5');
    expect(viaOrThrow).toBe(viaFor);
    expect(messageOf(() => parseFor(schema, { lsit: [] }, "create thing"))).toBe('Cannot create thing: "lsit" is not a known option');
    expect(messageOf(() => parseOrThrow(schema, { lsit: [] }, "create thing", (m) => new InvalidOptionsError(m)))).toBe('Cannot create thing: "lsit" is not a known option');
  });
});

describe("the option schemas of every building block", () => {
  const agents = [{ id: "a" }];
  const cases: [string, () => unknown][] = [
    ['Cannot create hive: "store.dir" must be a non-empty string, received ""', () => createHive({ agents, store: { dir: "" } })],
    ['Cannot create hive: "journal.flushMs"', () => createHive({ agents, journal: { flushMs: "soon" } as never })],
    ['Cannot create hive: "cache.maxEntries"', () => createHive({ agents, cache: { maxEntries: 0 } })],
    ['Cannot create file store: "dir" must be a non-empty string, received ""', () => createFileStore({ dir: "" })],
    ["Cannot create memory store:", () => createMemoryStore({ maxValueBytes: "big" } as never)],
    ["Cannot create result cache:", () => new ResultCache({ storePrefix: 5 } as never)],
    ["Cannot create event bus:", () => new EventBus({ replay: -1 })],
    ["Cannot create circuit breaker:", () => new CircuitBreaker({ name: 5 } as never)],
    ["Cannot create metrics registry:", () => new MetricsRegistry({ prefix: 5 } as never)],
    ["Cannot filter inspection events:", () => filterInspect(() => {}, { sample: "all" } as never)],
    ["Cannot create trace writer:", () => createTraceWriter({ file: "" } as never)],
    [
      'Cannot create hive: "agents[0].capabilities" must have valid keys (a key must be a non-empty capability name), received the key ""',
      () => createHive({ agents: [{ id: "a", capabilities: { "": 1 } }] }),
    ],
  ];

  for (const [expected, call] of cases) {
    it(`words ${JSON.stringify(expected.slice(0, 50))} in the house form`, () => {
      const message = messageOf(call);
      expect(message.startsWith(expected)).toBe(true);
      expect(message).not.toMatch(ZOD_WORDING);
      expect(message).toMatch(/must|not a known option/);
    });
  }

  it("words serveHealth's options in the house form", async () => {
    const message = await rejectionMessage(() => serveHealth({ port: 0, host: "", metrics: () => "" }));
    expect(message).toBe('Cannot serve health: "host" must be a host name or address, received ""');
    expect(await rejectionMessage(() => serveHealth({ port: 0 } as never))).not.toMatch(ZOD_WORDING);
  });
});
