/**
 * The typed query builder and event listing. A builder collects filter terms (spelled in the shared
 * filter syntax), grouping and aggregates; `run()` hands them to the engine, which answers off the
 * event loop (invariant 6). Result rows are typed from the chosen grouping and aggregates.
 */
import { durationText, keyText, timeText, valueText } from './filter-text';
import { parseDuration } from './grammar';
import { nativeBinding, type NativeEventPage, type NativeHistogram, type NativeHistogramRequest, type NativeQueryStats, type NativeEventsRequest, type NativeGroupBy, type NativeQuery } from './native';
import { show, suggest } from './describe';
import { nowEpochMs, toEpochMs, type TimeBound } from './time';
import type { Coverage } from './coverage';
import type { AnswerColumns } from './answer';

/** Comparison operators of field and duration terms. */
export type Comparison = '=' | '!=' | '<' | '<=' | '>' | '>=';
/** Log levels, lowest first. */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
/** A group key taken from a field: its value, or `null` for events without the field. */
export type FieldKeyValue = string | number | boolean | null;

/** What the engine did to answer a query. */
export type QueryStats = NativeQueryStats;

/** A query's answer: typed rows and execution figures. */
export interface QueryResult<Row> {
  rows: Row[];
  /**
   * Start times (epoch ms) of the first and the last call the query matched: the time span
   * `rate()` divides by. Set when `rate()` is asked for and a call matched, else null.
   */
  span: { first: number; last: number } | null;
  stats: QueryStats;
  /** Answers from a fleet ({@link Fleet}) only: which indexers answered. */
  coverage?: Coverage;
}

/** Flattens an intersection for readable hover types. */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The key column(s) `groupBy(key)` adds. */
type GroupColumn<K extends string> = K extends 'name'
  ? { name: string }
  : K extends `field.${infer F}`
    ? { [P in F]: FieldKeyValue }
    : { [P in K]: FieldKeyValue };

/** A result row: the group key columns and the aggregates (`count` when none was chosen). */
export type QueryRow<Keys, Values> = Simplify<Keys & ({} extends Values ? { count: number } : Values)>;

type Percentile<P extends number> = `p${P}`;

const AGGREGATE_COLUMNS: Readonly<Record<string, string>> = {
  count: 'count',
  calls: 'calls',
  logs: 'logs',
  rate: 'rate',
  errors: 'errors',
  error_rate: 'errorRate',
  sum: 'sum',
  mean: 'mean',
  min: 'min',
  max: 'max',
  stddev: 'stddev',
};
/** Aggregates that are a number even when nothing matched (the rest are `null` then). */
const ALWAYS_NUMBER = new Set(['count', 'calls', 'logs', 'errors', 'sum']);

/**
 * A query over one store, built step by step and run with {@link Query.run}. Filter methods add
 * terms that must all hold; `groupBy`/`bucket` add key columns; aggregate methods add value columns.
 * Durations are in nanoseconds; `count` counts matching events, duration aggregates and `errorRate`
 * cover the matching calls. Percentiles are nearest-rank: from sketches within 1 % relative error,
 * or exact with {@link Query.exact}.
 *
 * @example
 * const { rows } = await store.query()
 *   .name('UserService.*').since('1h').where('route', '=', '/users')
 *   .groupBy('name').bucket('1m').percentiles([50, 90, 99])
 *   .run();
 * // rows: Array<{ name: string; time: number; p50: number | null; p90: number | null; p99: number | null }>
 */
export class Query<Keys extends object = {}, Values extends object = {}> {
  readonly #run: (query: NativeQuery) => Promise<AnswerColumns>;
  readonly #terms: string[] = [];
  readonly #groupBy: NativeGroupBy[] = [];
  readonly #keyColumns: string[] = [];
  readonly #aggregates: string[] = [];
  readonly #valueColumns: string[] = [];
  #orderBy: { column: string; descending: boolean } | undefined;
  #limit: number | undefined;
  #exact = false;
  #nowMs: number | undefined;

  /** @internal Made by {@link Store.query}. */
  /** `run` parses the filter (rejecting with a FilterSyntaxError), runs the query and answers in columns. */
  constructor(run: (query: NativeQuery) => Promise<AnswerColumns>) {
    this.#run = run;
  }

  /** Add terms written in the filter syntax, e.g. `'status:error duration>10ms'`. */
  filter(text: string): this {
    if (typeof text !== 'string') throw new TypeError(`laptime: filter must be a string, got ${show(text)}`);
    if (text.trim() !== '') this.#terms.push(text.trim());
    return this;
  }

  /** Only functions whose name matches the glob (`*` any run, `?` one character). */
  name(glob: string): this {
    return this.#term(`name:${valueText(stringArg(glob, 'name'))}`);
  }

  /** Only calls or only logs. */
  kind(kind: 'call' | 'log'): this {
    return this.#term(`kind:${oneOf(kind, ['call', 'log'], 'kind')}`);
  }

  /** Only successful or only failed calls. */
  status(status: 'ok' | 'error'): this {
    return this.#term(`status:${oneOf(status, ['ok', 'error'], 'status')}`);
  }

  /** Only logs of this level, or compared with it: `level('>=', 'warn')`. */
  level(level: Level): this;
  level(op: Comparison, level: Level): this;
  level(a: Comparison | Level, b?: Level): this {
    const [op, level] = b === undefined ? ['=' as Comparison, a as Level] : [a as Comparison, b];
    return this.#term(`level${opText(op)}${oneOf(level, LEVELS, 'level')}`);
  }

  /** Compare the duration: `duration('>', '10ms')` or with nanoseconds, `duration('>', 10_000_000)`. */
  duration(op: Comparison, value: number | string): this {
    return this.#term(`duration${opText(op)}${durationText(value, 'duration')}`);
  }

  /** Only events that started at or after this: a Date, epoch ms, or a time string (README "Durations and times": `'now'`, `'15m'`/`'7d'`/`'1w'` before now, epoch ms, ISO 8601). */
  since(bound: TimeBound): this {
    return this.#term(`since:${timeText(bound, 'since', this.#now())}`);
  }

  /** Only events that started before this (same forms as {@link Query.since}). */
  until(bound: TimeBound): this {
    return this.#term(`until:${timeText(bound, 'until', this.#now())}`);
  }

  /**
   * Compare a field. `=` and `!=` compare the field's text form (numbers in decimal, booleans as
   * `true`/`false`); the ordering operators compare numeric fields with a number. Events without
   * the field never match.
   */
  where(key: string, op: Comparison, value: string | number | boolean): this {
    const o = opText(op);
    if (o !== '=' && o !== '!=' && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new TypeError(`laptime: where(${show(key)}, '${op}', ...) needs a finite number, got ${show(value)}`);
    }
    return this.#term(`${keyText(key)}${o === '=' ? ':' : o}${valueText(String(value))}`);
  }

  /** The field's text form is one of `values`. */
  whereIn(key: string, values: ReadonlyArray<string | number | boolean>): this {
    if (!Array.isArray(values) || values.length === 0) {
      throw new TypeError(`laptime: whereIn(${show(key)}, ...) needs a non-empty array, got ${show(values)}`);
    }
    return this.#term(`${keyText(key)}:in(${values.map((v) => valueText(String(v))).join(',')})`);
  }

  /** Only events that carry the field. */
  has(key: string): this {
    return this.#term(`has:${keyText(key)}`);
  }

  /** Only events whose message contains the text. */
  messageContains(text: string): this {
    return this.#term(`message~${valueText(stringArg(text, 'messageContains'))}`);
  }

  /** Group by the function name (`'name'`) or by a field (`'route'`, or `'field.name'` for a field called `name`). */
  groupBy<K extends string>(key: K): Query<Keys & GroupColumn<K>, Values> {
    stringArg(key, 'groupBy');
    if (key === 'name') {
      this.#groupBy.push({ by: 'name' });
      this.#keyColumns.push('name');
    } else {
      const field = key.startsWith('field.') ? key.slice('field.'.length) : key;
      if (field === '') throw new TypeError('laptime: groupBy needs a field key');
      this.#groupBy.push({ by: 'field', key: field });
      this.#keyColumns.push(field);
    }
    return this as unknown as Query<Keys & GroupColumn<K>, Values>;
  }

  /** Group by time buckets of this width (a duration such as `'1m'`, `'250ms'`, `'1d'`, or ms as a number), aligned to the epoch; key column `time` = bucket start, epoch ms. */
  bucket(width: string | number): Query<Keys & { time: number }, Values> {
    let text: string;
    if (typeof width === 'number') {
      if (!(Number.isFinite(width) && width > 0)) throw new TypeError(`laptime: bucket width must be > 0 ms, got ${width}`);
      text = `${Math.round(width * 1e6)}ns`;
    } else {
      text = stringArg(width, 'bucket').trim();
      if (nativeBinding() !== null) {
        const d = parseDuration(text, 'bucket width');
        if (d.ns === 0n) throw new RangeError(`laptime: bucket width must be above 0, got ${show(width)}`);
        text = d.text;
      }
    }
    this.#groupBy.push({ by: 'time', width: text });
    this.#keyColumns.push('time');
    return this as unknown as Query<Keys & { time: number }, Values>;
  }

  /** Matching events (calls and logs). */
  count(): Query<Keys, Values & { count: number }> {
    return this.#aggregate('count');
  }

  /** Matching calls. */
  calls(): Query<Keys, Values & { calls: number }> {
    return this.#aggregate('calls');
  }

  /** Matching log events. */
  logs(): Query<Keys, Values & { logs: number }> {
    return this.#aggregate('logs');
  }

  /**
   * Matching calls per second over the time the query's calls were seen (first to last call
   * start, the same for every row: a range reaching back before the service ran does not dilute
   * it); null with fewer than two distinct call start times. The span is in the result's `span`.
   */
  rate(): Query<Keys, Values & { rate: number | null }> {
    return this.#aggregate('rate');
  }

  /** Matching failed calls. */
  errors(): Query<Keys, Values & { errors: number }> {
    return this.#aggregate('errors');
  }

  /** Failed / all matching calls; null without calls. */
  errorRate(): Query<Keys, Values & { errorRate: number | null }> {
    return this.#aggregate('error_rate');
  }

  /** Total duration of the matching calls, ns. */
  sum(): Query<Keys, Values & { sum: number }> {
    return this.#aggregate('sum');
  }

  /** Mean duration, ns. */
  mean(): Query<Keys, Values & { mean: number | null }> {
    return this.#aggregate('mean');
  }

  /** Shortest duration, ns. */
  min(): Query<Keys, Values & { min: number | null }> {
    return this.#aggregate('min');
  }

  /** Longest duration, ns. */
  max(): Query<Keys, Values & { max: number | null }> {
    return this.#aggregate('max');
  }

  /** Sample standard deviation of durations, ns (null below two calls). Decodes every matching page. */
  stddev(): Query<Keys, Values & { stddev: number | null }> {
    return this.#aggregate('stddev');
  }

  /** Percentiles of durations, ns, as columns `p50`, `p99.9`...: each in (0, 100]. */
  percentiles<const P extends readonly number[]>(
    percents: P,
  ): Query<Keys, Values & { [K in P[number] as Percentile<K>]: number | null }> {
    if (!Array.isArray(percents) || percents.length === 0) {
      throw new TypeError(`laptime: percentiles needs a non-empty array such as [50, 99], got ${show(percents)}`);
    }
    for (const p of percents) {
      if (typeof p !== 'number' || !(p > 0 && p <= 100)) {
        throw new RangeError(`laptime: a percentile must be a number in (0, 100], got ${show(p)}`);
      }
      this.#aggregates.push(`p${p}`);
      this.#valueColumns.push(`p${p}`);
    }
    return this as unknown as Query<Keys, Values & { [K in P[number] as Percentile<K>]: number | null }>;
  }

  /** Sort rows by a column (default: by the group key, ascending); rows without a value sort last. */
  orderBy(column: keyof QueryRow<Keys, Values> & string, direction: 'asc' | 'desc' = 'asc'): this {
    this.#orderBy = { column: stringArg(column, 'orderBy'), descending: oneOf(direction, ['asc', 'desc'], 'direction') === 'desc' };
    return this;
  }

  /** Keep the first `n` rows (after sorting). */
  limit(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) throw new RangeError(`laptime: limit must be a whole number >= 0, got ${show(n)}`);
    this.#limit = n;
    return this;
  }

  /** Exact percentiles: decode every matching page instead of merging sketches. */
  exact(on = true): this {
    this.#exact = on;
    return this;
  }

  /** Resolve relative times (`since('1h')`) against this instant instead of the time of `run()`. */
  at(now: Date | number): this {
    this.#nowMs = toEpochMs(now, 'at', nowEpochMs());
    return this;
  }

  /** The filter this builder has collected, in the shared syntax (for the CLI or the HTTP API); the engine's canonical form when it parses. */
  toFilterString(): string {
    const text = this.#terms.join(' ');
    const parsed = nativeBinding()?.parseFilter(text);
    return parsed?.canonical ?? text;
  }

  /** Run the query. Rejects with {@link FilterSyntaxError} on a bad filter. */
  async run(): Promise<QueryResult<QueryRow<Keys, Values>>> {
    const filter = this.#terms.join(' ');
    const aggregates = this.#aggregates.length > 0 ? this.#aggregates : ['count'];
    const valueColumns = this.#valueColumns.length > 0 ? this.#valueColumns : ['count'];
    const seen = new Set<string>();
    for (const c of [...this.#keyColumns, ...valueColumns]) {
      if (seen.has(c)) throw new TypeError(`laptime: the query has two columns named "${c}"`);
      seen.add(c);
    }
    const query: NativeQuery = { filter, aggregates, groupBy: this.#groupBy, exact: this.#exact };
    if (this.#nowMs !== undefined) query.nowMs = this.#nowMs;
    if (this.#limit !== undefined) query.limit = this.#limit;
    if (this.#orderBy !== undefined) {
      const { column, descending } = this.#orderBy;
      const k = this.#keyColumns.indexOf(column);
      const v = valueColumns.indexOf(column);
      if (k < 0 && v < 0) throw new TypeError(`laptime: orderBy ${show(column)} is not a column of the query (${[...seen].join(', ')})`);
      const g = this.#groupBy[k];
      query.orderBy = v >= 0 ? aggregates[v] : g?.by === 'field' ? g.key : g?.by;
      query.descending = descending;
    }
    const result = await this.#run(query);
    const width = result.valueLabels.length;
    const keyColumns = this.#keyColumns;
    const nullFor = aggregates.map((a) => (ALWAYS_NUMBER.has(a) ? 0 : null));
    const rows: Array<QueryRow<Keys, Values>> = new Array<QueryRow<Keys, Values>>(result.rowCount);
    for (let r = 0; r < result.rowCount; r++) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < keyColumns.length; i++) row[keyColumns[i]!] = result.keys[i]?.[r] ?? null;
      for (let i = 0; i < valueColumns.length; i++) {
        const v = result.values[r * width + i];
        row[valueColumns[i]!] = v === undefined || Number.isNaN(v) ? nullFor[i] : v;
      }
      rows[r] = row as QueryRow<Keys, Values>;
    }
    const span = result.span === undefined || result.span === null ? null : { first: result.span.firstMs, last: result.span.lastMs };
    const answer: QueryResult<QueryRow<Keys, Values>> = { rows, span, stats: { ...result.stats } };
    if (result.coverage !== undefined) answer.coverage = result.coverage;
    return answer;
  }

  #term(text: string): this {
    this.#terms.push(text);
    return this;
  }

  #aggregate<V extends object>(label: string): Query<Keys, Values & V> {
    this.#aggregates.push(label);
    this.#valueColumns.push(AGGREGATE_COLUMNS[label]!);
    return this as unknown as Query<Keys, Values & V>;
  }

  #now(): number {
    if (this.#nowMs === undefined) this.#nowMs = nowEpochMs();
    return this.#nowMs;
  }
}

const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const OPS: readonly Comparison[] = ['=', '!=', '<', '<=', '>', '>='];

function opText(op: Comparison): Comparison {
  return oneOf(op, OPS, 'operator');
}

function oneOf<T extends string>(value: T, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value)) {
    throw new TypeError(`laptime: ${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
  }
  return value;
}

function stringArg(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`laptime: ${what} must be a string, got ${show(value)}`);
  return value;
}

/** One stored event, as {@link Store.events} lists it. */
export interface StoredEvent {
  /** Function or logger name. */
  name: string;
  /** Start, epoch ms (a double: about 0.25 µs resolution today). */
  start: number;
  /** Start, epoch ns, exact. */
  startNs: bigint;
  /** Duration, ns. */
  durationNs: number;
  /** A timed call or a log line. */
  kind: 'call' | 'log';
  /** Outcome, for calls. */
  status?: 'ok' | 'error';
  /** Level, for logs. */
  level?: Level;
  /** Message, for logs. */
  message?: string;
  /** Fields stored with the event; whole numbers beyond 2^53 come as bigints (exact). */
  fields: Record<string, string | number | boolean | bigint>;
}

/** Options of {@link Store.events}. */
export interface EventsOptions {
  /** Page size, 1..100000 (default 100). */
  limit?: number;
  /** Continue after the page that returned this cursor. */
  cursor?: string;
  /** `'newest'` first (default) or `'oldest'` first. */
  order?: 'newest' | 'oldest';
  /** Resolve relative times in the filter against this instant (default: now). */
  at?: Date | number;
}

/** A page of events and the cursor of the next page (`null` on the last). */
export interface EventsPage {
  events: StoredEvent[];
  nextCursor: string | null;
  /** Listings from a fleet ({@link Fleet}) only: which indexers answered. */
  coverage?: Coverage;
}

const EVENTS_OPTIONS = ['limit', 'cursor', 'order', 'at'];

/** The native request of an events call; throws on bad arguments. */
/** A latency histogram: durations of the matching calls in log-spaced bins (ns). */
export interface LatencyHistogram {
  /** Matching calls; the bins' counts add up to it. */
  calls: number;
  /**
   * Ascending bins from `lo` up to `hi` ns (the last includes `hi`): a `0..0` bin first when some
   * calls took 0 ns, then log-spaced ones from the shortest to the longest duration. Counts are
   * exact per sketch bucket, so a call lands at most 1 % from its true bin edge.
   */
  bins: Array<{ lo: number; hi: number; count: number }>;
  stats: QueryStats;
}

/** Options of `histogram()`. */
export interface HistogramOptions {
  /** Log-spaced bins, 1..1000 (default 30). */
  bins?: number;
}

/** The addon's request for `histogram(filter, options)`; throws naming a bad argument. */
export function toHistogramRequest(filter: unknown, options: unknown, nowMs: number): NativeHistogramRequest {
  if (filter !== undefined && typeof filter !== 'string') {
    throw new TypeError(`laptime: histogram filter must be a string in the filter syntax, got ${show(filter)}`);
  }
  let bins = 30;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new TypeError(`laptime: histogram options must be an object, got ${show(options)}`);
    }
    const o = options as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (key !== 'bins') throw new TypeError(`laptime: unknown histogram option "${key}"${suggest(key, ['bins'])}`);
    }
    if (o.bins !== undefined) {
      if (!Number.isInteger(o.bins) || (o.bins as number) < 1 || (o.bins as number) > 1000) {
        throw new RangeError(`laptime: histogram option "bins" must be a whole number in 1..1000, got ${show(o.bins)}`);
      }
      bins = o.bins as number;
    }
  }
  return { filter: filter ?? '', nowMs, bins };
}

/** The public shape of a native histogram. */
export function toLatencyHistogram(h: NativeHistogram): LatencyHistogram {
  return { calls: h.calls, bins: h.bins.map((b) => ({ lo: b.loNs, hi: b.hiNs, count: b.count })), stats: { ...h.stats } };
}

export function toEventsRequest(filter: unknown, options: unknown): NativeEventsRequest {
  if (filter !== undefined && typeof filter !== 'string') {
    throw new TypeError(`laptime: events filter must be a string in the filter syntax, got ${show(filter)}`);
  }
  const request: NativeEventsRequest = { filter: filter ?? '' };
  if (options === undefined) return request;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`laptime: events options must be an object, got ${show(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!EVENTS_OPTIONS.includes(key)) throw new TypeError(`laptime: unknown events option "${key}"`);
  }
  if (o.limit !== undefined) {
    if (!Number.isInteger(o.limit) || (o.limit as number) < 1 || (o.limit as number) > 100_000) {
      throw new RangeError(`laptime: events option "limit" must be a whole number in 1..100000, got ${show(o.limit)}`);
    }
    request.limit = o.limit as number;
  }
  if (o.cursor !== undefined && o.cursor !== null) request.cursor = stringArg(o.cursor, 'events option "cursor"');
  if (o.order !== undefined) request.order = oneOf<'newest' | 'oldest'>(o.order as 'newest' | 'oldest', ['newest', 'oldest'], 'events option "order"');
  if (o.at !== undefined) request.nowMs = toEpochMs(o.at as Date | number, 'at', nowEpochMs());
  return request;
}

/** The public shape of a native events page. */
/**
 * `fields` with its keys in code-unit order: a store lists them in the order it first saw each key,
 * which differs between stores, so a listing over a fleet and one over a single store would print
 * the same event differently.
 */
function inKeyOrder<T extends Record<string, unknown>>(fields: T): T {
  const keys = Object.keys(fields);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  if (sorted) return fields;
  const out: Record<string, unknown> = {};
  for (const k of keys.sort()) out[k] = fields[k];
  return out as T;
}

export function toEventsPage(page: NativeEventPage): EventsPage {
  return {
    events: page.events.map((e) => {
      const event: StoredEvent = {
        name: e.name,
        start: e.startMs,
        startNs: e.startNs,
        durationNs: e.durationNs,
        kind: e.kind,
        fields: inKeyOrder(e.fields),
      };
      if (e.status !== undefined && e.status !== null) event.status = e.status;
      if (e.level !== undefined && e.level !== null) event.level = e.level;
      if (e.message !== undefined && e.message !== null) event.message = e.message;
      return event;
    }),
    nextCursor: page.nextCursor ?? null,
  };
}
