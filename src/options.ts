/**
 * Options of open(): their types, defaults, and validation. Types are checked here so that a typo
 * fails with a TypeError naming the option; value ranges of engine options are the addon's job
 * (it answers "invalid option `pageRows`: ..."), the JS batch options are checked here.
 */
import * as path from 'node:path';
import { show, suggest } from './describe';
import { withCode } from './errors';
import type { NativeOptions } from './native';
import { parseDuration } from './grammar';
import { resolvePostMortems, type PostMortemSettings, type ResolvedPostMortems } from './post-mortem';
import { checkShipSettings, type ShipSettings } from './ship';
import { parseByteSize } from './sizes';

/**
 * Options of {@link open}. Every field is optional; the engine options keep the engine's defaults,
 * except retention, which has production defaults here (30 days, 1 GiB).
 *
 * @example
 * open({ dir: '/var/lib/myapp/laptime', sync: 'always', batchSize: 1024 })
 */
export interface OpenOptions extends Omit<NativeOptions, 'retentionMaxAgeMs' | 'retentionMaxBytes'> {
  /**
   * Segments whose newest event is older than this many ms are dropped (checked every second by
   * the writer). Default: `$LAPTIME_RETENTION_MAX_AGE` (a duration such as `7d`, or `off`), else
   * 30 days. `null`: no age limit.
   */
  retentionMaxAgeMs?: number | null;
  /**
   * The oldest segments are dropped while the store holds more than this many bytes. Default:
   * `$LAPTIME_RETENTION_MAX_BYTES` (a size such as `500MB`, or `off`), else 1 GiB. `null`: no size
   * limit.
   */
  retentionMaxBytes?: number | null;
  /** Store directory. Default: `$LAPTIME_DIR`, else `./.laptime` (resolved against the cwd). */
  dir?: string;
  /** The JS batch is handed to the engine at least this often, ms (default 100). */
  flushIntervalMs?: number;
  /** Rows of the JS batch; a full batch is handed over at once (default 4096, 1..65536). */
  batchSize?: number;
  /** Post-mortems on crashes and signals (on by default), or `false` for none. */
  postMortems?: PostMortemSettings | false;
  /** @deprecated Old name of {@link OpenOptions.postMortems}; give one or the other. */
  snapshots?: PostMortemSettings | false;
  /**
   * Ship the store's sealed pages to a fleet's Kafka topic while it is open: runs `laptime-fleet
   * ship` beside the app (README "Running a fleet"). `open()` throws when that program is not
   * found.
   */
  ship?: ShipSettings;
}

/** Validated options, split into what JS uses and what goes to the addon. */
export interface ResolvedOptions {
  dir: string;
  flushIntervalMs: number;
  batchSize: number;
  postMortems: ResolvedPostMortems | null;
  ship: ShipSettings | null;
  native: NativeOptions;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 100;
/** Retention when neither the options nor the environment say: 30 days, 1 GiB. */
export const DEFAULT_RETENTION_MAX_AGE_MS = 30 * 86_400_000;
export const DEFAULT_RETENTION_MAX_BYTES = 1024 ** 3;
export const DEFAULT_BATCH_SIZE = 4096;
export const MAX_BATCH_SIZE = 65536;

type Kind = 'string' | 'integer' | 'limit' | 'number' | 'settings' | readonly string[];

const KINDS: { readonly [K in keyof Required<OpenOptions>]: Kind } = {
  dir: 'string',
  sync: ['none', 'interval', 'always'],
  syncIntervalMs: 'integer',
  ringBatches: 'integer',
  ringBytes: 'integer',
  overflow: ['drop', 'block'],
  blockTimeoutMs: 'integer',
  pageRows: 'integer',
  pageMaxAgeMs: 'integer',
  segmentMaxBytes: 'integer',
  segmentMaxAgeMs: 'integer',
  bufferpoolBytes: 'integer',
  retentionMaxAgeMs: 'limit',
  retentionMaxBytes: 'limit',
  writers: 'integer',
  flushIntervalMs: 'number',
  batchSize: 'integer',
  postMortems: 'settings',
  snapshots: 'settings',
  ship: 'settings',
};

const JS_ONLY = new Set<string>(['dir', 'flushIntervalMs', 'batchSize', 'postMortems', 'snapshots', 'ship']);

/** Where the default store lives: `$LAPTIME_DIR`, else `./.laptime`. */
export function defaultDir(): string {
  return path.resolve(process.env.LAPTIME_DIR || '.laptime');
}

/**
 * Check `options` and fill in defaults; throws TypeError/RangeError naming the bad option, with
 * `code` `INVALID_OPTION` (as the engine's own option errors).
 */
export function resolveOptions(options: unknown): ResolvedOptions {
  try {
    return resolve(options);
  } catch (err) {
    throw withCode(err, 'INVALID_OPTION');
  }
}

function resolve(options: unknown): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`laptime: options must be an object, got ${show(options)}`);
  }
  const given = options as Record<string, unknown>;
  const native: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    const value = given[key];
    if (!Object.hasOwn(KINDS, key)) {
      throw new TypeError(`laptime: unknown option "${key}"${suggest(key, Object.keys(KINDS))}`);
    }
    if (value === undefined) continue;
    if (value === null && KINDS[key as keyof OpenOptions] !== 'limit') throw new TypeError(`laptime: option "${key}" must not be null`);
    checkKind(key, value, KINDS[key as keyof OpenOptions]);
    if (!JS_ONLY.has(key)) native[key] = value;
  }
  retention(native, 'retentionMaxAgeMs', 'LAPTIME_RETENTION_MAX_AGE', DEFAULT_RETENTION_MAX_AGE_MS, (text) => {
    try {
      return Number(parseDuration(text, '$LAPTIME_RETENTION_MAX_AGE').ns / 1_000_000n);
    } catch (err) {
      // An option, not a filter: the option's error code, the grammar's explanation.
      throw new TypeError(`${(err as Error).message} (a duration such as 7d, or off)`, { cause: err });
    }
  });
  retention(native, 'retentionMaxBytes', 'LAPTIME_RETENTION_MAX_BYTES', DEFAULT_RETENTION_MAX_BYTES, (text) => {
    const bytes = parseByteSize(text);
    if (bytes === null || bytes === 0) throw new TypeError(`laptime: $LAPTIME_RETENTION_MAX_BYTES must be a size such as 500MB or 2GB, or off; got ${JSON.stringify(text)}`);
    return bytes;
  });
  const batchSize = (given.batchSize as number | undefined) ?? DEFAULT_BATCH_SIZE;
  if (batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new RangeError(`laptime: option "batchSize" must be between 1 and ${MAX_BATCH_SIZE}, got ${batchSize}`);
  }
  const flushIntervalMs = (given.flushIntervalMs as number | undefined) ?? DEFAULT_FLUSH_INTERVAL_MS;
  if (!(flushIntervalMs >= 1 && flushIntervalMs <= 2 ** 31 - 1)) {
    throw new RangeError(`laptime: option "flushIntervalMs" must be between 1 and ${2 ** 31 - 1}, got ${flushIntervalMs}`);
  }
  const givenDir = given.dir as string | undefined;
  if (givenDir === '') throw new TypeError('laptime: option "dir" must not be empty');
  const dir = givenDir === undefined ? defaultDir() : path.resolve(givenDir);
  if (given.postMortems !== undefined && given.snapshots !== undefined) {
    throw new TypeError('laptime: options "postMortems" and "snapshots" (its old name) exclude each other; give only "postMortems"');
  }
  const postMortems = given.snapshots !== undefined ? resolvePostMortems(given.snapshots, dir, 'snapshots') : resolvePostMortems(given.postMortems, dir);
  const ship = given.ship === undefined ? null : checkShipSettings(given.ship);
  return { dir, flushIntervalMs, batchSize, postMortems, ship, native: native as NativeOptions };
}

/**
 * Fill in a retention limit: the option as given (null: none), else the environment variable
 * (`off`: none), else the default.
 */
function retention(native: Record<string, unknown>, key: string, variable: string, fallback: number, parse: (text: string) => number): void {
  if (key in native) {
    if (native[key] === null) delete native[key];
    return;
  }
  const text = process.env[variable];
  if (text === undefined || text.trim() === '') native[key] = fallback;
  else if (text.trim().toLowerCase() !== 'off') native[key] = parse(text);
}

function checkKind(key: string, value: unknown, kind: Kind): void {
  if (typeof kind !== 'string') {
    if (typeof value !== 'string' || !kind.includes(value)) {
      throw new TypeError(`laptime: option "${key}" must be one of ${kind.map((k) => `"${k}"`).join(', ')}, got ${show(value)}`);
    }
    return;
  }
  if (kind === 'settings') return; // checked by its own resolver
  if (kind === 'limit' && value === null) return;
  if (kind === 'string') {
    if (typeof value !== 'string') throw new TypeError(`laptime: option "${key}" must be a string, got ${show(value)}`);
    return;
  }
  if (typeof value !== 'number') throw new TypeError(`laptime: option "${key}" must be a number, got ${show(value)}`);
  if (!Number.isFinite(value)) throw new TypeError(`laptime: option "${key}" must be a finite number, got ${value}`);
  if ((kind === 'integer' || kind === 'limit') && !Number.isSafeInteger(value)) {
    throw new TypeError(`laptime: option "${key}" must be an integer, got ${value}`);
  }
  if (value < 0) throw new RangeError(`laptime: option "${key}" must not be negative, got ${value}`);
}
