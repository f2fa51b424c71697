/**
 * Query speed of laptime against DuckDB on the same R1-full events, in one run, one process.
 *
 *   npm run bench:query                        (100M events, the DESIGN.md size)
 *   LAPTIME_BENCH_EVENTS=10000000 npm run bench:query
 *
 * 1. `cargo run --release --example r1_export` writes N R1-full events into a laptime store and the
 *    same events as CSV; DuckDB loads the CSV into a table in its own database file.
 * 2. Each query runs on both engines in turn, `ROUNDS` times after one warm-up each (caches warm,
 *    as a dashboard sees them); the medians and their ratio are reported.
 * 3. Answers are cross-checked: counts equal, laptime's exact percentiles equal DuckDB's
 *    `quantile_disc` (both nearest-rank), sketch percentiles within 1% of them.
 *
 * Both engines use every core (DuckDB's default threads, laptime's one worker per core). DuckDB's
 * figure is `quantile_cont` (interpolated, its usual percentile), as the performance budget names it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { open } from 'laptime';
import { machine, ROOT } from './machine.mjs';

const EVENTS = Number(process.env.LAPTIME_BENCH_EVENTS ?? 100_000_000);
const ROUNDS = Number(process.env.LAPTIME_BENCH_ROUNDS ?? 5);
const work = mkdtempSync(path.join(process.env.LAPTIME_BENCH_TMP ?? os.tmpdir(), 'laptime-query-bench-'));
const storeDir = path.join(work, 'store');
const csvPath = path.join(work, 'r1.csv');
const duckPath = path.join(work, 'r1.duckdb');

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [performance.now() - t0, r];
}

log(`# laptime vs DuckDB queries, ${EVENTS.toLocaleString('en-US')} R1-full events`);
const m = machine();
log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.totalMemGiB} GiB, ${m.platform}, node ${m.node}; load ${m.loadavg1m}`);

// 1. Data.
log('building the example (release)...');
execFileSync('cargo', ['build', '--release', '-q', '-p', 'laptime-core', '--example', 'r1_export'], { cwd: ROOT, stdio: 'inherit' });
const exporter = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'examples', 'r1_export');
const [exportMs, exported] = await timed(async () => JSON.parse(execFileSync(exporter, [String(EVENTS), storeDir, csvPath], { encoding: 'utf8' })) as {
  events: number;
  dropped: number;
  firstStartNs: string;
  lastStartNs: string;
  storeBytes: number;
  storeSeconds: number;
});
if (exported.dropped !== 0) throw new Error(`the exporter dropped ${exported.dropped} events`);
log(`laptime store written in ${exported.storeSeconds.toFixed(1)} s (CSV too: ${(exportMs / 1000).toFixed(1)} s in all); ${exported.storeBytes.toLocaleString('en-US')} bytes`);

const duck = await DuckDBInstance.create(duckPath);
const con = await duck.connect();
const [loadMs] = await timed(() =>
  con.run(
    `CREATE TABLE ev AS SELECT * FROM read_csv('${csvPath}', header = true, columns = {'name': 'VARCHAR', 'start': 'UBIGINT', 'dur': 'UBIGINT', 'is_call': 'BOOLEAN', 'err': 'BOOLEAN', 'route': 'VARCHAR', 'tier': 'VARCHAR'})`,
  ),
);
await con.run('CHECKPOINT');
const duckBytes = statSync(duckPath).size;
const duckVersion = (await con.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]!.v as string;
const threads = (await con.runAndReadAll("SELECT current_setting('threads') AS t")).getRowObjectsJS()[0]!.t;
log(`DuckDB ${duckVersion} (threads ${String(threads)}): CSV loaded in ${(loadMs / 1000).toFixed(1)} s; database file ${duckBytes.toLocaleString('en-US')} bytes`);
rmSync(csvPath);

const store = open({ dir: storeDir });
const first = BigInt(exported.firstStartNs);
const last = BigInt(exported.lastStartNs);
const newest10Ns = first + ((last - first) * 9n) / 10n;
const newest10Ms = Number(newest10Ns / 1_000_000n);
const routeRow = (await con.runAndReadAll('SELECT route FROM ev WHERE route IS NOT NULL GROUP BY route ORDER BY count(*) LIMIT 1')).getRowObjectsJS()[0]!;
const rareRoute = routeRow.route as string;

type Rows = Map<string, number[]>;
const key = (parts: unknown[]) => parts.map(String).join('|');

/** Rows of a DuckDB result keyed by its leading `keys` columns. */
async function duckRows(sql: string, keys: number): Promise<Rows> {
  const out: Rows = new Map();
  for (const r of (await con.runAndReadAll(sql)).getRowsJS()) {
    const vals = r.slice(keys).flatMap((v) => (Array.isArray(v) ? v : [v])).map((v) => Number(v));
    out.set(key(r.slice(0, keys)), vals);
  }
  return out;
}

interface Case {
  title: string;
  laptime: Array<{ mode: string; run: () => Promise<Rows> }>;
  duckdb: { mode: string; sql: string; keys: number };
  /** DuckDB query whose answer laptime's must equal (or be within 1% of, for sketch modes). */
  check: { sql: string; keys: number };
}

const pct = (q: ReturnType<typeof store.query>) => q.kind('call').groupBy('name').percentiles([50, 90, 99]);
const lapRows = async (rows: Array<Record<string, unknown>>, keys: string[], values: string[]): Promise<Rows> =>
  new Map(rows.map((r) => [key(keys.map((k) => r[k])), values.map((v) => Number(r[v]))]));

const cases: Case[] = [
  {
    title: 'p50/p90/p99 by function, all events',
    laptime: [
      { mode: 'sketch', run: async () => lapRows((await pct(store.query()).run()).rows, ['name'], ['p50', 'p90', 'p99']) },
      { mode: 'exact', run: async () => lapRows((await pct(store.query()).exact().run()).rows, ['name'], ['p50', 'p90', 'p99']) },
    ],
    duckdb: { mode: 'quantile_cont', sql: 'SELECT name, quantile_cont(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call GROUP BY name', keys: 1 },
    check: { sql: 'SELECT name, quantile_disc(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call GROUP BY name', keys: 1 },
  },
  {
    title: 'p50/p90/p99 by function, newest 10% of the time range',
    laptime: [
      { mode: 'sketch', run: async () => lapRows((await pct(store.query()).since(newest10Ms).run()).rows, ['name'], ['p50', 'p90', 'p99']) },
      { mode: 'exact', run: async () => lapRows((await pct(store.query()).since(newest10Ms).exact().run()).rows, ['name'], ['p50', 'p90', 'p99']) },
    ],
    duckdb: {
      mode: 'quantile_cont',
      sql: `SELECT name, quantile_cont(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call AND start >= ${BigInt(newest10Ms) * 1_000_000n} GROUP BY name`,
      keys: 1,
    },
    check: { sql: `SELECT name, quantile_disc(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call AND start >= ${BigInt(newest10Ms) * 1_000_000n} GROUP BY name`, keys: 1 },
  },
  {
    title: 'count by function and 1 s bucket',
    laptime: [{ mode: 'count', run: async () => lapRows((await store.query().groupBy('name').bucket('1s').count().run()).rows, ['name', 'time'], ['count']) }],
    duckdb: { mode: 'count', sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*) FROM ev GROUP BY ALL', keys: 2 },
    check: { sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*) FROM ev GROUP BY ALL', keys: 2 },
  },
  {
    title: `selective field filter (route = ${rareRoute}): count and p99 by function`,
    laptime: [
      {
        mode: 'sketch',
        run: async () => lapRows((await store.query().kind('call').where('route', '=', rareRoute).groupBy('name').count().percentiles([99]).run()).rows, ['name'], ['count', 'p99']),
      },
    ],
    duckdb: { mode: 'quantile_cont', sql: `SELECT name, count(*), quantile_cont(dur, 0.99) FROM ev WHERE is_call AND route = '${rareRoute}' GROUP BY name`, keys: 1 },
    check: { sql: `SELECT name, count(*), quantile_disc(dur, 0.99) FROM ev WHERE is_call AND route = '${rareRoute}' GROUP BY name`, keys: 1 },
  },
];

/** Compare laptime's answer with DuckDB's; sketch answers may differ by 1% (counts never). */
function agree(lap: Rows, ref: Rows, tolerance: number): string {
  if (lap.size !== ref.size) return `groups differ: laptime ${lap.size}, DuckDB ${ref.size}`;
  let worst = 0;
  for (const [k, want] of ref) {
    const got = lap.get(k);
    if (got === undefined) return `group ${k} missing in laptime`;
    for (let i = 0; i < want.length; i++) {
      const rel = want[i] === 0 ? Math.abs(got[i]!) : Math.abs(got[i]! - want[i]!) / want[i]!;
      worst = Math.max(worst, rel);
      if (rel > tolerance) return `group ${k} column ${i}: laptime ${got[i]}, DuckDB ${want[i]}`;
    }
  }
  return worst === 0 ? 'equal' : `within ${(worst * 100).toFixed(2)}%`;
}

const results: Array<Record<string, unknown>> = [];
for (const c of cases) {
  log(`\n## ${c.title}`);
  const ref = await duckRows(c.check.sql, c.check.keys);
  const lapTimes = c.laptime.map(() => [] as number[]);
  const duckTimes: number[] = [];
  const answers: Rows[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [i, l] of c.laptime.entries()) {
      const [ms, rows] = await timed(l.run);
      if (round > 0) lapTimes[i]!.push(ms);
      else answers[i] = rows;
    }
    const [ms] = await timed(() => duckRows(c.duckdb.sql, c.duckdb.keys));
    if (round > 0) duckTimes.push(ms);
  }
  const duckMs = median(duckTimes);
  log(`DuckDB ${c.duckdb.mode}: median ${duckMs.toFixed(1)} ms`);
  for (const [i, l] of c.laptime.entries()) {
    const ms = median(lapTimes[i]!);
    const tolerance = l.mode === 'sketch' ? 0.01 : 0;
    const verdict = agree(answers[i]!, ref, tolerance);
    log(`laptime ${l.mode}: median ${ms.toFixed(1)} ms = ${(duckMs / ms).toFixed(1)}x faster than DuckDB; answers vs DuckDB ${c.check.sql.includes('quantile_disc') ? 'quantile_disc' : 'count'}: ${verdict}`);
    results.push({ case: c.title, mode: l.mode, laptimeMs: ms, duckdbMs: duckMs, speedup: duckMs / ms, agreement: verdict, laptimeRuns: lapTimes[i], duckdbRuns: duckTimes });
  }
}

await store.close();
con.closeSync();
duck.closeSync();
const summary = {
  events: EVENTS,
  rounds: ROUNDS,
  machine: m,
  duckdb: duckVersion,
  laptimeStoreBytes: exported.storeBytes,
  duckdbFileBytes: duckBytes,
  duckdbLoadSeconds: loadMs / 1000,
  results,
};
writeFileSync(path.join(ROOT, 'bench', 'query-results.json'), `${JSON.stringify(summary, null, 2)}\n`);
log(`\nstorage: laptime ${(exported.storeBytes / EVENTS).toFixed(2)} B/event, DuckDB ${(duckBytes / EVENTS).toFixed(2)} B/event (${(duckBytes / exported.storeBytes).toFixed(2)}x)`);
log('results written to bench/query-results.json');
rmSync(work, { recursive: true, force: true });
