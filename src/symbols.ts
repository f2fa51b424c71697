/**
 * Keys of internal state shared between modules (pino's lib/symbols.js habit): one place to see
 * what a Store exposes to the rest of the package without making it public API.
 */

/** The store's JS-side batch (`Batch`). */
export const kBatch: unique symbol = Symbol('laptime.batch');
/** `(name: string) => number`: intern a function name or field key, cached per store. */
export const kIntern: unique symbol = Symbol('laptime.intern');
/** `() => void`: hand the JS batch to the addon now (sync). */
export const kAppend: unique symbol = Symbol('laptime.append');
/** `() => boolean`: events were handed over since the last native flush, or are still buffered. */
export const kDirty: unique symbol = Symbol('laptime.dirty');
/** `(logger, level, message, fields) => void`: write one log event. */
export const kLog: unique symbol = Symbol('laptime.log');
/** `(deadline: number) => void`: hand the batch over and wait (blocking) until the engine wrote it. */
export const kDrainSync: unique symbol = Symbol('laptime.drainSync');
/** `(trigger, detail: string) => void`: write a post-mortem now (sync) if this trigger is on. */
export const kPostMortemSync: unique symbol = Symbol('laptime.postMortemSync');
/** `() => void`: close now, blocking (the process is ending): the engine seals and removes its WAL. */
export const kCloseSync: unique symbol = Symbol('laptime.closeSync');
