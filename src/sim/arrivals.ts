/**
 * When simulated tasks arrive: closed-loop (a fixed number in flight, each replaced when it
 * ends, after an optional think time), open-loop Poisson at a rate, or bursty (Poisson at one rate
 * during `onMs`, at `offRatePerSec` — 0 by default — during `offMs`, repeating). Arrivals are
 * timers on the virtual clock.
 *
 * @module
 */
import type { Random } from "../core/random.ts";
import { createSampler, poissonGaps } from "./distributions.ts";
import type { Arrivals } from "./scenario.ts";
import type { VirtualClock } from "./clock.ts";

/** What an arrival process drives. */
export interface ArrivalSink {
  /** Submits one task and forgets it (open loop). */
  submit(): void;
  /**
   * Submits one task and resolves (never rejects) once it has ended, whatever the outcome;
   * `rejected` is true when it was never accepted (closed loop).
   */
  submitTracked(): Promise<{ rejected: boolean }>;
}

/** A running arrival process. */
export interface ArrivalProcess {
  start(): void;
  /** No further arrivals (closed-loop tasks that end are not replaced). */
  stop(): void;
}

/** Creates the arrival process `arrivals` over `clock`, drawing from `random`. */
export function createArrivals(arrivals: Arrivals, clock: VirtualClock, random: Random, sink: ArrivalSink): ArrivalProcess {
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  if ("closed" in arrivals) {
    const think = arrivals.closed.thinkMs === undefined ? undefined : createSampler(arrivals.closed.thinkMs, random);
    const one = (): void => {
      if (stopped) return;
      void sink.submitTracked().then(({ rejected }) => {
        if (stopped) return;
        const ms = think === undefined ? 0 : think();
        // A rejected task comes back no sooner than 1 ms later, so a full queue cannot spin in zero time.
        if (ms > 0 || rejected) clock.setTimeout(one, Math.max(ms, rejected ? 1 : 0));
        else one();
      });
    };
    return {
      start() {
        for (let i = 0; i < arrivals.closed.inFlight; i++) one();
      },
      stop,
    };
  }
  if ("poisson" in arrivals) {
    const gap = poissonGaps(random, arrivals.poisson.ratePerSec);
    // Exact arrival times are kept here: a clock with a coarse resolution rounds each timer, and
    // rounding every gap would drift the rate.
    let due = clock.now();
    const next = (): void => {
      if (stopped) return;
      sink.submit();
      due += gap();
      clock.setTimeout(next, due - clock.now());
    };
    return {
      start() {
        due += gap();
        clock.setTimeout(next, due - clock.now());
      },
      stop,
    };
  }
  const { ratePerSec, onMs, offMs, offRatePerSec } = arrivals.bursty;
  const period = onMs + offMs;
  const origin = clock.now();
  const rateAt = (t: number): { rate: number; until: number } => {
    const k = Math.floor((t - origin) / period);
    const start = origin + k * period;
    return t - start < onMs ? { rate: ratePerSec, until: start + onMs } : { rate: offRatePerSec, until: start + period };
  };
  // Piecewise-constant rate: draw a gap at the current rate; if it passes the phase's end, move
  // there and draw again (the exponential is memoryless, so this is exact).
  const nextAfter = (t: number): number => {
    for (;;) {
      const { rate, until } = rateAt(t);
      if (rate > 0) {
        const at = t + (-1_000 / rate) * Math.log(1 - random.next());
        if (at < until) return at;
      }
      // Floating-point rounding at a phase boundary must not stall the loop.
      t = until > t ? until : t + Math.max(1e-9, Math.abs(t) * 1e-12);
    }
  };
  let due = origin;
  const arrive = (): void => {
    if (stopped) return;
    sink.submit();
    due = nextAfter(due);
    clock.setTimeout(arrive, due - clock.now());
  };
  return {
    start() {
      due = nextAfter(origin);
      clock.setTimeout(arrive, due - clock.now());
    },
    stop,
  };
}
