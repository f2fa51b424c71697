/**
 * Writing filter terms from typed arguments. The filter syntax itself (and its parser, including
 * the one duration and time grammar) lives in the engine; this module only spells values so the
 * engine reads them back unchanged, and turns the engine's syntax errors into
 * {@link FilterSyntaxError}s.
 */
import { FilterSyntaxError, parseDuration, parseTime, syntaxError } from './grammar';
import { nativeBinding } from './native';
import { show } from './describe';
import { toEpochMs, type TimeBound } from './time';

export { FilterSyntaxError };

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * A field key as the syntax spells it; throws TypeError for keys it cannot address. Always with the
 * `field.` prefix (stripped once by the engine), so no key can be mistaken for one of the syntax's
 * own; the engine's canonical form drops the prefix where it is not needed.
 */
export function keyText(key: string): string {
  if (!KEY.test(key)) {
    throw new TypeError(
      `laptime: field key ${show(key)} cannot be used in a filter (letters, digits, "_", "." and "-", starting with a letter, digit or "_")`,
    );
  }
  return `field.${key}`;
}

/** A value, double-quoted and escaped when it would not survive unquoted. */
export function valueText(value: string): string {
  if (value !== '' && !/[\s"\\(),]/.test(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * A duration for the syntax: a string of the one duration grammar (`'10ms'`, `'7d'`) in the
 * engine's canonical spelling, a number as nanoseconds. Without the addon a string passes as it is
 * (nothing will run it).
 */
export function durationText(value: number | string, option: string): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      throw new TypeError(`laptime: ${option} must be a whole number of nanoseconds >= 0 or a string such as "10ms", got ${value}`);
    }
    return `${value}ns`;
  }
  if (typeof value !== 'string') throw new TypeError(`laptime: ${option} must be a number of nanoseconds or a string such as "10ms", got ${show(value)}`);
  if (nativeBinding() === null) return value.trim();
  return parseDuration(value, option).text;
}

/**
 * A time bound for `since:` / `until:`. Strings are read by the engine's time grammar; relative ones
 * (`'1h'`, `'now'`) stay relative to the query's "now". Without the addon a string passes as it is.
 */
export function timeText(value: TimeBound, option: string, nowMs: number): string {
  if (typeof value === 'string') {
    if (nativeBinding() === null) return value.trim();
    return parseTime(value, nowMs, `option "${option}"`).text;
  }
  const ms = toEpochMs(value, option, nowMs);
  if (ms < 0) throw new RangeError(`laptime: ${option} is before 1970: ${show(value)}`);
  if (Number.isInteger(ms)) return String(ms);
  // Sub-millisecond bounds as ISO with a nanosecond fraction, so nothing is rounded away.
  const whole = Math.floor(ms);
  const subNs = Math.round((ms - whole) * 1e6);
  const iso = new Date(whole).toISOString();
  return `${iso.slice(0, -1)}${String(subNs).padStart(6, '0')}Z`;
}

/** Throws {@link FilterSyntaxError} if `filter` does not parse; returns its canonical form. */
export function checkFilter(filter: string): string {
  const binding = nativeBinding();
  if (binding === null) return filter;
  const parsed = binding.parseFilter(filter);
  if (parsed.error !== undefined && parsed.error !== null) {
    throw syntaxError(filter, parsed.error);
  }
  return parsed.canonical ?? filter;
}

/**
 * `read()`, a read the engine runs with `filter`: the engine alone parses it (one call into the
 * addon rather than two). When the engine refuses the read, the filter is parsed again here, and
 * a filter that does not parse rejects with a {@link FilterSyntaxError}; any other refusal keeps
 * its own error.
 */
export async function withFilterErrors<T>(filter: string | undefined, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'INVALID_INPUT') checkFilter(filter ?? '');
    throw err;
  }
}
