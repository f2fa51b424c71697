/**
 * Store upkeep from code (the CLI's `verify`, `compact` and `retention` use it): checking every
 * checksum file by file, and compacting or expiring partitions no process is writing. The work
 * runs in the addon, off the event loop.
 */
import { nativeBinding, type NativeOptions } from './native';
import { show } from './describe';

/** One file's check. */
export interface FileCheck {
  path: string;
  kind: 'names' | 'manifest' | 'segment' | 'wal' | 'quarantined' | 'partition';
  bytes: number;
  /** Pages (segments) or records (WAL, names) found sound. */
  items: number;
  /** `'damage'`: fails its checks. `'note'`: worth knowing (a torn tail a live writer or a crash leaves, which recovery cuts; a quarantined file). */
  finding?: 'damage' | 'note';
  /** Byte offset of the finding, when known. */
  offset?: number;
  reason?: string;
}

/** Answer of {@link verifyStore}. */
export interface VerifyReport {
  files: FileCheck[];
  /** Files with damage. */
  damaged: FileCheck[];
  /** Segment pages checked. */
  pages: number;
  bytes: number;
}

function binding() {
  const b = nativeBinding();
  if (b === null) throw new Error('laptime: the native addon is unavailable, so stores cannot be checked');
  return b;
}

/**
 * Check every checksum of the store in `dir` (both names copies, the manifest, every page of every
 * segment, every WAL record) without changing anything; safe while applications write it.
 *
 * @example
 * const report = await verifyStore('./.laptime', { onProgress: (done, total) => console.log(done / total) });
 * if (report.damaged.length > 0) process.exitCode = 1;
 */
export async function verifyStore(dir: string, options: { onProgress?: (doneBytes: number, totalBytes: number) => void } = {}): Promise<VerifyReport> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`laptime: verifyStore needs a directory, got ${show(dir)}`);
  const b = binding();
  const plan = await b.verifyPlan(dir);
  const total = plan.reduce((s, p) => s + p.bytes, 0);
  let done = 0;
  const files: FileCheck[] = [];
  for (const p of plan) {
    const c = await b.verifyFile(p);
    const file: FileCheck = { path: c.path, kind: c.kind, bytes: c.bytes, items: c.items };
    if (c.finding !== undefined && c.finding !== null) file.finding = c.finding;
    if (c.offset !== undefined && c.offset !== null) file.offset = c.offset;
    if (c.reason !== undefined && c.reason !== null) file.reason = c.reason;
    files.push(file);
    done += p.bytes;
    options.onProgress?.(done, total);
  }
  return {
    files,
    damaged: files.filter((f) => f.finding === 'damage'),
    pages: files.filter((f) => f.kind === 'segment').reduce((s, f) => s + f.items, 0),
    bytes: total,
  };
}

/** What {@link maintainStore} did to one partition. */
export interface Maintained {
  partition: string;
  /** `'busy'`: a running writer holds it (it applies retention itself every second). */
  outcome: 'busy' | 'compacted' | 'retained' | 'repaired';
  /** Segments merged or dropped. */
  segments: number;
  /** Events moved or dropped. */
  events: number;
  bytesFreed: number;
  /** For `'repaired'`: what was found and done, one line per file (what was kept, what was lost). */
  notes: string[];
}

/**
 * Compact, or apply retention limits to, every partition of the store in `dir` that no process is
 * writing.
 *
 * @example
 * await maintainStore('./.laptime', 'retention', { retentionMaxAgeMs: 7 * 86_400_000 });
 */
export async function maintainStore(dir: string, what: 'compact' | 'retention' | 'repair', options: Pick<NativeOptions, 'retentionMaxAgeMs' | 'retentionMaxBytes'> = {}): Promise<Maintained[]> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`laptime: maintainStore needs a directory, got ${show(dir)}`);
  if (what !== 'compact' && what !== 'retention' && what !== 'repair') throw new TypeError(`laptime: maintainStore does 'compact', 'retention' or 'repair', got ${show(what)}`);
  return (await binding().maintain(dir, what, options)).map((m) => ({ ...m }));
}
