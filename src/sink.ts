/**
 * Where a call site's events go: the store it writes to (given, or the default one, re-resolved
 * whenever the registry's epoch moves) and the staging of fields into that store's batch. Shared
 * by `Site` (one function, one name) and `CallRecorder` (middleware and bridges: a name per call).
 * Nothing here throws into the program: a sink that cannot bind writes into a discarding batch
 * that counts each event as lost.
 */
import { Batch, TextMemo } from './batch';
import { diagnostics, internalError, warnOnce } from './diagnostics';
import { defaultStoreOrNull } from './default-store';
import { ERROR_FIELD, errorClass } from './fields';
import { registry } from './registry';
import type { Store } from './store';
import { kBatch, kIntern } from './symbols';

/** Where events of an unbound sink go: each one counted as lost at once, nothing else. */
export const DISCARD: Batch = new Batch(1, () => {
  diagnostics.lostEvents += DISCARD.length;
  DISCARD.clear();
});

/** Per-call fields as a function returns them; null and undefined values are left out. */
export type CallFields = Readonly<Record<string, unknown>>;

export class Sink {
  /** The batch to write into (DISCARD while unbound). */
  batch: Batch = DISCARD;
  /** The store bound to, null while unbound. */
  bound: Store | null = null;
  /** Id of the `error` key in the bound store. */
  errorKey = 0;
  /** Registry epoch of the current binding (0: bind at the next event). */
  epoch = 0;
  private readonly store: Store | null;
  /** Keys of the last per-call fields staged, and their ids in the bound store. */
  private readonly lastKeys: string[] = [];
  private readonly lastIds: number[] = [];
  /** String values staged last, by key position (a repeated one is sent as a reference). */
  private readonly memo = new TextMemo();
  private readonly errorMemo = new TextMemo();

  /** `store` null: the default store. */
  constructor(store: Store | null) {
    this.store = store;
  }

  /** Re-bind if stores changed since the last call; true when it did (ids must be interned again). */
  refresh(): boolean {
    if (this.epoch === registry.epoch) return false;
    this.epoch = registry.epoch;
    this.batch = DISCARD;
    this.bound = null;
    this.lastKeys.length = 0;
    this.lastIds.length = 0;
    try {
      const store = this.store ?? defaultStoreOrNull();
      if (store !== null && store.enabled && !store.closed) {
        this.errorKey = store[kIntern](ERROR_FIELD);
        this.batch = store[kBatch];
        this.bound = store;
      }
    } catch (err) {
      internalError('binding captured calls to their store', err);
    }
    return true;
  }

  /** Re-bind at the next event (the owner's ids changed, e.g. a site was named). */
  forget(): void {
    this.epoch = 0;
  }

  /** Discard events until the next re-bind (the owner could not intern its ids). */
  unbind(): void {
    this.batch = DISCARD;
    this.bound = null;
  }

  /** Id of `name` in the bound store; 0 while unbound (the discarding batch ignores ids). */
  intern(name: string): number {
    return this.bound === null ? 0 : this.bound[kIntern](name);
  }

  /** Stage the `error` field (the class of `err`) for the next row. */
  stageError(err: unknown): void {
    this.batch.text(this.errorKey, errorClass(err), this.errorMemo, 0);
  }

  /**
   * Stage per-call fields for the next row. Left out: null and undefined values, empty keys, the
   * reserved `error` key, and values no column holds (objects, functions, symbols, bigints beyond
   * 64 bits), the last two with one warning naming `where()` (asked only then) and the key.
   */
  stageFields(fields: CallFields, where: () => string): void {
    const batch = this.batch;
    const keys = this.lastKeys;
    const ids = this.lastIds;
    let k = 0;
    for (const key in fields) {
      const value = fields[key];
      // Objects made by the same code have the same keys in the same order: their ids are cached
      // by position, one comparison of (interned) strings instead of a map lookup per key. Keys
      // that are never stored (empty, reserved) get id -1.
      let id: number;
      if (k < keys.length && keys[k] === key) {
        id = ids[k]!;
      } else {
        keys.length = k;
        ids.length = k;
        id = key === '' || key === ERROR_FIELD ? -1 : this.intern(key);
        keys.push(key);
        ids.push(id);
      }
      const slot = k++;
      if (value === undefined || value === null) continue;
      if (typeof value === 'string') {
        if (id >= 0) batch.text(id, value, this.memo, slot);
        else this.leaveOut(key, where);
      } else if (id < 0) {
        this.leaveOut(key, where);
      } else if (!batch.field(id, value)) {
        warnOnce('LAPTIME_FIELD_VALUE', `laptime: ${where()} returned field "${key}" as ${typeof value}; fields hold strings, booleans, numbers and 64-bit bigints, so it was left out (later ones are not reported)`);
      }
    }
  }

  /** A key no field is stored under: the reserved one is reported once, the empty one is silently dropped. */
  private leaveOut(key: string, where: () => string): void {
    if (key === ERROR_FIELD) {
      warnOnce('LAPTIME_FIELD_RESERVED', `laptime: ${where()} returned the field "${ERROR_FIELD}", which is reserved for the class of a thrown error; it was left out`);
    }
  }
}
