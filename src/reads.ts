/**
 * The read methods a {@link Store} and a {@link Reader} share: written once here, with the same
 * shapes for both (`stats()` reports the store's counters, `null` from a reader). Each class delegates to a `Reads` over its own source: a store flushes before it
 * reads and answers empty without the addon; a reader reads as it is and has no counters.
 */
import { toAnomaly, toAnomaliesRequest, toCompareReport, toCompareRequest, type AnomaliesOptions, type Anomaly, type CompareOptions, type CompareReport } from './analysis';
import type { NativeReaderHandle } from './native';
import { unpackAnswer } from './answer';
import { withFilterErrors } from './filter-text';
import { Query, toEventsPage, toEventsRequest, toHistogramRequest, toLatencyHistogram, type EventsOptions, type EventsPage, type HistogramOptions, type LatencyHistogram } from './query';
import { nowEpochMs } from './time';
import { checkStatsQuery, functionStats, type StatsQuery, type StatsReport } from './stats';

/** The native calls the read methods use (a native store and a native reader both have them). */
export type NativeReads = Pick<NativeReaderHandle, 'query' | 'histogram' | 'events' | 'anomalies' | 'compare'>;

/**
 * What the read methods need from the store or reader behind them; `C` is what `stats()` reports as
 * counters (a store's {@link StoreCounters}, `null` for a reader).
 */
export interface ReadSource<C> {
  /** The native handle, `null` when there is nothing to read (no addon); throws once closed. */
  handle(): NativeReads | null;
  /** What must happen before a read, after its arguments were checked (a store flushes). */
  beforeRead(): Promise<void>;
  /** The writer's counters (a store), or `null` (a reader writes nothing). */
  counters(): C;
}

/** The read API of a store (`C` = {@link StoreCounters}) or a reader (`C` = `null`). */
export interface ReadApi<C> {
  query(): Query;
  events(filter?: string, options?: EventsOptions): Promise<EventsPage>;
  histogram(filter?: string, options?: HistogramOptions): Promise<LatencyHistogram>;
  stats(query?: StatsQuery): Promise<StatsReport<C>>;
  anomalies(options?: AnomaliesOptions): Promise<Anomaly[]>;
  compare(options: CompareOptions): Promise<CompareReport>;
}

const EMPTY_QUERY_STATS = Object.freeze({
  pagesTotal: 0,
  pagesSkipped: 0,
  pagesSkippedByIndex: 0,
  pagesFromMeta: 0,
  pagesFromIndex: 0,
  pagesDecoded: 0,
  rowsScanned: 0,
  rowsMatched: 0,
  exactPercentiles: false,
});

/** {@link ReadApi} over a {@link ReadSource}. */
export class Reads<C> implements ReadApi<C> {
  readonly #source: ReadSource<C>;

  constructor(source: ReadSource<C>) {
    this.#source = source;
  }

  query(): Query {
    return new Query(async (q) => {
      const native = this.#source.handle();
      if (native === null) return { keyLabels: [], valueLabels: [], rowCount: 0, keys: [], values: new Float64Array(0), stats: EMPTY_QUERY_STATS };
      await this.#source.beforeRead();
      return unpackAnswer(await withFilterErrors(q.filter, () => native.query(q)));
    });
  }

  async events(filter?: string, options?: EventsOptions): Promise<EventsPage> {
    const request = toEventsRequest(filter, options);
    const native = this.#source.handle();
    if (native === null) return { events: [], nextCursor: null };
    await this.#source.beforeRead();
    return toEventsPage(await withFilterErrors(request.filter, () => native.events(request)));
  }

  async histogram(filter?: string, options?: HistogramOptions): Promise<LatencyHistogram> {
    const request = toHistogramRequest(filter, options, nowEpochMs());
    const native = this.#source.handle();
    if (native === null) return { calls: 0, bins: [], stats: EMPTY_QUERY_STATS };
    await this.#source.beforeRead();
    return toLatencyHistogram(await withFilterErrors(request.filter, () => native.histogram(request)));
  }

  async stats(query?: StatsQuery): Promise<StatsReport<C>> {
    // Without the addon there is no grammar to read time strings with, and nothing to answer.
    if (this.#source.handle() === null) return { rows: [], counters: this.#source.counters() };
    const rows = await functionStats(this.query(), checkStatsQuery(query));
    return { rows, counters: this.#source.counters() };
  }

  async anomalies(options?: AnomaliesOptions): Promise<Anomaly[]> {
    const native = this.#source.handle();
    if (native === null) return [];
    const request = toAnomaliesRequest(options);
    await this.#source.beforeRead();
    return (await native.anomalies(request)).map(toAnomaly);
  }

  async compare(options: CompareOptions): Promise<CompareReport> {
    const native = this.#source.handle();
    if (native === null) return { functions: [], stats: EMPTY_QUERY_STATS };
    const request = toCompareRequest(options);
    await this.#source.beforeRead();
    return toCompareReport(await native.compare(request));
  }
}

