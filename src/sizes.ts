/**
 * Byte sizes as people write them (`500MB`, `2GB`, `1.5GiB`, `4096`), for options, environment
 * variables and CLI flags alike. Decimal units are powers of 1000, binary ones of 1024.
 */

const MULTIPLIERS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Whole bytes of `text`, or null if it is no size. */
export function parseByteSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i.exec(text.trim());
  if (m === null) return null;
  const bytes = Math.floor(Number(m[1]) * MULTIPLIERS[(m[2] ?? 'B').toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
