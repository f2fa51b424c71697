/**
 * JSON text that is exact and safe on a terminal, shared by the CLI's output and the HTTP API (which
 * must not depend on the CLI).
 */

/** Characters a terminal would act on: C0 and C1 controls, DEL, bidi controls, U+2028/U+2029. */
export const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify replacer: bigints as decimal strings (JSON has no 64-bit integers). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * `JSON.stringify` whose output is also safe on a terminal and still exact: JSON already escapes
 * C0 controls, and DEL, C1 controls, bidi controls and U+2028/U+2029 (which it leaves raw) become
 * `\\uXXXX` escapes, which parse back to the very same string. Outside strings JSON text is ASCII
 * punctuation, digits and keywords, so replacing in the whole text only touches string contents.
 */
export function safeJson(value: unknown): string {
  return (JSON.stringify(value, jsonReplacer) ?? 'null').replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
