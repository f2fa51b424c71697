/**
 * `CallRecorder`: records calls whose name is known only per call (an HTTP route, an OpenTelemetry
 * span), timed by the caller with `perf.now()` like captured functions. Middleware and bridges use
 * it instead of `store.record()`: no epoch-nanosecond conversion, no validation of values a
 * program made (bad ones are left out, with one warning), names and keys interned once per store.
 * Never throws into the program.
 */
import { diagnostics, internalError } from './diagnostics';
import { Sink, type CallFields } from './sink';
import type { Store } from './store';

/** Names cached per recorder; beyond this they are interned through the store's own cache. */
const MAX_CACHED_NAMES = 4096;

export class CallRecorder {
  private readonly sink: Sink;
  private readonly ids = new Map<string, number>();
  /** Names `fieldsWhere` is said of in warnings. */
  private readonly where: string;
  private readonly whereFn = (): string => this.where;

  /** Records into `store`, or the default store when null (re-resolved when it changes). */
  constructor(store: Store | null, where: string) {
    this.sink = new Sink(store);
    this.where = where;
  }

  /**
   * One call named `name` that ran from `t0` to `t1` (perf.now() ms). `failed`: it counts as an
   * error; `err`, when not undefined, is what it threw (its class goes to the `error` field).
   */
  record(name: string, t0: number, t1: number, failed: boolean, err: unknown, fields: CallFields | null): void {
    const sink = this.sink;
    if (sink.refresh()) this.ids.clear();
    const batch = sink.batch;
    let id: number;
    try {
      id = this.idOf(name);
      if (err !== undefined) sink.stageError(err);
      if (fields !== null) sink.stageFields(fields, this.whereFn);
    } catch (e) {
      batch.unstage();
      diagnostics.lostEvents++;
      internalError(this.where, e);
      return;
    }
    batch.addStaged(id, t0, t1 - t0, failed ? 1 : 0);
  }

  private idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.sink.intern(name);
      if (this.ids.size < MAX_CACHED_NAMES && this.sink.bound !== null) this.ids.set(name, id);
    }
    return id;
  }
}
