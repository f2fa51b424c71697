/**
 * Reading a fleet: queries answered by a coordinator (`laptime-fleet coordinate`) over all its
 * indexers, with the same {@link Query} builder and row shapes as a local store. The coordinator
 * merges the indexers' partial answers; this module only carries the query there and the answer
 * back (HTTP must happen in JS: the addon has no client), and says which indexers answered.
 */
import { toAnomaliesRequest, toAnomaly, toCompareReport, toCompareRequest, type AnomaliesOptions, type Anomaly, type CompareOptions, type CompareReport } from './analysis';
import type { NativeAnomaly, NativeCompareResult, NativeEvent, NativeHistogram, NativeQuery, NativeQueryStats } from './native';
import type { AnswerColumns } from './answer';
import { checkFilter } from './filter-text';
import { Query, toEventsPage, toEventsRequest, toHistogramRequest, toLatencyHistogram, type EventsOptions, type EventsPage, type HistogramOptions, type LatencyHistogram, type StoredEvent } from './query';
import type { ReadApi } from './reads';
import { checkStatsQuery, functionStats, type StatsQuery, type StatsReport } from './stats';
import { nowEpochMs } from './time';
import { show } from './describe';
import type { Coverage } from './coverage';

/** How to reach a coordinator. */
export interface FleetOptions {
  /** Bearer token the coordinator requires (when it listens beyond loopback). */
  token?: string;
  /** Longest wait for one answer, ms (default 30,000). */
  timeoutMs?: number;
}

/** The coordinator refused the query or could not be reached. */
export class FleetError extends Error {
  override readonly name = 'FleetError';
  /** HTTP status, when the coordinator answered. */
  readonly status: number | null;

  constructor(message: string, status: number | null) {
    super(message);
    this.status = status;
  }
}

/** Answer of `POST /v1/query` (coordinate/answer.rs). */
interface CoordinatorAnswer {
  rows: Array<Record<string, string | number | boolean | null>>;
  columns: { keys: string[]; values: string[] };
  span: { first: number; last: number } | null;
  stats: NativeQueryStats;
  coverage: Coverage;
}

/**
 * A fleet's coordinator as a query source.
 *
 * @example
 * const fleet = openFleet('http://127.0.0.1:7070');
 * const { rows, coverage } = await fleet.query().kind('call').groupBy('name').percentiles([50, 99]).run();
 */
export class Fleet implements ReadApi<null> {
  readonly url: string;
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;

  constructor(url: string, options: FleetOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`laptime: openFleet needs the coordinator's URL (http://host:port), got ${show(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`laptime: openFleet needs an http:// URL, got ${show(url)}`);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError(`laptime: timeoutMs must be a positive number of ms, got ${show(options.timeoutMs)}`);
    this.url = url;
    this.#base = parsed.href.endsWith('/') ? parsed.href : `${parsed.href}/`;
    this.#headers = { 'content-type': 'application/json' };
    if (options.token !== undefined) this.#headers.authorization = `Bearer ${options.token}`;
    this.#timeoutMs = timeoutMs;
  }

  /** A query over every indexer; its `run()` answer also carries the {@link Coverage}. */
  query(): Query {
    return new Query((q) => this.#run(q));
  }

  /**
   * Events over every indexer, newest first by default, with a cursor for the next page: the same
   * arguments and page as a store's `events()`, plus the coverage.
   */
  async events(filter?: string, options?: EventsOptions): Promise<EventsPage> {
    const { answer, page } = await this.#listing(filter, options);
    return { ...page, coverage: answer.coverage };
  }

  /**
   * @internal {@link events} with the partition (writer) that stored each event, read from its
   * cursor (`start.tie.partition`): `laptime tail -f --coordinator` tells printed events from new
   * ones by it, as it does over one store.
   */
  async eventsWithOrigin(filter?: string, options?: EventsOptions): Promise<{ events: Array<{ event: StoredEvent; partition: string }>; nextCursor: string | null }> {
    const { answer, page } = await this.#listing(filter, options);
    return { events: page.events.map((event, i) => ({ event, partition: partitionOf(answer.events[i]!.cursor) })), nextCursor: page.nextCursor };
  }

  /** The coordinator's listing, as it came and as a page of events. */
  async #listing(filter: string | undefined, options: EventsOptions | undefined): Promise<{ answer: FleetEventsAnswer; page: EventsPage }> {
    const request = toEventsRequest(filter, options);
    // A bad filter is a FilterSyntaxError here, before anything goes over the network.
    request.filter = checkFilter(request.filter ?? '');
    const answer = (await this.#post('v1/events', request)) as FleetEventsAnswer;
    const page = toEventsPage({ events: answer.events.map(toNativeEvent), ...(answer.nextCursor === null ? {} : { nextCursor: answer.nextCursor }) });
    return { answer, page };
  }

  /** Per-function statistics over every indexer, as a store's `stats()` (no writer counters: `null`). */
  async stats(query?: StatsQuery): Promise<StatsReport<null>> {
    const rows = await functionStats(this.query(), checkStatsQuery(query));
    return { rows, counters: null };
  }

  /** The latency histogram of the matching calls over every indexer, plus the coverage. */
  async histogram(filter?: string, options?: HistogramOptions): Promise<LatencyHistogram & { coverage: Coverage }> {
    const request = toHistogramRequest(filter, options, nowEpochMs());
    request.filter = checkFilter(request.filter ?? '');
    const answer = (await this.#post('v1/histogram', request)) as NativeHistogram & { coverage: Coverage };
    return { ...toLatencyHistogram(answer), coverage: answer.coverage };
  }

  /** Anomalous buckets over every indexer (the events of indexers that did not answer are missing: see a query's coverage). */
  async anomalies(options?: AnomaliesOptions): Promise<Anomaly[]> {
    const answer = (await this.#post('v1/anomalies', toAnomaliesRequest(options), true)) as { anomalies: NativeAnomaly[] };
    return answer.anomalies.map(toAnomaly);
  }

  /** Per-function change between two ranges over every indexer. */
  async compare(options: CompareOptions): Promise<CompareReport> {
    return toCompareReport((await this.#post('v1/compare', toCompareRequest(options), true)) as NativeCompareResult);
  }

  async #run(query: NativeQuery): Promise<AnswerColumns> {
    // A bad filter is a FilterSyntaxError here, before anything goes over the network.
    const checked: NativeQuery = { ...query, filter: checkFilter(query.filter ?? '') };
    return toAnswerColumns((await this.#post('v1/query', checked)) as CoordinatorAnswer);
  }

  /** POST `body` as JSON to the coordinator's `path`; the parsed answer, or a FleetError. */
  async #post(path: string, request: unknown, floats = false): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.#base), {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const why = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : String((err as { cause?: unknown }).cause ?? err);
      throw new FleetError(`laptime: coordinator ${this.url}: ${why}`, null);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = floats ? JSON.parse(text, reviveFloats) : JSON.parse(text);
    } catch {
      throw new FleetError(`laptime: coordinator ${this.url} answered ${response.status} with a body that is not JSON: ${show(text.slice(0, 200))}`, response.status);
    }
    if (!response.ok) {
      const error = (body as { error?: unknown }).error;
      throw new FleetError(`laptime: coordinator ${this.url} refused the request (${response.status}): ${typeof error === 'string' ? error : text.slice(0, 200)}`, response.status);
    }
    return body;
  }
}

/** Analysis figures JSON has no number for (an infinite change over a zero baseline) travel as text. */
const FLOAT_KEYS = new Set(['value', 'baseline', 'z', 'relativeChange', 'q', 'baselineErrorRate', 'candidateErrorRate', 'errorRatePValue']);
const NON_FINITE: Record<string, number> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN };

function reviveFloats(key: string, value: unknown): unknown {
  return FLOAT_KEYS.has(key) && typeof value === 'string' && value in NON_FINITE ? NON_FINITE[value] : value;
}

/** An event as the coordinator lists it (coordinate/events.rs). */
interface WireEvent extends Omit<NativeEvent, 'startNs' | 'fields'> {
  startNs: string;
  fields: Record<string, string | number | boolean>;
  /** Keys of integer fields beyond 2^53, sent as decimal strings. */
  bigints?: string[];
  cursor: string;
}

interface FleetEventsAnswer {
  events: WireEvent[];
  nextCursor: string | null;
  coverage: Coverage;
}

/** The partition id a listing cursor names (`start.tie.partition`; the id may hold dots). */
function partitionOf(cursor: string): string {
  const first = cursor.indexOf('.');
  const second = first < 0 ? -1 : cursor.indexOf('.', first + 1);
  if (second < 0) throw new FleetError(`laptime: the coordinator listed an event with the cursor ${show(cursor)}, which names no partition`, null);
  return cursor.slice(second + 1);
}

function toNativeEvent(e: WireEvent): NativeEvent {
  const fields: NativeEvent['fields'] = { ...e.fields };
  for (const key of e.bigints ?? []) fields[key] = BigInt(e.fields[key] as string);
  const { bigints: _bigints, cursor: _cursor, ...rest } = e;
  return { ...rest, startNs: BigInt(e.startNs), fields };
}

/** Rows keyed by column (the coordinator's form) into columns. */
function toAnswerColumns(a: CoordinatorAnswer): AnswerColumns {
  return {
    keyLabels: a.columns.keys,
    valueLabels: a.columns.values,
    rowCount: a.rows.length,
    keys: a.columns.keys.map((k) => a.rows.map((r) => r[k] ?? null)),
    values: Float64Array.from(a.rows.flatMap((r) => a.columns.values.map((v) => (typeof r[v] === 'number' ? r[v] : Number.NaN)))),
    span: a.span === null ? null : { firstMs: a.span.first, lastMs: a.span.last },
    stats: a.stats,
    coverage: a.coverage,
  };
}

/** A {@link Fleet} reading through the coordinator at `url`. */
export function openFleet(url: string, options?: FleetOptions): Fleet {
  return new Fleet(url, options);
}
