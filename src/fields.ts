/**
 * Field values and their wire form. Fields travel in the rare-path `extrasJson` of a batch as
 * `[row,keyId,"i"|"f"|"b"|"s",value]`; this module turns values into the `"tag",value` part.
 * Static fields (capture options) are checked once at setup and throw on bad values; log fields are
 * converted at run time and never throw.
 */

/** A value a field can hold: stored as i64, f64, bool or string. */
export type FieldValue = string | number | boolean | bigint;
/** Static key/values attached to every event of a captured function. */
export type Fields = Readonly<Record<string, FieldValue>>;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Field key the error's class name is stored under on failed calls. */
export const ERROR_FIELD = 'error';

/** A string JSON can carry to Rust: lone surrogates become U+FFFD (serde rejects them). */
export function wellFormed(s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/** JSON string literal of `s`, safe for the addon. */
export function jsonString(s: string): string {
  return JSON.stringify(wellFormed(s));
}

/** `"tag",value` of a supported value, or null. */
export function encodeValue(value: unknown): string | null {
  switch (typeof value) {
    case 'string':
      return `"s",${jsonString(value)}`;
    case 'boolean':
      return value ? '"b",true' : '"b",false';
    case 'number':
      if (Number.isSafeInteger(value)) return `"i",${value}`;
      // JSON has no NaN or infinities; the addon reads null as those (a NaN f64).
      return Number.isFinite(value) ? `"f",${value}` : '"f",null';
    case 'bigint':
      return value >= I64_MIN && value <= I64_MAX ? `"i",${value}` : null;
    default:
      return null;
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
 * `"tag",value` of anything, for log fields: unsupported values become their text (`NaN`, a JSON
 * rendering of objects); null and undefined are skipped (null result); text beyond MAX_LOG_CHARS
 * is cut with a note. Never throws.
 */
export function encodeLoose(value: unknown): string | null {
  if (typeof value === 'string' && value.length > MAX_LOG_CHARS) return `"s",${jsonString(cutLong(value))}`;
  const exact = encodeValue(value);
  if (exact !== null || value === null || value === undefined) return exact;
  try {
    if (typeof value === 'object') {
      const json = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      if (json !== undefined) return `"s",${jsonString(cutLong(json))}`;
    }
    return `"s",${jsonString(cutLong(String(value)))}`;
  } catch {
    return '"s","[unprintable]"';
  }
}

/** Check static fields at setup; throws TypeError naming the bad field. */
export function checkFields(fields: unknown, where: string): Fields {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError(`laptime: ${where} "fields" must be an object of key/values`);
  }
  const out: Record<string, FieldValue> = {};
  for (const key of Object.keys(fields)) {
    const value = (fields as Record<string, unknown>)[key];
    if (key === '') throw new TypeError(`laptime: ${where} field names must not be empty`);
    if (key === ERROR_FIELD) {
      throw new TypeError(`laptime: ${where} field "${ERROR_FIELD}" is reserved: failed calls store the error's class name there`);
    }
    if (encodeValue(value) === null) {
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
