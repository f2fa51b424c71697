/**
 * What laptime tells about itself: one-time warnings (`process.emitWarning`, never a throw) and the
 * count of internal failures that were swallowed so that user code never sees them.
 */

/** Process-wide counts of failures that laptime absorbed instead of throwing into user code. */
export const diagnostics = {
  /** Internal errors caught on the capture/log path (each also drops the events involved). */
  internalErrors: 0,
  /** Events that had no store to go to (default store failed to open, store closed). */
  lostEvents: 0,
};

const warned = new Set<string>();

/** Emit `message` as a `LaptimeWarning` the first time `code` is seen in this thread; never throws. */
export function warnOnce(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  try {
    process.emitWarning(message, { type: 'LaptimeWarning', code });
  } catch {
    // emitWarning can only fail if process.emitWarning was replaced; nothing better to do.
  }
}

/** Emit `message` as a `LaptimeWarning` with `code` every time (for state changes); never throws. */
export function warn(code: string, message: string): void {
  try {
    process.emitWarning(message, { type: 'LaptimeWarning', code });
  } catch {
    // As in warnOnce.
  }
}

/** Count an internal failure and warn about the first one. */
export function internalError(where: string, err: unknown): void {
  diagnostics.internalErrors++;
  warnOnce(
    'LAPTIME_INTERNAL_ERROR',
    `laptime: internal error in ${where}: ${describeError(err)} (later ones are counted in counters().internalErrors, not reported)`,
  );
}

/** A one-line description of any thrown value; never throws. */
export function describeError(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return 'unprintable error';
  }
}

/** Forget warnings and counts (tests only). */
export function resetDiagnostics(): void {
  warned.clear();
  diagnostics.internalErrors = 0;
  diagnostics.lostEvents = 0;
}
