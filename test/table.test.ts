// Terminal summaries: aligned columns, the figures of the report, control characters neutralised.
import { describe, expect, it } from "vitest";
import type { LoadReport } from "../src/sim/report.ts";
import { alignColumns, formatLoadReport, formatRunReport, formatSweepReport } from "../src/sim/table.ts";
import { loadReport, runReport, sweepReport } from "./fixtures/reports.ts";

describe("terminal tables", () => {
  it("aligns text left and numbers right, two spaces apart", () => {
    expect(alignColumns(["name", "n"], [["a", "1"], ["bbb", "1,000"]], [false, true])).toBe(["name      n", "a         1", "bbb   1,000"].join("\n"));
  });

  it("summarises a run: counts that reconcile, success, throughput, percentiles, agents", () => {
    const text = formatRunReport(runReport());
    expect(text).toContain("3.50 s after 500 ms warm-up (wall 4.04 s)");
    expect(text).toContain("ended        completed 1,170   failed 7   dead-lettered 4   shed 6   cancelled 3   (retried 12)");
    expect(text).toContain("nothing lost: every accepted task ended exactly once");
    expect(text).toContain("success      98.3% (completed ÷ accepted)");
    expect(text).toContain("throughput   334.3 tasks/s");
    expect(text).toMatch(/latency ms {3}p50 7\.20 {3}p95 19\.8 {3}p99 48\.3 {3}max 120\.5/);
    expect(text).toMatch(/^flaky-<b> +310 +7 +48\.0% +1 +1$/m);
    const lost = formatRunReport({ ...runReport(), tasks: { ...runReport().tasks, accepted: 1_192 } });
    expect(lost).toContain("2 accepted tasks have no terminal state");
  });

  it("lists at most 20 agents and sums up the rest", () => {
    const text = formatRunReport(runReport({ agents: 25 }));
    expect(text.match(/^agent-\d+ /gm)).toHaveLength(19); // 20 rows, one of them flaky-<b>
    expect(text).toContain("… and 5 more agents: completed 2,600, failed 0, restarts 0, breaker trips 0");
  });

  it("puts one row per load level with success, throughput, percentiles and lost, and says what was shed", () => {
    const text = formatLoadReport(loadReport([10, 100]));
    const lines = text.split("\n");
    const header = lines.find((l) => l.trimStart().startsWith("in flight"))!;
    expect(header.split(/ {2,}/).map((s) => s.trim())).toEqual([
      "in flight",
      "accepted",
      "completed",
      "failed",
      "dead-lettered",
      "shed",
      "rejected",
      "cancelled",
      "success",
      "tasks/s",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "lost",
    ]);
    const row = lines.find((l) => /^\s+100\s/.test(l))!;
    expect(row.trim().split(/\s+/)).toEqual(["100", "1,190", "1,170", "7", "4", "6", "10", "3", "98.3%", "950.0", "144.0", "396.0", "966.0", "0"]);
    // Columns line up: every row is as wide as the header.
    expect(lines.filter((l) => /^\s+\d/.test(l)).every((l) => l.length === header.length)).toBe(true);
    expect(text).toContain("shed         10 in flight: 6 shed, 10 rejected; 100 in flight: 6 shed, 10 rejected");
    expect(text).toContain("lost         none: at every level");
    const clean: LoadReport = {
      ...loadReport([10]),
      levels: loadReport([10]).levels.map((l) => ({ ...l, tasks: { ...l.tasks, shed: 0, rejected: 0, accepted: l.tasks.accepted - 6, submitted: l.tasks.submitted - 16 } })),
    };
    expect(formatLoadReport(clean)).toContain("shed         nothing shed or rejected at any level");
  });

  it("prints a sweep's means with their 95% intervals", () => {
    const text = formatSweepReport(sweepReport());
    expect(text).toContain("4 combinations × 3 replicas on 2 threads, 4.32 s");
    expect(text).toMatch(/^mean \[95% CI\] +agents\.count=2 workload\.rate=50 +agents\.count=2 workload\.rate=100 +agents\.count=4 workload\.rate=50 +agents\.count=4 workload\.rate=100$/m);
    expect(text).toMatch(/^throughputPerSec +49\.80 \[49\.40, 50\.20\] +71\.20 \[69\.00, 73\.40\] +50\.10 \[49\.80, 50\.40\] +99\.70 \[98\.80, 100\.6\]$/m);
    expect(text).toMatch(/^latencyMs\.p99 +120\.0 \[105\.0, 135\.0\] +900\.0 \[780\.0, 1,020\]/m);
  });

  it("neutralises control characters in names so a report cannot drive the terminal", () => {
    const text = formatRunReport({ ...runReport(), scenario: "evil\u001b[2J\rname" });
    expect(text).not.toContain("\u001b");
    expect(text).not.toContain("\r");
    expect(text).toContain("evil?[2J?name");
  });
});
