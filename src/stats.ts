/**
 * `stats()`: the typed shape of its answers, and the one engine query behind it. The work itself
 * happens in the addon, off the event loop (invariant 6).
 */
import type { NativeCounters } from './native';
import { show, suggest } from './describe';
import type { Query } from './query';
import type { TimeBound } from './time';

/**
 * Which events a stats query covers.
 *
 * @example
 * await store.stats({ since: '1h', name: ['UserService.find', 'UserService.save'] })
 */
export interface StatsQuery {
  /** Only events that started at or after this: a Date, epoch ms, or a time string (README "Durations and times": `'15m'`/`'7d'` before now, ISO 8601). */
  since?: TimeBound;
  /** Only events that started before this (same forms as `since`). */
  until?: TimeBound;
  /** Only these function (or logger) names. */
  name?: string | readonly string[];
}

/** Statistics of one function (or logger) name. Durations are in nanoseconds; `null` when the name has no calls (only logs). */
export interface FunctionStats {
  /** Function name, e.g. `UserService.find`, or a logger name. */
  name: string;
  /** Calls recorded (successful and failed). */
  count: number;
  /** Calls that threw or rejected. */
  errors: number;
  /** `errors / count`, 0 when there were no calls. */
  errorRate: number;
  /** Log events under this name. */
  logs: number;
  /** Mean duration, ns. */
  mean: number | null;
  /** Shortest duration, ns. */
  min: number | null;
  /** Longest duration, ns. */
  max: number | null;
  /** Median duration, ns (from the engine's sketches, within 1 % relative error). */
  p50: number | null;
  /** 90th percentile duration, ns. */
  p90: number | null;
  /** 99th percentile duration, ns. */
  p99: number | null;
  /**
   * Calls per second over the time calls were seen in the queried range (first to last call
   * start of any name): a range reaching back before the service ran does not dilute it. Null
   * with fewer than two distinct call start times.
   */
  rate: number | null;
}

/**
 * Counters of a store (invariant 2: every event is stored or counted as dropped). Engine counters
 * cover everything written through this directory's engine in this process, JS ones this Store.
 */
export interface StoreCounters extends NativeCounters {
  /** As the engine's, plus the events this Store could not hand over (store closed, append failed). */
  dropped: number;
  /** Events still in this Store's JS batch, not yet handed to the engine. */
  pending: number;
  /** Internal failures laptime absorbed in this thread instead of throwing into your code. */
  internalErrors: number;
  /**
   * Events that could not be kept: the engine's `lost` (taken by its writer but not kept after a disk
   * write/fsync failure) plus those captured or logged in this thread that had no open store to go to
   * (the default store could not be opened, or their store was closed).
   */
  lost: number;
}

/**
 * Answer of `stats()`: one row per name, and the counters at the time of the query: a store's
 * {@link StoreCounters}, `null` from a reader (it writes nothing).
 */
export interface StatsReport<C = StoreCounters> {
  rows: FunctionStats[];
  counters: C;
}

const QUERY_KEYS = ['since', 'until', 'name'];

/** A checked {@link StatsQuery}. */
export interface StatsScope {
  since?: TimeBound;
  until?: TimeBound;
  names?: readonly string[];
}

/** Check a stats query's keys and types; throws TypeError naming a bad option. */
export function checkStatsQuery(query: unknown): StatsScope {
  if (query === undefined || query === null) return {};
  if (typeof query !== 'object' || Array.isArray(query)) {
    throw new TypeError(`laptime: stats query must be an object, got ${show(query)}`);
  }
  const q = query as Record<string, unknown>;
  for (const key of Object.keys(q)) {
    if (!QUERY_KEYS.includes(key)) throw new TypeError(`laptime: unknown stats option "${key}"${suggest(key, QUERY_KEYS)}`);
  }
  const scope: StatsScope = {};
  if (q.since !== undefined) scope.since = q.since as TimeBound;
  if (q.until !== undefined) scope.until = q.until as TimeBound;
  if (q.name !== undefined) {
    const names = typeof q.name === 'string' ? [q.name] : q.name;
    if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) {
      throw new TypeError(`laptime: stats option "name" must be a string or an array of strings, got ${show(q.name)}`);
    }
    scope.names = [...names];
  }
  return scope;
}

/**
 * Per-name statistics as one engine query: group by name; calls, errors, logs, mean, min, max,
 * p50/p90/p99 (sketches) and rate. Names are picked from the rows (exact names, no globs), so the
 * rate's span is that of every call in the time range, whichever names are asked for.
 */
export async function functionStats(query: Query, scope: StatsScope): Promise<FunctionStats[]> {
  if (scope.since !== undefined) query.since(scope.since);
  if (scope.until !== undefined) query.until(scope.until);
  const { rows } = await query.groupBy('name').calls().errors().logs().mean().min().max().percentiles([50, 90, 99]).rate().run();
  const wanted = scope.names === undefined ? null : new Set(scope.names);
  return rows
    .filter((r) => wanted === null || wanted.has(r.name))
    .map((r) => ({
      name: r.name,
      count: r.calls,
      errors: r.errors,
      errorRate: r.calls === 0 ? 0 : r.errors / r.calls,
      logs: r.logs,
      mean: r.mean,
      min: r.min,
      max: r.max,
      p50: r.p50,
      p90: r.p90,
      p99: r.p99,
      rate: r.rate,
    }));
}
