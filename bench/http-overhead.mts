/**
 * HTTP middleware overhead: one Express 5 app in three variants, each in its own child process
 * (bench/http-server.mts): no middleware, `laptime.express()`, and OpenTelemetry's http
 * instrumentation (NodeTracerProvider + BatchSpanProcessor, spans dropped by the exporter), plus
 * a second no-middleware process as a control (its difference to the first is the noise floor).
 *
 *   npm run bench:http                  15 rounds x 2,000 requests per variant and phase (about 1 min)
 *   npm run bench:http -- --quick       3 rounds x 300 (smoke run)
 *   options: --rounds=N, --requests=N (per variant per round), --out=FILE (JSON; default
 *   bench/http-results.json, none with --quick)
 *
 * First, the middleware alone: `laptime.express()` called on stand-in request/response objects
 * (event emitters with the fields it reads) whose 'close' is emitted at once, against the same
 * loop without it, in alternating rounds: what the middleware itself adds per request (its timing,
 * route and status reading, the event with its five fields into a real store), in ns, precise to
 * a few tens of ns. A full Express request costs about 100 µs on the machines we have, and their
 * noise between rounds is several µs, so the phases below cannot resolve 1 µs; they show the
 * middleware's cost stays within that noise where OTel's does not.
 * Then two phases on the Express app, each in rounds where the variants take turns in slices
 * (order rotated each round), so a change in the machine's load lands on all three alike:
 *   1. in-process: each server handles GET /users/:id requests made in its own process (real
 *      IncomingMessage/ServerResponse emitted as the server's 'request', over a socket that drops
 *      the bytes): the server's own work per request, without network or client noise. This is
 *      the precise figure; the targets are judged on it.
 *   2. sockets: this process is the client, a bounded loop of sequential keep-alive requests (one
 *      socket per variant) over 127.0.0.1: the same comparison end to end, noisier.
 * Per round and variant: wall µs per request and the server process's CPU µs per request
 * (process.cpuUsage, all its threads: laptime's writer and OTel's span export included).
 * Overheads are medians of the per-round differences to `none`. At the end the laptime server
 * reports its store's written counter and the OTel server its exported span count; both must
 * equal the requests it was sent. Type-check: npx tsc -p bench/tsconfig.json
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from 'laptime';
import { express as laptimeExpress } from 'laptime/express';
// Not part of the public API: the recorder the middleware records through, to split its cost.
import { CallRecorder } from '../src/calls.js';
import { machine, ROOT, versions } from './machine.mjs';

/** `control` is `none` again in another process: its difference to `none` is the noise floor. */
type Variant = 'none' | 'control' | 'laptime' | 'otel';
const VARIANTS: readonly Variant[] = ['none', 'control', 'laptime', 'otel'];
const byVariant = <T,>(f: (v: Variant) => T): Record<Variant, T> => Object.fromEntries(VARIANTS.map((v) => [v, f(v)])) as Record<Variant, T>;

interface Args {
  rounds: number;
  requests: number;
  out: string | null;
}

function parseArgs(argv: string[]): Args {
  let rounds = 15;
  let requests = 2000;
  let quick = false;
  let out: string | null = null;
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2) as [string, string | undefined];
    const num = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n <= 0) throw new Error(`${key} needs a positive whole number, e.g. ${key}=10`);
      return n;
    };
    if (key === '--quick') quick = true;
    else if (key === '--rounds') rounds = num();
    else if (key === '--requests') requests = num();
    else if (key === '--out' && value) out = path.resolve(value);
    else if (key === '--help' || key === '-h') {
      console.log('usage: npm run bench:http -- [--quick] [--rounds=N] [--requests=N] [--out=FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  if (quick) {
    rounds = Math.min(rounds, 3);
    requests = Math.min(requests, 300);
  }
  return { rounds, requests, out: out ?? (quick ? null : path.join(ROOT, 'bench', 'http-results.json')) };
}

// ---- the servers ------------------------------------------------------------------------------

interface Server {
  variant: Variant;
  child: ChildProcess;
  port: number;
  agent: http.Agent;
  sent: number;
}

function ask<T>(child: ChildProcess, msg: string | object, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`server exited (${code}) before answering ${JSON.stringify(msg)}`));
    const onMessage = (reply: unknown): void => {
      if (typeof reply === 'object' && reply !== null && key in reply) {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(reply as T);
      }
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (msg !== '') child.send(msg);
  });
}

async function start(variant: Variant): Promise<Server> {
  const child = fork(path.join(ROOT, 'bench', 'http-server.mts'), [variant], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await ask<{ port: number }>(child, '', 'port');
  return { variant, child, port, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), sent: 0 };
}

function get(server: Server, i: number): Promise<void> {
  server.sent++;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: `/users/${i % 100}`, agent: server.agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${server.variant}: status ${res.statusCode}`));
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

async function cpuOf(server: Server): Promise<number> {
  return (await ask<{ cpu: number }>(server.child, 'cpu', 'cpu')).cpu;
}

/** Wall and server-CPU µs per request of `n` requests handed to the server in its own process. */
async function measureInProcess(server: Server, n: number): Promise<{ wall: number; cpu: number }> {
  server.sent += n;
  return ask<{ wall: number; cpu: number }>(server.child, { drive: n }, 'wall');
}

/** Wall and server-CPU µs per request over `n` sequential requests from this process. */
async function measureSockets(server: Server, n: number): Promise<{ wall: number; cpu: number }> {
  const cpu0 = await cpuOf(server);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await get(server, i);
  const t1 = performance.now();
  const cpu1 = await cpuOf(server);
  return { wall: ((t1 - t0) * 1000) / n, cpu: (cpu1 - cpu0) / n };
}

// ---- statistics -------------------------------------------------------------------------------

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
const median = (values: readonly number[]): number => quantile(values, 0.5);
const r2 = (x: number): number => Math.round(x * 100) / 100;

type Series = Record<Variant, number[]>;

interface PhaseSummary {
  wallUs: Record<Variant, { median: number; p25: number; p75: number }>;
  cpuUs: Record<Variant, { median: number; p25: number; p75: number }>;
  /** Median of the per-round differences to `none`. */
  overheadWallUs: Record<Variant, number>;
  overheadCpuUs: Record<Variant, number>;
  /** OTel's CPU overhead over laptime's. */
  ratioCpu: number;
  rounds: { wall: Series; cpu: Series };
}

/** Rounds of slices, the variants taking turns; per round and variant the mean µs per request. */
async function phase(servers: Server[], args: Args, measure: (s: Server, n: number) => Promise<{ wall: number; cpu: number }>): Promise<PhaseSummary> {
  const wall: Series = byVariant(() => []);
  const cpu: Series = byVariant(() => []);
  // Warm-up (JIT, sockets, the store's first pages): not measured.
  for (const s of servers) await measure(s, Math.max(200, Math.floor(args.requests / 2)));
  const slices = Math.min(10, args.requests);
  const perSlice = Math.floor(args.requests / slices);
  for (let round = 0; round < args.rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const sums = new Map<Variant, { wall: number; cpu: number }>(VARIANTS.map((v) => [v, { wall: 0, cpu: 0 }]));
    for (let slice = 0; slice < slices; slice++) {
      for (const s of order) {
        const r = await measure(s, perSlice);
        const sum = sums.get(s.variant)!;
        sum.wall += r.wall / slices;
        sum.cpu += r.cpu / slices;
      }
    }
    for (const [v, sum] of sums) {
      wall[v].push(sum.wall);
      cpu[v].push(sum.cpu);
    }
  }
  const spread = (xs: number[]) => ({ median: r2(median(xs)), p25: r2(quantile(xs, 0.25)), p75: r2(quantile(xs, 0.75)) });
  const over = (series: Series, v: Variant) => r2(median(series[v].map((x, i) => x - series.none[i]!)));
  const overheadCpuUs = byVariant((v) => over(cpu, v));
  return {
    wallUs: byVariant((v) => spread(wall[v])),
    cpuUs: byVariant((v) => spread(cpu[v])),
    overheadWallUs: byVariant((v) => over(wall, v)),
    overheadCpuUs,
    ratioCpu: r2(overheadCpuUs.otel / overheadCpuUs.laptime),
    rounds: { wall, cpu },
  };
}

function print(title: string, p: PhaseSummary): void {
  console.log(`\n${title}`);
  console.log('variant   wall µs/request median (p25..p75)    server CPU µs/request median (p25..p75)   overhead vs none: wall / CPU µs');
  for (const v of VARIANTS) {
    const w = p.wallUs[v];
    const c = p.cpuUs[v];
    console.log(
      `${v.padEnd(9)} ${String(w.median).padStart(8)} (${w.p25}..${w.p75})`.padEnd(48) +
        `${String(c.median).padStart(8)} (${c.p25}..${c.p75})`.padEnd(42) +
        (v === 'none' ? '' : `${p.overheadWallUs[v]} / ${p.overheadCpuUs[v]}`),
    );
  }
  console.log(`OTel overhead / laptime overhead (server CPU): ${p.ratioCpu}x`);
}

// ---- the middleware alone --------------------------------------------------------------------

interface Alone {
  baseNs: number;
  withNs: number;
  /** Median of the per-round differences of this thread's time per request. */
  overheadNs: number;
  p25Ns: number;
  p75Ns: number;
  /** The same for the process's CPU time (all threads: the store's writer included). */
  cpuOverheadNs: number;
  cpuP25Ns: number;
  cpuP75Ns: number;
  /** The middleware's event recorded straight through CallRecorder, with its four fields and without. */
  recordFieldsNs: number;
  recordBareNs: number;
  sent: number;
  written: number;
  /** Dropped by the engine (full ring), counted: the bare-record loop floods faster than a loaded machine writes. */
  dropped: number;
}

async function middlewareAlone(rounds: number, perRound: number): Promise<Alone> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-bench-mw-'));
  const store = open({ dir });
  const middleware = laptimeExpress({ store }) as unknown as (req: object, res: object, next: () => void) => void;
  const next = (): void => undefined;
  const route = { path: '/users/:id' };
  // Stand-ins carrying what Express's req/res give the middleware, made alike in both loops.
  const cpuBase: number[] = [];
  const cpuWith: number[] = [];
  const loop = (n: number, withMiddleware: boolean): number => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const req = Object.assign(new EventEmitter(), { method: 'GET', url: '/users/42', baseUrl: '', route });
      const res = Object.assign(new EventEmitter(), { statusCode: 200, headersSent: true, writableFinished: true });
      if (withMiddleware) middleware(req, res, next);
      res.emit('close');
    }
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    (withMiddleware ? cpuWith : cpuBase).push(((c.user + c.system) * 1000) / n);
    return ((t1 - t0) * 1e6) / n;
  };
  // The event alone, through the recorder the middleware uses: with its four fields, and bare.
  const recorder = new CallRecorder(store, 'bench');
  const record = (n: number, withFields: boolean): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const a = performance.now();
      recorder.record('GET /users/:id', a, performance.now(), false, undefined, withFields ? { route: '/users/:id', method: 'GET', status_code: 200, status_class: '2xx' } : null);
    }
    return ((performance.now() - t0) * 1e6) / n;
  };
  const fieldsNs: number[] = [];
  const bareNs: number[] = [];
  let sent = 0;
  loop(perRound, true);
  loop(perRound, false);
  record(perRound, true);
  record(perRound, false);
  sent += 3 * perRound;
  cpuBase.length = 0;
  cpuWith.length = 0;
  const base: number[] = [];
  const withMw: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs right after the writer's flush.
    if (r % 2 === 0) {
      withMw.push(loop(perRound, true));
      base.push(loop(perRound, false));
    } else {
      base.push(loop(perRound, false));
      withMw.push(loop(perRound, true));
    }
    fieldsNs.push(record(perRound, true));
    bareNs.push(record(perRound, false));
    sent += 3 * perRound;
  }
  await store.flush();
  const { written, dropped } = store.counters();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const diffs = withMw.map((x, i) => x - base[i]!);
  const cpuDiffs = cpuWith.map((x, i) => x - cpuBase[i]!);
  return {
    cpuOverheadNs: Math.round(median(cpuDiffs)),
    cpuP25Ns: Math.round(quantile(cpuDiffs, 0.25)),
    cpuP75Ns: Math.round(quantile(cpuDiffs, 0.75)),
    baseNs: Math.round(median(base)),
    withNs: Math.round(median(withMw)),
    overheadNs: Math.round(median(diffs)),
    p25Ns: Math.round(quantile(diffs, 0.25)),
    p75Ns: Math.round(quantile(diffs, 0.75)),
    recordFieldsNs: Math.round(median(fieldsNs)),
    recordBareNs: Math.round(median(bareNs)),
    sent,
    written,
    dropped,
  };
}

// ---- run --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const m = machine();
  console.log(`HTTP middleware overhead on one Express 5 app: ${args.rounds} rounds x ${args.requests} requests per variant and phase`);
  console.log(`machine: ${m.cpuModel}, ${m.cores} cores, load ${m.loadavg1m}, node ${m.node}`);
  const alone = await middlewareAlone(args.rounds * 2, args.requests * 50);
  console.log(
    `\n0. the middleware alone (stand-in req/res, ${args.rounds * 2} rounds x ${args.requests * 50}): ${alone.withNs} ns/request with, ${alone.baseNs} without: ` +
      `laptime.express() adds ${alone.overheadNs} ns (p25..p75 ${alone.p25Ns}..${alone.p75Ns}) to this thread, ` +
      `${alone.cpuOverheadNs} ns (${alone.cpuP25Ns}..${alone.cpuP75Ns}) of process CPU (the store's writer thread included); store written ${alone.written} of ${alone.sent}, dropped (counted) ${alone.dropped}`,
  );
  console.log(`   of which recording its event (CallRecorder, two clock reads included): ${alone.recordFieldsNs} ns with the four fields, ${alone.recordBareNs} ns without fields`);
  const servers = await Promise.all(VARIANTS.map(start));
  let inProcess: PhaseSummary;
  let sockets: PhaseSummary;
  try {
    inProcess = await phase(servers, args, measureInProcess);
    print('1. in-process (the server\'s own work per request, no network, no client)', inProcess);
    sockets = await phase(servers, args, measureSockets);
    print('2. over sockets (sequential keep-alive requests from this process, 127.0.0.1)', sockets);
  } finally {
    for (const s of servers) s.agent.destroy();
  }
  const finals = await Promise.all(servers.map((s) => ask<{ served: number; stored: number | null; spans: number | null; counters: unknown }>(s.child, 'stop', 'served')));
  const counted = Object.fromEntries(servers.map((s, i) => [s.variant, { sent: s.sent, ...finals[i]! }])) as Record<
    Variant,
    { sent: number; served: number; stored: number | null; spans: number | null; counters: unknown }
  >;
  const lt = counted.laptime;
  const ot = counted.otel;
  console.log(`\ncounted: laptime store written ${lt.stored} of ${lt.sent} requests (handler ran ${lt.served}); OTel spans exported ${ot.spans} of ${ot.sent}`);
  // OTel's overhead measured on the app (in-process phase), over laptime's measured alone.
  const ratioAlone = r2((inProcess.overheadCpuUs.otel * 1000) / alone.overheadNs);
  const checks = {
    // Every request of the app stored; in phase 0's flood every event stored or counted as dropped.
    laptimeStoredAll: lt.stored === lt.sent && lt.served === lt.sent && alone.written + alone.dropped === alone.sent,
    otelSpannedAll: ot.spans === ot.sent,
    laptimeOverheadAtMost1us: alone.overheadNs <= 1000,
    otelAtLeast5x: ratioAlone >= 5,
  };
  console.log(
    `targets: laptime.express() adds <= 1 µs/request (alone): ${checks.laptimeOverheadAtMost1us ? 'met' : 'NOT met'} (${alone.overheadNs} ns); ` +
      `>= 5x below OTel's http instrumentation (OTel's in-process CPU overhead / laptime's alone): ${checks.otelAtLeast5x ? 'met' : 'NOT met'} (${ratioAlone}x)`,
  );
  if (args.out !== null) {
    writeFileSync(args.out, `${JSON.stringify({ date: new Date().toISOString(), machine: m, versions: versions(), args, alone, inProcess, sockets, counted, ratioAlone, checks }, null, 2)}\n`);
    console.log(`written to ${path.relative(process.cwd(), args.out)}`);
  }
  if (!checks.laptimeStoredAll || !checks.otelSpannedAll) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
