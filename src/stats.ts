/**
 * Query helpers: the typed shape of stats answers and the conversion of a query into the addon's
 * filter. The work itself happens in the addon, off the event loop (invariant 6).
 */
import type { NativeStatsFilter, NativeStatsRow, NativeCounters } from './native';
import { show, suggest } from './describe';
import type { EventsOptions, EventsPage } from './query';
import { toEpochMs, type TimeBound } from './time';

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

/** The addon's filter for `query`; throws TypeError naming a bad option. */
export function toNativeFilter(query: unknown, nowMs: number): NativeStatsFilter {
  if (query === undefined || query === null) return {};
  if (typeof query !== 'object' || Array.isArray(query)) {
    throw new TypeError(`laptime: stats query must be an object, got ${show(query)}`);
  }
  const q = query as Record<string, unknown>;
  for (const key of Object.keys(q)) {
    if (!QUERY_KEYS.includes(key)) throw new TypeError(`laptime: unknown stats option "${key}"${suggest(key, QUERY_KEYS)}`);
  }
  const filter: NativeStatsFilter = {};
  if (q.since !== undefined) filter.sinceMs = toEpochMs(q.since as TimeBound, 'since', nowMs);
  if (q.until !== undefined) filter.untilMs = toEpochMs(q.until as TimeBound, 'until', nowMs);
  if (q.name !== undefined) {
    const names = typeof q.name === 'string' ? [q.name] : q.name;
    if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) {
      throw new TypeError(`laptime: stats option "name" must be a string or an array of strings, got ${show(q.name)}`);
    }
    filter.names = [...names];
  }
  return filter;
}

/** One answer row in the public shape. */
export function toFunctionStats(row: NativeStatsRow): FunctionStats {
  return {
    name: row.name,
    count: row.calls,
    errors: row.errors,
    errorRate: row.calls === 0 ? 0 : row.errors / row.calls,
    logs: row.logs,
    mean: row.meanNs ?? null,
    min: row.minNs ?? null,
    max: row.maxNs ?? null,
    p50: row.p50Ns ?? null,
    p90: row.p90Ns ?? null,
    p99: row.p99Ns ?? null,
  };
}

/**
 * Seconds over which the calls matching `filter` were seen: from the first call's start to the
 * last's. Rates divide by this, not by the range asked for, so a range reaching back before the
 * service ran (or past when it stopped) does not dilute them. Null with fewer than two instants.
 * (Shared by the CLI and the HTTP API.)
 */
export async function seenSeconds(reader: { events(filter?: string, options?: EventsOptions): Promise<EventsPage> }, filter: string): Promise<number | null> {
  const calls = `${filter} kind:call`.trim();
  const startOf = async (order: 'newest' | 'oldest') => (await reader.events(calls, { limit: 1, order })).events[0]?.start ?? null;
  const [first, last] = await Promise.all([startOf('oldest'), startOf('newest')]);
  if (first === null || last === null || !(last > first)) return null;
  return (last - first) / 1000;
}
