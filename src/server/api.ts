/**
 * The dashboard's JSON API: one function per route, each answering from a {@link Reader} with the
 * same query engine as the TypeScript API and the CLI. Parameters come from the query string;
 * anything wrong with them is an {@link ApiError} (HTTP 400) that names the parameter.
 *
 * Routes (all GET; times and bucket widths follow the one grammar of README "Durations and times"):
 * - `/api/info`: `{ version, now }`, and `path` (the store's absolute path) only when the server
 *   listens on loopback: off loopback, token holders need not learn the machine's layout
 * - `/api/stats?filter&since&until&group`: per-function rows (count, rate, errors, errorRate, mean,
 *   p50, p90, p99, max; durations in ns). `rate` is calls per second over the time calls were seen
 *   (first to last matching call in the range), not over the whole range. With `group=<field key>`
 *   (`tenant`, `field.status` for a field called status) one row per function and value of that
 *   field, the value in the row's `group` (`null`: calls without the field).
 * - `/api/series?name&filter&since&until&bucket&group&top`: p50/p90/p99 and count per time bucket
 *   of one function (`bucket` such as `1m`; default: about 120 buckets over the range; at most
 *   {@link MAX_POINTS} buckets). With `group`: `series`, one per value of the field among the `top`
 *   (default 5, 1..20) values with the most calls, most first; the calls with any other value are
 *   one more series `{ other: true }` with its own percentiles (the rest queried together, not
 *   percentiles summed), present only when there is such a rest.
 * - `/api/fields?filter&since&until&sample`: field keys of the calls and how many carry each, for
 *   a group-by choice. The engine has no key listing, so this reads a sample: the newest `sample`
 *   (default 1000, at most 10000) matching calls; `sampled` says how many were read. Keys are
 *   spelled as `group` takes them.
 * - `/api/marks?since&until`: markers (`mark()`: info logs named `laptime.mark`) in the range,
 *   oldest first, at most 1000 (`truncated` when there were more): time, label, fields.
 * - `/api/histogram?name&filter&since&until`: latency histogram of one function, log-spaced bins
 * - `/api/events?filter&limit&cursor&order`: a page of events, `startNs` as a decimal string
 * - `/api/anomalies?filter&since&until&bucket&metric`: anomalous buckets
 * - `/api/compare?filter&baseline&candidate`: per-function change, ranges as `since..until`
 */
import { packageVersion } from '../version';
import { keyText, valueText } from '../filter-text';
import { MARK_NAME } from '../mark';
import { FilterSyntaxError, parseDuration, parseRange, parseTime } from '../grammar';
import type { FieldKeyValue, Query } from '../query';
import type { ReadApi } from '../reads';

/** A request the API refuses, with the HTTP status and a message naming what is wrong. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: Record<string, unknown>;
  constructor(status: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

type Params = URLSearchParams;
/** What an answer may depend on besides the request. */
export interface AnswerContext {
  /** The server listens on a loopback address only (then `/api/info` shows the store's path). */
  loopback: boolean;
}

/** What the dashboard reads: a store's reader (which has a `path`) or a fleet's coordinator. */
export type DashboardSource = ReadApi<unknown> & { path?: string; url?: string };

type Handler = (reader: DashboardSource, params: Params, nowMs: number, context: AnswerContext) => Promise<unknown>;

/** Most buckets a series or an anomaly scan may cut its range into. */
export const MAX_POINTS = 10_000;

/** Latest instant the store can hold, epoch ms (start_ns is a u64 of nanoseconds). */
const MAX_TIME_MS = Math.floor(Number(2n ** 64n / 1_000_000n));

const DEFAULT_RANGE = '1h';

/** Series of a grouped `/api/series`: the default and the most. */
const DEFAULT_TOP = 5;
const MAX_TOP = 20;
/** Most markers `/api/marks` answers. */
const MAX_MARKS = 1000;
/** Column names of the answers, which a group column may not shadow. */
const STATS_COLUMNS = ['name', 'count', 'rate', 'errors', 'errorRate', 'mean', 'max', 'p50', 'p90', 'p99'];
const SERIES_COLUMNS = ['time', 'count', 'errors', 'p50', 'p90', 'p99'];

function range(p: Params, nowMs: number): { since: number; until: number } {
  const since = time(p, 'since', nowMs) ?? parseTime(DEFAULT_RANGE, nowMs, 'default range').ms;
  const until = time(p, 'until', nowMs) ?? nowMs;
  if (!(since < until)) throw new ApiError(400, 'parameter "since" must be before "until"');
  return { since, until };
}

function time(p: Params, key: string, nowMs: number): number | null {
  const v = p.get(key);
  if (v === null || v === '') return null;
  // A bad time is a FilterSyntaxError naming the parameter; answer() makes it a 400 with its fields.
  const ms = parseTime(v, nowMs, `parameter "${key}"`).ms;
  if (!(Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIME_MS)) throw new ApiError(400, `parameter "${key}" must be a time between 1970 and 2554, got "${v}"`);
  return ms;
}

function required(p: Params, key: string): string {
  const v = p.get(key);
  if (v === null || v === '') throw new ApiError(400, `parameter "${key}" is required`);
  return v;
}

function filterOf(p: Params): string {
  return (p.get('filter') ?? '').trim();
}

function int(p: Params, key: string, lo: number, hi: number): number | undefined {
  const v = p.get(key);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new ApiError(400, `parameter "${key}" must be a whole number in ${lo}..${hi}, got "${v}"`);
  return n;
}

/** Field keys `group` accepts: what the filter syntax can address. */
const GROUP_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const MAX_GROUP_KEY = 256;

/**
 * The field key of the `group` parameter (without a `field.` prefix), or null when absent. `taken`
 * are the answer's own column names, which a group column may not shadow.
 */
function groupKey(p: Params, taken: readonly string[]): string | null {
  const v = p.get('group');
  if (v === null || v === '') return null;
  if (v === 'name') throw new ApiError(400, 'parameter "group": "name" is the function name, not a field; write field.name for a field called name');
  const key = v.startsWith('field.') ? v.slice('field.'.length) : v;
  if (key.length > MAX_GROUP_KEY || !GROUP_KEY.test(key)) {
    throw new ApiError(400, `parameter "group" must be a field key (letters, digits, "_", "." and "-", starting with a letter, digit or "_"; at most ${MAX_GROUP_KEY}), got ${JSON.stringify(v.slice(0, 80))}`);
  }
  // Result rows are plain objects: a "__proto__" column would set the prototype, not a value.
  if (key === '__proto__') throw new ApiError(400, 'parameter "group": a field called "__proto__" cannot be grouped by');
  if (taken.includes(key)) throw new ApiError(400, `parameter "group": a field called "${key}" cannot be grouped by here (the answer has its own "${key}" column)`);
  return key;
}

/** A filter term matching calls whose field `key` has one of `values` (as text; numbers compare as numbers). */
function inTerm(key: string, values: readonly FieldKeyValue[]): string {
  return `${keyText(key)}:in(${values.map((v) => valueText(String(v))).join(',')})`;
}

/** The range as filter terms (for the routes that take a filter string rather than a builder). */
function rangeTerms(since: number, until: number): string {
  return `since:${Math.floor(since)} until:${Math.ceil(until)}`;
}

/** A bucket width giving about `n` buckets over the range, rounded to a readable step. */
function autoBucketMs(spanMs: number, n = 120): number {
  const steps = [1, 5, 10, 50, 100, 500, 1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 86400e3];
  return steps.find((s) => spanMs / s <= n) ?? 86400e3;
}

const routes: Record<string, Handler> = {
  '/api/info': async (reader, _p, nowMs, context) => ({
    ...(context.loopback && reader.path !== undefined ? { path: reader.path } : {}),
    ...(context.loopback && reader.url !== undefined ? { coordinator: reader.url } : {}),
    version: packageVersion(),
    now: nowMs,
  }),

  '/api/stats': async (reader, p, nowMs) => {
    const key = groupKey(p, STATS_COLUMNS);
    const { since, until } = range(p, nowMs);
    const base = reader.query().filter(filterOf(p)).kind('call').since(since).until(until).groupBy('name');
    if (key !== null) {
      // One engine query grouped by name and the field; the field's column is renamed `group`.
      const { rows } = await base.groupBy(key).count().rate().errors().errorRate().mean().max().percentiles([50, 90, 99]).orderBy('p99', 'desc').run();
      return {
        since,
        until,
        group: key,
        rows: rows.map((r) => {
          const { [key]: value, ...rest } = r as Record<string, unknown>;
          return { ...rest, group: value ?? null };
        }),
      };
    }
    const { rows } = await base
      .count()
      .rate()
      .errors()
      .errorRate()
      .mean()
      .max()
      .percentiles([50, 90, 99])
      .orderBy('p99', 'desc')
      .run();
    return { since, until, rows };
  },

  '/api/series': async (reader, p, nowMs) => {
    const name = required(p, 'name');
    const key = groupKey(p, SERIES_COLUMNS);
    const top = int(p, 'top', 1, MAX_TOP) ?? DEFAULT_TOP;
    const { since, until } = range(p, nowMs);
    const bucketText = p.get('bucket');
    const calls = () => reader.query().filter(filterOf(p)).kind('call').name(name).since(since).until(until);
    let bucketMs: number;
    if (bucketText === null || bucketText === '') {
      // About 120 buckets over the span the function's calls really cover within the range (the
      // engine's span of the matching calls).
      const { span } = await calls().rate().run();
      bucketMs = autoBucketMs(span !== null ? Math.max(span.last - span.first, 1) : until - since);
    } else {
      bucketMs = bucketWidthMs(bucketText);
      pointsWithin(until - since, bucketMs, bucketText);
    }
    if (key !== null) return { name, since, until, bucketMs, group: key, series: await groupSeries(calls, key, top, bucketMs) };
    const { rows } = await calls()
      .bucket(bucketMs)
      .count()
      .errors()
      .percentiles([50, 90, 99])
      .orderBy('time', 'asc')
      .run();
    return { name, since, until, bucketMs, points: rows };
  },

  '/api/fields': async (reader, p, nowMs) => {
    const { since, until } = range(p, nowMs);
    const sample = int(p, 'sample', 1, 10_000) ?? 1000;
    const scope = [filterOf(p), 'kind:call', rangeTerms(since, until)].filter((t) => t !== '').join(' ');
    const { events } = await reader.events(scope, { limit: sample, order: 'newest' });
    // A bounded sample (the engine lists no keys): counting its keys is at most `sample` events.
    const counts = new Map<string, number>();
    for (const e of events) for (const k of Object.keys(e.fields)) counts.set(k, (counts.get(k) ?? 0) + 1);
    const keys = [...counts]
      .filter(([k]) => GROUP_KEY.test(k) && k.length <= MAX_GROUP_KEY)
      .map(([k, count]) => ({ key: k === 'name' ? 'field.name' : k, count }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { since, until, sampled: events.length, keys };
  },

  '/api/marks': async (reader, p, nowMs) => {
    const { since, until } = range(p, nowMs);
    const { events, nextCursor } = await reader.events(`kind:log name:${MARK_NAME} ${rangeTerms(since, until)}`, { limit: MAX_MARKS, order: 'oldest' });
    return {
      since,
      until,
      truncated: nextCursor !== null,
      marks: events.map((e) => ({ time: e.start, startNs: e.startNs.toString(), label: e.message ?? '', fields: e.fields })),
    };
  },

  '/api/histogram': async (reader, p, nowMs) => {
    const name = required(p, 'name');
    const { since, until } = range(p, nowMs);
    // One engine pass: the matching calls' sketch, its bucket counts binned on a log scale.
    const scope = [filterOf(p), `name:${valueText(name)}`, `since:${Math.floor(since)}`, `until:${Math.ceil(until)}`].filter((t) => t !== '').join(' ');
    const { calls, bins } = await reader.histogram(scope, { bins: 30 });
    return { name, since, until, count: calls, bins };
  },

  '/api/events': async (reader, p) => {
    const limit = int(p, 'limit', 1, 1000) ?? 100;
    const order = p.get('order') ?? 'newest';
    if (order !== 'newest' && order !== 'oldest') throw new ApiError(400, `parameter "order" must be newest or oldest, got "${order}"`);
    const cursor = p.get('cursor');
    let page;
    try {
      page = await reader.events(filterOf(p), { limit, order, ...(cursor === null || cursor === '' ? {} : { cursor }) });
    } catch (err) {
      // The engine names a cursor it did not hand out; that is the request's fault, not the server's.
      const message = (err as Error).message?.replace(/^laptime: /, '') ?? '';
      if (cursor !== null && /^invalid cursor\b/.test(message)) throw new ApiError(400, `parameter "cursor": ${message}`);
      throw err;
    }
    return { events: page.events.map((e) => ({ ...e, startNs: e.startNs.toString() })), nextCursor: page.nextCursor };
  },

  '/api/anomalies': async (reader, p, nowMs) => {
    const { since, until } = range(p, nowMs);
    const metric = p.get('metric') ?? 'p99';
    if (metric !== 'p99' && metric !== 'p50' && metric !== 'errorRate') throw new ApiError(400, `parameter "metric" must be p99, p50 or errorRate, got "${metric}"`);
    const bucketText = p.get('bucket');
    let bucket = `${autoBucketMs(until - since, 60) / 1000}s`;
    if (bucketText !== null && bucketText !== '') {
      pointsWithin(until - since, bucketWidthMs(bucketText), bucketText);
      bucket = bucketText;
    }
    const filter = filterOf(p);
    return {
      bucket,
      anomalies: await reader.anomalies({ since, until, bucket, metric, at: nowMs, ...(filter === '' ? {} : { filter }) }),
    };
  },

  '/api/compare': async (reader, p, nowMs) => {
    const baseline = parseRange(required(p, 'baseline'), nowMs, 'parameter "baseline"');
    const candidate = parseRange(required(p, 'candidate'), nowMs, 'parameter "candidate"');
    const filter = filterOf(p);
    return reader.compare({ baseline, candidate, at: nowMs, ...(filter === '' ? {} : { filter }) });
  },
};

/** One series of a grouped `/api/series`. */
interface GroupSeries {
  /** The field's value (null: calls without the field; also null for `other`). */
  value: FieldKeyValue;
  /** The calls with any value outside the top ones. */
  other: boolean;
  count: number;
  points: Array<{ time: number; count: number; errors: number; p50: number | null; p90: number | null; p99: number | null }>;
}

/**
 * Per-value series of the calls `calls()` selects: the `top` values by count, then the rest as one
 * `other` series. At most four engine queries (top values; their buckets; calls without the field
 * when that is a top group; the rest), each bounded by top x buckets rows.
 */
async function groupSeries(calls: () => Query, key: string, top: number, bucketMs: number): Promise<GroupSeries[]> {
  const ranked = await calls().groupBy(key).count().orderBy('count', 'desc').limit(top + 1).run();
  const chosen = ranked.rows.slice(0, top).map((r) => ({ value: (r as Record<string, unknown>)[key] as FieldKeyValue, count: r.count }));
  const rest = ranked.rows.length > top;
  const present = chosen.filter((c) => c.value !== null).map((c) => c.value);
  const hasNone = chosen.some((c) => c.value === null);
  const bucketed = (q: Query) => q.bucket(bucketMs).count().errors().percentiles([50, 90, 99]).orderBy('time', 'asc').run();
  // Values are matched as text (a field may hold 500 and "500"; the filter's in() takes both), so
  // a series is keyed by its value's text.
  const byText = new Map<string, GroupSeries>();
  for (const c of chosen) if (c.value !== null) byText.set(String(c.value), { value: c.value, other: false, count: c.count, points: [] });
  if (present.length > 0) {
    const q = calls();
    if (rest || hasNone) q.filter(inTerm(key, present));
    const { rows } = await bucketed(q.groupBy(key));
    for (const r of rows) {
      const { [key]: value, ...point } = r as Record<string, unknown>;
      byText.get(String(value))?.points.push(point as unknown as GroupSeries['points'][number]);
    }
  }
  const out: GroupSeries[] = [];
  for (const c of chosen) {
    if (c.value !== null) {
      const s = byText.get(String(c.value));
      if (s !== undefined && !out.includes(s)) out.push(s);
    } else {
      const { rows } = await bucketed(calls().filter(`-has:${keyText(key)}`));
      out.push({ value: null, other: false, count: c.count, points: rows });
    }
  }
  if (rest) {
    const q = calls();
    if (present.length > 0) q.filter(`-${inTerm(key, present)}`);
    if (hasNone) q.filter(`has:${keyText(key)}`);
    const { rows } = await bucketed(q);
    out.push({ value: null, other: true, count: rows.reduce((s, r) => s + r.count, 0), points: rows });
  }
  return out;
}

function bucketWidthMs(text: string): number {
  const ms = Number(parseDuration(text, 'parameter "bucket"').ns) / 1e6;
  // At least 1 ns (the store's resolution), at most a year.
  if (!(ms >= 1e-6 && ms <= 366 * 86400e3)) throw new ApiError(400, `parameter "bucket" must be a width from 1ns to 366d such as 30s, 1m or 1h, got "${text}"`);
  return ms;
}

/** Refuse a bucket width that cuts `spanMs` into more than {@link MAX_POINTS} buckets. */
function pointsWithin(spanMs: number, bucketMs: number, text: string): void {
  const n = Math.ceil(spanMs / bucketMs);
  if (n > MAX_POINTS) {
    throw new ApiError(400, `parameter "bucket": ${text} cuts the range into ${n.toLocaleString('en-US')} buckets; at most ${MAX_POINTS.toLocaleString('en-US')} (use a wider bucket or a shorter range)`);
  }
}

/** Answer `path` with `params`; throws {@link ApiError} for bad requests and unknown routes. */
export async function answer(reader: DashboardSource, path: string, params: Params, nowMs: number, context: AnswerContext = { loopback: false }): Promise<unknown> {
  const route = routes[path];
  if (route === undefined) throw new ApiError(404, `no API route ${path}`);
  try {
    return await route(reader, params, nowMs, context);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof FilterSyntaxError) {
      throw new ApiError(400, err.message.replace(/^laptime: /, ''), { code: err.code, position: err.position, expected: err.expected, found: err.found });
    }
    if (err instanceof TypeError || err instanceof RangeError) throw new ApiError(400, err.message.replace(/^laptime: /, ''));
    throw err;
  }
}
