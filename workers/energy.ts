/**
 * Built-in task `energy`: an hourly (or finer) energy-dispatch simulation of a home or site
 * over a year — solar generation, demand, a battery, grid import and export.
 *
 * Dispatch rule per step: solar serves demand first; a surplus charges the battery (up to its
 * power and free capacity) and the rest is exported; a deficit discharges the battery (up to
 * its power and stored energy) and the rest is imported. Round-trip losses are taken on charge
 * (`efficiency` applied to energy going in). Weather is seeded, so one input gives one answer.
 *
 * @module
 */
import { createRandom } from "../src/core/random.ts";
import type { TaskContext } from "./define.ts";

/** Input of the `energy` task. */
export interface EnergyInput {
  /** Installed solar peak power, kW. @default 5 */
  solarKwp?: number;
  /** Yearly demand, kWh. @default 4000 */
  demandKwhPerYear?: number;
  /** Battery usable capacity, kWh (0 for none). @default 10 */
  batteryKwh?: number;
  /** Battery max charge/discharge power, kW. @default 5 */
  batteryKw?: number;
  /** Charge efficiency in (0, 1]. @default 0.92 */
  efficiency?: number;
  /** Simulation steps per hour (1 = hourly; 60 = per minute). @default 1 */
  stepsPerHour?: number;
  /** Years simulated back to back. @default 1 */
  years?: number;
  /** Weather seed. @default 1 */
  seed?: number;
}

/** Output of the `energy` task; all energies in kWh. */
export interface EnergyReport {
  hours: number;
  solarKwh: number;
  demandKwh: number;
  importKwh: number;
  exportKwh: number;
  chargedKwh: number;
  dischargedKwh: number;
  lossesKwh: number;
  finalStoredKwh: number;
  /** Share of demand met without the grid, in [0, 1]. */
  selfSufficiency: number;
  /** Equivalent full battery cycles. */
  cycles: number;
}

const HOURS_PER_YEAR = 8_760;

// Mean of the daily demand profile over a day (its two Gaussian peaks integrate in closed form)
// times the mean winter factor; dividing by it makes a year's demand come to demandKwhPerYear.
const PROFILE_MEAN = (0.6 * 24 + 0.5 * Math.sqrt(4 * Math.PI) + 0.9 * Math.sqrt(6 * Math.PI)) / 24;
const WINTER_MEAN = 1.15 - 0.3 * 0.65;

/** Runs the dispatch simulation. Checks `ctx.signal` once a simulated day. */
export function energy(input: EnergyInput = {}, ctx?: TaskContext): EnergyReport {
  const solarKwp = input.solarKwp ?? 5;
  const demandKwhPerYear = input.demandKwhPerYear ?? 4_000;
  const capacity = input.batteryKwh ?? 10;
  const powerKw = input.batteryKw ?? 5;
  const efficiency = input.efficiency ?? 0.92;
  const stepsPerHour = Math.max(1, Math.floor(input.stepsPerHour ?? 1));
  const years = Math.max(1, Math.floor(input.years ?? 1));
  const rng = createRandom(input.seed ?? 1);
  const dt = 1 / stepsPerHour; // hours per step
  const meanDemandKw = demandKwhPerYear / HOURS_PER_YEAR / (PROFILE_MEAN * WINTER_MEAN);

  let stored = 0;
  let solarKwh = 0;
  let demandKwh = 0;
  let importKwh = 0;
  let exportKwh = 0;
  let chargedKwh = 0;
  let dischargedKwh = 0;
  let lossesKwh = 0;
  let cloud = 0.7;
  const totalHours = HOURS_PER_YEAR * years;

  for (let hour = 0; hour < totalHours; hour++) {
    const hourOfDay = hour % 24;
    const dayOfYear = Math.floor(hour / 24) % 365;
    if (hourOfDay === 0) {
      if (ctx?.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
      // Day-to-day weather: an AR(1) walk of the clear-sky fraction.
      cloud = Math.min(1, Math.max(0.1, 0.8 * cloud + 0.2 * rng.next() + 0.1 * (rng.next() - 0.5)));
    }
    const season = 0.65 + 0.35 * Math.cos(((dayOfYear - 172) / 365) * 2 * Math.PI);
    for (let step = 0; step < stepsPerHour; step++) {
      const t = hourOfDay + step * dt;
      const sun = Math.max(0, Math.sin(((t - 6) / 12) * Math.PI));
      const solarKw = solarKwp * sun * season * cloud;
      const daily = 0.6 + 0.5 * Math.exp(-((t - 8) ** 2) / 4) + 0.9 * Math.exp(-((t - 19) ** 2) / 6);
      const winter = 1.15 - 0.3 * season;
      const demandKw = meanDemandKw * daily * winter * (0.9 + 0.2 * rng.next());

      const solar = solarKw * dt;
      const demand = demandKw * dt;
      solarKwh += solar;
      demandKwh += demand;
      const net = solar - demand;
      if (net >= 0) {
        const room = (capacity - stored) / efficiency; // input energy that fills the battery
        const charge = Math.min(net, powerKw * dt, room);
        stored += charge * efficiency;
        chargedKwh += charge;
        lossesKwh += charge * (1 - efficiency);
        exportKwh += net - charge;
      } else {
        const need = -net;
        const discharge = Math.min(need, powerKw * dt, stored);
        stored -= discharge;
        dischargedKwh += discharge;
        importKwh += need - discharge;
      }
    }
  }
  return {
    hours: totalHours,
    solarKwh,
    demandKwh,
    importKwh,
    exportKwh,
    chargedKwh,
    dischargedKwh,
    lossesKwh,
    finalStoredKwh: stored,
    selfSufficiency: demandKwh === 0 ? 1 : 1 - importKwh / demandKwh,
    cycles: capacity === 0 ? 0 : dischargedKwh / capacity,
  };
}
