/**
 * Garbage-collector sizing for virtual-time runs.
 *
 * A simulation allocates fast (each task crosses about nine actor events, and XState builds a new
 * snapshot, sets of state nodes and action lists for every one) while each task's own objects
 * live for its whole virtual lifetime, a few tens of ms of wall time. With V8's default young
 * generation (16 MB semi-spaces on Node 20) a scavenge runs every ~200 tasks and most of those
 * objects survive two of them, so they are promoted and die in the old generation: about 10 KB
 * promoted per task and a quarter of the run in the collector. With 128 MB semi-spaces they die
 * young. On the 2-core project machine that is ~1.5× the simulated tasks per second (bench
 * `simulate`, medians of alternating runs), and a sweep's replicas scale better over threads
 * because the collector's helper threads no longer compete with the second replica.
 *
 * V8 reads the semi-space size only when a heap is created, so it cannot be changed from inside
 * a running process: the `apiary` command relaunches Node with {@link SIM_NODE_FLAG} for
 * `simulate`, `sweep` passes {@link SIM_YOUNG_GENERATION_MB} to its worker threads'
 * `resourceLimits`, and a script that calls `simulate()` itself can run
 * `node --max-semi-space-size=128 script.js`.
 *
 * @module
 */

/** Semi-space size for simulations, MB. */
export const SIM_SEMI_SPACE_MB = 128;

/** The Node flag that sets it. */
export const SIM_NODE_FLAG = `--max-semi-space-size=${SIM_SEMI_SPACE_MB}`;

/** The young generation (two semi-spaces and the new large-object space), MB, for `resourceLimits.maxYoungGenerationSizeMb`. */
export const SIM_YOUNG_GENERATION_MB = 3 * SIM_SEMI_SPACE_MB;
