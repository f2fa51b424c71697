/**
 * The stable codes laptime's errors carry in `err.code` (the engine's `ErrorCode`, the same strings in
 * Rust), and the helpers that put them on errors thrown in TypeScript. A leaf module: it imports
 * nothing of laptime's.
 */

/**
 * Every `err.code` an error of laptime's engine can have. OS errors keep their errno name; laptime's
 * own kinds are spelled in capitals without an `E`. The strings never change meaning; new codes may
 * be added.
 *
 * - `ENOSPC`: the disk is full or the quota is used up (ENOSPC, EDQUOT). Recording resumes by itself
 *   once space is freed.
 * - `EIO`: an I/O error (a failed write or fsync), or an OS error with no more specific code here
 *   (EMFILE, EINTR, ...).
 * - `EACCES` (also EPERM), `ENOENT`, `EEXIST`, `EROFS`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `EFBIG`,
 *   `EBUSY`, `ENOMEM`, `EXDEV`, `ENAMETOOLONG`, `ESTALE`: that OS error.
 * - `CORRUPT`: bytes in a store file are damaged.
 * - `INVALID_OPTION`: an option has an unusable value (also the option checks made in TypeScript).
 * - `INVALID_INPUT`: an argument of a call is not acceptable.
 * - `MALFORMED`: bytes handed over in memory (a partial query result) do not decode.
 * - `WRITE_FAILED`: the writer failed for a reason that has no code of its own; a writer failure
 *   with a known cause carries that cause's code (`EIO`, `EACCES`, `CORRUPT`, ...).
 * - `CLOSED`: the store or reader was closed.
 * - `INTERNAL`: a bug in laptime stopped this one call (a panic in the engine, caught before it
 *   could end the process). Please report it. (A synchronous native call that panics throws napi's
 *   own `Error` instead.)
 */
export const ERROR_CODES = [
  'ENOSPC',
  'EIO',
  'EACCES',
  'ENOENT',
  'EEXIST',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'EFBIG',
  'EBUSY',
  'ENOMEM',
  'EXDEV',
  'ENAMETOOLONG',
  'ESTALE',
  'CORRUPT',
  'INVALID_OPTION',
  'INVALID_INPUT',
  'MALFORMED',
  'WRITE_FAILED',
  'CLOSED',
  'INTERNAL',
] as const;

/** One of {@link ERROR_CODES}: what `err.code` of a laptime error says. */
export type LaptimeErrorCode = (typeof ERROR_CODES)[number];

/** An error thrown (or a promise rejected) by laptime with one of its codes. */
export interface LaptimeError extends Error {
  code: LaptimeErrorCode;
}

/**
 * Whether `err` is a laptime error, optionally with code `code`.
 *
 * @example
 * try { await store.flush(); } catch (err) { if (isLaptimeError(err, 'ENOSPC')) alertOps(); }
 */
export function isLaptimeError(err: unknown, code?: LaptimeErrorCode): err is LaptimeError {
  if (!(err instanceof Error)) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== 'string' || !(ERROR_CODES as readonly string[]).includes(c)) return false;
  return code === undefined || c === code;
}

/** @internal An `Error` with `message` and `code`. */
export function codedError(message: string, code: LaptimeErrorCode, options?: ErrorOptions): LaptimeError {
  return Object.assign(new Error(message, options), { code });
}

/** @internal Give `err` code `code` (if any) unless it has a code already; returns `err`. */
export function withCode<E>(err: E, code: LaptimeErrorCode | undefined): E {
  if (code !== undefined && err instanceof Error && (err as { code?: unknown }).code === undefined) Object.assign(err, { code });
  return err;
}

/** @internal The laptime code of `err`, if it has one. */
export function codeOf(err: unknown): LaptimeErrorCode | undefined {
  return isLaptimeError(err) ? err.code : undefined;
}
