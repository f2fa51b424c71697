/**
 * Process-wide (per thread) store bookkeeping: the open stores (for the exit hooks) and an epoch
 * that changes whenever a captured function may have to re-bind to a store (a store opened or
 * closed, the default store changed). Captured call sites compare one number per call.
 *
 * It knows stores only by what the exit hooks call on them ({@link OpenStore}), so it imports
 * neither the store nor the hooks.
 */
import type { kCloseSync, kDirty, kDrainSync, kPostMortemSync } from './symbols';

/** What the exit hooks (and test cleanup) do with every open store. */
export interface OpenStore {
  [kDrainSync](deadline: number): void;
  [kCloseSync](): void;
  [kPostMortemSync](trigger: 'uncaughtException' | 'unhandledRejection' | 'signal', detail: string): void;
  [kDirty](): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const registry = {
  /** Bumped on every change that may invalidate a call site's binding; sites start at 0. */
  epoch: 1,
  /** Stores that are open in this thread. */
  stores: new Set<OpenStore>(),
};
