/**
 * Store: one open store directory. Holds the JS batch that captured calls write into, hands it to
 * the addon (full, on an unref'd timer, on flush, at exit), and answers queries through the addon.
 */
import { Batch, ownRows, slotRows, type Rows } from './batch';
import { describeError, diagnostics, internalError, warn, warnOnce } from './diagnostics';
import { codedError, codeOf, withCode } from './errors';
import { installExitHooks } from './exit-hooks';
import { cutLong, I64_MAX, I64_MIN, looseValue, type FieldValue } from './fields';
import { createLogger, type LogFields, type Logger } from './logger';
import { nativeBinding, type NativeCounters, type NativePostMortemOptions, type NativeStoreHandle, type NativeWriteFailure } from './native';
import { resolveOptions, type OpenOptions, type ResolvedOptions } from './options';
import { findFleetProgram, fleetProgramMissing } from './fleet-program';
import { Shipping } from './ship';
import { show } from './describe';
import { registry } from './registry';
import type { Anomaly, AnomaliesOptions, CompareOptions, CompareReport } from './analysis';
import type { EventsOptions, EventsPage, HistogramOptions, LatencyHistogram, Query } from './query';
import { Reads, type ReadApi } from './reads';
import type { StatsQuery, StatsReport, StoreCounters } from './stats';
import { prune, resolvePostMortems, type ResolvedPostMortems } from './post-mortem';
import { kAppend, kBatch, kCloseSync, kDirty, kDrainSync, kIntern, kLog, kPostMortemSync } from './symbols';
import { epochNsToOffsetMs, originMs, perf } from './time';

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
  lost: 0,
  written: 0,
  durable: 0,
  sealed: 0,
  bytesOnDisk: 0,
  rejected: 0,
});

/** What every call on a closed store throws. */
const storeClosed = () => codedError('laptime: the store is closed', 'CLOSED');
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
export class Store implements ReadApi<StoreCounters> {
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
  /**
   * The rows of the addon's slots by number, which the batch writes into and hands over without
   * a copy; null when rows stay in JS's arrays and `append` copies them (no addon, a runtime
   * without external buffers, or after a slot could not be made).
   */
  #slots: Rows[] | null = null;
  /** The slot the batch writes into. */
  #slot = 0;
  #jsDropped = 0;
  #finalCounters: NativeCounters = ZERO_COUNTERS;
  /** Code of the write failure last warned about, null while the writer writes. */
  #writeFailure: string | null = null;
  /** Automatic post-mortems, or null when they are off. */
  readonly #postMortems: ResolvedPostMortems | null;
  /** What `postMortem()` writes (also when the automatic ones are off). */
  readonly #postMortemOptions: NativePostMortemOptions;
  #postMortemTimer: ReturnType<typeof setInterval> | null = null;
  #periodic: string[] = [];
  #periodicRunning: Promise<void> | null = null;
  /** The read methods (shared with `Reader`): flush first, empty without the addon. */
  readonly #reads = new Reads<StoreCounters>({
    handle: () => {
      if (this.#native === null && this.#closing !== null) throw storeClosed();
      return this.#native;
    },
    beforeRead: () => this.#flushForRead(),
    counters: () => this.counters(),
  });
  /** The latest `flush()`, which a read waits for instead of asking for another. */
  #lastFlush: Promise<void> | null = null;
  #postMortemWritten = false;
  /** The shipper beside the app (`ship` option), or null. */
  #shipping: Shipping | null = null;

  private constructor(native: NativeStoreHandle | null, options: ResolvedOptions) {
    this.#native = native;
    this.enabled = native !== null;
    this.path = native === null ? options.dir : native.path;
    this[kBatch] = new Batch(native === null ? 1 : options.batchSize, () => this[kAppend]());
    if (native !== null) this.#slots = [];
    this.#writeInto(0);
    this.log = createLogger('log', () => this);
    this.#postMortems = options.postMortems;
    this.#postMortemOptions = (options.postMortems ?? resolvePostMortems(undefined, options.dir))?.native ?? {};
    if (native === null) {
      this.#timer = null;
      return;
    }
    // The timer only hands the batch over; it never keeps the process alive (invariant 1).
    this.#timer = setInterval(() => {
      this[kAppend]();
      this.#watchWriter();
    }, options.flushIntervalMs);
    this.#timer.unref();
    registry.stores.add(this);
    installExitHooks();
    const periodicMs = this.#postMortems?.periodicMs ?? 0;
    if (periodicMs > 0) {
      this.#postMortemTimer = setInterval(() => {
        // One at a time: a slow disk must not pile post-mortems up.
        if (this.#periodicRunning === null) this.#periodicRunning = this.#periodicPostMortem().finally(() => (this.#periodicRunning = null));
      }, periodicMs);
      this.#postMortemTimer.unref();
    }
  }

  async #periodicPostMortem(): Promise<void> {
    try {
      this.#periodic.push(await this.postMortem('periodic'));
      this.#periodic = prune(this.#periodic, this.#postMortems?.keep ?? 10);
    } catch (err) {
      internalError('periodic post-mortem', err);
    }
  }

  /**
   * The shipper this store runs (`open({ ship })`): whether its process runs now, and how many
   * times it was started again after dying. `null` without the `ship` option.
   */
  get shipping(): { running: boolean; restarts: number } | null {
    const s = this.#shipping;
    return s === null ? null : { running: s.running, restarts: s.restarts };
  }

  /** @internal Use {@link open}. */
  static open(options?: OpenOptions): Store {
    const resolved = resolveOptions(options);
    const binding = nativeBinding();
    if (binding === null) return new Store(null, resolved);
    // Before the store opens: shipping asked for and impossible is the caller's error at once.
    let shipper: string | null = null;
    if (resolved.ship !== null) {
      const tried: string[] = [];
      shipper = findFleetProgram(undefined, tried);
      if (shipper === null) throw withCode(new Error(fleetProgramMissing('option "ship"', tried).trimEnd()), 'INVALID_OPTION');
    }
    let handle: NativeStoreHandle;
    try {
      handle = binding.NativeStore.open(resolved.dir, resolved.native);
    } catch (err) {
      const message = `laptime: cannot open the store at ${resolved.dir}: ${describeError(err).replace(/^Error: /, '')}`;
      throw withCode(new Error(message, { cause: err }), codeOf(err));
    }
    const store = new Store(handle, resolved);
    if (shipper !== null && resolved.ship !== null) store.#shipping = new Shipping(shipper, handle.path, resolved.ship);
    return store;
  }

  /** true once {@link Store.close} was called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Record one event given explicitly. Everything is checked before anything is buffered: a bad
   * event throws (TypeError for a wrong type, RangeError for a value out of range, each naming the
   * field and the value: `name`, `startNs`, `durationNs`, `ok`, `fields.<key>`) and the events
   * around it are unaffected. Throws Error if the store is closed.
   *
   * - `name` and field keys: non-empty, well-formed Unicode, at most 4,096 bytes of UTF-8.
   * - `startNs`: whole epoch nanoseconds from 0 (1970) to 2^64-1 (2554).
   * - `durationNs`: 0 to 2^64-1 ns; a number with a fraction is rounded to the nearest ns.
   * - field values: strings (well-formed, all of an event's fields at most 1 MiB), booleans,
   *   finite numbers, bigints within 64-bit signed range.
   *
   * @example
   * const t0 = process.hrtime.bigint(), startNs = BigInt(Date.now()) * 1_000_000n;
   * await job();
   * store.record({ name: 'job', startNs, durationNs: process.hrtime.bigint() - t0, fields: { queue: 'mail' } });
   */
  record(event: RecordedEvent): void {
    if (typeof event !== 'object' || event === null) throw new TypeError(`laptime: record() takes an event object, got ${show(event)}`);
    const { name, startNs, durationNs, ok = true, fields } = event;
    checkName(name, 'event "name"');
    const start = toNanos(startNs, 'startNs', false);
    const duration = toNanos(durationNs, 'durationNs', true);
    if (typeof ok !== 'boolean') throw new TypeError(`laptime: event "ok" must be a boolean, got ${show(ok)}`);
    const encoded = fields === undefined ? null : checkRecordFields(fields);
    const offset = placeStart(start);
    if (offset === null) {
      // The addon adds starts to this thread's time origin within +-9e18 ns (about 285 years).
      throw new RangeError(`laptime: event "startNs" must be epoch nanoseconds from 0 (1970) to about ${LAST_START_NS} (${new Date(Number(LAST_START_NS / 1_000_000n)).toISOString().slice(0, 4)}), got ${String(startNs)}`);
    }
    if (this.#native === null) {
      if (this.#closing !== null) throw storeClosed();
      return;
    }
    const id = this[kIntern](name);
    const ms = Number(duration) / 1e6;
    const batch = this[kBatch];
    if (encoded !== null) {
      // Intern every key before staging any field, so a refused key leaves nothing half-staged.
      const keyIds = encoded.map(([key]) => this[kIntern](key));
      for (let k = 0; k < encoded.length; k++) batch.field(keyIds[k]!, encoded[k]![1]);
    }
    if (encoded === null) batch.add(id, offset, ms, ok ? 0 : 1);
    else batch.addStaged(id, offset, ms, ok ? 0 : 1);
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
    const flushing = native.flush().finally(() => this.#watchWriter());
    this.#lastFlush = flushing;
    return flushing;
  }

  /**
   * Before a read: what was recorded must be written first, so the read sees it. When nothing was
   * recorded since the latest flush began, waiting for that flush is enough (a query after a query
   * costs no trip to the writer thread); its failure is the flush caller's to handle, and what it
   * could not write is still seen by this process's reads.
   */
  async #flushForRead(): Promise<void> {
    if (this[kDirty]() || this.#lastFlush === null) return this.flush();
    await this.#lastFlush.catch(() => undefined);
  }

  /**
   * One `LaptimeWarning` when the engine's writer stops writing because of the disk, one when it
   * goes on (it retries by itself); checked on every timer tick and flush. Never throws.
   */
  #watchWriter(): void {
    const native = this.#native;
    if (native === null) return;
    let failure: NativeWriteFailure | null;
    try {
      failure = native.writeFailure();
      // Rows the writer converted report their refusals here (and at the next hand-over).
      const refused = native.takeRefusal();
      if (refused !== null) warnRefused(refused);
    } catch {
      return;
    }
    if (failure !== null && this.#writeFailure === null) {
      // Warning codes stay LAPTIME_*; the error code (ENOSPC, EIO, EACCES, ...) is in the message.
      const warning = failure.code === 'ENOSPC' ? 'LAPTIME_DISK_FULL' : 'LAPTIME_WRITE_FAILED';
      this.#writeFailure = warning;
      warn(
        warning,
        `laptime: recording to ${this.path} paused (${failure.code}): ${failure.message}. New events wait in the ring (what does not fit is dropped and counted); the writer retries in new files and resumes by itself.`,
      );
    } else if (failure === null && this.#writeFailure !== null) {
      this.#writeFailure = null;
      const c = native.counters();
      warn('LAPTIME_WRITE_RESUMED', `laptime: recording to ${this.path} resumed after a disk failure (events lost so far: ${c.lost}, dropped: ${c.dropped}).`);
    }
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
    if (this.#postMortemTimer !== null) clearInterval(this.#postMortemTimer);
    registry.stores.delete(this);
    registry.epoch++;
    // A periodic post-mortem under way finishes (and prunes) before the engine is released.
    const running = this.#periodicRunning ?? Promise.resolve();
    const closed = native === null ? Promise.resolve() : running.then(() => closeNative(native, (c) => (this.#finalCounters = c)));
    // The close sealed the last page: the shipper sends it, then stops (also if closing failed).
    const shipping = this.#shipping;
    this.#closing = shipping === null ? closed : closed.finally(() => shipping.stop());
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
  stats(query?: StatsQuery): Promise<StatsReport> {
    return this.#reads.stats(query);
  }

  /**
   * A new query over this store: add filters, grouping and aggregates, then `run()` it. The answer
   * covers everything recorded before `run()` (it flushes first) and is computed off the event loop.
   *
   * @example
   * const { rows } = await store.query().status('error').groupBy('name').count().orderBy('count', 'desc').limit(5).run();
   */
  query(): Query {
    return this.#reads.query();
  }

  /**
   * One page of the events passing `filter` (the filter syntax, e.g. `'status:error since:1h'`),
   * newest first unless `order: 'oldest'`. Pass `nextCursor` back as `cursor` for the next page.
   *
   * @example
   * let page = await store.events('name:UserService.* duration>100ms', { limit: 50 });
   * while (page.nextCursor !== null) page = await store.events('duration>100ms', { cursor: page.nextCursor });
   */
  events(filter?: string, options?: EventsOptions): Promise<EventsPage> {
    return this.#reads.events(filter, options);
  }

  /**
   * Durations of the calls passing `filter`, counted into `bins` (default 30) log-spaced bins
   * from the shortest to the longest: one engine pass, counts exact per sketch bucket.
   *
   * @example
   * const { calls, bins } = await store.histogram('name:UserService.find since:1h', { bins: 40 });
   */
  histogram(filter?: string, options?: HistogramOptions): Promise<LatencyHistogram> {
    return this.#reads.histogram(filter, options);
  }

  /**
   * Buckets where a function's p99 (or p50, or error rate) departs from its trailing baseline: a
   * robust z-score (median/MAD) beyond `threshold`, a relative change of at least
   * `minRelativeChange`, and enough calls. Oldest first.
   *
   * @example
   * for (const a of await store.anomalies({ since: '6h', bucket: '5m' })) console.log(a.name, new Date(a.time), a.relativeChange);
   */
  anomalies(options?: AnomaliesOptions): Promise<Anomaly[]> {
    return this.#reads.anomalies(options);
  }

  /**
   * Per function, how p50/p99 and the error rate changed between two time ranges (before and after
   * a deploy, say), with a verdict that accounts for sample size: regressed functions first.
   *
   * @example
   * const { functions } = await store.compare({ baseline: { since: '2h', until: '1h' }, candidate: { since: '1h', until: new Date() } });
   * for (const f of functions.filter((f) => f.verdict === 'regressed')) console.log(f.name, f.percentiles);
   */
  compare(options: CompareOptions): Promise<CompareReport> {
    return this.#reads.compare(options);
  }

  /**
   * Write a post-mortem: the events of the last `lastSeconds` (at most `lastEvents`), names and
   * fields resolved, with this process's facts, into one checksummed file (default
   * `<store>/postmortems/`). Nothing is removed from the store. Resolves to the file's path.
   *
   * @example
   * const file = await store.postMortem('before restart');
   */
  async postMortem(reason = 'manual'): Promise<string> {
    return this.#writePostMortem(reason, 'post-mortem');
  }

  /** @deprecated Use {@link Store.postMortem}; this is the same method under its old name. */
  async snapshot(reason = 'manual'): Promise<string> {
    return this.#writePostMortem(reason, 'snapshot');
  }

  async #writePostMortem(reason: unknown, what: string): Promise<string> {
    if (typeof reason !== 'string') throw new TypeError(`laptime: ${what} reason must be a string, got ${show(reason)}`);
    const native = this.#native;
    if (native === null) {
      if (this.#closing !== null) throw storeClosed();
      throw new Error('laptime: post-mortems need the native addon');
    }
    await this.flush();
    return native.postMortem(reason, this.#postMortemOptions);
  }

  /** @internal Exit hooks: a synchronous post-mortem when this trigger is on (at most one per process end). */
  [kPostMortemSync](trigger: 'uncaughtException' | 'unhandledRejection' | 'signal', detail: string): void {
    const s = this.#postMortems;
    const native = this.#native;
    if (s === null || native === null || this.#postMortemWritten) return;
    const on = trigger === 'signal' ? s.onSignal : trigger === 'uncaughtException' ? s.onUncaughtException : s.onUnhandledRejection;
    if (!on) return;
    this.#postMortemWritten = true;
    try {
      native.postMortemSync(`${trigger === 'signal' ? 'signal' : trigger === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection'}: ${detail}`, s.native);
    } catch (err) {
      internalError('post-mortem', err);
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
      rejected: n.rejected,
      pending: this[kBatch].length,
      internalErrors: diagnostics.internalErrors,
      lost: n.lost + diagnostics.lostEvents,
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
      if (native === null) throw storeClosed();
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
    const slots = this.#slots;
    try {
      if (native === null) {
        this.#jsDropped += count;
      } else {
        // Events dropped (full ring) or refused (invalid) are counted by the engine; the first
        // refusal is also reported once, naming the bad value.
        let refused: string | null | undefined;
        if (slots === null) {
          refused = native.append(batch.names, batch.starts, batch.durations, batch.codes, count, originMs, batch.fieldColumns());
        } else {
          const handed = native.handOver(this.#slot, count, originMs, batch.fieldColumns());
          refused = handed.refused;
          this.#writeInto(handed.next);
        }
        this.#appendedSinceFlush = true;
        if (refused != null) warnRefused(refused);
      }
    } catch (err) {
      this.#jsDropped += count;
      internalError('append', err);
    }
    batch.clear();
  }

  /**
   * Point the batch at slot `next` (making it when new). Never throws: when the slot cannot be
   * made, the batch goes back to JS arrays of its own (the slot it wrote into is the engine's now).
   */
  #writeInto(next: number): void {
    const slots = this.#slots;
    const native = this.#native;
    if (slots === null || native === null) return;
    const batch = this[kBatch];
    try {
      if (next === slots.length) {
        const memory = native.newSlot(batch.capacity);
        if (memory !== null) slots.push(slotRows(memory, batch.capacity));
      }
      const rows = slots[next];
      if (rows !== undefined) {
        batch.useRows(rows);
        this.#slot = next;
        return;
      }
    } catch (err) {
      internalError('newSlot', err);
    }
    this.#slots = null;
    batch.useRows(ownRows(batch.capacity));
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
        if (c.written + c.discarded + c.lost >= c.accepted || Date.now() >= deadline) return;
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
    if (this.#postMortemTimer !== null) clearInterval(this.#postMortemTimer);
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
    const text = cutLong(typeof message === 'string' ? message : String(message));
    const batch = this[kBatch];
    const id = this[kIntern](logger);
    try {
      if (fields !== undefined && fields !== null) this.#stageLoose(fields);
      batch.message(text);
    } catch (err) {
      batch.unstage();
      throw err;
    }
    batch.addStaged(id, start, 0, 2 + level);
  }

  /** Stage log fields: anything goes, as its text when no column holds it (see `looseValue`). */
  #stageLoose(fields: LogFields): void {
    const batch = this[kBatch];
    for (const key of Object.keys(fields)) {
      if (key === '') continue;
      const value = looseValue(fields[key]);
      if (value !== null) batch.field(this[kIntern](key), value);
    }
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

const U64_MAX = 2n ** 64n - 1n;
/** The engine's limit on a name or field key (its dictionary's MAX_NAME_BYTES). */
const MAX_NAME_BYTES = 4096;
/**
 * Most characters an event's field keys and values may take (about). With the batch handed over
 * at MAX_TEXT_CHARS, a batch's write-ahead-log record stays far below the engine's 64 MiB limit.
 */
const MAX_EVENT_FIELD_CHARS = 1 << 20;
const ORIGIN_WHOLE_MS = Math.floor(originMs);
const ORIGIN_FRACTION_MS = originMs - ORIGIN_WHOLE_MS;
const ORIGIN_WHOLE_NS = BigInt(ORIGIN_WHOLE_MS) * 1_000_000n;
/** About the latest start the addon can place (see addonStartNs). */
const LAST_START_NS = ORIGIN_WHOLE_NS + 9n * 10n ** 18n - 10n ** 12n;

/**
 * The epoch ns the addon will compute from `originMs` and this offset (the same double arithmetic
 * as crates/laptime-node/src/time.rs, before its range check), or null where it refuses the sum.
 */
function addonStartNs(offsetMs: number): bigint | null {
  const sub = (ORIGIN_FRACTION_MS + offsetMs) * 1e6;
  if (Number.isNaN(sub) || Math.abs(sub) >= 9e18) return null;
  return ORIGIN_WHOLE_NS + BigInt(sub >= 0 ? Math.floor(sub + 0.5) : -Math.floor(-sub + 0.5));
}

/**
 * The batch offset of an epoch-ns start the addon will accept, or null if there is none. Far from
 * the origin a double offset is coarse (about 250 ns in 1970), and rounding can push a start just
 * after 0 below it: such a start is moved by the offset's own precision back into the range.
 */
function placeStart(start: bigint): number | null {
  let offset = epochNsToOffsetMs(start);
  for (let tries = 0; tries < 8; tries++) {
    const ns = addonStartNs(offset);
    if (ns === null) return null;
    if (ns >= 0n && ns <= U64_MAX) return offset;
    const deltaMs = Number(start - ns) / 1e6;
    // At least one unit in the last place, so the offset really moves.
    offset += Math.sign(deltaMs) * Math.max(Math.abs(deltaMs), Math.abs(offset) * Number.EPSILON);
  }
  return null;
}

/** Throws unless `name` can be a name or field key in the engine's dictionary. */
function checkName(name: unknown, what: string | (() => string)): asserts name is string {
  // Messages are built only for a bad name: record() checks every field key on every call.
  const say = () => (typeof what === 'string' ? what : what());
  if (typeof name !== 'string' || name === '') throw new TypeError(`laptime: ${say()} must be a non-empty string, got ${show(name)}`);
  if (!name.isWellFormed()) throw new TypeError(`laptime: ${say()} must be well-formed Unicode, got ${show(name)} (a lone surrogate)`);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no count.
  if (name.length * 3 <= MAX_NAME_BYTES) return;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) throw new RangeError(`laptime: ${say()} is ${bytes} bytes long (${show(name)}), more than ${MAX_NAME_BYTES}`);
}

/** Whole nanoseconds in 0..2^64-1 of a bigint or number; `round` allows a fraction (rounded). */
function toNanos(value: unknown, field: string, round: boolean): bigint {
  let ns: bigint;
  if (typeof value === 'bigint') {
    ns = value;
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`laptime: event "${field}" must be a finite number of nanoseconds, got ${value}`);
    if (!round && !Number.isInteger(value)) throw new RangeError(`laptime: event "${field}" must be a whole number of nanoseconds, got ${value}`);
    ns = BigInt(Math.round(value));
  } else {
    throw new TypeError(`laptime: event "${field}" must be a bigint or a finite number of nanoseconds, got ${show(value)}`);
  }
  if (ns < 0n) throw new RangeError(`laptime: event "${field}" must not be negative, got ${String(value)}`);
  if (ns > U64_MAX) throw new RangeError(`laptime: event "${field}" must be at most 2^64-1 nanoseconds, got ${String(value)}`);
  return ns;
}

/** The `[key, value]` pairs of record() fields; throws naming `fields.<key>` and its value. */
function checkRecordFields(fields: unknown): Array<[string, FieldValue]> {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError(`laptime: event "fields" must be an object of key/values, got ${show(fields)}`);
  }
  const out: Array<[string, FieldValue]> = [];
  let chars = 0;
  for (const key of Object.keys(fields)) {
    if (key === '') throw new TypeError('laptime: event "fields" keys must not be empty');
    checkName(key, () => `event "fields" key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)}`);
    const what = `event "fields.${key}"`;
    const value: unknown = (fields as Record<string, unknown>)[key];
    switch (typeof value) {
      case 'string':
        if (!value.isWellFormed()) throw new TypeError(`laptime: ${what} must be well-formed Unicode, got ${show(value)} (a lone surrogate)`);
        break;
      case 'number':
        if (!Number.isFinite(value)) throw new RangeError(`laptime: ${what} must be a finite number, got ${value}`);
        break;
      case 'bigint':
        if (value < I64_MIN || value > I64_MAX) throw new RangeError(`laptime: ${what} must be within 64-bit signed range, got ${value}`);
        break;
      case 'boolean':
        break;
      default:
        throw new TypeError(`laptime: ${what} must be a string, boolean, number or 64-bit bigint, got ${show(value)}`);
    }
    chars += key.length + (typeof value === 'string' ? value.length : 20);
    if (chars > MAX_EVENT_FIELD_CHARS) {
      throw new RangeError(`laptime: ${what} makes the event's fields ${chars} characters long, more than ${MAX_EVENT_FIELD_CHARS}`);
    }
    out.push([key, value]);
  }
  return out;
}

/** The one warning about invalid events (later ones are only counted). */
function warnRefused(refused: string): void {
  warnOnce('LAPTIME_REJECTED', `laptime: ${refused} (later ones are counted in counters().rejected, not reported)`);
}
