/**
 * A call site: one captured function (or one decorated method) and where its events go. The hot
 * path is `ok(t0)`: one clock read, one epoch compare, four typed-array stores. Everything that can
 * fail (opening the default store, interning the name) happens in `bind()`, once per store, and is
 * caught there: a site that cannot bind writes into a discarding batch and counts the loss.
 */
import { Batch } from './batch';
import { diagnostics, internalError } from './diagnostics';
import { defaultStoreOrNull } from './default-store';
import { ERROR_FIELD, encodeValue, errorClass, jsonString, type Fields } from './fields';
import { registry } from './registry';
import type { Store } from './store';
import { kBatch, kIntern } from './symbols';
import { perf } from './time';

const NO_TAILS: readonly string[] = Object.freeze([]);

/** Where events of an unbound site go: each one counted as lost at once, nothing else. */
const DISCARD: Batch = new Batch(1, () => {
  diagnostics.lostEvents += DISCARD.length;
  DISCARD.clear();
});

export class Site {
  /** Function name; null until a standard-decorator initializer names it (see capture.ts). */
  name: string | null;
  /** Computes `name` at the first event (a class's final name is not known during its static initialization). */
  private nameLater: (() => string) | null = null;
  /** Used while `name` is unknown. */
  private readonly fallbackName: string;
  private readonly fields: Fields | null;
  private readonly store: Store | null;
  private epoch = 0;
  private id = 0;
  private batch: Batch = DISCARD;
  /** `,keyId,"tag",value]` of each static field, for the current store. */
  private tails: readonly string[] = NO_TAILS;
  private errorKey = 0;

  constructor(name: string | null, fallbackName: string, fields: Fields | null, store: Store | null) {
    this.name = name;
    this.fallbackName = fallbackName;
    this.fields = fields !== null && Object.keys(fields).length > 0 ? fields : null;
    this.store = store;
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
    this.epoch = 0;
  }

  /** A call that started at `t0` (perf.now()) ended normally now. */
  ok(t0: number): void {
    const t1 = perf.now();
    if (this.epoch !== registry.epoch) this.bind();
    if (this.tails === NO_TAILS) this.batch.add(this.id, t0, t1 - t0, 0);
    else this.batch.addWithExtras(this.id, t0, t1 - t0, 0, this.tails, null);
  }

  /** A call that started at `t0` threw or rejected with `err` now. */
  fail(t0: number, err: unknown): void {
    const t1 = perf.now();
    try {
      if (this.epoch !== registry.epoch) this.bind();
      const tails = [...this.tails, `,${this.errorKey},"s",${jsonString(errorClass(err))}]`];
      this.batch.addWithExtras(this.id, t0, t1 - t0, 1, tails, null);
    } catch (e) {
      internalError('capture', e);
    }
  }

  /** Pick the store and intern the name and field keys there. Never throws. */
  private bind(): void {
    let batch = DISCARD;
    let tails = NO_TAILS;
    try {
      const store = this.store ?? defaultStoreOrNull();
      if (this.name === null && this.nameLater !== null) {
        this.name = this.nameLater();
        this.nameLater = null;
      }
      if (store !== null && store.enabled && !store.closed) {
        this.id = store[kIntern](this.name ?? this.fallbackName);
        this.errorKey = store[kIntern](ERROR_FIELD);
        if (this.fields !== null) {
          const list: string[] = [];
          for (const key of Object.keys(this.fields)) list.push(`,${store[kIntern](key)},${encodeValue(this.fields[key])}]`);
          tails = list;
        }
        batch = store[kBatch];
      }
    } catch (err) {
      internalError('binding a captured function to its store', err);
    }
    this.batch = batch;
    this.tails = tails;
    this.epoch = registry.epoch;
  }
}
