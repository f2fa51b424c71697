/**
 * Post-mortems: the last moments of a process in one file, written on an uncaught exception, an
 * unhandled rejection, SIGINT/SIGTERM, a timer or on demand. This module holds their settings
 * (which triggers, what they cover, where they go), where a store's post-mortems are found, and
 * reading them back. The files themselves are written by the engine (checksummed, atomic, uniquely
 * named); see README "Post-mortems".
 */
import * as os from 'node:os';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { nativeBinding, type NativeBinding, type NativePostMortemOptions } from './native';
import { show, suggest } from './describe';
import { toEventsPage, type StoredEvent } from './query';

/** Directory of a store's post-mortems, under the store's own directory. */
export const POST_MORTEM_DIR = 'postmortems';
/** Where stores written before the rename kept them; still listed and read. */
export const LEGACY_POST_MORTEM_DIR = 'snapshots';
/** File name extension of post-mortem files (the engine's format). */
/** `.ltpm`, and `.ltsnap` of files written before they were called post-mortems. */
const EXTENSIONS = ['.ltpm', '.ltsnap'];

/** Automatic post-mortems of a store; every trigger is on by default except the periodic one. */
export interface PostMortemSettings {
  /** Directory of the post-mortem files (default `<store dir>/postmortems`). */
  dir?: string;
  /** On an uncaught exception (default true). */
  onUncaughtException?: boolean;
  /** On an unhandled promise rejection that ends the process (default true). */
  onUnhandledRejection?: boolean;
  /** On SIGINT and SIGTERM; the process still ends as it would have (default true). */
  onSignal?: boolean;
  /** Also every this many ms (default 0: off). */
  periodicMs?: number;
  /** Periodic post-mortems kept; older ones of this process are deleted (default 10). */
  keep?: number;
  /** Events of the last this many seconds (default 60). */
  lastSeconds?: number;
  /** At most this many of the newest events (default 10000). */
  lastEvents?: number;
  /** Service name recorded in the file (default `$LAPTIME_SERVICE`, else the script's name). */
  service?: string;
}

/** @deprecated Use {@link PostMortemSettings}; the option is now `postMortems`. */
export type SnapshotSettings = PostMortemSettings;

/** Settings with every default filled in. */
export interface ResolvedPostMortems {
  dir: string;
  onUncaughtException: boolean;
  onUnhandledRejection: boolean;
  onSignal: boolean;
  periodicMs: number;
  keep: number;
  native: NativePostMortemOptions;
}

const KEYS = ['dir', 'onUncaughtException', 'onUnhandledRejection', 'onSignal', 'periodicMs', 'keep', 'lastSeconds', 'lastEvents', 'service'];

/** What a post-mortem written now records about this process beyond the engine's own facts. */
function processFacts(service: string | undefined): NativePostMortemOptions {
  const script = process.argv[1] === undefined ? 'node' : path.basename(process.argv[1]).replace(/\.[cm]?[jt]s$/, '');
  return {
    service: service ?? process.env.LAPTIME_SERVICE ?? script,
    runtime: `node ${process.version} (${os.platform()}-${os.arch()})`,
    meta: { argv: process.argv.slice(1).join(' '), cwd: process.cwd() },
  };
}

/**
 * Check `value` (the `postMortems` option, or its old name `snapshots`: `option` says which was
 * given, for the messages) for the store at `storeDir`; throws TypeError/RangeError naming the bad
 * setting.
 */
export function resolvePostMortems(value: unknown, storeDir: string, option = 'postMortems'): ResolvedPostMortems | null {
  if (value === false) return null;
  const given = (value ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given)) throw new TypeError(`laptime: option "${option}" must be an object or false, got ${show(value)}`);
  for (const key of Object.keys(given)) {
    if (!KEYS.includes(key)) throw new TypeError(`laptime: unknown ${option} option "${key}"${suggest(key, KEYS)}`);
  }
  const flag = (key: string): boolean => {
    const v = given[key];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`laptime: ${option} option "${key}" must be a boolean, got ${show(v)}`);
    return v !== false;
  };
  const whole = (key: string, dflt: number, max: number): number => {
    const v = given[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`laptime: ${option} option "${key}" must be a whole number in 0..${max}, got ${show(v)}`);
    return v;
  };
  if (given.dir !== undefined && (typeof given.dir !== 'string' || given.dir === '')) throw new TypeError(`laptime: ${option} option "dir" must be a directory, got ${show(given.dir)}`);
  if (given.service !== undefined && typeof given.service !== 'string') throw new TypeError(`laptime: ${option} option "service" must be a string, got ${show(given.service)}`);
  const lastEvents = whole('lastEvents', 10_000, 100_000);
  if (lastEvents === 0) throw new RangeError(`laptime: ${option} option "lastEvents" must be at least 1`);
  // Always explicit: the engine's own default is the old `snapshots/` directory.
  const dir = given.dir === undefined ? path.join(storeDir, POST_MORTEM_DIR) : path.resolve(given.dir as string);
  return {
    dir,
    onUncaughtException: flag('onUncaughtException'),
    onUnhandledRejection: flag('onUnhandledRejection'),
    onSignal: flag('onSignal'),
    periodicMs: whole('periodicMs', 0, 2 ** 31 - 1),
    keep: whole('keep', 10, 1_000_000),
    native: { ...processFacts(given.service as string | undefined), lastSeconds: whole('lastSeconds', 60, 10 * 365 * 86400), lastEvents, dir },
  };
}

/** Delete all but the newest `keep` of `paths` (the periodic post-mortems this store wrote). */
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

/**
 * Post-mortem files (`*.ltpm`, older `*.ltsnap`) of a directory, oldest first: names are
 * `postmortem-<UTC time>-<pid>-<n>` (older ones `snapshot-...`), so the part after the prefix sorts
 * by time.
 */
export function listPostMortems(dir: string): string[] {
  const byTime = (f: string) => f.replace(/^(postmortem|snapshot)-/, '');
  return readdirSync(dir)
    .filter((f) => EXTENSIONS.some((e) => f.endsWith(e)))
    .sort((a, b) => (byTime(a) < byTime(b) ? -1 : byTime(a) > byTime(b) ? 1 : 0))
    .map((f) => path.join(dir, f));
}

/**
 * The post-mortems kept in a store directory: `<store>/postmortems/` and, for stores written before
 * the rename, `<store>/snapshots/`; oldest first by file name. A missing directory holds none.
 */
export function listStorePostMortems(storeDir: string): string[] {
  const files: string[] = [];
  for (const sub of [POST_MORTEM_DIR, LEGACY_POST_MORTEM_DIR]) {
    const dir = path.join(storeDir, sub);
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true) files.push(...listPostMortems(dir));
  }
  return files.sort((a, b) => {
    const x = path.basename(a);
    const y = path.basename(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** A post-mortem file's contents. */
export interface PostMortemFile {
  /** Facts: `reason`, `service`, `host`, `pid`, `time`, `time_ns`, `laptime`, `runtime`, `window`, `store`, `argv`, `cwd`. */
  meta: Record<string, string>;
  /** The events, oldest first. */
  events: StoredEvent[];
}

/** @deprecated Use {@link PostMortemFile}. */
export type SnapshotFile = PostMortemFile;

function binding(what: string): NativeBinding {
  const b = nativeBinding();
  if (b === null) throw new Error(`laptime: the native addon is unavailable, so ${what}`);
  return b;
}

function checkFile(file: unknown, fn: string): asserts file is string {
  if (typeof file !== 'string' || file === '') throw new TypeError(`laptime: ${fn} needs a file, got ${show(file)}`);
}

/**
 * Read a post-mortem file (rejects with the reason, naming the byte offset, when it is damaged).
 *
 * @example
 * const { meta, events } = await readPostMortem('.laptime/postmortems/postmortem-20261122T101500_5Z-4242-0.ltpm');
 * console.log(meta.reason, events.length);
 */
export async function readPostMortem(file: string): Promise<PostMortemFile> {
  checkFile(file, 'readPostMortem');
  const raw = await binding('post-mortems cannot be read').readPostMortem(file);
  return { meta: raw.meta, events: toEventsPage({ events: raw.events }).events };
}

/** @deprecated Use {@link readPostMortem}; this is the same function under its old name. */
export async function readSnapshot(file: string): Promise<PostMortemFile> {
  checkFile(file, 'readSnapshot');
  return readPostMortem(file);
}

/** What a listing of post-mortem files shows about one: its facts and how many events it holds. */
export interface PostMortemSummary {
  meta: Record<string, string>;
  events: number;
}

/**
 * A post-mortem file's facts and event count, without its events: the file is read and checked as
 * by {@link readPostMortem} (so damage is found), but no event objects are built.
 */
export async function readPostMortemSummary(file: string): Promise<PostMortemSummary> {
  checkFile(file, 'readPostMortemSummary');
  return binding('post-mortems cannot be read').postMortemSummary(file);
}

/** Load a post-mortem's events into a new store at `dir` (for the query engine: view, dashboard). */
export async function importPostMortem(file: string, dir: string): Promise<PostMortemFile> {
  const raw = await binding('post-mortems cannot be read').importPostMortem(file, dir);
  return { meta: raw.meta, events: toEventsPage({ events: raw.events }).events };
}
