/**
 * The boundary to the Rust addon (crates/laptime-node, loaded through the generated
 * native/binding.cjs). The types below mirror the binding's contract; nothing here adds logic.
 *
 * The addon is loaded once, on first need. If it cannot be loaded, or `LAPTIME_DISABLE=1`, the
 * binding is `null`: capture() and the loggers become pass-throughs and open() returns a disabled
 * store, after one `LaptimeWarning` (invariant 1: degrade, never break the program).
 */
import { warnOnce, describeError } from './diagnostics';

/** Durability policy of the writer: see README "How it stores events". */
export type SyncMode = 'none' | 'interval' | 'always';
/** What producers do when the ring between JS and the writer is full. */
export type OverflowMode = 'drop' | 'block';

/** Options understood by the addon (its `NativeOptions`). */
export interface NativeOptions {
  sync?: SyncMode;
  syncIntervalMs?: number;
  ringBatches?: number;
  ringBytes?: number;
  overflow?: OverflowMode;
  blockTimeoutMs?: number;
  pageRows?: number;
  pageMaxAgeMs?: number;
  segmentMaxBytes?: number;
  segmentMaxAgeMs?: number;
  bufferpoolBytes?: number;
  retentionMaxAgeMs?: number;
  retentionMaxBytes?: number;
}

/** The engine's counters (its `NativeCounters`). */
export interface NativeCounters {
  accepted: number;
  dropped: number;
  discarded: number;
  written: number;
  durable: number;
  sealed: number;
  bytesOnDisk: number;
}

/** Filter of a native stats query (its `NativeStatsFilter`). */
export interface NativeStatsFilter {
  sinceMs?: number;
  untilMs?: number;
  names?: Array<string>;
}

/** One row of a native stats answer (its `NativeStatsRow`). */
export interface NativeStatsRow {
  name: string;
  calls: number;
  errors: number;
  logs: number;
  meanNs?: number;
  minNs?: number;
  maxNs?: number;
  p50Ns?: number;
  p90Ns?: number;
  p99Ns?: number;
}

/** An open native store (an instance of the addon's `NativeStore`). */
export interface NativeStoreHandle {
  readonly path: string;
  intern(name: string): number;
  /**
   * One struct-of-arrays batch: `count` rows of the arrays; start = `originMs + startOffsetsMs[i]`
   * (ms, converted to ns on each side separately); codes 0 ok, 1 error, 2..7 log trace..fatal;
   * `extrasJson` = `{"m":[[row,"message"],...],"f":[[row,keyId,"i"|"f"|"b"|"s",value],...]}`.
   * Returns false when the batch was dropped (the addon counts it).
   */
  append(
    names: Uint32Array,
    startOffsetsMs: Float64Array,
    durationsMs: Float64Array,
    codes: Uint8Array,
    count: number,
    originMs: number,
    extrasJson?: string | null,
  ): boolean;
  flush(): Promise<void>;
  stats(filter?: NativeStatsFilter): Promise<NativeStatsRow[]>;
  counters(): NativeCounters;
  close(): Promise<void>;
}

/** The module native/binding.cjs exports. */
export interface NativeBinding {
  NativeStore: {
    open(dir: string, options?: NativeOptions): NativeStoreHandle;
  };
}

let loaded: { binding: NativeBinding | null } | undefined;

function disabledByEnv(): boolean {
  const v = process.env.LAPTIME_DISABLE;
  return v === '1' || v === 'true';
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
      warnOnce(
        'LAPTIME_NATIVE_UNAVAILABLE',
        `laptime: the native addon could not be loaded (${describeError(err)}); capture() and log are pass-throughs and nothing is recorded`,
      );
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
