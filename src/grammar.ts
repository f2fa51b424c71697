/**
 * The one duration grammar and the one time grammar (README "Durations and times"), read by the
 * engine (crates/laptime-core/src/filter/grammar.rs) for the builder, the CLI and the HTTP API
 * alike. Nothing is parsed here: errors come back from the engine as data and become
 * {@link FilterSyntaxError}s naming the input and the byte position.
 */
import { nativeBinding, type NativeFilterError } from './native';

/** Stable kinds of {@link FilterSyntaxError}. */
export type SyntaxErrorCode = 'SYNTAX' | 'BAD_DURATION' | 'BAD_TIME' | 'OUT_OF_RANGE' | 'BAD_VALUE';

/**
 * A filter, duration or time that does not parse: its kind (`code`), where (`position`, a UTF-8
 * byte offset into `filter`), what was expected there and what was found.
 */
export class FilterSyntaxError extends SyntaxError {
  /** `SYNTAX`, `BAD_DURATION`, `BAD_TIME`, `OUT_OF_RANGE` (too large, or before 1970) or `BAD_VALUE`. */
  readonly code: SyntaxErrorCode;
  /** Byte offset (UTF-8) in the input where the problem is. */
  readonly position: number;
  /** What would have been valid there. */
  readonly expected: string;
  /** What was there. */
  readonly found: string;
  /** The input as given (a filter, or a duration or time). */
  readonly filter: string;

  /** `what` leads the message: `invalid filter` (the default), or e.g. `--since: invalid time "7x"`. */
  constructor(filter: string, position: number, expected: string, found: string, code: SyntaxErrorCode = 'SYNTAX', what = 'invalid filter') {
    super(`laptime: ${what} at ${position}: expected ${expected}, found ${found}`);
    this.name = 'FilterSyntaxError';
    this.code = code;
    this.filter = filter;
    this.position = position;
    this.expected = expected;
    this.found = found;
  }
}

/** The engine's error as a {@link FilterSyntaxError}; `what` as in its constructor. */
export function syntaxError(input: string, e: NativeFilterError, what = 'invalid filter'): FilterSyntaxError {
  return new FilterSyntaxError(input, e.position, e.expected, e.found, e.code as SyntaxErrorCode, what);
}

function binding(what: string) {
  const b = nativeBinding();
  if (b === null) throw new Error(`laptime: the native addon is unavailable, so ${what} cannot be read`);
  return b;
}

/** A parsed duration: exact nanoseconds and the engine's canonical spelling (`90m` for `1.5h`). */
export interface Duration {
  ns: bigint;
  text: string;
}

/** Read a duration (`250us`, `1.5h`, `7d`, `1w`); throws {@link FilterSyntaxError} naming `subject`. */
export function parseDuration(text: string, subject: string): Duration {
  const r = binding('durations').parseDuration(text);
  if (r.error !== undefined && r.error !== null) throw syntaxError(text, r.error, `${subject}: invalid duration ${JSON.stringify(text)}`);
  return { ns: r.ns ?? 0n, text: r.canonical ?? text.trim() };
}

/** A parsed time: the instant in epoch ms (and ns), and its canonical spelling. */
export interface Instant {
  /** Epoch ms (a double, sub-ms digits kept as a fraction). */
  ms: number;
  /** Epoch ns, exact. */
  ns: bigint;
  /** Relative to now (`7d`, `now`): `text` stays relative, so a query can resolve it at its own now. */
  relative: boolean;
  /** Canonical text, as a filter prints it. */
  text: string;
}

/** Read a time (`now`, `7d`/`-7d` before `nowMs`, epoch ms, ISO 8601); throws {@link FilterSyntaxError} naming `subject`. */
export function parseTime(text: string, nowMs: number, subject: string): Instant {
  const r = binding('times').parseTime(text, nowMs);
  if (r.error !== undefined && r.error !== null) throw syntaxError(text, r.error, `${subject}: invalid time ${JSON.stringify(text)}`);
  return { ms: r.epochMs ?? 0, ns: r.epochNs ?? 0n, relative: r.relative === true, text: r.canonical ?? text.trim() };
}

/** `since..until`, each a time as {@link parseTime} reads it; throws RangeError for a missing `..` or an empty range. */
export function parseRange(text: string, nowMs: number, subject: string): { since: number; until: number } {
  const parts = text.split('..');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new RangeError(`laptime: ${subject} must be a range since..until, e.g. 2h..1h or 2026-11-22T10:00Z..now; got ${JSON.stringify(text)}`);
  }
  const since = parseTime(parts[0]!, nowMs, `${subject} start`).ms;
  const until = parseTime(parts[1]!, nowMs, `${subject} end`).ms;
  if (!(since < until)) throw new RangeError(`laptime: ${subject} ${JSON.stringify(text)} is empty: its start must be before its end`);
  return { since, until };
}
