/**
 * Ingest speed of laptime against DuckDB's appender on the same R1-full calls, in one run, one
 * process (issue 14: "one writer's stored events/s against DuckDB's appender; goal >= 5x").
 *
 *   npx tsx bench/ingest-vs-duckdb.mts              (10M events; LAPTIME_BENCH_EVENTS to change)
 *
 * 1. `r1_export` writes N R1-full events as CSV; the calls (with their `route`/`tier` fields when
 *    present) are read into column arrays once, so generating them costs neither engine.
 * 2. Each round writes every call into a fresh laptime store (`store.record()`, one call per event
 *    through the Node API; `close()` returns once the writer has written and synced everything)
 *    and into a fresh DuckDB table through its appender (one row per event, then `close` and
 *    `CHECKPOINT`, so the rows are in the database file). Rounds alternate the two engines.
 * 3. Both counts are read back (an event counts when it is stored, not when it was handed over);
 *    medians of `ROUNDS` rounds and their ratio are reported.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { open, openReader } from 'laptime';
import { machine, ROOT } from './machine.mjs';

const EVENTS = Number(process.env.LAPTIME_BENCH_EVENTS ?? 10_000_000);
const ROUNDS = Number(process.env.LAPTIME_BENCH_ROUNDS ?? 3);
const work = mkdtempSync(path.join(process.env.LAPTIME_BENCH_TMP ?? os.tmpdir(), 'laptime-ingest-bench-'));

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const dirBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(path.join(e.parentPath, e.name)).size, 0);

log(`# laptime vs DuckDB ingest, ${EVENTS.toLocaleString('en-US')} R1-full events (their calls)`);
const m = machine();
log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.totalMemGiB} GiB, ${m.platform}, node ${m.node}; load ${m.loadavg1m}`);

execFileSync('cargo', ['build', '--release', '-q', '-p', 'laptime-core', '--example', 'r1_export'], { cwd: ROOT, stdio: 'inherit' });
const exporter = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'examples', 'r1_export');
const csvPath = path.join(work, 'r1.csv');
execFileSync(exporter, [String(EVENTS), path.join(work, 'export-store'), csvPath], { encoding: 'utf8' });
rmSync(path.join(work, 'export-store'), { recursive: true });

// The calls as columns: name, start, duration, failed, route, tier (read line by line: the CSV
// of 10M events is larger than one JS string may be).
const names: string[] = [];
const starts: bigint[] = [];
const durs: number[] = [];
const errs: boolean[] = [];
const routes: Array<string | null> = [];
const tiers: Array<string | null> = [];
let header = true;
for await (const line of createInterface({ input: createReadStream(csvPath), crlfDelay: Infinity })) {
  if (header || line === '') {
    header = false;
    continue;
  }
  const [name, start, dur, isCall, err, route, tier] = line.split(',');
  if (isCall !== 'true' && isCall !== '1') continue;
  names.push(name!);
  starts.push(BigInt(start!));
  durs.push(Number(dur));
  errs.push(err === 'true' || err === '1');
  routes.push(route === '' || route === undefined ? null : route);
  tiers.push(tier === '' || tier === undefined ? null : tier);
}
rmSync(csvPath);
const n = names.length;
log(`${n.toLocaleString('en-US')} calls read into memory (${routes.filter((r) => r !== null).length.toLocaleString('en-US')} with fields)`);

async function laptimeRound(round: number): Promise<{ ms: number; stored: number; bytes: number; dropped: number }> {
  const dir = path.join(work, `laptime-${round}`);
  const store = open({ dir, overflow: 'block', blockTimeoutMs: 60_000 });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const route = routes[i];
    store.record({ name: names[i]!, startNs: starts[i]!, durationNs: durs[i]!, ok: !errs[i]!, ...(route === null ? {} : { fields: { route: route!, tier: tiers[i] ?? '' } }) });
  }
  const counters = store.counters();
  await store.close();
  const ms = performance.now() - t0;
  const reader = openReader(dir);
  const stored = (await reader.query().count().run()).rows[0]?.count ?? 0;
  reader.close();
  const bytes = dirBytes(dir);
  rmSync(dir, { recursive: true });
  return { ms, stored, bytes, dropped: counters.dropped };
}

async function duckRound(round: number): Promise<{ ms: number; stored: number; bytes: number; version: string }> {
  const file = path.join(work, `duck-${round}.duckdb`);
  const duck = await DuckDBInstance.create(file);
  const con = await duck.connect();
  await con.run('CREATE TABLE ev (name VARCHAR, start UBIGINT, dur UBIGINT, err BOOLEAN, route VARCHAR, tier VARCHAR)');
  const t0 = performance.now();
  const app = await con.createAppender('ev');
  for (let i = 0; i < n; i++) {
    app.appendVarchar(names[i]!);
    app.appendUBigInt(starts[i]!);
    app.appendUBigInt(BigInt(durs[i]!));
    app.appendBoolean(errs[i]!);
    const route = routes[i];
    if (route === null) {
      app.appendNull();
      app.appendNull();
    } else {
      app.appendVarchar(route!);
      app.appendVarchar(tiers[i] ?? '');
    }
    app.endRow();
  }
  app.closeSync();
  await con.run('CHECKPOINT');
  const ms = performance.now() - t0;
  const stored = Number((await con.runAndReadAll('SELECT count(*) AS c FROM ev')).getRowObjectsJS()[0]!.c);
  const version = (await con.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]!.v as string;
  con.closeSync();
  duck.closeSync();
  const bytes = statSync(file).size;
  rmSync(file);
  return { ms, stored, bytes, version };
}

const lap: number[] = [];
const dk: number[] = [];
let lapBytes = 0;
let duckBytes = 0;
let duckVersion = '';
for (let r = 0; r < ROUNDS; r++) {
  const a = await laptimeRound(r);
  if (a.stored !== n) throw new Error(`laptime stored ${a.stored} of ${n} (dropped ${a.dropped})`);
  const b = await duckRound(r);
  if (b.stored !== n) throw new Error(`DuckDB stored ${b.stored} of ${n}`);
  lap.push(n / (a.ms / 1000));
  dk.push(n / (b.ms / 1000));
  lapBytes = a.bytes;
  duckBytes = b.bytes;
  duckVersion = b.version;
  log(`round ${r + 1}: laptime ${(a.ms / 1000).toFixed(2)} s (${Math.round(n / (a.ms / 1000)).toLocaleString('en-US')}/s), DuckDB ${duckVersion} appender ${(b.ms / 1000).toFixed(2)} s (${Math.round(n / (b.ms / 1000)).toLocaleString('en-US')}/s)`);
}
log(`median: laptime ${Math.round(median(lap)).toLocaleString('en-US')} events/s, DuckDB ${Math.round(median(dk)).toLocaleString('en-US')} rows/s: ${(median(lap) / median(dk)).toFixed(2)}x`);
log(`on disk: laptime ${lapBytes.toLocaleString('en-US')} bytes (${(lapBytes / n).toFixed(2)} B/event), DuckDB ${duckBytes.toLocaleString('en-US')} bytes (${(duckBytes / n).toFixed(2)} B/row); every event stored by both (counted back)`);
rmSync(work, { recursive: true, force: true });
