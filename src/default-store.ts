/**
 * The default store: where captures and `log` write unless told otherwise. Opened lazily, on the
 * first event, at `$LAPTIME_DIR` or `./.laptime`, so importing laptime or decorating a class has no
 * side effect on disk.
 */
import { describeError, warnOnce } from './diagnostics';
import { registry } from './registry';
import { Store } from './store';

/** The default store once opened or set; a closed one is replaced on next use. */
let current: Store | null = null;

/**
 * The default store, opening it (with default options) if needed. Throws if it cannot be opened.
 *
 * @example
 * import { defaultStore } from 'laptime';
 * await defaultStore().flush();
 * console.log((await defaultStore().stats({ since: '1h' })).rows);
 */
export function defaultStore(): Store {
  if (current === null || current.closed) {
    current = Store.open();
    registry.epoch++;
  }
  return current;
}

/**
 * Make `store` the one captures and `log` write to (null: go back to a lazily opened default).
 * Functions already captured switch on their next call.
 *
 * @example
 * import { open, setDefaultStore } from 'laptime';
 * setDefaultStore(open({ dir: '/var/lib/myapp/laptime', sync: 'always' }));
 */
export function setDefaultStore(store: Store | null): void {
  if (store !== null && !(store instanceof Store)) throw new TypeError('laptime: setDefaultStore() takes a Store from open(), or null');
  if (store !== null && store.closed) throw new Error('laptime: setDefaultStore() was given a closed store');
  current = store;
  registry.epoch++;
}

let failedAtEpoch = 0;

/** The default store for the capture path: never throws; null (after one warning) if it cannot open. */
export function defaultStoreOrNull(): Store | null {
  if (current !== null && !current.closed) return current;
  // After a failure, retry only once something changed (a store opened or closed, a new default).
  if (failedAtEpoch === registry.epoch) return null;
  try {
    return defaultStore();
  } catch (err) {
    failedAtEpoch = registry.epoch;
    warnOnce(
      'LAPTIME_DEFAULT_STORE',
      `laptime: the default store could not be opened (${describeError(err)}); captured calls are not recorded (counted in lost events)`,
    );
    return null;
  }
}
