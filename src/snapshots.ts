/**
 * Post-mortem snapshot settings: which events trigger one (an uncaught exception, an unhandled
 * rejection, SIGINT/SIGTERM, a timer), what they cover and where they go. The files themselves are
 * written by the engine (checksummed, atomic, uniquely named); see README "Snapshots".
 */
import * as os from 'node:os';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { nativeBinding, type NativeSnapshotOptions } from './native';
import { show, suggest } from './options';
import { toEventsPage, type StoredEvent } from './query';

/** Automatic snapshots of a store; every trigger is on by default except the periodic one. */
export interface SnapshotSettings {
  /** Directory of the snapshot files (default `<store dir>/snapshots`). */
  dir?: string;
  /** On an uncaught exception (default true). */
  onUncaughtException?: boolean;
  /** On an unhandled promise rejection that ends the process (default true). */
  onUnhandledRejection?: boolean;
  /** On SIGINT and SIGTERM; the process still ends as it would have (default true). */
  onSignal?: boolean;
  /** Also every this many ms (default 0: off). */
  periodicMs?: number;
  /** Periodic snapshots kept; older ones of this process are deleted (default 10). */
  keep?: number;
  /** Events of the last this many seconds (default 60). */
  lastSeconds?: number;
  /** At most this many of the newest events (default 10000). */
  lastEvents?: number;
  /** Service name recorded in the file (default `$LAPTIME_SERVICE`, else the script's name). */
  service?: string;
}

/** Settings with every default filled in. */
export interface ResolvedSnapshots {
  dir: string | undefined;
  onUncaughtException: boolean;
  onUnhandledRejection: boolean;
  onSignal: boolean;
  periodicMs: number;
  keep: number;
  native: NativeSnapshotOptions;
}

const KEYS = ['dir', 'onUncaughtException', 'onUnhandledRejection', 'onSignal', 'periodicMs', 'keep', 'lastSeconds', 'lastEvents', 'service'];

/** What a snapshot taken now records about this process beyond the engine's own facts. */
function processFacts(service: string | undefined): NativeSnapshotOptions {
  const script = process.argv[1] === undefined ? 'node' : path.basename(process.argv[1]).replace(/\.[cm]?[jt]s$/, '');
  return {
    service: service ?? process.env.LAPTIME_SERVICE ?? script,
    runtime: `node ${process.version} (${os.platform()}-${os.arch()})`,
    meta: { argv: process.argv.slice(1).join(' '), cwd: process.cwd() },
  };
}

/** Check `value` (the `snapshots` option); throws TypeError/RangeError naming the bad setting. */
export function resolveSnapshots(value: unknown): ResolvedSnapshots | null {
  if (value === false) return null;
  const given = (value ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given)) throw new TypeError(`laptime: option "snapshots" must be an object or false, got ${show(value)}`);
  for (const key of Object.keys(given)) {
    if (!KEYS.includes(key)) throw new TypeError(`laptime: unknown snapshots option "${key}"${suggest(key, KEYS)}`);
  }
  const flag = (key: string): boolean => {
    const v = given[key];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`laptime: snapshots option "${key}" must be a boolean, got ${show(v)}`);
    return v !== false;
  };
  const whole = (key: string, dflt: number, max: number): number => {
    const v = given[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`laptime: snapshots option "${key}" must be a whole number in 0..${max}, got ${show(v)}`);
    return v;
  };
  if (given.dir !== undefined && (typeof given.dir !== 'string' || given.dir === '')) throw new TypeError(`laptime: snapshots option "dir" must be a directory, got ${show(given.dir)}`);
  if (given.service !== undefined && typeof given.service !== 'string') throw new TypeError(`laptime: snapshots option "service" must be a string, got ${show(given.service)}`);
  const lastEvents = whole('lastEvents', 10_000, 100_000);
  if (lastEvents === 0) throw new RangeError('laptime: snapshots option "lastEvents" must be at least 1');
  const dir = given.dir === undefined ? undefined : path.resolve(given.dir as string);
  const native: NativeSnapshotOptions = { ...processFacts(given.service as string | undefined), lastSeconds: whole('lastSeconds', 60, 10 * 365 * 86400), lastEvents };
  if (dir !== undefined) native.dir = dir;
  return {
    dir,
    onUncaughtException: flag('onUncaughtException'),
    onUnhandledRejection: flag('onUnhandledRejection'),
    onSignal: flag('onSignal'),
    periodicMs: whole('periodicMs', 0, 2 ** 31 - 1),
    keep: whole('keep', 10, 1_000_000),
    native,
  };
}

/** Delete all but the newest `keep` of `paths` (the periodic snapshots this store took). */
export function prune(paths: string[], keep: number): string[] {
  const alive = paths.filter((p) => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  });
  const excess = alive.length - keep;
  for (const p of alive.slice(0, Math.max(0, excess))) {
    try {
      unlinkSync(p);
    } catch {
      // Already gone: nothing to keep track of.
    }
  }
  return alive.slice(Math.max(0, excess));
}

/** Snapshot files (`*.ltsnap`) of a directory, oldest first by name (names start with the time). */
export function listSnapshots(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ltsnap'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A post-mortem snapshot file's contents. */
export interface SnapshotFile {
  /** Facts: `reason`, `service`, `host`, `pid`, `time`, `time_ns`, `laptime`, `runtime`, `window`, `store`, `argv`, `cwd`. */
  meta: Record<string, string>;
  /** The events, oldest first. */
  events: StoredEvent[];
}

/**
 * Read a snapshot file (rejects with the reason, naming the byte offset, when it is damaged).
 *
 * @example
 * const { meta, events } = await readSnapshot('.laptime/snapshots/snapshot-20261122T101500_5Z-4242-0.ltsnap');
 * console.log(meta.reason, events.length);
 */
export async function readSnapshot(file: string): Promise<SnapshotFile> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`laptime: readSnapshot needs a file, got ${show(file)}`);
  const binding = nativeBinding();
  if (binding === null) throw new Error('laptime: the native addon is unavailable, so snapshots cannot be read');
  const raw = await binding.readSnapshot(file);
  return { meta: raw.meta, events: toEventsPage({ events: raw.events }).events };
}

/** What a listing of snapshot files shows about one: its facts and how many events it holds. */
export interface SnapshotSummary {
  meta: Record<string, string>;
  events: number;
}

/**
 * A snapshot file's facts and event count, without its events: the file is read and checked as
 * by {@link readSnapshot} (so damage is found), but no event objects are built.
 */
export async function readSnapshotSummary(file: string): Promise<SnapshotSummary> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`laptime: readSnapshotSummary needs a file, got ${show(file)}`);
  const binding = nativeBinding();
  if (binding === null) throw new Error('laptime: the native addon is unavailable, so snapshots cannot be read');
  return binding.snapshotSummary(file);
}

/** Load a snapshot's events into a new store at `dir` (for the query engine: view, dashboard). */
export async function importSnapshot(file: string, dir: string): Promise<SnapshotFile> {
  const binding = nativeBinding();
  if (binding === null) throw new Error('laptime: the native addon is unavailable, so snapshots cannot be read');
  const raw = await binding.importSnapshot(file, dir);
  return { meta: raw.meta, events: toEventsPage({ events: raw.events }).events };
}
