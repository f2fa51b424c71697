/**
 * The boundary to the Rust addon (crates/laptime-node, loaded through the generated
 * native/binding.cjs). The types below mirror the binding's contract; nothing here adds logic.
 *
 * The addon is loaded once, on first need. If it cannot be loaded, or `LAPTIME_DISABLE=1`, the
 * binding is `null`: capture() and the loggers become pass-throughs and open() returns a disabled
 * store, after one `LaptimeWarning` (invariant 1: degrade, never break the program).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { warnOnce, describeError } from './diagnostics';

/** Durability policy of the writer: see README "How it stores events". */
export type SyncMode = 'none' | 'interval' | 'always';
/** What producers do when the ring between JS and the writer is full. */
export type OverflowMode = 'drop' | 'block';

/** Engine options, passed to the addon as they are (its `NativeOptions`); {@link OpenOptions} adds the JS ones. */
export interface NativeOptions {
  /** When written data is fsynced: `'none'`, `'interval'` (group commit, the default) or `'always'`. */
  sync?: SyncMode;
  /** Group-commit interval for `sync: 'interval'`, ms (engine default 100). */
  syncIntervalMs?: number;
  /** Most batches queued between JS and the writer thread. */
  ringBatches?: number;
  /** Most bytes of queued batches. */
  ringBytes?: number;
  /** When the ring is full: `'drop'` the batch (counted; the default) or `'block'` up to `blockTimeoutMs`. */
  overflow?: OverflowMode;
  /** Longest wait with `overflow: 'block'`, ms. */
  blockTimeoutMs?: number;
  /** Events per page before it is sealed. */
  pageRows?: number;
  /** A page that is not full is sealed after this long, ms. */
  pageMaxAgeMs?: number;
  /** A segment file is sealed at this size, bytes. */
  segmentMaxBytes?: number;
  /** A segment file is sealed at this age, ms. */
  segmentMaxAgeMs?: number;
  /** Memory for decoded pages held by queries, bytes. */
  bufferpoolBytes?: number;
  /** Drop segments whose newest event is older than this, ms. */
  retentionMaxAgeMs?: number;
  /** Drop oldest segments while the store holds more than this, bytes. */
  retentionMaxBytes?: number;
  /**
   * Writer threads, each with a partition, ring and WAL of its own (1 to 16; default 1). More than
   * one helps when the app's threads produce events faster than one writer stores them and a core
   * is free; the ring's bounds and `retentionMaxBytes` are shared out among them.
   */
  writers?: number;
}

/** The engine's counters (its `NativeCounters`). */
export interface NativeCounters {
  /** Events the engine accepted into its ring. */
  accepted: number;
  /** Events the engine refused because its ring was full or its writer had stopped. */
  dropped: number;
  /** Events the engine accepted but threw away because its writer stopped for good while the disk failed. */
  discarded: number;
  /** Events the engine's writer had taken but could not keep after a disk write or fsync failure. */
  lost: number;
  /** Events written to the write-ahead log. */
  written: number;
  /** Events known to be on stable storage (fsynced). */
  durable: number;
  /** Events in sealed pages. */
  sealed: number;
  /** Bytes the store occupies on disk. */
  bytesOnDisk: number;
  /** Invalid events the engine refused at the hand-over (their valid neighbours were kept). */
  rejected: number;
}

/** Why the engine's writer cannot write (its `NativeWriteFailure`). */
export interface NativeWriteFailure {
  /** The code a flush rejects with now (a `LaptimeErrorCode`): `ENOSPC` (disk full or quota), `EIO`, `EACCES`, ..., `CORRUPT` or `WRITE_FAILED`. */
  code: string;
  message: string;
}

/** Fields and log messages of a batch's rows, as columns (the addon's `NativeFieldColumns`). */
export interface NativeFieldColumns {
  rows: Uint32Array;
  keys: Uint32Array;
  tags: Uint8Array;
  nums: Float64Array;
  count: number;
  text: string;
}

/** What `handOver` did. */
export interface NativeHandOver {
  next: number;
  /** The first refused event (of this batch, or of earlier ones the writer converted), described. */
  refused?: string;
}

/** An open native store (an instance of the addon's `NativeStore`). */
export interface NativeStoreHandle {
  readonly path: string;
  intern(name: string): number;
  /**
   * One struct-of-arrays batch: `count` rows of the arrays; start = `originMs + startOffsetsMs[i]`
   * (ms, converted to ns on each side separately); codes 0 ok, 1 error, 2..7 log trace..fatal;
   * `fields`: the rows' fields and log messages as columns (see `src/batch.ts`).
   * Invalid rows are refused alone and counted (`rejected`), full-ring drops are counted
   * (`dropped`). Returns null, or a description of the refused rows naming the first bad value.
   */
  append(
    names: Uint32Array,
    startOffsetsMs: Float64Array,
    durationsMs: Float64Array,
    codes: Uint8Array,
    count: number,
    originMs: number,
    fields?: NativeFieldColumns | null,
  ): string | null;
  /**
   * A new slot of `rows` rows (its number: the count of slots before it) for the batch to write
   * into: one ArrayBuffer of the addon's memory laid out as `slotRows` reads it (`src/batch.ts`).
   * Null when the runtime allows no such buffers; then `append` copies JS's own arrays.
   */
  newSlot(rows: number): ArrayBuffer | null;
  /**
   * Hand over the first `count` rows of slot `slot` (as `append` would, but converted by the
   * engine's writer thread); returns the slot to write into next (a new one when it equals the
   * number of slots) and refusals to report.
   */
  handOver(slot: number, count: number, originMs: number, fields?: NativeFieldColumns | null): NativeHandOver;
  /** The first event the writer refused in rows it converted since the last call, described, or null. */
  takeRefusal(): string | null;
  flush(): Promise<void>;
  /** Why the writer cannot write now (a full or failing disk; it retries by itself), or null. */
  writeFailure(): NativeWriteFailure | null;
  query(query: NativeQuery): Promise<NativeQueryResult>;
  histogram(request: NativeHistogramRequest): Promise<NativeHistogram>;
  events(request: NativeEventsRequest): Promise<NativeEventPage>;
  anomalies(request: NativeAnomaliesRequest): Promise<NativeAnomaly[]>;
  compare(request: NativeCompareRequest): Promise<NativeCompareResult>;
  postMortem(reason: string, options?: NativePostMortemOptions): Promise<string>;
  postMortemSync(reason: string, options?: NativePostMortemOptions): string;
  counters(): NativeCounters;
  close(): Promise<void>;
  /** close(), blocking: for a process that is ending. */
  closeSync(): void;
}

/** A grouping dimension of a native query. */
export interface NativeGroupBy {
  by: 'name' | 'field' | 'time';
  key?: string;
  /** Bucket width, a duration such as `1m`. */
  width?: string;
}

/** A native query (its `NativeQuery`); aggregates are labels such as `count`, `p99`. */
export interface NativeQuery {
  filter?: string;
  nowMs?: number;
  groupBy?: NativeGroupBy[];
  aggregates: string[];
  orderBy?: string;
  descending?: boolean;
  limit?: number;
  exact?: boolean;
}

/** What the engine did to answer a query (the public `QueryStats`). */
export interface NativeQueryStats {
  /** Pages in the store. */
  pagesTotal: number;
  /** Pages ruled out without decoding them: by their zone maps (time range, names, field keys) or by their indexes. */
  pagesSkipped: number;
  /**
   * Of `pagesSkipped`, the pages only an index ruled out: the values a field has there (listed
   * values, numeric ranges, the filter of many values) or the words of its log messages.
   */
  pagesSkippedByIndex: number;
  /** Pages answered from their per-name counts and sketches without decoding. */
  pagesFromMeta: number;
  /** Of `pagesFromMeta`, the pages answered from the value index (grouped by a listed field). */
  pagesFromIndex: number;
  /** Pages decoded and filtered row by row. */
  pagesDecoded: number;
  /** Rows of decoded pages examined. */
  rowsScanned: number;
  /** Events that matched the filter. */
  rowsMatched: number;
  /** true when percentiles are exact; false when within the sketches' 1 % relative error. */
  exactPercentiles: boolean;
}

/**
 * A native query's answer (its `NativeQueryResult`), its key cells packed into columns, dimension
 * after dimension (see crates/laptime-node/src/answer.rs; `src/answer.ts` unpacks them).
 */
export interface NativeQueryResult {
  keyLabels: string[];
  valueLabels: string[];
  /** Groups in the answer. */
  rowCount: number;
  /** Each key cell's kind: 0 null, 1 string, 2 number, 3 boolean. */
  keyTags: Uint8Array;
  /** Each key cell's number: a string's length in UTF-16 units, a number, a boolean as 1 or 0. */
  keyNums: Float64Array;
  /** The string cells, one after the other. */
  keyText: string;
  /** The aggregates, row after row (`valueLabels.length` a row); NaN where a row has nothing to aggregate. */
  values: Float64Array;
  /** Start of the first and last matching call, epoch ms: set when `rate` is asked for and a call matched. */
  span?: { firstMs: number; lastMs: number } | null;
  stats: NativeQueryStats;
}

/** A native histogram request (its `NativeHistogramRequest`). */
export interface NativeHistogramRequest {
  filter?: string;
  nowMs?: number;
  bins: number;
}

/** A native histogram (its `NativeHistogram`): bins in ascending order, counts adding up to `calls`. */
export interface NativeHistogram {
  calls: number;
  bins: Array<{ loNs: number; hiNs: number; count: number }>;
  stats: NativeQueryStats;
}

/** A native events request (its `NativeEventsRequest`). */
export interface NativeEventsRequest {
  filter?: string;
  nowMs?: number;
  limit?: number;
  cursor?: string;
  order?: 'newest' | 'oldest';
}

/** One listed event (its `NativeEvent`). */
export interface NativeEvent {
  name: string;
  startNs: bigint;
  startMs: number;
  durationNs: number;
  kind: 'call' | 'log';
  status?: 'ok' | 'error';
  level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  message?: string;
  fields: Record<string, string | number | boolean | bigint>;
  partition: string;
  seq: number;
}

/** A page of listed events (its `NativeEventPage`). */
export interface NativeEventPage {
  events: NativeEvent[];
  nextCursor?: string;
}

/** Why a filter, duration or time does not parse (its `NativeFilterError`). */
export interface NativeFilterError {
  code: string;
  position: number;
  expected: string;
  found: string;
  message: string;
}

/** The outcome of parsing a filter (its `NativeParsedFilter`). */
export interface NativeParsedFilter {
  canonical?: string;
  error?: NativeFilterError;
}

/** The outcome of parsing a duration (its `NativeParsedDuration`). */
export interface NativeParsedDuration {
  ns?: bigint;
  canonical?: string;
  error?: NativeFilterError;
}

/** The outcome of parsing a time (its `NativeParsedTime`). */
export interface NativeParsedTime {
  epochNs?: bigint;
  epochMs?: number;
  relative?: boolean;
  canonical?: string;
  error?: NativeFilterError;
}

// The analysis requests and answers are used as generated (the public shapes are in analysis.ts).
export type { NativeAnomaliesRequest, NativeAnomaly, NativeCompareRequest, NativeCompareResult, NativeFileCheck, NativeMaintained, NativePlannedCheck, NativePostMortemFile, NativePostMortemOptions, NativePostMortemSummary } from '../native/binding';
import type { NativeAnomaliesRequest, NativeAnomaly, NativeCompareRequest, NativeCompareResult, NativeFileCheck, NativeMaintained, NativePlannedCheck, NativePostMortemFile, NativePostMortemOptions, NativePostMortemSummary } from '../native/binding';

/** A read-only native reader (an instance of the addon's `NativeReader`). */
export interface NativeReaderHandle {
  readonly path: string;
  query(query: NativeQuery): Promise<NativeQueryResult>;
  histogram(request: NativeHistogramRequest): Promise<NativeHistogram>;
  events(request: NativeEventsRequest): Promise<NativeEventPage>;
  anomalies(request: NativeAnomaliesRequest): Promise<NativeAnomaly[]>;
  compare(request: NativeCompareRequest): Promise<NativeCompareResult>;
  close(): void;
}

/** The module native/binding.cjs exports. */
export interface NativeBinding {
  NativeStore: {
    open(dir: string, options?: NativeOptions): NativeStoreHandle;
  };
  NativeReader: {
    open(dir: string, bufferpoolBytes?: number): NativeReaderHandle;
  };
  /** Every `err.code` the engine gives (the same list as `ERROR_CODES`). */
  errorCodes(): string[];
  parseFilter(text: string): NativeParsedFilter;
  parseDuration(text: string): NativeParsedDuration;
  /** Throws a TypeError only for a bad `nowMs`. */
  parseTime(text: string, nowMs?: number): NativeParsedTime;
  verifyPlan(dir: string): Promise<NativePlannedCheck[]>;
  verifyFile(planned: NativePlannedCheck): Promise<NativeFileCheck>;
  maintain(dir: string, what: string, options?: NativeOptions): Promise<NativeMaintained[]>;
  exportParquet(dir: string, filter: string | undefined | null, out: string, nowMs?: number): Promise<number>;
  readPostMortem(path: string): Promise<NativePostMortemFile>;
  postMortemSummary(path: string): Promise<NativePostMortemSummary>;
  importPostMortem(path: string, dir: string): Promise<NativePostMortemFile>;
}

let loaded: { binding: NativeBinding | null } | undefined;

function disabledByEnv(): boolean {
  const v = process.env.LAPTIME_DISABLE;
  return v === '1' || v === 'true';
}

/**
 * A bundler (esbuild, webpack, rollup) that inlined laptime's JavaScript leaves its `native/`
 * directory behind: say how to keep laptime external instead of failing silently.
 */
function bundlerHint(): string {
  const dir = path.join(__dirname, '..', 'native');
  if (existsSync(path.join(dir, 'binding.cjs'))) return '';
  return (
    `. laptime looks bundled: its native/ directory is not at ${dir}. Mark laptime as external so Node loads it from node_modules ` +
    `(esbuild: --external:laptime; webpack: externals: { laptime: 'commonjs laptime' }; rollup: external: ['laptime'])`
  );
}

/** What scripts/platform.cjs tells about platforms (plain CommonJS: it also runs before tsc). */
interface PlatformFacts {
  currentTriple(): string | null;
  explainMissing(triple: string | null): string;
}

/**
 * Why the addon did not load, for people: which binary fits this machine and how to get it, plus
 * any load error other than "not found" (a binary for another libc version, a damaged file).
 */
function unavailableReason(err: unknown): string {
  const hint = bundlerHint();
  if (hint) return `the native addon could not be loaded (${describeError(err)})${hint}`;
  let platform: PlatformFacts;
  try {
    platform = require('../scripts/platform.cjs') as PlatformFacts;
  } catch {
    return `the native addon could not be loaded (${describeError(err)})`;
  }
  const failures: string[] = [];
  for (let e: unknown = err instanceof Error ? err.cause : undefined; e instanceof Error; e = e.cause) {
    if (!/^Cannot find module/.test(e.message)) failures.push(e.message.split('\n')[0] ?? '');
  }
  const detail = failures.length > 0 ? ` (load errors: ${failures.join('; ')})` : '';
  return `no native binding loaded: ${platform.explainMissing(platform.currentTriple())}${detail}`;
}

/** The addon, loading it on first call; `null` (after one warning) when it is unavailable. */
export function nativeBinding(): NativeBinding | null {
  if (loaded !== undefined) return loaded.binding;
  let binding: NativeBinding | null = null;
  if (disabledByEnv()) {
    warnOnce('LAPTIME_DISABLED', 'laptime: disabled by LAPTIME_DISABLE; capture() and log are pass-throughs');
  } else {
    try {
      binding = require('../native/binding.cjs') as NativeBinding;
      if (typeof binding?.NativeStore?.open !== 'function') throw new Error('native/binding.cjs does not export NativeStore');
    } catch (err) {
      binding = null;
      warnOnce('LAPTIME_NATIVE_UNAVAILABLE', `laptime: ${unavailableReason(err)}; capture() and log are pass-throughs and nothing is recorded`);
    }
  }
  loaded = { binding };
  return binding;
}

/**
 * Replace the addon (tests) or forget it so the next use loads it again (`undefined`).
 * Functions already decorated keep the decision made when they were decorated.
 */
export function setNativeBinding(binding: NativeBinding | null | undefined): void {
  loaded = binding === undefined ? undefined : { binding };
}
