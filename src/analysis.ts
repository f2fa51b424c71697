/**
 * Anomalies and regressions: the options of {@link Store.anomalies} and {@link Store.compare}, their
 * translation into the addon's requests (filter terms in the shared syntax), and the typed answers.
 * The statistics run in the engine, off the event loop.
 */
import { checkFilter, timeText, valueText } from './filter-text';
import type { NativeAnomaliesRequest, NativeAnomaly, NativeCompareRequest, NativeCompareResult } from './native';
import { show, suggest } from './describe';
import type { QueryStats } from './query';
import { nowEpochMs, toEpochMs, type TimeBound } from './time';

/** What an anomaly scan judges per bucket. */
export type AnomalyMetric = 'p50' | 'p99' | 'errorRate';

/** Options of {@link Store.anomalies}. Every threshold has a default that suits latency data. */
export interface AnomaliesOptions {
  /** Scan events since this (default `'6h'` before now); the first buckets serve as baseline only. */
  since?: TimeBound;
  /** Scan events before this (default: now). */
  until?: TimeBound;
  /** Only functions matching this glob. */
  name?: string;
  /** More terms in the filter syntax, e.g. `'route:/users'`. */
  filter?: string;
  /** Bucket width: `'1m'` (default), `'5m'`, `'10s'`... */
  bucket?: string;
  /** The metric judged: `'p99'` (default), `'p50'` or `'errorRate'`. */
  metric?: AnomalyMetric;
  /** Robust z-score (median/MAD) from which a bucket is anomalous; default 3.5. */
  threshold?: number;
  /** Smallest relative change against the baseline median; default 0.2 (20 %). */
  minRelativeChange?: number;
  /** Buckets with fewer calls are neither judged nor used as baseline; default 30. */
  minCount?: number;
  /** Trailing buckets forming the baseline; default 12. */
  baselineBuckets?: number;
  /** Fewest usable baseline buckets to judge a bucket; default 5. */
  minBaselineBuckets?: number;
  /** Errors needed for an error-rate anomaly over an error-free baseline; default 5. */
  minErrors?: number;
  /** `'up'` (default: slower, more errors), `'down'` or `'both'`. */
  direction?: 'up' | 'down' | 'both';
  /** Resolve relative times against this instant (default: now). */
  at?: Date | number;
}

/** A bucket of one function that departs from its trailing baseline. */
export interface Anomaly {
  /** Function name. */
  name: string;
  /** Bucket start, epoch ms. */
  time: number;
  /** Bucket width, ms. */
  bucketMs: number;
  /** The metric judged. */
  metric: AnomalyMetric;
  /** The bucket's value: ns for latency, a fraction for the error rate. */
  value: number;
  /** The baseline's median, same unit. */
  baseline: number;
  /** Robust z-score (negative for drops). */
  z: number;
  /** `value / baseline - 1` (Infinity over a zero baseline). */
  relativeChange: number;
  /** Calls in the bucket. */
  count: number;
  /** Slower / more errors (`'up'`) or the reverse. */
  direction: 'up' | 'down';
}

/** A time range `[since, until)`. */
export interface TimeRange {
  since: TimeBound;
  until: TimeBound;
}

/** Options of {@link Store.compare}. */
export interface CompareOptions {
  /** The range before, e.g. the hour before a deploy. */
  baseline: TimeRange;
  /** The range after. */
  candidate: TimeRange;
  /** Only functions matching this glob. */
  name?: string;
  /** More terms in the filter syntax. */
  filter?: string;
  /** Percentiles to compare, each in (0, 100]; default [50, 99]. */
  percentiles?: readonly number[];
  /** Confidence of the intervals and the error-rate test, in (0, 1); default 0.99. */
  confidence?: number;
  /** Smallest relative change of a percentile that counts; default 0.1 (10 %). */
  minRelativeChange?: number;
  /** Fewest calls in each range for a verdict; default 50. */
  minCount?: number;
  /** Exact percentiles instead of sketches (slower; the sketches' 1 % error is otherwise allowed for). */
  exact?: boolean;
  /** Resolve relative times against this instant (default: now). */
  at?: Date | number;
}

/** The change of one percentile between the ranges. Values in ns. */
export interface PercentileChange {
  /** The percentile, e.g. 99. */
  percentile: number;
  baseline: number;
  candidate: number;
  /** `candidate / baseline - 1`. */
  relativeChange: number;
  /** Distribution-free confidence interval of the baseline value, [low, high]. */
  baselineInterval: [number, number];
  /** Same for the candidate. */
  candidateInterval: [number, number];
  /** The intervals do not overlap and the change is at least `minRelativeChange`. */
  significant: boolean;
}

/** One function's change between the two ranges. */
export interface FunctionComparison {
  name: string;
  /** `'regressed'` if any significant increase (latency or errors), `'improved'` if only decreases. */
  verdict: 'regressed' | 'improved' | 'unchanged' | 'insufficient_data';
  baseline: { calls: number; errors: number; errorRate: number };
  candidate: { calls: number; errors: number; errorRate: number };
  percentiles: PercentileChange[];
  /** Two-proportion test of the error rates. */
  errorRate: { pValue: number; significant: boolean };
}

/** Answer of {@link Store.compare}: regressed functions first. */
export interface CompareReport {
  functions: FunctionComparison[];
  stats: QueryStats;
}

const ANOMALY_KEYS = [
  'since',
  'until',
  'name',
  'filter',
  'bucket',
  'metric',
  'threshold',
  'minRelativeChange',
  'minCount',
  'baselineBuckets',
  'minBaselineBuckets',
  'minErrors',
  'direction',
  'at',
];
const COMPARE_KEYS = ['baseline', 'candidate', 'name', 'filter', 'percentiles', 'confidence', 'minRelativeChange', 'minCount', 'exact', 'at'];

function checkKeys(given: object, known: readonly string[], what: string): Record<string, unknown> {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new TypeError(`laptime: ${what} options must be an object, got ${show(given)}`);
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) throw new TypeError(`laptime: unknown ${what} option "${key}"${suggest(key, known)}`);
  }
  return given as Record<string, unknown>;
}

function number(o: Record<string, unknown>, key: string, what: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`laptime: ${what} option "${key}" must be a finite number, got ${show(v)}`);
  return v;
}

function filterOf(o: Record<string, unknown>, what: string): string {
  const terms: string[] = [];
  if (o.name !== undefined) {
    if (typeof o.name !== 'string') throw new TypeError(`laptime: ${what} option "name" must be a glob string, got ${show(o.name)}`);
    terms.push(`name:${valueText(o.name)}`);
  }
  if (o.filter !== undefined) {
    if (typeof o.filter !== 'string') throw new TypeError(`laptime: ${what} option "filter" must be a string, got ${show(o.filter)}`);
    terms.push(o.filter);
  }
  const text = terms.join(' ').trim();
  checkFilter(text);
  return text;
}

/** The addon's request for {@link Store.anomalies}; throws on bad options. */
export function toAnomaliesRequest(options: AnomaliesOptions = {}): NativeAnomaliesRequest {
  const o = checkKeys(options, ANOMALY_KEYS, 'anomalies');
  const nowMs = o.at === undefined ? nowEpochMs() : toEpochMs(o.at as Date | number, 'at', nowEpochMs());
  const terms = [filterOf(o, 'anomalies'), `since:${timeText((o.since as TimeBound | undefined) ?? '6h', 'since', nowMs)}`];
  if (o.until !== undefined) terms.push(`until:${timeText(o.until as TimeBound, 'until', nowMs)}`);
  const metric = o.metric ?? 'p99';
  if (metric !== 'p50' && metric !== 'p99' && metric !== 'errorRate') {
    throw new TypeError(`laptime: anomalies option "metric" must be 'p50', 'p99' or 'errorRate', got ${show(metric)}`);
  }
  const request: NativeAnomaliesRequest = {
    filter: terms.filter((t) => t !== '').join(' '),
    nowMs,
    bucket: typeof o.bucket === 'string' ? o.bucket : o.bucket === undefined ? '1m' : String(o.bucket),
    metric: metric === 'errorRate' ? 'error_rate' : metric,
  };
  for (const key of ['minCount', 'baselineBuckets', 'minBaselineBuckets', 'minErrors'] as const) {
    const v = number(o, key, 'anomalies');
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 32 - 1) throw new RangeError(`laptime: anomalies option "${key}" must be a whole number >= 0, got ${v}`);
    request[key] = v;
  }
  const threshold = number(o, 'threshold', 'anomalies');
  if (threshold !== undefined) request.threshold = threshold;
  const minRelativeChange = number(o, 'minRelativeChange', 'anomalies');
  if (minRelativeChange !== undefined) request.minRelativeChange = minRelativeChange;
  if (o.direction !== undefined) {
    if (o.direction !== 'up' && o.direction !== 'down' && o.direction !== 'both') {
      throw new TypeError(`laptime: anomalies option "direction" must be 'up', 'down' or 'both', got ${show(o.direction)}`);
    }
    request.direction = o.direction;
  }
  return request;
}

/** The public shape of an anomaly. */
export function toAnomaly(a: NativeAnomaly): Anomaly {
  return {
    name: a.name,
    time: a.startMs,
    bucketMs: a.bucketNs / 1e6,
    metric: a.metric === 'error_rate' ? 'errorRate' : a.metric,
    value: a.value,
    baseline: a.baseline,
    z: a.z,
    relativeChange: a.relativeChange,
    count: a.count,
    direction: a.direction,
  };
}

function range(value: unknown, which: 'baseline' | 'candidate', nowMs: number): [number, number] {
  if (typeof value !== 'object' || value === null) throw new TypeError(`laptime: compare option "${which}" must be { since, until }, got ${show(value)}`);
  const r = value as Record<string, unknown>;
  if (r.since === undefined || r.until === undefined) throw new TypeError(`laptime: compare option "${which}" needs both since and until`);
  const since = toEpochMs(r.since as TimeBound, `${which}.since`, nowMs);
  const until = toEpochMs(r.until as TimeBound, `${which}.until`, nowMs);
  if (!(since < until)) throw new RangeError(`laptime: compare option "${which}" is empty: since must be before until`);
  return [since, until];
}

/** The addon's request for {@link Store.compare}; throws on bad options. */
export function toCompareRequest(options: CompareOptions): NativeCompareRequest {
  const o = checkKeys(options, COMPARE_KEYS, 'compare');
  const nowMs = o.at === undefined ? nowEpochMs() : toEpochMs(o.at as Date | number, 'at', nowEpochMs());
  const [baselineSinceMs, baselineUntilMs] = range(o.baseline, 'baseline', nowMs);
  const [candidateSinceMs, candidateUntilMs] = range(o.candidate, 'candidate', nowMs);
  const request: NativeCompareRequest = {
    filter: filterOf(o, 'compare'),
    nowMs,
    baselineSinceMs,
    baselineUntilMs,
    candidateSinceMs,
    candidateUntilMs,
    exact: o.exact === true,
  };
  if (o.percentiles !== undefined) {
    const ps = o.percentiles;
    if (!Array.isArray(ps) || ps.length === 0 || !ps.every((p) => typeof p === 'number' && p > 0 && p <= 100)) {
      throw new RangeError(`laptime: compare option "percentiles" must be a non-empty array of numbers in (0, 100], got ${show(ps)}`);
    }
    request.quantiles = ps.map((p: number) => p / 100);
  }
  const confidence = number(o, 'confidence', 'compare');
  if (confidence !== undefined) request.confidence = confidence;
  const minRelativeChange = number(o, 'minRelativeChange', 'compare');
  if (minRelativeChange !== undefined) request.minRelativeChange = minRelativeChange;
  const minCount = number(o, 'minCount', 'compare');
  if (minCount !== undefined) request.minCount = minCount;
  return request;
}

/** The public shape of a comparison. */
export function toCompareReport(r: NativeCompareResult): CompareReport {
  return {
    functions: r.functions.map((f) => ({
      name: f.name,
      verdict: f.verdict,
      baseline: { calls: f.baselineCalls, errors: f.baselineErrors, errorRate: f.baselineErrorRate },
      candidate: { calls: f.candidateCalls, errors: f.candidateErrors, errorRate: f.candidateErrorRate },
      percentiles: f.quantiles.map((q) => ({
        percentile: Math.round(q.q * 1e9) / 1e7,
        baseline: q.baseline,
        candidate: q.candidate,
        relativeChange: q.relativeChange,
        baselineInterval: [q.baselineInterval[0]!, q.baselineInterval[1]!],
        candidateInterval: [q.candidateInterval[0]!, q.candidateInterval[1]!],
        significant: q.significant,
      })),
      errorRate: { pValue: f.errorRatePValue, significant: f.errorRateSignificant },
    })),
    stats: { ...r.stats },
  };
}
