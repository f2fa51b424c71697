/**
 * Writing filter terms from typed arguments. The filter syntax itself (and its parser) lives in the
 * engine; this module only spells values so the engine reads them back unchanged, and turns the
 * engine's syntax errors into {@link FilterSyntaxError}s.
 */
import { nativeBinding } from './native';
import { show } from './options';
import { toEpochMs, type TimeBound } from './time';

/** A filter string that does not parse: where, what was expected there, and what was found. */
export class FilterSyntaxError extends SyntaxError {
  /** Byte offset (UTF-8) in the filter where the problem is. */
  readonly position: number;
  /** What would have been valid there. */
  readonly expected: string;
  /** What was there. */
  readonly found: string;
  /** The filter as given. */
  readonly filter: string;

  constructor(filter: string, position: number, expected: string, found: string) {
    super(`laptime: invalid filter at ${position}: expected ${expected}, found ${found}`);
    this.name = 'FilterSyntaxError';
    this.filter = filter;
    this.position = position;
    this.expected = expected;
    this.found = found;
  }
}

/** Keys the syntax reserves for its own terms; fields with these names get a `field.` prefix. */
const RESERVED = new Set(['name', 'kind', 'status', 'level', 'duration', 'since', 'until', 'has', 'message']);
const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A field key as the syntax spells it; throws TypeError for keys it cannot address. */
export function keyText(key: string): string {
  if (!KEY.test(key)) {
    throw new TypeError(
      `laptime: field key ${show(key)} cannot be used in a filter (letters, digits, "_", "." and "-", starting with a letter, digit or "_")`,
    );
  }
  return RESERVED.has(key) || key.startsWith('field.') ? `field.${key}` : key;
}

/** A value, double-quoted and escaped when it would not survive unquoted. */
export function valueText(value: string): string {
  if (value !== '' && !/[\s"\\(),]/.test(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** A duration for the syntax: a string such as `'10ms'` as it is, a number as nanoseconds. */
export function durationText(value: number | string, option: string): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      throw new TypeError(`laptime: ${option} must be a whole number of nanoseconds >= 0 or a string such as "10ms", got ${value}`);
    }
    return `${value}ns`;
  }
  return value.trim();
}

const RELATIVE = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)$/;

/** A time bound for `since:` / `until:`; relative ones stay relative to the query's "now". */
export function timeText(value: TimeBound, option: string, nowMs: number): string {
  if (typeof value === 'string' && RELATIVE.test(value.trim())) return value.trim().replace(/\s+/g, '');
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
    const e = parsed.error;
    throw new FilterSyntaxError(filter, e.position, e.expected, e.found);
  }
  return parsed.canonical ?? filter;
}
