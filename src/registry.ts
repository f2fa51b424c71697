/**
 * Process-wide (per thread) store bookkeeping: the open stores (for the exit hooks), the default
 * store, and an epoch that changes whenever a captured function may have to re-bind to a store
 * (a store closed, the default store changed). Captured call sites compare one number per call.
 */
import type { Store } from './store';

export const registry = {
  /** Bumped on every change that may invalidate a call site's binding; sites start at 0. */
  epoch: 1,
  /** The store captures and `log` write to, once opened. */
  defaultStore: null as Store | null,
  /** Stores that are open in this thread. */
  stores: new Set<Store>(),
};
