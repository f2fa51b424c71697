/**
 * What each CLI command does, given a reader and parsed options. Output goes through {@link Io} so
 * tests can run commands in-process; nothing here parses argv or exits.
 */
import type { Anomaly, FunctionComparison } from '../analysis';
import { valueText } from '../filter-text';
import { safeJson } from '../json';
import { parseDuration, parseRange, parseTime } from '../grammar';
import type { EventsOptions, QueryRow, QueryStats, StoredEvent } from '../query';
import { callsToOtlp, spanCount, type OtlpTraceRequest } from '../otlp';
import type { ReadApi } from '../reads';
import { count, csv, duration, jsonLines, latencyBar, percent, rate, table, time, type Column } from './format';

/** Where a command writes, and what it may assume about the terminal. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: tables get bars, long work shows progress on stderr. */
  isTTY: boolean;
  /** Current time, epoch ms. */
  now(): number;
  /** Resolves after `ms`, or early when the command should stop (tail -f). */
  sleep(ms: number): Promise<boolean>;
}

/** A CLI failure with the one-line reason printed before exiting non-zero. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/**
 * Thrown by {@link Io.out} once stdout is gone (`laptime export | head`): the command stops and
 * the CLI exits 0 without a word, since whoever read the output asked for no more of it.
 */
export class OutputClosed extends Error {
  constructor() {
    super('stdout was closed');
    this.name = 'OutputClosed';
  }
}

export type OutputFormat = 'table' | 'json' | 'csv';

/** Filter terms from the common options: `--name`, `--since`, `--until`, plus a raw filter. */
export interface Scope {
  filter?: string;
  name?: string;
  since?: string;
  until?: string;
}

/** The query narrowed to the scope; relative times resolve against the command's `now`. */
function scoped<Q extends { filter(text: string): Q; name(glob: string): Q; since(b: number): Q; until(b: number): Q }>(q: Q, s: Scope, nowMs: number): Q {
  if (s.filter !== undefined && s.filter !== '') q = q.filter(s.filter);
  if (s.name !== undefined) q = q.name(s.name);
  if (s.since !== undefined) q = q.since(timeMs(s.since, nowMs, '--since'));
  if (s.until !== undefined) q = q.until(timeMs(s.until, nowMs, '--until'));
  return q;
}

type StatsRow = QueryRow<{ name: string }, { count: number; rate: number | null; errors: number; errorRate: number | null; mean: number | null; max: number | null; p50: number | null; p90: number | null; p99: number | null }>;

const STATS_SORTS = ['name', 'count', 'rate', 'errors', 'errorRate', 'mean', 'p50', 'p90', 'p99', 'max'] as const;
export type StatsSort = (typeof STATS_SORTS)[number];

export interface StatsOptions extends Scope {
  sort: string;
  asc: boolean;
  limit?: number;
  format: OutputFormat;
  exact: boolean;
}

/** What the reading commands take: a local reader or a fleet's coordinator ({@link Fleet}). */
export type QuerySource = ReadApi<unknown>;

/** Say on stderr when a fleet's answer misses indexers (the rows then miss their events). */
function warnCoverage(result: { coverage?: { complete: boolean; summary: string } }, io: Io): void {
  if (result.coverage !== undefined && !result.coverage.complete) io.err(`laptime: partial answer: ${result.coverage.summary}\n`);
}

/** Per-function table: count, rate, mean, p50, p90, p99, max, error %. */
export async function stats(reader: QuerySource, o: StatsOptions, io: Io): Promise<void> {
  if (!(STATS_SORTS as readonly string[]).includes(o.sort)) {
    throw new CliError(`--sort must be one of ${STATS_SORTS.join(', ')}; got "${o.sort}"`, 2);
  }
  let q = scoped(reader.query(), o, io.now()).kind('call').groupBy('name').count().rate().errors().errorRate().mean().max().percentiles([50, 90, 99]);
  if (o.exact) q = q.exact();
  const result = await q.run();
  warnCoverage(result, io);
  const withRate: StatsRow[] = result.rows;
  const key = o.sort as StatsSort;
  withRate.sort((a, b) => compareValues(a[key], b[key], o.asc) || a.name.localeCompare(b.name));
  const shown = o.limit === undefined ? withRate : withRate.slice(0, o.limit);
  if (o.format === 'json') return io.out(jsonLines(shown));
  if (o.format === 'csv') {
    return io.out(csv(shown, ['name', 'count', 'rate', 'errors', 'errorRate', 'mean', 'p50', 'p90', 'p99', 'max'].map((h) => ({ header: h, value: (r: StatsRow) => r[h as keyof StatsRow] })), io.isTTY));
  }
  if (shown.length === 0) return io.out('no calls match\n');
  let lo = Infinity;
  let hi = 0;
  for (const r of shown) {
    lo = Math.min(lo, r.p50 ?? Infinity);
    hi = Math.max(hi, r.p99 ?? 0);
  }
  const columns: Array<Column<StatsRow>> = [
    { header: 'name', cell: (r) => r.name },
    { header: 'count', align: 'right', cell: (r) => count(r.count) },
    { header: 'rate', align: 'right', cell: (r) => rate(r.rate) },
    { header: 'mean', align: 'right', cell: (r) => duration(r.mean) },
    { header: 'p50', align: 'right', cell: (r) => duration(r.p50) },
    { header: 'p90', align: 'right', cell: (r) => duration(r.p90) },
    { header: 'p99', align: 'right', cell: (r) => duration(r.p99) },
    { header: 'max', align: 'right', cell: (r) => duration(r.max) },
    { header: 'errors', align: 'right', cell: (r) => percent(r.errorRate) },
  ];
  if (io.isTTY) columns.push({ header: 'p50 █ ─ p99 (log)', cell: (r) => latencyBar(r.p50, r.p99, lo, hi) });
  io.out(table(shown, columns));
}

/** Epoch ms of a CLI time (README "Durations and times"); a bad one throws a FilterSyntaxError naming the option. */
function timeMs(text: string, nowMs: number, option: string): number {
  return parseTime(text, nowMs, option).ms;
}

function compareValues(a: unknown, b: unknown, asc: boolean): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  const o = typeof a === 'string' && typeof b === 'string' ? a.localeCompare(b) : (a as number) - (b as number);
  return asc ? o : -o;
}

export interface TopOptions extends Scope {
  by: string;
  n: number;
  events: boolean;
  format: OutputFormat;
}

/** The slowest functions (by p99 or another column), or with `events` the slowest single calls. */
export async function top(reader: QuerySource, o: TopOptions, io: Io): Promise<void> {
  if (!o.events) return stats(reader, { ...o, sort: o.by, asc: false, limit: o.n, exact: false }, io);
  // The n slowest calls: the exact duration at rank total - n + 1 is a threshold that at least n
  // calls reach; list those and keep the n longest.
  const total = (await scoped(reader.query(), o, io.now()).kind('call').count().run()).rows[0]?.count ?? 0;
  if (total === 0) return io.out(o.format === 'table' ? 'no calls match\n' : '');
  const q = Math.max(1e-9, Math.min(1, (total - o.n + 1) / total));
  const threshold = (await scoped(reader.query(), o, io.now()).kind('call').percentiles([q * 100]).exact().run()).rows[0];
  const cutoff = threshold === undefined ? 0 : Object.values(threshold)[0];
  const filter = [o.filter ?? '', 'kind:call', `duration>=${typeof cutoff === 'number' ? cutoff : 0}ns`, o.name === undefined ? '' : `name:${valueText(o.name)}`, timeTerm('since', o.since, io), timeTerm('until', o.until, io)]
    .filter((t) => t !== '')
    .join(' ');
  const found: StoredEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await reader.events(filter, cursor === undefined ? { limit: 10_000 } : { limit: 10_000, cursor });
    found.push(...page.events);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  found.sort((a, b) => b.durationNs - a.durationNs || (a.startNs < b.startNs ? -1 : 1));
  printEvents(found.slice(0, o.n), o.format, io);
}

/** `since:<epoch ms>` for a CLI time, or nothing. */
function timeTerm(key: 'since' | 'until', text: string | undefined, io: Io): string {
  return text === undefined ? '' : `${key}:${Math.floor(timeMs(text, io.now(), `--${key}`))}`;
}


const EVENT_COLUMNS: Array<Column<StoredEvent>> = [
  { header: 'time', cell: (e) => time(e.start) },
  { header: 'name', cell: (e) => e.name },
  { header: 'duration', align: 'right', cell: (e) => (e.kind === 'call' ? duration(e.durationNs) : '') },
  { header: 'status', cell: (e) => e.status ?? e.level ?? '' },
  { header: 'message', cell: (e) => e.message ?? '' },
  { header: 'fields', cell: (e) => Object.entries(e.fields).map(([k, v]) => `${k}=${String(v)}`).join(' ') },
];

/** Events as a table, JSON lines or CSV. */
export function printEvents(events: readonly StoredEvent[], format: OutputFormat, io: Io, header = true): void {
  if (format === 'json') return io.out(jsonLines(events));
  if (format === 'csv') {
    const text = csv(events, [
      { header: 'start_ns', value: (e) => e.startNs },
      { header: 'name', value: (e) => e.name },
      { header: 'duration_ns', value: (e) => e.durationNs },
      { header: 'kind', value: (e) => e.kind },
      { header: 'status', value: (e) => e.status ?? e.level ?? '' },
      { header: 'message', value: (e) => e.message ?? '' },
      { header: 'fields', value: (e) => e.fields },
    ], io.isTTY);
    return io.out(header ? text : text.slice(text.indexOf('\n') + 1));
  }
  if (events.length === 0) {
    if (header) io.out('no events match\n');
    return;
  }
  const text = table(events, EVENT_COLUMNS);
  io.out(header ? text : text.slice(text.indexOf('\n') + 1));
}

export interface QueryOptions {
  filter: string;
  group: string[];
  bucket?: string;
  agg: string[];
  sort?: string;
  asc: boolean;
  limit?: number;
  exact: boolean;
  /** Say on stderr how the engine answered (pages skipped, answered from meta, decoded). */
  explain?: boolean;
  format: OutputFormat;
}

const AGGREGATES = ['count', 'errors', 'errorRate', 'sum', 'mean', 'min', 'max', 'stddev'] as const;

/** One line on how a query was answered: what `--explain` prints. */
export function explainLine(s: QueryStats, percentiles: boolean): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const how = percentiles ? `; percentiles ${s.exactPercentiles ? 'exact' : 'from sketches'}` : '';
  return (
    `explain: ${n(s.pagesTotal)} pages: ${n(s.pagesSkipped)} skipped (${n(s.pagesSkippedByIndex)} by an index), ` +
    `${n(s.pagesFromMeta)} answered from meta (${n(s.pagesFromIndex)} from the value index), ` +
    `${n(s.pagesDecoded)} decoded; ${n(s.rowsScanned)} rows scanned, ${n(s.rowsMatched)} matched${how}\n`
  );
}

/** With grouping or aggregates: a grouped table; otherwise the matching events, newest first. */
export async function query(reader: QuerySource, o: QueryOptions, io: Io): Promise<void> {
  const aggregating = o.group.length > 0 || o.bucket !== undefined || o.agg.length > 0;
  if (o.explain === true && !aggregating) {
    throw new CliError('--explain goes with grouped aggregates (-g, --bucket or -a, e.g. -a count)', 2);
  }
  if (!aggregating) {
    const page = await reader.events(o.filter, { limit: o.limit ?? 50 });
    warnCoverage(page, io);
    printEvents(page.events, o.format, io);
    if (o.format === 'table' && page.nextCursor !== null) io.err(`(more events match; raise --limit, or use export)\n`);
    return;
  }
  if (o.bucket !== undefined) await checkBuckets(reader, o.filter, o.bucket);
  let q = reader.query().filter(o.filter);
  for (const g of o.group) q = q.groupBy(g) as typeof q;
  if (o.bucket !== undefined) q = q.bucket(o.bucket) as unknown as typeof q;
  const percentiles: number[] = [];
  for (const a of o.agg.length > 0 ? o.agg : ['count']) {
    const p = /^p(\d+(?:\.\d+)?)$/.exec(a);
    if (p !== null) percentiles.push(Number(p[1]));
    else if ((AGGREGATES as readonly string[]).includes(a)) q = (q as unknown as Record<string, () => typeof q>)[a]!.call(q);
    else throw new CliError(`unknown aggregate "${a}": use ${AGGREGATES.join(', ')} or a percentile such as p99`, 2);
  }
  if (percentiles.length > 0) q = q.percentiles(percentiles) as unknown as typeof q;
  if (o.sort !== undefined) q = q.orderBy(o.sort as never, o.asc ? 'asc' : 'desc');
  if (o.limit !== undefined) q = q.limit(o.limit);
  if (o.exact) q = q.exact();
  const result = await q.run();
  warnCoverage(result, io);
  if (o.explain === true) io.err(explainLine(result.stats, percentiles.length > 0));
  const rows = result.rows;
  const records = rows as unknown as Array<Record<string, unknown>>;
  const headers = records.length > 0 ? Object.keys(records[0]!) : [];
  if (o.format === 'json') return io.out(jsonLines(records));
  if (o.format === 'csv') return io.out(csv(records, headers.map((h) => ({ header: h, value: (r: Record<string, unknown>) => r[h] })), io.isTTY));
  if (records.length === 0) return io.out('no events match\n');
  io.out(
    table(
      records,
      headers.map((h) => ({
        header: h,
        align: h === 'name' || typeof records[0]![h] === 'string' ? ('left' as const) : ('right' as const),
        cell: (r: Record<string, unknown>) => cellText(h, r[h]),
      })),
    ),
  );
}

/** Most time buckets one `query --bucket` may span: a million rows is already more than anyone reads. */
export const MAX_BUCKETS = 1_000_000;

/**
 * Refuse a bucket width that cuts the matching events' time span into more than
 * {@link MAX_BUCKETS} buckets (`--bucket 100ns` over an hour would be 36 billion): a clear error
 * instead of a result as large as the store.
 */
async function checkBuckets(reader: QuerySource, filter: string, bucket: string): Promise<void> {
  const widthNs = Number(parseDuration(bucket, '--bucket').ns);
  if (!(widthNs > 0)) throw new CliError(`--bucket "${bucket}" must be a width above 0, such as 1m`, 2);
  const startOf = async (order: 'newest' | 'oldest') => (await reader.events(filter, { limit: 1, order })).events[0]?.startNs ?? null;
  const [first, last] = await Promise.all([startOf('oldest'), startOf('newest')]);
  if (first === null || last === null) return;
  const spanNs = Number(last - first);
  const buckets = Math.floor(spanNs / widthNs) + 1;
  if (buckets > MAX_BUCKETS) {
    throw new CliError(
      `--bucket ${bucket} cuts the ${duration(spanNs)} the matching events span into ${count(buckets)} buckets; at most ${count(MAX_BUCKETS)}: use a wider bucket or narrow the filter (since:, until:)`,
      2,
    );
  }
}

/** Durations in human units, times as ISO, rates as percentages, the rest as is. */
function cellText(column: string, v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v !== 'number') return String(v);
  if (column === 'time') return time(v);
  if (column === 'count' || column === 'errors') return count(v);
  if (column === 'errorRate') return percent(v);
  if (['sum', 'mean', 'min', 'max', 'stddev'].includes(column) || /^p\d/.test(column)) return duration(v);
  return String(v);
}

/**
 * What `tail` reads: listings that also say which writer stored each event (a store's partition;
 * over a fleet, the partition each event's cursor names), so `-f` can tell printed events from new
 * ones.
 */
export interface TailSource {
  events: ReadApi<unknown>['events'];
  eventsWithOrigin(filter?: string, options?: EventsOptions): Promise<{ events: Array<{ event: StoredEvent; partition: string }>; nextCursor: string | null }>;
}

export interface TailOptions {
  filter: string;
  n: number;
  follow: boolean;
  intervalMs: number;
  /** With `follow`: how far before the newest event seen to look for events sealed late (default 30 s). */
  lookbackMs?: number;
  format: OutputFormat;
}

/**
 * The last `n` events, oldest first; with `follow`, then every event that becomes visible later,
 * exactly once. A writer seals a page up to its page age (2 s by default) after its first event,
 * so an event can appear after newer ones of another writer: each poll lists the events from
 * `lookbackMs` before the newest start seen and prints those not printed before. What was printed
 * is remembered by writer and content with a count, so two identical events are two events.
 * Events that appear with a start older than the look-back (e.g. recorded with an old `startNs`)
 * are not followed.
 */
export async function tail(reader: TailSource, o: TailOptions, io: Io): Promise<void> {
  if (!o.follow) {
    const last = await reader.events(o.filter, { limit: o.n });
    warnCoverage(last, io);
    return printEvents([...last.events].reverse(), o.format, io);
  }
  const lookbackNs = BigInt(Math.max(0, Math.round(o.lookbackMs ?? 30_000))) * 1_000_000n;
  let newest = (await reader.events(o.filter, { limit: 1 })).events[0]?.startNs ?? BigInt(Math.floor(io.now())) * 1_000_000n;
  // How many events of each identity the window held when last listed, and their start (to forget them).
  const seen = new Map<string, { count: number; startNs: bigint }>();
  const windowStartMs = () => (newest - lookbackNs) / 1_000_000n;
  const listWindow = async (fromMs: bigint) => {
    const filter = `${o.filter} since:${fromMs}`.trim();
    const found: Array<{ event: StoredEvent; partition: string }> = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await reader.eventsWithOrigin(filter, { limit: 1000, order: 'oldest', ...(cursor === undefined ? {} : { cursor }) });
      for (const e of page.events) found.push(e);
      if (page.nextCursor === null) return found;
      cursor = page.nextCursor;
    }
  };
  /** The events of a listing not printed before; remembers the listing. */
  const fresh = (found: Array<{ event: StoredEvent; partition: string }>): StoredEvent[] => {
    const counts = new Map<string, { count: number; startNs: bigint }>();
    const out: StoredEvent[] = [];
    for (const { event, partition } of found) {
      const key = eventKey(partition, event);
      const c = counts.get(key) ?? { count: 0, startNs: event.startNs };
      c.count++;
      counts.set(key, c);
      // The n-th copy of an identity is new when the last listing held fewer than n.
      if (c.count > (seen.get(key)?.count ?? 0)) out.push(event);
      if (event.startNs > newest) newest = event.startNs;
    }
    for (const [key, c] of counts) seen.set(key, c);
    return out;
  };
  // First the last n events: taken from the window's listing itself, so no event can slip in
  // between printing them and remembering them; older ones (if the window holds fewer) before it.
  const from = windowStartMs();
  const first = fresh(await listWindow(from)).slice(-o.n);
  const before = first.length < o.n ? (await reader.events(`${o.filter} until:${from}`.trim(), { limit: o.n - first.length })).events.reverse() : [];
  printEvents([...before, ...first], o.format, io);
  while (await io.sleep(o.intervalMs)) {
    const shown = fresh(await listWindow(windowStartMs()));
    if (shown.length > 0) printEvents(shown, o.format, io, false);
    const cutoff = windowStartMs() * 1_000_000n;
    for (const [key, v] of seen) if (v.startNs < cutoff) seen.delete(key);
  }
}

/** An event's identity within one poll: its writer and everything stored about it. */
function eventKey(partition: string, e: StoredEvent): string {
  // safeJson: integer fields beyond 2^53 are bigints, which JSON.stringify refuses.
  return safeJson([partition, e.startNs.toString(), e.name, e.durationNs, e.kind, e.status ?? e.level ?? '', e.message ?? '', e.fields]);
}

export interface AnomaliesCliOptions extends Scope {
  bucket: string;
  metric: 'p50' | 'p99' | 'errorRate';
  threshold?: number;
  minChange?: number;
  minCount?: number;
  direction: 'up' | 'down' | 'both';
  format: OutputFormat;
}

/** Anomalous buckets, oldest first. */
export async function anomalies(reader: QuerySource, o: AnomaliesCliOptions, io: Io): Promise<void> {
  const found = await reader.anomalies({
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    ...(o.name === undefined ? {} : { name: o.name }),
    since: timeMs(o.since ?? '6h', io.now(), '--since'),
    ...(o.until === undefined ? {} : { until: timeMs(o.until, io.now(), '--until') }),
    at: io.now(),
    bucket: o.bucket,
    metric: o.metric,
    direction: o.direction,
    ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
    ...(o.minChange === undefined ? {} : { minRelativeChange: o.minChange }),
    ...(o.minCount === undefined ? {} : { minCount: o.minCount }),
  });
  if (o.format === 'json') return io.out(jsonLines(found));
  const value = (a: Anomaly, v: number) => (a.metric === 'errorRate' ? percent(v) : duration(v));
  if (o.format === 'csv') {
    return io.out(csv(found, ['time', 'name', 'metric', 'value', 'baseline', 'relativeChange', 'z', 'count', 'direction'].map((h) => ({ header: h, value: (a: Anomaly) => a[h as keyof Anomaly] })), io.isTTY));
  }
  if (found.length === 0) return io.out('no anomalies\n');
  io.out(
    table(found, [
      { header: 'bucket', cell: (a) => time(a.time) },
      { header: 'name', cell: (a) => a.name },
      { header: 'metric', cell: (a) => a.metric },
      { header: 'value', align: 'right', cell: (a) => value(a, a.value) },
      { header: 'baseline', align: 'right', cell: (a) => value(a, a.baseline) },
      { header: 'change', align: 'right', cell: (a) => (Number.isFinite(a.relativeChange) ? `${a.relativeChange >= 0 ? '+' : ''}${(a.relativeChange * 100).toFixed(0)}%` : 'new') },
      { header: 'z', align: 'right', cell: (a) => a.z.toFixed(1) },
      { header: 'calls', align: 'right', cell: (a) => count(a.count) },
    ]),
  );
}

export interface CompareCliOptions {
  filter?: string;
  name?: string;
  baseline: string;
  candidate: string;
  percentiles: number[];
  exact: boolean;
  all: boolean;
  format: OutputFormat;
}

/** Per-function change between two ranges; regressed first. */
export async function compare(reader: QuerySource, o: CompareCliOptions, io: Io): Promise<void> {
  const nowMs = io.now();
  const report = await reader.compare({
    baseline: parseRange(o.baseline, nowMs, '--baseline'),
    candidate: parseRange(o.candidate, nowMs, '--candidate'),
    percentiles: o.percentiles,
    exact: o.exact,
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    ...(o.name === undefined ? {} : { name: o.name }),
  });
  const shown = o.all ? report.functions : report.functions.filter((f) => f.verdict !== 'unchanged' && f.verdict !== 'insufficient_data');
  if (o.format === 'json') return io.out(jsonLines(shown));
  const pct = (f: FunctionComparison, p: number) => f.percentiles.find((x) => x.percentile === p);
  if (o.format === 'csv') {
    return io.out(
      csv(shown, [
        { header: 'name', value: (f) => f.name },
        { header: 'verdict', value: (f) => f.verdict },
        { header: 'baseline_calls', value: (f) => f.baseline.calls },
        { header: 'candidate_calls', value: (f) => f.candidate.calls },
        ...o.percentiles.flatMap((p) => [
          { header: `baseline_p${p}`, value: (f: FunctionComparison) => pct(f, p)?.baseline },
          { header: `candidate_p${p}`, value: (f: FunctionComparison) => pct(f, p)?.candidate },
        ]),
        { header: 'baseline_error_rate', value: (f) => f.baseline.errorRate },
        { header: 'candidate_error_rate', value: (f) => f.candidate.errorRate },
      ], io.isTTY),
    );
  }
  if (shown.length === 0) return io.out(`no function changed significantly (${report.functions.length} compared; --all lists them)\n`);
  const change = (f: FunctionComparison, p: number) => {
    const c = pct(f, p);
    if (c === undefined) return '-';
    const sign = c.relativeChange >= 0 ? '+' : '';
    return `${duration(c.baseline)} → ${duration(c.candidate)} (${sign}${(c.relativeChange * 100).toFixed(0)}%${c.significant ? '' : ', n.s.'})`;
  };
  io.out(
    table(shown, [
      { header: 'name', cell: (f) => f.name },
      { header: 'verdict', cell: (f) => f.verdict.replace('_', ' ') },
      { header: 'calls', align: 'right', cell: (f) => `${count(f.baseline.calls)} → ${count(f.candidate.calls)}` },
      ...o.percentiles.map((p) => ({ header: `p${p}`, cell: (f: FunctionComparison) => change(f, p) })),
      { header: 'errors', cell: (f) => `${percent(f.baseline.errorRate)} → ${percent(f.candidate.errorRate)}${f.errorRate.significant ? '' : ' (n.s.)'}` },
    ]),
  );
}

export interface ExportOptions {
  filter: string;
  format: 'ndjson' | 'csv';
  /** CSV goes to a terminal: fields are made printable (NDJSON is always terminal-safe and exact). */
  forTerminal?: boolean;
  write(text: string): void;
  /** Total events, for the progress line (known only on a TTY). */
  progress?: (done: number, total: number) => void;
  /** Told once when a fleet's listing missed indexers (the export then misses their events). */
  partial?: (summary: string) => void;
}

/** Calls `partial` with the first incomplete coverage among the pages given to it. */
function coverageWatch(partial: ((summary: string) => void) | undefined): (page: { coverage?: { complete: boolean; summary: string } }) => void {
  let told = false;
  return (page) => {
    if (told || partial === undefined || page.coverage === undefined || page.coverage.complete) return;
    told = true;
    partial(page.coverage.summary);
  };
}

/** Every matching event, oldest first, streamed page by page. Returns how many were written. */
export async function exportEvents(reader: QuerySource, o: ExportOptions): Promise<number> {
  const total = o.progress === undefined ? 0 : ((await reader.query().filter(o.filter).count().run()).rows[0]?.count ?? 0);
  let written = 0;
  let cursor: string | undefined;
  let first = true;
  const watch = coverageWatch(o.partial);
  for (;;) {
    const page = await reader.events(o.filter, { limit: 10_000, order: 'oldest', ...(cursor === undefined ? {} : { cursor }) });
    watch(page);
    const collect: string[] = [];
    const io: Io = { out: (t) => collect.push(t), err: () => {}, isTTY: o.forTerminal === true, now: Date.now, sleep: async () => false };
    printEvents(page.events, o.format === 'ndjson' ? 'json' : 'csv', io, first);
    first = false;
    o.write(collect.join(''));
    written += page.events.length;
    o.progress?.(written, total);
    if (page.nextCursor === null) return written;
    cursor = page.nextCursor;
  }
}

export interface OtlpExportOptions {
  filter: string;
  serviceName: string;
  /** Takes one OTLP/JSON request (a page of spans); resolves once it is written or accepted. */
  send(request: OtlpTraceRequest, spans: number): Promise<void>;
  /** As {@link ExportOptions.partial}. */
  partial?: (summary: string) => void;
}

/**
 * Every matching call, oldest first, as OTLP/JSON requests of up to 10,000 spans (log events are
 * not spans and are skipped). Returns how many spans were sent.
 */
export async function exportOtlp(reader: QuerySource, o: OtlpExportOptions): Promise<number> {
  const filter = o.filter.trim() === '' ? 'kind:call' : `kind:call ${o.filter}`;
  let sent = 0;
  let cursor: string | undefined;
  const watch = coverageWatch(o.partial);
  for (;;) {
    const page = await reader.events(filter, { limit: 10_000, order: 'oldest', ...(cursor === undefined ? {} : { cursor }) });
    watch(page);
    const request = callsToOtlp(page.events, o.serviceName, sent);
    const spans = spanCount(request);
    if (spans > 0) await o.send(request, spans);
    sent += spans;
    if (page.nextCursor === null) return sent;
    cursor = page.nextCursor;
  }
}
