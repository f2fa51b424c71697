/**
 * A call site: one captured function (or one decorated method) and where its events go. The hot
 * path is `ok(t0)`: one clock read, one epoch compare, four typed-array stores. Everything that can
 * fail (opening the default store, interning the name) happens when the sink re-binds, once per
 * store, and is caught there: a site that cannot bind writes into a discarding batch and counts
 * the loss.
 *
 * Fields: static ones (capture options) are interned once per store and staged on every event;
 * per-call ones come from the `fields` function of the capture options (see wrap.ts) and are
 * staged after them.
 */
import { internalError } from './diagnostics';
import type { Fields } from './fields';
import { registry } from './registry';
import { TextMemo, type Batch } from './batch';
import { DISCARD, Sink, type CallFields } from './sink';
import type { Store } from './store';
import { perf } from './time';

const NO_KEYS: readonly number[] = Object.freeze([]);

export class Site {
  /** Function name; null until a standard-decorator initializer names it (see capture.ts). */
  name: string | null;
  /** Computes `name` at the first event (a class's final name is not known during its static initialization). */
  private nameLater: (() => string) | null = null;
  /** Used while `name` is unknown. */
  private readonly fallbackName: string;
  private readonly sink: Sink;
  /** The sink's batch, held here too: the plain path saves a load. */
  private batch: Batch = DISCARD;
  private id = 0;
  /** Static field values, and their key ids in the bound store. */
  private readonly values: readonly unknown[];
  private readonly keys: readonly string[];
  private keyIds: readonly number[] = NO_KEYS;
  /** Static string values sent once per batch (see {@link TextMemo}). */
  private readonly memo = new TextMemo();
  /** Names the `fields` function in warnings; made once, called only for a warning. */
  private readonly fieldsWhere = (): string => `the "fields" function of ${this.label}`;

  constructor(name: string | null, fallbackName: string, fields: Fields | null, store: Store | null) {
    this.name = name;
    this.fallbackName = fallbackName;
    this.keys = fields === null ? [] : Object.keys(fields);
    this.values = fields === null ? [] : this.keys.map((key) => fields[key]);
    this.sink = new Sink(store);
  }

  /** The name for messages. */
  get label(): string {
    return this.name ?? this.fallbackName;
  }

  /** true once a name is known or promised. */
  get named(): boolean {
    return this.name !== null || this.nameLater !== null;
  }

  /** Name the site (once), now or lazily at its next event; it re-binds then. */
  setName(name: string | (() => string)): void {
    if (this.named) return;
    if (typeof name === 'string') this.name = name;
    else this.nameLater = name;
    this.sink.forget();
  }

  /** A call that started at `t0` (perf.now()) ended normally now. */
  ok(t0: number): void {
    const t1 = perf.now();
    const sink = this.sink;
    // The epoch compare inline: refresh() only when stores changed.
    if (sink.epoch !== registry.epoch && sink.refresh()) this.bind();
    if (this.keyIds === NO_KEYS) this.batch.add(this.id, t0, t1 - t0, 0);
    else this.commit(t0, t1, 0, null, null);
  }

  /** A call that started at `t0` threw or rejected with `err` now. */
  fail(t0: number, err: unknown): void {
    const t1 = perf.now();
    if (this.sink.refresh()) this.bind();
    this.commit(t0, t1, 1, err, null);
  }

  /**
   * A call that ran from `t0` to `t1` (perf.now()), failed (code 1, with `err`) or not (code 0),
   * with the per-call fields of the capture's `fields` function (null: none).
   */
  end(t0: number, t1: number, code: number, err: unknown, fields: CallFields | null): void {
    const sink = this.sink;
    if (sink.epoch !== registry.epoch && sink.refresh()) this.bind();
    this.commit(t0, t1, code, err, fields);
  }

  private commit(t0: number, t1: number, code: number, err: unknown, fields: CallFields | null): void {
    const sink = this.sink;
    const batch = sink.batch;
    try {
      const ids = this.keyIds;
      for (let k = 0; k < ids.length; k++) {
        const value = this.values[k];
        if (typeof value === 'string') batch.text(ids[k]!, value, this.memo, k);
        else batch.field(ids[k]!, value);
      }
      if (code !== 0) sink.stageError(err);
      if (fields !== null) sink.stageFields(fields, this.fieldsWhere);
    } catch (e) {
      batch.unstage();
      internalError('capture', e);
    }
    batch.addStaged(this.id, t0, t1 - t0, code);
  }

  /** Intern the name and static field keys in the newly bound store. Never throws. */
  private bind(): void {
    this.keyIds = NO_KEYS;
    try {
      if (this.name === null && this.nameLater !== null) {
        this.name = this.nameLater();
        this.nameLater = null;
      }
      this.id = this.sink.intern(this.name ?? this.fallbackName);
      if (this.keys.length > 0) this.keyIds = this.keys.map((key) => this.sink.intern(key));
    } catch (err) {
      this.sink.unbind();
      internalError('binding a captured function to its store', err);
    }
    this.batch = this.sink.batch;
  }
}
