/**
 * Store: one open store directory. Holds the JS batch that captured calls write into, hands it to
 * the addon (full, on an unref'd timer, on flush, at exit), and answers queries through the addon.
 */
import { Batch } from './batch';
import { describeError, diagnostics, internalError } from './diagnostics';
import { installExitHooks } from './exit-hooks';
import { encodeLoose, encodeValue, jsonString, type FieldValue } from './fields';
import { createLogger, type LogFields, type Logger } from './logger';
import { nativeBinding, type NativeCounters, type NativeStoreHandle } from './native';
import { resolveOptions, show, type OpenOptions, type ResolvedOptions } from './options';
import { registry } from './registry';
import { toAnomaly, toAnomaliesRequest, toCompareReport, toCompareRequest, type Anomaly, type AnomaliesOptions, type CompareOptions, type CompareReport } from './analysis';
import { Query, toEventsPage, toEventsRequest, type EventsOptions, type EventsPage } from './query';
import { toFunctionStats, toNativeFilter, type StatsQuery, type StatsReport, type StoreCounters } from './stats';
import { prune, type ResolvedSnapshots } from './snapshots';
import { kAppend, kBatch, kCloseSync, kDirty, kDrainSync, kIntern, kLog, kSnapshotSync } from './symbols';
import { epochNsToOffsetMs, nowEpochMs, originMs, perf } from './time';

/**
 * One event given explicitly to {@link Store.record} (e.g. timed by other means, or imported).
 *
 * @example
 * store.record({ name: 'import.row', startNs: 1_732_000_000_123_456_789n, durationNs: 2_500_000, ok: false });
 */
export interface RecordedEvent {
  /** Function name. */
  name: string;
  /** Wall-clock start in epoch nanoseconds. A bigint is exact; a number is only as precise as a double (about 256 ns today). */
  startNs: bigint | number;
  /** Duration in nanoseconds (>= 0). */
  durationNs: bigint | number;
  /** false for a failed call. Default true. */
  ok?: boolean;
  /** Key/values stored with the event. */
  fields?: Readonly<Record<string, FieldValue>>;
}

const ZERO_COUNTERS: NativeCounters = Object.freeze({
  accepted: 0,
  dropped: 0,
  discarded: 0,
  written: 0,
  durable: 0,
  sealed: 0,
  bytesOnDisk: 0,
});

const EMPTY_QUERY_STATS = Object.freeze({
  pagesTotal: 0,
  pagesSkipped: 0,
  pagesFromMeta: 0,
  pagesDecoded: 0,
  rowsScanned: 0,
  rowsMatched: 0,
  exactPercentiles: false,
});

const NO_TAILS: readonly string[] = Object.freeze([]);
/** Atomics.wait on this sleeps the thread for a millisecond (never notified). */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Interned names cached in JS per store; past this, lookups go to the addon (bounded memory). */
const MAX_CACHED_NAMES = 65536;

/**
 * An open store. Get one with {@link open} (or {@link defaultStore} for the one captures use).
 *
 * @example
 * const store = open({ dir: './.laptime' });
 * store.record({ name: 'job.run', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 12_500_000 });
 * await store.flush();
 * console.log((await store.stats({ since: '1h' })).rows);
 * await store.close();
 */
export class Store {
  /** Directory of the store. */
  readonly path: string;
  /** false when the addon is unavailable (or `LAPTIME_DISABLE=1`): the store then records nothing and its stats are empty. */
  readonly enabled: boolean;
  /** A logger writing events named `log` into this store. */
  readonly log: Logger;
  /** @internal */
  readonly [kBatch]: Batch;
  #native: NativeStoreHandle | null;
  readonly #ids = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval> | null;
  #closing: Promise<void> | null = null;
  #appendedSinceFlush = false;
  #jsDropped = 0;
  #finalCounters: NativeCounters = ZERO_COUNTERS;
  readonly #snapshots: ResolvedSnapshots | null;
  #snapshotTimer: ReturnType<typeof setInterval> | null = null;
  #periodic: string[] = [];
  #periodicRunning: Promise<void> | null = null;
  #snapshotted = false;

  private constructor(native: NativeStoreHandle | null, options: ResolvedOptions) {
    this.#native = native;
    this.enabled = native !== null;
    this.path = native === null ? options.dir : native.path;
    this[kBatch] = new Batch(native === null ? 1 : options.batchSize, () => this[kAppend]());
    this.log = createLogger('log', () => this);
    this.#snapshots = options.snapshots;
    if (native === null) {
      this.#timer = null;
      return;
    }
    // The timer only hands the batch over; it never keeps the process alive (invariant 1).
    this.#timer = setInterval(() => this[kAppend](), options.flushIntervalMs);
    this.#timer.unref();
    registry.stores.add(this);
    installExitHooks();
    const periodicMs = this.#snapshots?.periodicMs ?? 0;
    if (periodicMs > 0) {
      this.#snapshotTimer = setInterval(() => {
        // One at a time: a slow disk must not pile snapshots up.
        if (this.#periodicRunning === null) this.#periodicRunning = this.#periodicSnapshot().finally(() => (this.#periodicRunning = null));
      }, periodicMs);
      this.#snapshotTimer.unref();
    }
  }

  async #periodicSnapshot(): Promise<void> {
    try {
      this.#periodic.push(await this.snapshot('periodic'));
      this.#periodic = prune(this.#periodic, this.#snapshots?.keep ?? 10);
    } catch (err) {
      internalError('periodic snapshot', err);
    }
  }

  /** @internal Use {@link open}. */
  static open(options?: OpenOptions): Store {
    const resolved = resolveOptions(options);
    const binding = nativeBinding();
    if (binding === null) return new Store(null, resolved);
    let handle: NativeStoreHandle;
    try {
      handle = binding.NativeStore.open(resolved.dir, resolved.native);
    } catch (err) {
      throw new Error(`laptime: cannot open the store at ${resolved.dir}: ${describeError(err).replace(/^Error: /, '')}`, { cause: err });
    }
    return new Store(handle, resolved);
  }

  /** true once {@link Store.close} was called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Record one event given explicitly. Throws TypeError on a malformed event, Error if the store is closed.
   *
   * @example
   * const t0 = process.hrtime.bigint(), startNs = BigInt(Date.now()) * 1_000_000n;
   * await job();
   * store.record({ name: 'job', startNs, durationNs: process.hrtime.bigint() - t0, fields: { queue: 'mail' } });
   */
  record(event: RecordedEvent): void {
    if (typeof event !== 'object' || event === null) throw new TypeError(`laptime: record() takes an event object, got ${show(event)}`);
    const { name, startNs, durationNs, ok = true, fields } = event;
    if (typeof name !== 'string' || name === '') throw new TypeError(`laptime: event "name" must be a non-empty string, got ${show(name)}`);
    const start = toNanos(startNs, 'startNs');
    const duration = toNanos(durationNs, 'durationNs');
    if (duration < 0n) throw new RangeError(`laptime: event "durationNs" must not be negative, got ${duration}`);
    if (typeof ok !== 'boolean') throw new TypeError(`laptime: event "ok" must be a boolean, got ${show(ok)}`);
    const tails = fields === undefined ? NO_TAILS : this.#strictTails(fields);
    if (this.#native === null) {
      if (this.#closing !== null) throw new Error('laptime: the store is closed');
      return;
    }
    const id = this[kIntern](name);
    const offset = epochNsToOffsetMs(start);
    const ms = Number(duration) / 1e6;
    if (tails.length === 0) this[kBatch].add(id, offset, ms, ok ? 0 : 1);
    else this[kBatch].addWithExtras(id, offset, ms, ok ? 0 : 1, tails, null);
  }

  /**
   * Resolves once everything recorded before the call is written by the engine (durable too with
   * `sync: 'always'`). Rejects if the engine failed to write.
   *
   * @example
   * await store.flush();
   */
  async flush(): Promise<void> {
    const native = this.#native;
    if (native === null) return this.#closing ?? undefined;
    this[kAppend]();
    this.#appendedSinceFlush = false;
    await native.flush();
  }

  /**
   * Flush and release the store. Idempotent; later captures go to a fresh default store if this was
   * the default one, records to it throw.
   *
   * @example
   * process.on('SIGTERM', async () => { await defaultStore().close(); process.exit(0); });
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this[kAppend]();
    const native = this.#native;
    this.#native = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#snapshotTimer !== null) clearInterval(this.#snapshotTimer);
    registry.stores.delete(this);
    if (registry.defaultStore === this) registry.defaultStore = null;
    registry.epoch++;
    // A periodic snapshot under way finishes (and prunes) before the engine is released.
    const running = this.#periodicRunning ?? Promise.resolve();
    this.#closing = native === null ? Promise.resolve() : running.then(() => closeNative(native, (c) => (this.#finalCounters = c)));
    return this.#closing;
  }

  /**
   * Per-name call counts, error counts and latency percentiles (ns), plus the store's counters.
   * Flushes first, so it covers everything recorded before the call.
   *
   * @example
   * const { rows, counters } = await store.stats({ since: '15m', name: 'UserService.find' });
   * for (const r of rows) console.log(r.name, r.count, r.errors, (r.p99 ?? 0) / 1e6, 'ms');
   * if (counters.dropped > 0) console.warn('events dropped:', counters.dropped);
   */
  async stats(query?: StatsQuery): Promise<StatsReport> {
    const filter = toNativeFilter(query, nowEpochMs());
    const native = this.#native;
    if (native === null) {
      if (this.#closing !== null) throw new Error('laptime: the store is closed');
      return { rows: [], counters: this.counters() };
    }
    await this.flush();
    const rows = await native.stats(filter);
    return { rows: rows.map(toFunctionStats), counters: this.counters() };
  }

  /**
   * A new query over this store: add filters, grouping and aggregates, then `run()` it. The answer
   * covers everything recorded before `run()` (it flushes first) and is computed off the event loop.
   *
   * @example
   * const { rows } = await store.query().status('error').groupBy('name').count().orderBy('count', 'desc').limit(5).run();
   */
  query(): Query {
    return new Query(async (q) => {
      const native = this.#native;
      if (native === null) {
        if (this.#closing !== null) throw new Error('laptime: the store is closed');
        return { keyLabels: [], valueLabels: [], rows: [], stats: EMPTY_QUERY_STATS };
      }
      await this.flush();
      return native.query(q);
    });
  }

  /**
   * One page of the events passing `filter` (the filter syntax, e.g. `'status:error since:1h'`),
   * newest first unless `order: 'oldest'`. Pass `nextCursor` back as `cursor` for the next page.
   *
   * @example
   * let page = await store.events('name:UserService.* duration>100ms', { limit: 50 });
   * while (page.nextCursor !== null) page = await store.events('duration>100ms', { cursor: page.nextCursor });
   */
  async events(filter?: string, options?: EventsOptions): Promise<EventsPage> {
    const request = toEventsRequest(filter, options);
    const native = this.#native;
    if (native === null) {
      if (this.#closing !== null) throw new Error('laptime: the store is closed');
      return { events: [], nextCursor: null };
    }
    await this.flush();
    return toEventsPage(await native.events(request));
  }

  /**
   * Buckets where a function's p99 (or p50, or error rate) departs from its trailing baseline: a
   * robust z-score (median/MAD) beyond `threshold`, a relative change of at least
   * `minRelativeChange`, and enough calls. Oldest first.
   *
   * @example
   * for (const a of await store.anomalies({ since: '6h', bucket: '5m' })) console.log(a.name, new Date(a.time), a.relativeChange);
   */
  async anomalies(options?: AnomaliesOptions): Promise<Anomaly[]> {
    const request = toAnomaliesRequest(options);
    const native = this.#native;
    if (native === null) {
      if (this.#closing !== null) throw new Error('laptime: the store is closed');
      return [];
    }
    await this.flush();
    return (await native.anomalies(request)).map(toAnomaly);
  }

  /**
   * Per function, how p50/p99 and the error rate changed between two time ranges (before and after
   * a deploy, say), with a verdict that accounts for sample size: regressed functions first.
   *
   * @example
   * const { functions } = await store.compare({ baseline: { since: '2h', until: '1h' }, candidate: { since: '1h', until: new Date() } });
   * for (const f of functions.filter((f) => f.verdict === 'regressed')) console.log(f.name, f.percentiles);
   */
  async compare(options: CompareOptions): Promise<CompareReport> {
    const request = toCompareRequest(options);
    const native = this.#native;
    if (native === null) {
      if (this.#closing !== null) throw new Error('laptime: the store is closed');
      return { functions: [], stats: EMPTY_QUERY_STATS };
    }
    await this.flush();
    return toCompareReport(await native.compare(request));
  }

  /**
   * Write a post-mortem snapshot: the events of the last `lastSeconds` (at most `lastEvents`),
   * names and fields resolved, with this process's facts, into one checksummed file (default
   * `<store>/snapshots/`). Nothing is removed from the store. Resolves to the file's path.
   *
   * @example
   * const file = await store.snapshot('before restart');
   */
  async snapshot(reason = 'manual'): Promise<string> {
    if (typeof reason !== 'string') throw new TypeError(`laptime: snapshot reason must be a string, got ${show(reason)}`);
    const native = this.#native;
    if (native === null) throw new Error(this.#closing !== null ? 'laptime: the store is closed' : 'laptime: snapshots need the native addon');
    await this.flush();
    return native.snapshot(reason, this.#snapshots?.native ?? {});
  }

  /** @internal Exit hooks: a synchronous snapshot when this trigger is on (at most one per process end). */
  [kSnapshotSync](trigger: 'uncaughtException' | 'unhandledRejection' | 'signal', detail: string): void {
    const s = this.#snapshots;
    const native = this.#native;
    if (s === null || native === null || this.#snapshotted) return;
    const on = trigger === 'signal' ? s.onSignal : trigger === 'uncaughtException' ? s.onUncaughtException : s.onUnhandledRejection;
    if (!on) return;
    this.#snapshotted = true;
    try {
      native.snapshotSync(`${trigger === 'signal' ? 'signal' : trigger === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection'}: ${detail}`, s.native);
    } catch (err) {
      internalError('snapshot', err);
    }
  }

  /**
   * The store's counters now (see {@link StoreCounters}); after close, the last ones.
   *
   * @example
   * const { accepted, written, dropped } = store.counters();
   */
  counters(): StoreCounters {
    const n = this.#native === null ? this.#finalCounters : this.#native.counters();
    return {
      accepted: n.accepted,
      dropped: n.dropped + this.#jsDropped,
      discarded: n.discarded,
      written: n.written,
      durable: n.durable,
      sealed: n.sealed,
      bytesOnDisk: n.bytesOnDisk,
      pending: this[kBatch].length,
      internalErrors: diagnostics.internalErrors,
      lost: diagnostics.lostEvents,
    };
  }

  /**
   * A logger whose events are stored under `name`.
   *
   * @example
   * const audit = store.logger('audit');
   * audit.info('user deleted', { userId: 42 });
   */
  logger(name: string): Logger {
    if (typeof name !== 'string' || name === '') throw new TypeError(`laptime: logger name must be a non-empty string, got ${show(name)}`);
    return createLogger(name, () => this);
  }

  /** @internal Id of a name or field key in this store's dictionary. Throws if the addon does. */
  [kIntern](name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      const native = this.#native;
      if (native === null) throw new Error('laptime: the store is closed');
      id = native.intern(name);
      if (this.#ids.size < MAX_CACHED_NAMES) this.#ids.set(name, id);
    }
    return id;
  }

  /** @internal Hand the JS batch to the addon now. Never throws: a failure drops (and counts) the batch. */
  [kAppend](): void {
    const batch = this[kBatch];
    const count = batch.length;
    if (count === 0) return;
    const native = this.#native;
    try {
      if (native === null) {
        this.#jsDropped += count;
      } else {
        // false means the engine dropped the batch; it counts that itself.
        native.append(batch.names, batch.starts, batch.durations, batch.codes, count, originMs, batch.extrasJson());
        this.#appendedSinceFlush = true;
      }
    } catch (err) {
      this.#jsDropped += count;
      internalError('append', err);
    }
    batch.clear();
  }

  /**
   * @internal For `exit` and uncaught exceptions, where nothing asynchronous runs any more: hand the
   * batch over, then block until the engine's writer has taken everything (written or discarded,
   * by its counters) or `deadline` (Date.now() ms) passes. The writer is a thread of its own, so it
   * progresses while this thread sleeps.
   */
  [kDrainSync](deadline: number): void {
    this[kAppend]();
    const native = this.#native;
    if (native === null) return;
    try {
      for (;;) {
        const c = native.counters();
        if (c.written + c.discarded >= c.accepted || Date.now() >= deadline) return;
        Atomics.wait(sleeper, 0, 0, 1);
      }
    } catch (err) {
      internalError('draining at exit', err);
    }
  }

  /**
   * @internal For a process that is ending (`exit`, a signal raised again): close at once and
   * block until the engine has written, sealed and removed its WAL, so the partition is left
   * cleanly closed instead of as a crash that the next writer recovers.
   */
  [kCloseSync](): void {
    if (this.#closing !== null) return;
    this[kAppend]();
    const native = this.#native;
    this.#native = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#snapshotTimer !== null) clearInterval(this.#snapshotTimer);
    registry.stores.delete(this);
    // Stays the default store: a capture in a later exit listener must not open a new store
    // that nothing would close; it is counted as lost instead.
    registry.epoch++;
    this.#closing = Promise.resolve();
    if (native === null) return;
    try {
      this.#finalCounters = native.counters();
      native.closeSync();
    } catch (err) {
      internalError('closing at exit', err);
    }
  }

  /** @internal Something was recorded since the last flush. */
  [kDirty](): boolean {
    return this.#appendedSinceFlush || this[kBatch].length > 0;
  }

  /** @internal One log event (level 0 = trace .. 5 = fatal). Throws only on internal failure. */
  [kLog](logger: string, level: number, message: unknown, fields: LogFields | undefined): void {
    if (this.#native === null) {
      if (this.#closing !== null) this.#jsDropped++;
      return;
    }
    const start = perf.now();
    const text = typeof message === 'string' ? message : String(message);
    const tails = fields === undefined || fields === null ? NO_TAILS : this.#looseTails(fields);
    this[kBatch].addWithExtras(this[kIntern](logger), start, 0, 2 + level, tails, jsonString(text));
  }

  #strictTails(fields: Readonly<Record<string, unknown>>): string[] {
    if (typeof fields !== 'object' || fields === null) throw new TypeError(`laptime: event "fields" must be an object, got ${show(fields)}`);
    const tails: string[] = [];
    for (const key of Object.keys(fields)) {
      const value = encodeValue(fields[key]);
      if (value === null) {
        throw new TypeError(`laptime: event field "${key}" must be a string, boolean, number or 64-bit bigint, got ${show(fields[key])}`);
      }
      if (key !== '' && this.#native !== null) tails.push(`,${this[kIntern](key)},${value}]`);
    }
    return tails;
  }

  #looseTails(fields: LogFields): string[] {
    const tails: string[] = [];
    for (const key of Object.keys(fields)) {
      if (key === '') continue;
      const value = encodeLoose(fields[key]);
      if (value !== null) tails.push(`,${this[kIntern](key)},${value}]`);
    }
    return tails;
  }
}

/**
 * Open a store. Throws TypeError/RangeError naming a bad option, Error if the engine cannot open
 * the directory. If the addon is unavailable the store is disabled (see {@link Store.enabled}).
 *
 * @example
 * import { open, capture } from 'laptime';
 * const store = open({ dir: './.laptime', sync: 'always' });
 */
export function open(options?: OpenOptions): Store {
  return Store.open(options);
}

async function closeNative(native: NativeStoreHandle, keep: (c: NativeCounters) => void): Promise<void> {
  try {
    await native.flush();
  } finally {
    try {
      keep(native.counters());
    } catch {
      // counters are informative; closing matters more
    }
    await native.close();
  }
}

function toNanos(value: unknown, field: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return BigInt(Math.round(value));
  throw new TypeError(`laptime: event "${field}" must be a bigint or a finite number of nanoseconds, got ${show(value)}`);
}

