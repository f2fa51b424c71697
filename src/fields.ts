/**
 * Field values: what a field column holds, and the checks of each way fields arrive. Static fields
 * (capture options) are checked once at setup and throw on bad values; log fields are converted at
 * run time and never throw. The batch (batch.ts) stages the values as columns.
 */

/** A value a field can hold: stored as i64, f64, bool or string. */
export type FieldValue = string | number | boolean | bigint;
/** Static key/values attached to every event of a captured function. */
export type Fields = Readonly<Record<string, FieldValue>>;

/** Range of the i64 a whole-number field holds. */
export const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;

/** Field key the error's class name is stored under on failed calls. */
export const ERROR_FIELD = 'error';

/** true for a value a field column holds: a string, boolean, number, or bigint within 64 bits. */
export function isFieldValue(value: unknown): value is FieldValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return true;
    case 'bigint':
      return value >= I64_MIN && value <= I64_MAX;
    default:
      return false;
  }
}

/** Longest log message or log field text kept whole; the engine refuses events with far more. */
export const MAX_LOG_CHARS = 1 << 20;

/** `text`, or its first MAX_LOG_CHARS characters with a visible note of how many were cut. */
export function cutLong(text: string): string {
  if (text.length <= MAX_LOG_CHARS) return text;
  return `${text.slice(0, MAX_LOG_CHARS)}… [laptime: ${text.length - MAX_LOG_CHARS} more characters cut]`;
}

/**
 * A log field's value as stored: field values as they are (long text cut with a note), anything
 * else as its text (`NaN`, a JSON rendering of objects); null for null and undefined (left out).
 * Never throws.
 */
export function looseValue(value: unknown): FieldValue | null {
  if (typeof value === 'string') return cutLong(value);
  if (isFieldValue(value) || value === null || value === undefined) return value ?? null;
  try {
    if (typeof value === 'object') {
      const json = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      if (json !== undefined) return cutLong(json);
    }
    return cutLong(String(value));
  } catch {
    return '[unprintable]';
  }
}

/** Check static fields at setup; throws TypeError naming the bad field. */
export function checkFields(fields: unknown, where: string): Fields {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError(`laptime: ${where} "fields" must be an object of key/values, or a function (args, result, error) => key/values`);
  }
  const out: Record<string, FieldValue> = {};
  for (const key of Object.keys(fields)) {
    const value = (fields as Record<string, unknown>)[key];
    if (key === '') throw new TypeError(`laptime: ${where} field names must not be empty`);
    if (key === ERROR_FIELD) {
      throw new TypeError(`laptime: ${where} field "${ERROR_FIELD}" is reserved: failed calls store the error's class name there`);
    }
    if (!isFieldValue(value)) {
      throw new TypeError(
        `laptime: ${where} field "${key}" must be a string, boolean, number or 64-bit bigint, got ${
          typeof value === 'number' || typeof value === 'bigint' ? String(value) : typeof value
        }`,
      );
    }
    out[key] = value as FieldValue;
  }
  return Object.freeze(out);
}

/** Class name of a thrown value, for the `error` field: `TypeError`, `string` for `throw 'x'`. */
export function errorClass(err: unknown): string {
  try {
    if ((typeof err === 'object' && err !== null) || typeof err === 'function') {
      const ctor: unknown = (err as { constructor?: unknown }).constructor;
      if (typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '') return ctor.name;
      return 'Object';
    }
    return err === null ? 'null' : typeof err;
  } catch {
    return 'unknown';
  }
}
