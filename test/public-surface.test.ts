// Every public edge answers with success or a coded ApiaryError, whatever it is fed.
import { afterEach, describe, expect, it } from "vitest";
import * as api from "../src/index.ts";
import * as worker from "../workers/define.ts";
import { ENDING_METHODS, hiveMethods, inlineHive, probe, report, walkHive, walkModule, type WrongAnswer } from "./public-surface.ts";

const hives: api.Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function started(): Promise<api.Hive> {
  const hive = inlineHive();
  hives.push(hive);
  await hive.start();
  return hive;
}

describe("the public surface", () => {
  it("answers every exported function and class of apiary and apiary/worker with success or a coded ApiaryError", async () => {
    const wrong: WrongAnswer[] = [...(await walkModule(api)), ...(await walkModule(worker))];
    expect(report(wrong)).toBe("");
  });

  it("answers every public method of a started hive that way, and the hive still runs a task after each call", async () => {
    const hive = await started();
    const stillRuns = async (): Promise<void> => {
      expect(await hive.run({ kind: "echo", input: 1 })).toBe(1);
    };
    expect(report(await walkHive(hive, stillRuns))).toBe("");
    await stillRuns();
    expect(hive.stats().state).toBe("running");
  });

  it("answers every public method of a hive not yet started, and of a stopped one, that way", async () => {
    const created = inlineHive();
    hives.push(created);
    expect(report(await walkHive(created, undefined, () => created.stop()))).toBe("");
    const stopped = await started();
    await stopped.stop();
    expect(report(await walkHive(stopped, undefined, () => stopped.stop()))).toBe("");
  });

  it("answers start and the ending methods with any argument, on a fresh hive each", async () => {
    const wrong: WrongAnswer[] = [];
    for (const name of ["start", ...ENDING_METHODS]) {
      wrong.push(
        ...(await probe(`hive.${name}`, api.Hive.prototype[name as "start"], async (args) => {
          const hive = inlineHive();
          hives.push(hive);
          if (name !== "start") await hive.start();
          return (hive[name as "start"] as (...a: unknown[]) => Promise<void>)(...args);
        })),
      );
    }
    expect(report(wrong)).toBe("");
  });

  it("lists the hive's methods by reflection, so a new method is walked without being named here", async () => {
    const names = hiveMethods(inlineHive());
    expect(names).toEqual(expect.arrayContaining(["submit", "run", "map", "on", "waitFor", "invalidate", "serve", "stats", "drain", "stop"]));
  });
});
