/**
 * Clocks and time conversions (invariant 7). Captured events carry `performance.now()` offsets and
 * the thread's `performance.timeOrigin`; the addon turns them into epoch nanoseconds as
 * `floor(originMs) * 1e6 + round((originMs - floor(originMs) + offsetMs) * 1e6)` (exact integer
 * arithmetic for the whole milliseconds, crates/laptime-node/src/time.rs). An explicit epoch-ns
 * start is sent as the offset that makes that formula give it back: exact to the nanosecond within
 * about ±17 days of the thread's time origin (where three f64 roundings stay under half a ns),
 * within a few ns beyond.
 */

/** The clock of the hot path; a local reference saves a global lookup per call. */
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

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1e3,
  m: 60e3,
  h: 3600e3,
  d: 86400e3,
  w: 7 * 86400e3,
};
const RELATIVE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** A query time bound: a Date, epoch milliseconds, a duration before now (`'15m'`, `'1h'`, `'7d'`) or an ISO date string. */
export type TimeBound = Date | number | string;

/** Epoch ms of a {@link TimeBound}; throws TypeError naming `option` for anything else. */
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
  if (typeof value === 'string') {
    const m = RELATIVE.exec(value.trim());
    if (m !== null) return nowMs - Number(m[1]) * UNIT_MS[m[2] as string]!;
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return t;
  }
  throw new TypeError(
    `laptime: option "${option}" must be a Date, epoch milliseconds, a duration before now like "15m", "1h", "7d", or an ISO date, got ${
      typeof value === 'string' ? JSON.stringify(value) : typeof value
    }`,
  );
}
