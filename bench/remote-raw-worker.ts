/**
 * The raw BullMQ baseline of bench scope `remote`: one worker process, a plain BullMQ `Worker`
 * at the given concurrency whose processor does what apiary's nodes do for the same task
 * (nothing, or `ms` of CPU on this process's thread).
 *
 * `node dist/bench/remote-raw-worker.js REDIS_URL QUEUE CONCURRENCY`
 *
 * @module
 */
import { Worker } from "bullmq";
import { burn } from "../workers/burn.ts";

const [url, queue, concurrency] = process.argv.slice(2);
const worker = new Worker(queue!, (job) => (job.data.ms > 0 ? burn({ ms: job.data.ms }) : job.data.n), {
  connection: { url: url!, maxRetriesPerRequest: null },
  prefix: "raw",
  concurrency: Number(concurrency),
});
worker.on("error", () => {});
await worker.waitUntilReady();
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void worker.close().finally(() => process.exit(0));
});
