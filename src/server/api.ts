/**
 * The dashboard's JSON API: one function per route, each answering from a {@link Reader} with the
 * same query engine as the TypeScript API and the CLI. Parameters come from the query string;
 * anything wrong with them is an {@link ApiError} (HTTP 400) that names the parameter.
 *
 * Routes (all GET; times and bucket widths follow the one grammar of README "Durations and times"):
 * - `/api/info`: `{ version, now }`, and `path` (the store's absolute path) only when the server
 *   listens on loopback: off loopback, token holders need not learn the machine's layout
 * - `/api/stats?filter&since&until`: per-function rows (count, rate, errors, errorRate, mean, p50,
 *   p90, p99, max; durations in ns). `rate` is calls per second over the time calls were seen
 *   (first to last matching call in the range), not over the whole range.
 * - `/api/series?name&filter&since&until&bucket`: p50/p90/p99 and count per time bucket of one
 *   function (`bucket` such as `1m`; default: about 120 buckets over the range; at most
 *   {@link MAX_POINTS} buckets)
 * - `/api/histogram?name&filter&since&until`: latency histogram of one function, log-spaced bins
 * - `/api/events?filter&limit&cursor&order`: a page of events, `startNs` as a decimal string
 * - `/api/anomalies?filter&since&until&bucket&metric`: anomalous buckets
 * - `/api/compare?filter&baseline&candidate`: per-function change, ranges as `since..until`
 */
import { packageVersion } from '../version';
import { valueText } from '../filter-text';
import { FilterSyntaxError, parseDuration, parseRange, parseTime } from '../grammar';
import type { Reader } from '../reader';

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

type Handler = (reader: Reader, params: Params, nowMs: number, context: AnswerContext) => Promise<unknown>;

/** Most buckets a series or an anomaly scan may cut its range into. */
export const MAX_POINTS = 10_000;

/** Latest instant the store can hold, epoch ms (start_ns is a u64 of nanoseconds). */
const MAX_TIME_MS = Math.floor(Number(2n ** 64n / 1_000_000n));

const DEFAULT_RANGE = '1h';

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

/** A bucket width giving about `n` buckets over the range, rounded to a readable step. */
function autoBucketMs(spanMs: number, n = 120): number {
  const steps = [1, 5, 10, 50, 100, 500, 1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 86400e3];
  return steps.find((s) => spanMs / s <= n) ?? 86400e3;
}

const routes: Record<string, Handler> = {
  '/api/info': async (reader, _p, nowMs, context) => ({ ...(context.loopback ? { path: reader.path } : {}), version: packageVersion(), now: nowMs }),

  '/api/stats': async (reader, p, nowMs) => {
    const { since, until } = range(p, nowMs);
    const { rows } = await reader
      .query()
      .filter(filterOf(p))
      .kind('call')
      .since(since)
      .until(until)
      .groupBy('name')
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
    const { rows } = await calls()
      .bucket(bucketMs)
      .count()
      .errors()
      .percentiles([50, 90, 99])
      .orderBy('time', 'asc')
      .run();
    return { name, since, until, bucketMs, points: rows };
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
export async function answer(reader: Reader, path: string, params: Params, nowMs: number, context: AnswerContext = { loopback: false }): Promise<unknown> {
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
