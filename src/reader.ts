/**
 * Reader: read-only access to a store directory that applications write (the CLI and the dashboard
 * use it). It claims nothing and writes nothing; each query sees what the writers have sealed so
 * far (pages are sealed when full and at least every `pageMaxAgeMs`, 2 s by default).
 */
import type { AnomaliesOptions, Anomaly, CompareOptions, CompareReport } from './analysis';
import { nativeBinding, type NativeReaderHandle } from './native';
import { show } from './describe';
import { codedError } from './errors';
import { toEventsPage, toEventsRequest, type EventsOptions, type EventsPage, type HistogramOptions, type LatencyHistogram, type Query, type StoredEvent } from './query';
import { Reads, type ReadApi } from './reads';
import { withFilterErrors } from './filter-text';
import type { StatsQuery, StatsReport } from './stats';

/** Options of {@link openReader}. */
export interface ReaderOptions {
  /** Memory for cached decoded pages, bytes (default 64 MiB, at least 1 MiB). */
  bufferpoolBytes?: number;
}

/**
 * A read-only view of a store directory. Queries as on a {@link Store}, without flushing (there is
 * nothing of this process's to flush).
 *
 * @example
 * const reader = openReader('/var/lib/myapp/laptime');
 * const { rows } = await reader.query().groupBy('name').percentiles([50, 99]).run();
 * reader.close();
 */
export class Reader implements ReadApi<null> {
  /** Directory of the store. */
  readonly path: string;
  #native: NativeReaderHandle | null;
  /** The read methods (shared with `Store`): read as it is; a reader has no counters. */
  readonly #reads = new Reads<null>({
    handle: () => this.#handle(),
    beforeRead: () => Promise.resolve(),
    counters: () => null,
  });

  /** @internal Made by {@link openReader}. */
  constructor(native: NativeReaderHandle) {
    this.#native = native;
    this.path = native.path;
  }

  /**
   * A new query over the store (see {@link Query}).
   *
   * @example
   * const { rows } = await reader.query().status('error').groupBy('name').count().run();
   */
  query(): Query {
    return this.#reads.query();
  }

  /**
   * One page of events passing a filter (see {@link Store.events}).
   *
   * @example
   * const { events, nextCursor } = await reader.events('status:error', { limit: 20 });
   */
  events(filter?: string, options?: EventsOptions): Promise<EventsPage> {
    return this.#reads.events(filter, options);
  }

  /** Latency histogram of the calls passing a filter (see {@link Store.histogram}). */
  histogram(filter?: string, options?: HistogramOptions): Promise<LatencyHistogram> {
    return this.#reads.histogram(filter, options);
  }

  /**
   * @internal {@link events} with each event's origin: the partition (writer) that stored it and
   * its position there. `laptime tail -f` uses it to tell events it printed from new ones.
   */
  async eventsWithOrigin(filter?: string, options?: EventsOptions): Promise<{ events: Array<{ event: StoredEvent; partition: string; seq: number }>; nextCursor: string | null }> {
    const request = toEventsRequest(filter, options);
    const raw = await withFilterErrors(request.filter, () => this.#handle().events(request));
    const page = toEventsPage(raw);
    return { events: page.events.map((event, i) => ({ event, partition: raw.events[i]!.partition, seq: raw.events[i]!.seq })), nextCursor: page.nextCursor };
  }

  /**
   * Per-function statistics (see {@link Store.stats}); `counters` is `null` (a reader writes
   * nothing).
   *
   * @example
   * const { rows } = await reader.stats({ since: '1h' });
   */
  stats(query?: StatsQuery): Promise<StatsReport<null>> {
    return this.#reads.stats(query);
  }

  /**
   * Anomalous buckets (see {@link Store.anomalies}).
   *
   * @example
   * const found = await reader.anomalies({ since: '6h', bucket: '5m' });
   */
  anomalies(options?: AnomaliesOptions): Promise<Anomaly[]> {
    return this.#reads.anomalies(options);
  }

  /**
   * Per-function change between two time ranges (see {@link Store.compare}).
   *
   * @example
   * const { functions } = await reader.compare({ baseline: { since: '2h', until: '1h' }, candidate: { since: '1h', until: new Date() } });
   */
  compare(options: CompareOptions): Promise<CompareReport> {
    return this.#reads.compare(options);
  }

  /**
   * Release cached pages and open files; later queries reject.
   *
   * @example
   * reader.close();
   */
  close(): void {
    this.#native?.close();
    this.#native = null;
  }

  #handle(): NativeReaderHandle {
    if (this.#native === null) throw codedError('laptime: the reader is closed', 'CLOSED');
    return this.#native;
  }
}

/**
 * Open the store in `dir` for reading while applications write it. Throws if `dir` holds no store
 * or the native addon is unavailable.
 *
 * @example
 * const reader = openReader('./.laptime');
 */
export function openReader(dir: string, options: ReaderOptions = {}): Reader {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`laptime: openReader needs a directory, got ${show(dir)}`);
  const binding = nativeBinding();
  if (binding === null) throw new Error('laptime: the native addon is unavailable, so stores cannot be read');
  return new Reader(binding.NativeReader.open(dir, options.bufferpoolBytes));
}
