/**
 * Loggers: log events (name, time, level, message, fields) written into a store next to the
 * captured calls. Like capture, a logger never throws into the caller: bad values are converted,
 * internal failures counted.
 */
import { diagnostics, internalError } from './diagnostics';
import { kLog } from './symbols';

/** Severity of a log event, lowest first; stored as codes 2 (trace) .. 7 (fatal). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Fields of one log event. Strings, booleans, numbers and bigints are stored as such; other values as their text; null/undefined are skipped. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Writes log events under one name. Methods may be detached (`const { info } = log`). */
export interface Logger {
  /** Name the events are stored under (what stats groups them by). */
  readonly name: string;
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  fatal(message: string, fields?: LogFields): void;
}

/** Whatever can take log events: a Store (kept abstract to avoid an import cycle). */
export interface LogTarget {
  [kLog](logger: string, level: number, message: unknown, fields: LogFields | undefined): void;
}

/** A Logger writing to the target `resolve` returns when it logs (null: nowhere, counted as lost). */
export function createLogger(name: string, resolve: () => LogTarget | null): Logger {
  const write = (level: number, message: unknown, fields: LogFields | undefined): void => {
    try {
      const target = resolve();
      if (target === null) diagnostics.lostEvents++;
      else target[kLog](name, level, message, fields);
    } catch (err) {
      internalError('log', err);
    }
  };
  return Object.freeze({
    name,
    trace: (message: string, fields?: LogFields) => write(0, message, fields),
    debug: (message: string, fields?: LogFields) => write(1, message, fields),
    info: (message: string, fields?: LogFields) => write(2, message, fields),
    warn: (message: string, fields?: LogFields) => write(3, message, fields),
    error: (message: string, fields?: LogFields) => write(4, message, fields),
    fatal: (message: string, fields?: LogFields) => write(5, message, fields),
  });
}
