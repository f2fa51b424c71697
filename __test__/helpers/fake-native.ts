/**
 * An in-memory stand-in for the addon, implementing the binding contract (src/native.ts) so the
 * TypeScript layer can be tested without Rust, and inspected row by row.
 *
 * Like the real engine it shares one engine per directory, converts `originMs`/offsets to epoch ns
 * with the addon's formula (crates/laptime-node/src/time.rs), and validates option ranges with the
 * same message shape. Appended rows sit in a "ring" until the "writer" takes them: on `flush()`
 * (asynchronously), or when `counters()` is read (standing in for the writer thread making progress
 * while JS waits, as the exit hooks do). With `LAPTIME_FAKE_PERSIST=1` written rows also go to
 * `<dir>/fake-events.jsonl`, tagged `flush` or `writer`, so child-process tests see what survived.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODES } from '../../src/errors';
import type {
  NativeBinding,
  NativeCounters,
  NativeEventPage,
  NativeFieldColumns,
  NativeHandOver,
  NativeOptions,
  NativeQueryResult,
  NativeStoreHandle,
} from '../../src/native';

export type FakeValue = string | number | boolean | bigint;

export interface FakeRow {
  name: string;
  startNs: bigint;
  durationNs: bigint;
  code: number;
  message?: string;
  fields: Record<string, FakeValue>;
}

/** A row as child processes persist it (bigints as strings). */
export type PersistedRow = Omit<FakeRow, 'startNs' | 'durationNs'> & { startNs: string; durationNs: string; via: string };

export interface AppendCall {
  count: number;
  originMs: number;
  /** The field columns' text, and their big whole numbers as sent (decimal text). */
  fieldText: string | null;
}

export interface FakeEngine {
  dir: string;
  options: NativeOptions;
  names: string[];
  ids: Map<string, number>;
  ring: FakeRow[];
  rows: FakeRow[];
  counters: NativeCounters;
  handles: number;
}

/** Knobs and records of the fake, shared by every engine. */
export const fake = {
  engines: new Map<string, FakeEngine>(),
  appendCalls: [] as AppendCall[],
  /** Throw from the next `append` calls (count down). */
  throwOnAppend: 0,
  /** Return false (dropped) from the next `append` calls (count down). */
  dropOnAppend: 0,
  /** Delay of `flush()`, ms. */
  flushDelayMs: 1,
  opens: 0,
  /** Reading counters lets the writer take the ring (see the file comment). */
  writerRunsOnCounters: true,
  /** Reasons of the post-mortems asked for. */
  postMortems: [] as string[],
  /** Forget everything (between tests). */
  reset(): void {
    fake.engines.clear();
    fake.appendCalls.length = 0;
    fake.throwOnAppend = 0;
    fake.dropOnAppend = 0;
    fake.flushDelayMs = 1;
    fake.opens = 0;
    fake.writerRunsOnCounters = true;
    fake.postMortems.length = 0;
  },
};

const RANGES: Record<string, [number, number]> = {
  pageRows: [16, 1 << 20],
  ringBatches: [1, 1 << 20],
  ringBytes: [64 << 10, Number.MAX_SAFE_INTEGER],
  syncIntervalMs: [1, 60_000],
  segmentMaxBytes: [1 << 20, Number.MAX_SAFE_INTEGER],
  bufferpoolBytes: [1 << 20, Number.MAX_SAFE_INTEGER],
};

const persist = process.env.LAPTIME_FAKE_PERSIST === '1';

function persistRows(engine: FakeEngine, rows: FakeRow[], via: 'flush' | 'writer'): void {
  if (!persist || rows.length === 0) return;
  const lines = rows.map((r) => JSON.stringify({ ...r, via }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  fs.appendFileSync(path.join(engine.dir, 'fake-events.jsonl'), `${lines.join('\n')}\n`);
}

/** The writer takes everything in the ring. */
function write(engine: FakeEngine, via: 'flush' | 'writer'): void {
  const rows = engine.ring.splice(0);
  engine.rows.push(...rows);
  engine.counters.written += rows.length;
  if (engine.options.sync === 'always') engine.counters.durable = engine.counters.written;
  persistRows(engine, rows, via);
}

/** `floor(o) * 1e6 + round((o - floor(o) + offset) * 1e6)`, as the addon computes it. */
export function startNsOf(originMs: number, offsetMs: number): bigint {
  const whole = Math.floor(originMs);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((originMs - whole + offsetMs) * 1e6));
}

/** Rows persisted by child processes under `dir`. */
export function readPersisted(dir: string): PersistedRow[] {
  const file = path.join(dir, 'fake-events.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as PersistedRow);
}

/** The fields and messages of the field columns by row, checked as the addon checks them. */
function parseFields(cols: NativeFieldColumns | null | undefined, count: number, engine: FakeEngine): { messages: Map<number, string>; fields: Map<number, Record<string, FakeValue>> } {
  const messages = new Map<number, string>();
  const fields = new Map<number, Record<string, FakeValue>>();
  if (cols === null || cols === undefined) return { messages, fields };
  let lastRow = -1;
  let at = 0;
  // Each field entry's value, for the entries that repeat one (tag 6); undefined for messages.
  const valueOf: Array<FakeValue | undefined> = [];
  for (let i = 0; i < cols.count; i++) {
    const row = cols.rows[i]!;
    const tag = cols.tags[i]!;
    const num = cols.nums[i]!;
    if (row < lastRow || row >= count) throw new Error(`fields: entry ${i} row ${row} out of order or range`);
    lastRow = row;
    let value: FakeValue;
    if (tag >= 3 && tag <= 5) {
      if (!Number.isInteger(num) || num < 0 || at + num > cols.text.length) throw new Error(`fields: entry ${i} text length ${num}`);
      const piece = cols.text.slice(at, at + num);
      at += num;
      if (tag === 5) {
        messages.set(row, piece.toWellFormed());
        valueOf.push(undefined);
        continue;
      }
      value = tag === 3 ? piece.toWellFormed() : Number(BigInt(piece));
    } else if (tag === 0) {
      if (!Number.isSafeInteger(num)) throw new Error(`fields: entry ${i} ${num} is not a whole number`);
      value = num;
    } else if (tag === 1) {
      value = num;
    } else if (tag === 2) {
      value = num !== 0;
    } else if (tag === 6) {
      const earlier = Number.isInteger(num) && num >= 0 && num < i ? valueOf[num] : undefined;
      if (earlier === undefined) throw new Error(`fields: entry ${i}: ${num} is not an earlier field entry`);
      value = earlier;
    } else {
      throw new Error(`fields: entry ${i} unknown tag ${tag}`);
    }
    valueOf.push(value);
    const key = engine.names[cols.keys[i]!];
    if (key === undefined) throw new Error(`fields: unknown key id ${cols.keys[i]}`);
    const record = fields.get(row) ?? {};
    record[key] = value;
    fields.set(row, record);
  }
  if (at !== cols.text.length) throw new Error(`fields: text has ${cols.text.length} units, entries use ${at}`);
  return { messages, fields };
}

class FakeNativeStore implements NativeStoreHandle {
  #engine: FakeEngine;
  #closed = false;

  constructor(engine: FakeEngine) {
    this.#engine = engine;
  }

  static open(dir: string, options: NativeOptions = {}): FakeNativeStore {
    for (const [key, [lo, hi]] of Object.entries(RANGES)) {
      const v = (options as Record<string, number | undefined>)[key];
      if (v !== undefined && (v < lo || v > hi)) throw new Error(`invalid option \`${key}\`: must be between ${lo} and ${hi}, got ${v}`);
    }
    fs.mkdirSync(dir, { recursive: true });
    fake.opens++;
    let engine = fake.engines.get(dir);
    if (engine === undefined) {
      engine = { dir, options, names: [], ids: new Map(), ring: [], rows: [], counters: { accepted: 0, dropped: 0, discarded: 0, lost: 0, written: 0, durable: 0, sealed: 0, bytesOnDisk: 0, rejected: 0 }, handles: 0 };
      fake.engines.set(dir, engine);
    }
    engine.handles++;
    return new FakeNativeStore(engine);
  }

  get path(): string {
    return this.#engine.dir;
  }

  #check(): FakeEngine {
    if (this.#closed) throw new Error('store is closed');
    return this.#engine;
  }

  intern(name: string): number {
    const engine = this.#check();
    let id = engine.ids.get(name);
    if (id === undefined) {
      id = engine.names.length;
      engine.names.push(name);
      engine.ids.set(name, id);
    }
    return id;
  }

  /** Like a runtime without external buffers: the store keeps its rows in JS and uses `append`. */
  newSlot(): ArrayBuffer | null {
    return null;
  }

  handOver(): NativeHandOver {
    throw new Error('the fake has no slots (newSlot gives null)');
  }

  takeRefusal(): string | null {
    return null;
  }

  append(names: Uint32Array, startOffsetsMs: Float64Array, durationsMs: Float64Array, codes: Uint8Array, count: number, originMs: number, fieldCols?: NativeFieldColumns | null): string | null {
    const engine = this.#check();
    fake.appendCalls.push({ count, originMs, fieldText: fieldCols?.text ?? null });
    if (fake.throwOnAppend > 0) {
      fake.throwOnAppend--;
      throw new Error('fake append failure');
    }
    if (fake.dropOnAppend > 0) {
      fake.dropOnAppend--;
      engine.counters.dropped += count;
      return null;
    }
    if (count > names.length || count > startOffsetsMs.length || count > durationsMs.length || count > codes.length) throw new Error('count exceeds arrays');
    const { messages, fields } = parseFields(fieldCols, count, engine);
    for (let i = 0; i < count; i++) {
      const name = engine.names[names[i]!];
      if (name === undefined) throw new Error(`unknown name id ${names[i]}`);
      if (codes[i]! > 7) throw new Error(`bad code ${codes[i]}`);
      const row: FakeRow = {
        name,
        startNs: startNsOf(originMs, startOffsetsMs[i]!),
        durationNs: durationsMs[i]! > 0 ? BigInt(Math.round(durationsMs[i]! * 1e6)) : 0n,
        code: codes[i]!,
        fields: fields.get(i) ?? {},
      };
      const message = messages.get(i);
      if (message !== undefined) row.message = message;
      engine.ring.push(row);
    }
    engine.counters.accepted += count;
    return null;
  }

  flush(): Promise<void> {
    const engine = this.#check();
    return new Promise((resolve) => {
      setTimeout(() => {
        write(engine, 'flush');
        resolve();
      }, fake.flushDelayMs);
    });
  }

  // Queries are the engine's job; the TS-layer tests that use this fake do not run them.
  async query(): Promise<NativeQueryResult> {
    throw new Error('the fake addon does not run queries');
  }

  async histogram(): Promise<never> {
    throw new Error('the fake addon does not count histograms');
  }

  async events(): Promise<NativeEventPage> {
    throw new Error('the fake addon does not list events');
  }

  // Post-mortems are the engine's job; the fake records that one was asked for.
  async postMortem(reason: string): Promise<string> {
    fake.postMortems.push(reason);
    return '';
  }

  postMortemSync(reason: string): string {
    fake.postMortems.push(reason);
    return '';
  }

  async anomalies(): Promise<never> {
    throw new Error('the fake addon does not look for anomalies');
  }

  async compare(): Promise<never> {
    throw new Error('the fake addon does not compare ranges');
  }

  writeFailure(): null {
    this.#check();
    return null;
  }

  counters(): NativeCounters {
    const engine = this.#check();
    if (fake.writerRunsOnCounters) write(engine, 'writer');
    return { ...engine.counters };
  }

  async close(): Promise<void> {
    const engine = this.#check();
    await this.flush();
    this.#closed = true;
    engine.handles--;
  }

  closeSync(): void {
    const engine = this.#check();
    write(engine, 'flush');
    this.#closed = true;
    engine.handles--;
  }
}

/** The built addon's pure grammar functions (no store is opened). */
function realGrammar(): Pick<NativeBinding, 'parseDuration' | 'parseTime'> {
  try {
    return require('../../native/binding.cjs') as NativeBinding;
  } catch (err) {
    throw new Error(`the fake addon reads durations and times with the built addon's grammar, which did not load: ${(err as Error).message}`);
  }
}

/** The fake, shaped like native/binding.cjs. */
export const fakeBinding: NativeBinding = {
  NativeStore: FakeNativeStore,
  NativeReader: {
    open: () => {
      throw new Error('the fake addon has no reader');
    },
  },
  errorCodes: () => [...ERROR_CODES],
  parseFilter: (text) => ({ canonical: text }),
  // The grammar is the engine's alone: the fake lends the built addon's, when there is one.
  parseDuration: (text) => realGrammar().parseDuration(text),
  parseTime: (text, nowMs) => realGrammar().parseTime(text, nowMs),
  verifyPlan: async () => {
    throw new Error('the fake addon does not verify stores');
  },
  verifyFile: async () => {
    throw new Error('the fake addon does not verify stores');
  },
  maintain: async () => {
    throw new Error('the fake addon does not maintain stores');
  },
  exportParquet: async () => {
    throw new Error('the fake addon does not export');
  },
  readPostMortem: async () => {
    throw new Error('the fake addon does not read post-mortems');
  },
  postMortemSummary: async () => {
    throw new Error('the fake addon does not read post-mortems');
  },
  importPostMortem: async () => {
    throw new Error('the fake addon does not read post-mortems');
  },
};

/** All written rows of the engine at `dir`. */
export function rowsOf(dir: string): FakeRow[] {
  return fake.engines.get(path.resolve(dir))?.rows ?? [];
}
