/**
 * Where the nanoseconds of `capture(fn)` above the floor (two `performance.now()` reads) go (issue
 * 14, "capture floor"). Run it with `npm run bench:floor` (builds the TypeScript layer first):
 *
 *   npm run bench:floor                 20 rounds (about 40 s)
 *   npm run bench:floor -- --quick      3 short rounds (smoke run)
 *   options: --rounds=N, --out=FILE (JSON, default bench/floor-results.json)
 *
 * The cases add one piece of laptime's hot path at a time on top of the floor. Steps 1-6 are
 * BENCH-ONLY COPIES of the library's code (src/wrap.ts `plain`/`settle`, src/site.ts `Site.ok`,
 * src/batch.ts `Batch.add`), written out once per step: V8 keeps type feedback per function, so
 * steps sharing one `ok` or `add` would see each other's objects and measure polymorphic calls the
 * library never makes. They read the clock and the registry through the built modules' export
 * objects, as the compiled library does. Step 5 stores into a batch copy that never hands over
 * (BENCH-ONLY: it rewinds when full, so no event is stored); step 6 writes into the real store's
 * real `Batch`, whose `onFull` is the real hand-over to the addon. Last come the library itself
 * (`capture(fn)`, `@capture()`), which step 6 should match if the copies are faithful.
 *
 * Same discipline as bench/capture-overhead.mts: one process, every case in each round, order
 * rotated each round, the event loop turns between samples, medians over all samples. A second
 * phase times the hand-over alone (the store's hand-over of full batches to the addon, ns per row:
 * the rows stay in the addon's slot and the writer thread converts them, unless every other slot
 * is busy), and the writer thread's CPU per event is read from /proc. LAPTIME_BENCH_BATCH_SIZE
 * sets the store's `batchSize` (default: the library's).
 *
 * Type-check: npx tsc -p bench/tsconfig.json
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { capture, open, setDefaultStore, type Store } from 'laptime';
import { Bench } from 'tinybench';
import { addonInfo, machine, ROOT, threadCpuSeconds, versions } from './machine.mjs';

// The built modules the library runs on (the same module instances as `laptime`'s index.js).
const require = createRequire(path.join(ROOT, 'index.js'));
const time = require('./src/time.js') as typeof import('../src/time.js');
const reg = require('./src/registry.js') as typeof import('../src/registry.js');
const symbols = require('./src/symbols.js') as typeof import('../src/symbols.js');
type RealBatch = import('../src/batch.js').Batch;
type Internal = Store & { [symbols.kBatch]: RealBatch; [symbols.kAppend](): void; [symbols.kIntern](name: string): number };

// ---- options ----------------------------------------------------------------------------------

interface Config {
  rounds: number;
  timeMs: number;
  minSamples: number;
  warmupMs: number;
}
const FULL: Config = { rounds: 20, timeMs: 150, minSamples: 10, warmupMs: 300 };
const QUICK: Config = { rounds: 3, timeMs: 30, minSamples: 5, warmupMs: 50 };

function parseArgs(argv: string[]): { config: Config; out: string } {
  let config = FULL;
  let rounds: number | null = null;
  let out = path.join(ROOT, 'bench', 'floor-results.json');
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2) as [string, string | undefined];
    if (key === '--quick') config = QUICK;
    else if (key === '--rounds' && value !== undefined && Number.isInteger(Number(value)) && Number(value) > 0) rounds = Number(value);
    else if (key === '--out' && value) out = path.resolve(value);
    else throw new Error(`unknown argument ${arg} (options: --quick, --rounds=N, --out=FILE)`);
  }
  if (config === QUICK && argv.every((a) => !a.startsWith('--out'))) out = path.join(ROOT, 'bench', 'floor-results.quick.json');
  return { config: rounds === null ? config : { ...config, rounds }, out };
}

// ---- the function being timed (as in bench/cases.mts) -------------------------------------------

const CALLS = 10_000;
const point = { x: 0, hits: 0 };
function work(a: number, b: number): number {
  point.hits++;
  point.x = a + b;
  return point.x;
}
export let sinkValue = 0;
/** Durations the copies that store nothing add up, so their subtraction is not dead code. */
const spent = { ms: 0 };

type AnyFunction = (...args: never[]) => unknown;
const reflectApply = Reflect.apply;
const reflectConstruct = Reflect.construct;
const NO_KEYS: readonly number[] = Object.freeze([]);

/** Stands for a Site's Sink: its epoch is compared with the registry's on every call. */
class SinkCopy {
  epoch = reg.registry.epoch;
}

// ---- step 1: the wrapper alone (new.target test, Reflect.apply with `arguments`) ----------------

class End1 {
  ok(t0: number): void {
    const t1 = time.perf.now();
    spent.ms += t1 - t0;
  }
}
function wrap1(fn: AnyFunction, end: End1): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    const result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    end.ok(t0);
    return result;
  };
}

// ---- step 2: + try/catch ------------------------------------------------------------------------

class End2 {
  ok(t0: number): void {
    const t1 = time.perf.now();
    spent.ms += t1 - t0;
  }
  fail(t0: number): void {
    spent.ms += time.perf.now() - t0;
  }
}
function wrap2(fn: AnyFunction, end: End2): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      end.fail(t0);
      throw err;
    }
    end.ok(t0);
    return result;
  };
}

// ---- step 3: + settle (instanceof Promise) --------------------------------------------------------

class End3 {
  ok(t0: number): void {
    const t1 = time.perf.now();
    spent.ms += t1 - t0;
  }
  fail(t0: number): void {
    spent.ms += time.perf.now() - t0;
  }
}
function settle3(end: End3, t0: number, result: unknown): unknown {
  if (result instanceof Promise) void result.then(() => end.ok(t0), () => end.fail(t0));
  else end.ok(t0);
  return result;
}
function wrap3(fn: AnyFunction, end: End3): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      end.fail(t0);
      throw err;
    }
    return settle3(end, t0, result);
  };
}

// ---- step 4: + Site.ok's bookkeeping (epoch compare, keyIds test), a batch that keeps nothing -----

class NullBatch4 {
  add(_name: number, _start: number, duration: number, _code: number): void {
    spent.ms += duration;
  }
}
class Site4 {
  private readonly sink = new SinkCopy();
  private readonly batch = new NullBatch4();
  private readonly id = 1;
  private readonly keyIds: readonly number[] = NO_KEYS;
  ok(t0: number): void {
    const t1 = time.perf.now();
    const sink = this.sink;
    if (sink.epoch !== reg.registry.epoch) sink.epoch = reg.registry.epoch;
    if (this.keyIds === NO_KEYS) this.batch.add(this.id, t0, t1 - t0, 0);
    else spent.ms += 1;
  }
  fail(t0: number): void {
    spent.ms += time.perf.now() - t0;
  }
}
function settle4(site: Site4, t0: number, result: unknown): unknown {
  if (result instanceof Promise) void result.then(() => site.ok(t0), () => site.fail(t0));
  else site.ok(t0);
  return result;
}
function wrap4(fn: AnyFunction, site: Site4): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      site.fail(t0);
      throw err;
    }
    return settle4(site, t0, result);
  };
}

// ---- step 5: + the four typed-array stores (BENCH-ONLY batch: rewinds when full, no hand-over) ----

class RewindingBatch5 {
  readonly names: Uint32Array;
  readonly starts: Float64Array;
  readonly durations: Float64Array;
  readonly codes: Uint8Array;
  readonly capacity: number;
  length = 0;
  rewinds = 0;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.names = new Uint32Array(capacity);
    this.starts = new Float64Array(capacity);
    this.durations = new Float64Array(capacity);
    this.codes = new Uint8Array(capacity);
  }
  add(name: number, start: number, duration: number, code: number): void {
    const i = this.length;
    this.names[i] = name;
    this.starts[i] = start;
    this.durations[i] = duration;
    this.codes[i] = code;
    if ((this.length = i + 1) === this.capacity) this.rewind();
  }
  /** Not the hand-over: the rows are forgotten. */
  private rewind(): void {
    this.length = 0;
    this.rewinds++;
  }
}
class Site5 {
  private readonly sink = new SinkCopy();
  private readonly batch: RewindingBatch5;
  private readonly id = 1;
  private readonly keyIds: readonly number[] = NO_KEYS;
  constructor(batch: RewindingBatch5) {
    this.batch = batch;
  }
  ok(t0: number): void {
    const t1 = time.perf.now();
    const sink = this.sink;
    if (sink.epoch !== reg.registry.epoch) sink.epoch = reg.registry.epoch;
    if (this.keyIds === NO_KEYS) this.batch.add(this.id, t0, t1 - t0, 0);
    else spent.ms += 1;
  }
  fail(t0: number): void {
    spent.ms += time.perf.now() - t0;
  }
}
function settle5(site: Site5, t0: number, result: unknown): unknown {
  if (result instanceof Promise) void result.then(() => site.ok(t0), () => site.fail(t0));
  else site.ok(t0);
  return result;
}
function wrap5(fn: AnyFunction, site: Site5): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      site.fail(t0);
      throw err;
    }
    return settle5(site, t0, result);
  };
}

// ---- step 6: + the real batch of a real store (its onFull is the real hand-over) ------------------

class Site6 {
  private readonly sink = new SinkCopy();
  private readonly batch: RealBatch;
  private readonly id: number;
  private readonly keyIds: readonly number[] = NO_KEYS;
  constructor(batch: RealBatch, id: number) {
    this.batch = batch;
    this.id = id;
  }
  ok(t0: number): void {
    const t1 = time.perf.now();
    const sink = this.sink;
    if (sink.epoch !== reg.registry.epoch) sink.epoch = reg.registry.epoch;
    if (this.keyIds === NO_KEYS) this.batch.add(this.id, t0, t1 - t0, 0);
    else spent.ms += 1;
  }
  fail(t0: number): void {
    spent.ms += time.perf.now() - t0;
  }
}
function settle6(site: Site6, t0: number, result: unknown): unknown {
  if (result instanceof Promise) void result.then(() => site.ok(t0), () => site.fail(t0));
  else site.ok(t0);
  return result;
}
function wrap6(fn: AnyFunction, site: Site6): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = time.perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      site.fail(t0);
      throw err;
    }
    return settle6(site, t0, result);
  };
}

// ---- cases ---------------------------------------------------------------------------------------

type CaseId = 'bare' | 'floor' | 'wrapper' | 'try' | 'settle' | 'siteOk' | 'stores' | 'handOver' | 'capture' | 'decorator';
interface Case {
  id: CaseId;
  label: string;
  /** Events this case hands to the store per call (1 for the steps that store). */
  stores: boolean;
  fn: () => void;
}

function makeCases(store: Internal, rewinding: RewindingBatch5): Case[] {
  const w1 = wrap1(work, new End1()) as typeof work;
  const w2 = wrap2(work, new End2()) as typeof work;
  const w3 = wrap3(work, new End3()) as typeof work;
  const w4 = wrap4(work, new Site4()) as typeof work;
  const w5 = wrap5(work, new Site5(rewinding)) as typeof work;
  const w6 = wrap6(work, new Site6(store[symbols.kBatch], store[symbols.kIntern]('floor.step6'))) as typeof work;
  const wc = capture(work, 'floor.capture');
  class Service {
    @capture()
    work(a: number, b: number): number {
      point.hits++;
      point.x = a + b;
      return point.x;
    }
  }
  const service = new Service();
  const perf = performance;

  // One loop per case written out (V8 optimizes each for its one callee), as in bench/cases.mts.
  return [
    {
      id: 'bare',
      label: 'bare sync call',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += work(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'floor',
      label: 'floor: call + 2x performance.now()',
      stores: false,
      fn: () => {
        let s = 0;
        let d = 0;
        for (let i = 0; i < CALLS; i++) {
          const t0 = perf.now();
          s += work(i, 1);
          d += perf.now() - t0;
        }
        sinkValue = s + d;
      },
    },
    {
      id: 'wrapper',
      label: '1 wrapper: new.target + Reflect.apply(arguments)',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w1(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'try',
      label: '2 + try/catch',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w2(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'settle',
      label: '3 + settle (instanceof Promise)',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w3(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'siteOk',
      label: '4 + Site.ok bookkeeping, no stores',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w4(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'stores',
      label: '5 + 4 typed-array stores, no hand-over (bench-only batch)',
      stores: false,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w5(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'handOver',
      label: '6 + real Batch, real hand-over to the addon',
      stores: true,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += w6(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'capture',
      label: 'laptime capture(fn) (the library)',
      stores: true,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += wc(i, 1);
        sinkValue = s;
      },
    },
    {
      id: 'decorator',
      label: 'laptime @capture() method (the library)',
      stores: true,
      fn: () => {
        let s = 0;
        for (let i = 0; i < CALLS; i++) s += service.work(i, 1);
        sinkValue = s;
      },
    },
  ];
}

/** Each step's increment: the case and the one before it. */
const STEPS: readonly { label: string; plus: CaseId; minus: CaseId }[] = [
  { label: 'wrapper function, new.target test, Reflect.apply(arguments)', plus: 'wrapper', minus: 'floor' },
  { label: 'try/catch around the call', plus: 'try', minus: 'wrapper' },
  { label: 'settle(): instanceof Promise, one more call', plus: 'settle', minus: 'try' },
  { label: 'Site.ok: sink epoch compare, keyIds test, batch.add call', plus: 'siteOk', minus: 'settle' },
  { label: 'four typed-array stores + length check', plus: 'stores', minus: 'siteOk' },
  { label: 'hand-over of full batches to the addon (amortized)', plus: 'handOver', minus: 'stores' },
  { label: 'library capture(fn) vs the copies (should be ~0)', plus: 'capture', minus: 'handOver' },
];

// ---- statistics ----------------------------------------------------------------------------------

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
const median = (values: readonly number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);
const r2 = (x: number): number => Math.round(x * 100) / 100;
const turnEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- the hand-over alone -------------------------------------------------------------------------

/**
 * ns per row of the store's `append` of full batches (the JS-side rows are written first, outside
 * the timed window): what step 6 amortizes over every call. Median and quartiles over `batches`.
 */
async function timeHandOver(store: Internal, batches: number): Promise<{ capacity: number; medianNs: number; p25Ns: number; p75Ns: number }> {
  const batch = store[symbols.kBatch];
  const id = store[symbols.kIntern]('floor.handOver');
  const rows = batch.capacity - 1;
  const perRow: number[] = [];
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < rows; i++) batch.add(id, performance.now(), 0.001, 0);
    const t0 = performance.now();
    store[symbols.kAppend]();
    perRow.push(((performance.now() - t0) * 1e6) / rows);
    // Let the writer keep up (as between the loops of the micro cases).
    if (b % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const sorted = perRow.sort((a, b) => a - b);
  return { capacity: batch.capacity, medianNs: r2(quantile(sorted, 0.5)), p25Ns: r2(quantile(sorted, 0.25)), p75Ns: r2(quantile(sorted, 0.75)) };
}

// ---- main ----------------------------------------------------------------------------------------

const fmt = (x: number, digits = 1): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { config, out } = parseArgs(process.argv.slice(2));
  const m = machine();
  const addon = addonInfo();
  console.log(`laptime capture floor decomposition (${process.env.npm_lifecycle_event === 'bench:floor' ? 'npm run bench:floor' : 'tsx bench/capture-floor.mts'} ${process.argv.slice(2).join(' ')})`.trim());
  console.log(`machine: ${m.cpuModel}, ${m.cores} cores, kernel ${m.kernel}, clocksource ${m.clocksource ?? 'n/a'}, load ${m.loadavg1m} (1 min)`);
  console.log(`runtime: Node ${m.node} (V8 ${m.v8}); addon ${addon.files.join(', ')}: ${addon.profile} build`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-bench-floor-'));
  const store = open({ dir, ...(process.env.LAPTIME_BENCH_BATCH_SIZE ? { batchSize: Number(process.env.LAPTIME_BENCH_BATCH_SIZE) } : {}) }) as Internal;
  if (!store.enabled) throw new Error('laptime is disabled (addon not loaded): nothing to measure');
  if (store[symbols.kBatch] === undefined) throw new Error('the bench did not load the same laptime modules as index.js');
  setDefaultStore(store);
  const rewinding = new RewindingBatch5(store[symbols.kBatch].capacity);
  const cases = makeCases(store, rewinding);
  const pooled = new Map<CaseId, number[]>(cases.map((c) => [c.id, []]));
  const perRound = new Map<CaseId, number[]>(cases.map((c) => [c.id, []]));
  let storedCalls = 0;
  try {
    const writer0 = threadCpuSeconds('laptime');
    for (let round = 0; round < config.rounds; round++) {
      const bench = new Bench({
        time: config.timeMs,
        iterations: config.minSamples,
        warmup: round === 0,
        warmupTime: config.warmupMs,
        warmupIterations: config.minSamples,
        retainSamples: true,
        throws: true,
      });
      const k = round % cases.length;
      for (const c of [...cases.slice(k), ...cases.slice(0, k)]) bench.add(c.id, c.fn, { afterEach: turnEventLoop });
      await bench.run();
      for (const task of bench.tasks) {
        const c = cases.find((x) => x.id === task.name)!;
        if (task.result.state !== 'completed') throw new Error(`case ${c.id} did not complete: ${task.result.state}`);
        const samples = task.result.latency.samples ?? [];
        // Every run of the loop stored CALLS events (warm-up runs included: count them by the batch).
        const ns = samples.map((ms) => (ms * 1e6) / CALLS);
        pooled.get(c.id)!.push(...ns);
        perRound.get(c.id)!.push(median(ns));
      }
      process.stderr.write(`round ${round + 1}/${config.rounds} done\n`);
      await turnEventLoop();
    }
    await store.flush();
    const writer1 = threadCpuSeconds('laptime');
    const counters = store.counters();
    storedCalls = counters.written;
    const handOver = await timeHandOver(store, 256);

    const med = (id: CaseId): number => median(pooled.get(id)!);
    const results = cases.map((c) => {
      const sorted = [...pooled.get(c.id)!].sort((a, b) => a - b);
      return {
        id: c.id,
        label: c.label,
        samples: sorted.length,
        medianNs: r2(quantile(sorted, 0.5)),
        p25Ns: r2(quantile(sorted, 0.25)),
        p75Ns: r2(quantile(sorted, 0.75)),
        overFloorNs: r2(med(c.id) - med('floor')),
        roundMediansNs: perRound.get(c.id)!.map(r2),
      };
    });
    const steps = STEPS.map((s) => {
      const rounds = perRound.get(s.plus)!.map((x, i) => x - perRound.get(s.minus)![i]!);
      return { label: s.label, plus: s.plus, minus: s.minus, ns: r2(med(s.plus) - med(s.minus)), roundMin: r2(Math.min(...rounds)), roundMedian: r2(median(rounds)), roundMax: r2(Math.max(...rounds)) };
    });
    const ratios = (['capture', 'decorator'] as const).map((id) => {
      const rounds = perRound.get(id)!.map((x, i) => x / perRound.get('floor')![i]!);
      return { id, value: r2(med(id) / med('floor')), roundsAtOrBelow115: rounds.filter((r) => r <= 1.15).length, rounds: rounds.length, roundMin: r2(Math.min(...rounds)), roundMax: r2(Math.max(...rounds)) };
    });
    const writerNsPerEvent = writer0 === null || writer1 === null || counters.written === 0 ? null : r2(((writer1 - writer0) * 1e9) / counters.written);

    console.log(`\nns per call: median of all samples of ${config.rounds} rounds (${config.timeMs} ms per case per round, ${CALLS} calls per sample, order rotated each round)`);
    console.log(table(['case', 'median', 'p25-p75', 'over floor', 'samples'], results.map((r) => [r.label, fmt(r.medianNs), `${fmt(r.p25Ns)}-${fmt(r.p75Ns)}`, fmt(r.overFloorNs), String(r.samples)])));
    console.log('\nwhat each piece adds (difference of pooled medians; range and median of the per-round differences)');
    console.log(table(['piece', 'ns', 'per-round min / median / max'], steps.map((s) => [s.label, fmt(s.ns), `${fmt(s.roundMin)} / ${fmt(s.roundMedian)} / ${fmt(s.roundMax)}`])));
    console.log('\nratio to the floor (target <= 1.15 in the pooled median and in most rounds)');
    console.log(table(['case', 'pooled', 'rounds <= 1.15', 'per-round range'], ratios.map((r) => [r.id, fmt(r.value, 3), `${r.roundsAtOrBelow115} of ${r.rounds}`, `${fmt(r.roundMin, 2)}-${fmt(r.roundMax, 2)}`])));
    console.log(
      `\nhand-over alone: a full batch (${handOver.capacity - 1} rows) ${fmt(handOver.medianNs, 2)} ns/row median ` +
        `(p25-p75 ${fmt(handOver.p25Ns, 2)}-${fmt(handOver.p75Ns, 2)}), on the JS thread`,
    );
    console.log(
      `store: ${storedCalls.toLocaleString('en-US')} events written, ${counters.dropped} dropped; writer thread CPU ` +
        `${writerNsPerEvent === null ? 'n/a' : `${fmt(writerNsPerEvent)} ns/event`} (its own thread; on 2 cores it competes with the JS thread when the machine is busy); ` +
        `bench-only batch rewound ${rewinding.rewinds.toLocaleString('en-US')} times (those rows were not stored)`,
    );
    writeFileSync(
      out,
      `${JSON.stringify({ started: new Date().toISOString(), machine: m, addon, versions: versions(), config, cases: results, steps, ratios, handOver, writerNsPerEvent, counters }, null, 2)}\n`,
    );
    console.log(`\nJSON written to ${path.relative(process.cwd(), out) || out}`);
  } finally {
    setDefaultStore(null);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
