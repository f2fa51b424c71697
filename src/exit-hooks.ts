/**
 * Process hooks that hand buffered events to the engine when the process ends, without changing how
 * it ends (invariant 1):
 *
 * - `beforeExit`: hand over and flush; the flush keeps the loop alive until the engine has written,
 *   then `beforeExit` fires again with nothing left to do.
 * - `exit` and `uncaughtExceptionMonitor` (a monitor never changes what an uncaught exception does):
 *   nothing asynchronous runs any more, so hand over and block (at most 1 s in all) until the
 *   engine's writer thread has written it. At `exit` every store is then closed synchronously
 *   (sealed, WAL removed), so a process that ends without `close()` leaves a cleanly closed store. On an uncaught exception or unhandled rejection, then
 *   write a post-mortem synchronously (stores with that trigger on; see post-mortem.ts);
 *   SIGINT/SIGTERM do the same before the signal takes its course.
 * - SIGINT/SIGTERM (main thread only): prepended, so they run first. The listener removes itself at
 *   once, so other listeners see the process as if laptime were not there, and hands everything
 *   over synchronously as at exit. If no other listener is left, nothing else would have handled
 *   the signal: flush (at most 2 s) and raise the signal again, so the process ends by it as it
 *   would have by default. Otherwise leave the decision to the other listeners and listen again on
 *   the next turn.
 */
import { isMainThread } from 'node:worker_threads';
import { registry } from './registry';
import { describeError } from './diagnostics';
import { kCloseSync, kDirty, kDrainSync, kPostMortemSync } from './symbols';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type HookedSignal = (typeof SIGNALS)[number];
/** Longest wait for the engine before a signal is raised again anyway. */
const SIGNAL_FLUSH_TIMEOUT_MS = 2000;
/** Longest blocking wait for the engine at exit, all stores together. */
const EXIT_DRAIN_TIMEOUT_MS = 1000;

let installed = false;
let raising = false;

/** Install the hooks once per thread (called when the first store opens). */
export function installExitHooks(): void {
  if (installed) return;
  installed = true;
  process.on('beforeExit', onBeforeExit);
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onUncaught);
  if (isMainThread) for (const signal of SIGNALS) listen(signal);
}

function listen(signal: HookedSignal): void {
  if (!raising && !process.listeners(signal).includes(onSignal)) process.prependListener(signal, onSignal);
}

function drainAll(): void {
  const deadline = Date.now() + EXIT_DRAIN_TIMEOUT_MS;
  for (const store of registry.stores) store[kDrainSync](deadline);
}

function onExit(): void {
  drainAll();
  closeAll();
}

/** Close every store now, blocking: the process is ending and nothing else will. */
function closeAll(): void {
  for (const store of [...registry.stores]) store[kCloseSync]();
}

/** Everything handed over, then a post-mortem of every store that wants one. */
function onUncaught(err: unknown, origin: NodeJS.UncaughtExceptionOrigin): void {
  drainAll();
  const trigger = origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException';
  postMortemAll(trigger, describeError(err).split('\n')[0] ?? '');
}

function postMortemAll(trigger: 'uncaughtException' | 'unhandledRejection' | 'signal', detail: string): void {
  for (const store of registry.stores) store[kPostMortemSync](trigger, detail);
}

function flushAll(): Promise<unknown> {
  const flushes: Promise<void>[] = [];
  for (const store of registry.stores) if (store[kDirty]()) flushes.push(store.flush());
  return Promise.allSettled(flushes);
}

function onBeforeExit(): void {
  // Only when there is something to write, so this ends: the next beforeExit finds nothing.
  void flushAll();
}

function onSignal(signal: NodeJS.Signals): void {
  const sig = signal as HookedSignal;
  process.removeListener(sig, onSignal);
  // Synchronously, so the events are written whatever the other listeners do next (one of them
  // may end the process at once, as signal-exit does when it thinks it is alone).
  drainAll();
  postMortemAll('signal', sig);
  if (process.listenerCount(sig) > 0) {
    void flushAll();
    setImmediate(() => listen(sig));
    return;
  }
  // Nobody else handles the signal. Flush (with sync: 'always' that is the fsync), close, then end
  // the process by the signal, as the default disposition would have.
  raising = true;
  let done = false;
  const raise = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    // The signal ends the process without an `exit` event: close here.
    closeAll();
    process.kill(process.pid, sig);
  };
  // Not unref'd: the process must live until the signal is raised again.
  const timer = setTimeout(raise, SIGNAL_FLUSH_TIMEOUT_MS);
  flushAll().then(raise, raise);
}
