// Rate limits on dependencies hold across the main thread and every worker thread (a sliding log
// in shared memory): real threads, real time, kept short (windows of 150 ms).
import { afterEach, describe, expect, it, vi } from "vitest";
import { grantMarginMs, waitForCall } from "../workers/rate-window.ts";
import { createHive, type Hive, isApiaryError } from "../src/index.ts";
import { busiestWindow, fixtureTasks } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

describe("dependency rate limits", () => {
  it("no window of perMs holds more than max calls, counted from two threads and the main thread", async () => {
    const hive = createHive({ tasks: fixtureTasks, threads: 2, agents: [{ id: "a", concurrency: 2 }, { id: "b", concurrency: 2 }] });
    hives.push(hive);
    await hive.start();
    const mainTimes: number[] = [];
    const api = hive.dependency("api", () => mainTimes.push(Date.now()), { rateLimit: { max: 10, perMs: 150 } });
    const fromThreads = hive.map<number[]>("rateCalls", [0, 1, 2, 3].map(() => ({ name: "api", calls: 10 })));
    const fromMain = Promise.all(Array.from({ length: 10 }, () => api()));
    const [threadTimes] = await Promise.all([fromThreads, fromMain]);
    const all = [...threadTimes.flat(), ...mainTimes];
    expect(all).toHaveLength(50);
    // Calls are timed at 1 ms resolution a moment after their slot is taken: allow that much.
    expect(busiestWindow(all, 148)).toBeLessThanOrEqual(10);
    // 50 calls at 10 per 150 ms take at least four full windows.
    expect(Math.max(...all) - Math.min(...all)).toBeGreaterThanOrEqual(4 * 150);
  });

  it("fails fast with RATE_LIMITED when the limit does not wait, in threads and on the main thread", async () => {
    const hive = createHive({ tasks: fixtureTasks, threads: 1, agents: [{ id: "a" }], defaults: { retries: 0 } });
    hives.push(hive);
    await hive.start();
    const api = hive.dependency("strict", () => "ok", { rateLimit: { max: 1, perMs: 60_000, wait: false } });
    expect(await api()).toBe("ok");
    const error = await api().catch((e: unknown) => e);
    expect(isApiaryError(error) && error.code).toBe("RATE_LIMITED");
    expect((error as Error).message).toMatch(/"strict" is rate limited \(1 calls per 60000 ms\): the next call may go in \d+ ms/);
    const failed = await hive.run({ kind: "rateOnce", input: { name: "strict" } }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: "TASK_FAILED", cause: { code: "RATE_LIMITED" } });
    expect(hive.explain((failed as { taskId: string }).taskId)?.faults[0]).toMatchObject({ blame: "dependency" });
    expect(hive.stats().agents[0]).toMatchObject({ status: "up", restarts: 0 });
  });

  it("refuses a bad rateLimit naming the field, and a pool overdrawn", async () => {
    const hive = createHive({ backend: "inline", agents: [{ id: "a" }] });
    hives.push(hive);
    expect(() => hive.dependency("x", () => 1, { rateLimit: { max: 0, perMs: 10 } })).toThrow(/"rateLimit.max" must be an integer from 1 to 16384, received 0/);
    expect(() => hive.dependency("x", () => 1, { rateLimit: { max: 1, perMs: 10, burst: 2 } as never })).toThrow(/"rateLimit.burst" is not a known option/);
    hive.dependency("big", () => 1, { rateLimit: { max: 16_000, perMs: 10 } });
    expect(() => hive.dependency("more", () => 1, { rateLimit: { max: 500, perMs: 10 } })).toThrow(/must fit the 384 calls left/);
  });

  describe("a limit counted elsewhere (worker nodes: in Redis)", () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const refused = (ms: number) => new Error(`wait ${ms}`);

    it("lets go a grant that came back later than the margin, and asks again", async () => {
      vi.useFakeTimers({ toFake: ["performance", "setTimeout"] });
      const margin = grantMarginMs(1_000);
      expect(margin).toBe(25);
      // The first answer takes 40 ms (a thread hop under load): its call would go too late.
      const answers = [40, 2];
      let asked = 0;
      const take = (): Promise<number> => {
        vi.advanceTimersByTime(answers[asked++] ?? 0);
        return Promise.resolve(0);
      };
      await waitForCall(take, true, refused, margin);
      expect(asked).toBe(2);
    });

    it("sleeps as long as the store says, and fails fast when the limit does not wait", async () => {
      vi.useFakeTimers({ toFake: ["performance", "setTimeout"] });
      const waits = [300, 0];
      let asked = 0;
      const done = waitForCall(() => Promise.resolve(waits[asked++]!), true, refused, 25);
      await vi.advanceTimersByTimeAsync(299);
      expect(asked).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await done;
      expect(asked).toBe(2);
      await expect(waitForCall(() => Promise.resolve(120), false, refused, 25)).rejects.toThrow("wait 120");
    });

    it("takes the third late grant in a row: a machine too loaded to do better still makes progress", async () => {
      vi.useFakeTimers({ toFake: ["performance", "setTimeout"] });
      let asked = 0;
      await waitForCall(
        () => {
          asked++;
          vi.advanceTimersByTime(100);
          return Promise.resolve(0);
        },
        true,
        refused,
        25,
      );
      expect(asked).toBe(3);
      // Windows under 250 ms keep a tenth of the window as margin, never under 1 ms.
      expect([grantMarginMs(100), grantMarginMs(5), grantMarginMs(60_000)]).toEqual([10, 1, 25]);
    });
  });
});
