/**
 * Clocks and time conversions (invariant 7). Captured events carry `performance.now()` offsets and
 * the thread's `performance.timeOrigin`; the addon turns them into epoch nanoseconds as
 * `floor(originMs) * 1e6 + round((originMs - floor(originMs) + offsetMs) * 1e6)` (exact integer
 * arithmetic for the whole milliseconds, crates/laptime-node/src/time.rs). An explicit epoch-ns
 * start is sent as the offset that makes that formula give it back: exact to the nanosecond within
 * about ±17 days of the thread's time origin (where three f64 roundings stay under half a ns),
 * within a few ns beyond.
 */
import { parseTime } from './grammar';

/** @internal The clock of the hot path; a local reference saves a global lookup per call. */
export const perf = performance;
/** Epoch ms of `perf.now() === 0` in this thread (each worker has its own). */
export const originMs = perf.timeOrigin;
const originWholeMs = Math.floor(originMs);
const originFractionMs = originMs - originWholeMs;
const originWholeNs = BigInt(originWholeMs) * 1_000_000n;

/** Offset from `originMs`, in ms, of an epoch-ns instant, as the addon will add it back. */
export function epochNsToOffsetMs(epochNs: bigint): number {
  return Number(epochNs - originWholeNs) / 1e6 - originFractionMs;
}

/** Epoch ms now, from the same clock captures use. */
export function nowEpochMs(): number {
  return originMs + perf.now();
}

/**
 * A query time bound: a Date, epoch milliseconds, or a string of the one time grammar (README
 * "Durations and times"): `'now'`, a duration before now (`'15m'`, `'7d'`, `'1w'`), epoch ms or ISO 8601.
 */
export type TimeBound = Date | number | string;

/**
 * Epoch ms of a {@link TimeBound}. A bad string throws {@link FilterSyntaxError} (from the engine's
 * grammar) naming `option`; anything else but a Date or a finite number throws TypeError.
 */
export function toEpochMs(value: TimeBound, option: string, nowMs: number): number {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isNaN(t)) throw new TypeError(`laptime: option "${option}" is an invalid Date`);
    return t;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`laptime: option "${option}" must be a finite number of epoch ms, got ${value}`);
    return value;
  }
  if (typeof value === 'string') return parseTime(value, nowMs, `option "${option}"`).ms;
  throw new TypeError(`laptime: option "${option}" must be a Date, epoch milliseconds or a time string such as "15m", "7d" or an ISO date, got ${typeof value}`);
}
