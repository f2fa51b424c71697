/**
 * Query speed of laptime against DuckDB and ClickHouse (chdb) on the same R1-full events, in one run.
 *
 *   npm run bench:query                        (100M events, the DESIGN.md size)
 *   LAPTIME_BENCH_EVENTS=10000000 npm run bench:query
 *
 * `LAPTIME_BENCH_CASES=<text>` runs only the cases whose title contains it (e.g. `filter`);
 * `LAPTIME_BENCH_OUT=<file>` writes the results there instead of `bench/query-results.json`;
 * `LAPTIME_BENCH_SETTLE_MS=<ms>` pauses that long before each engine's timed query.
 *
 * Requires `pip install chdb` (embedded ClickHouse for Python 3; `LAPTIME_BENCH_PYTHON` names the
 * interpreter, default `python3`) besides the repository's npm dependencies (`@duckdb/node-api`).
 *
 * 1. `cargo run --release --example r1_export -- --extra` writes N R1-full events (plus a
 *    many-valued `user` attribute in sessions and a `release` that changes every 200,000 events,
 *    see r1_export) into a laptime store and the same events as CSV, messages included. DuckDB converts the CSV to one Parquet file (`COPY ... (FORMAT parquet)`);
 *    both SQL engines load that same Parquet file: DuckDB into a table in its own database file,
 *    ClickHouse into a MergeTree table ordered by (name, start) in a chdb session directory
 *    (bench/chdb_query.py, one child process for the run, queries over stdin/stdout as JSON lines).
 * 2. Each query runs on the three engines in turn (the order rotating from round to round),
 *    `ROUNDS` times after one warm-up each (caches
 *    warm, as a dashboard sees them; 21 times when the warm-up round of all three took under a
 *    second); the medians and laptime's ratio against the faster of DuckDB and ClickHouse are
 *    reported.
 * 3. Answers are cross-checked against DuckDB: counts equal, laptime's exact percentiles equal
 *    DuckDB's `quantile_disc` (both nearest-rank), sketch percentiles within 1% of them;
 *    ClickHouse's nearest-rank answers (sorted `groupArray`, not timed) equal `quantile_disc`, and
 *    its timed interpolated answers equal DuckDB's timed `quantile_cont`.
 *
 * Timed SQL: DuckDB `quantile_cont` (exact, interpolated: its usual percentile, as the performance
 * budget names it); ClickHouse `quantilesExactInclusive`, the same definition (position (n-1)q,
 * linear interpolation). ClickHouse's `quantiles` (sampled) and `quantilesTDigest` are approximate
 * and not what DuckDB's figure means. DuckDB is timed in this process around `runAndReadAll` plus
 * converting the rows to JS; ClickHouse inside its Python process around `Session.query(sql,
 * "JSONCompact")` (execution plus serialising the result, not the pipe). Every engine uses every
 * core (DuckDB's and ClickHouse's default threads, laptime's one worker per core).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';
import { open } from 'laptime';
import { machine, ROOT } from './machine.mjs';

const EVENTS = Number(process.env.LAPTIME_BENCH_EVENTS ?? 100_000_000);
const ROUNDS = Number(process.env.LAPTIME_BENCH_ROUNDS ?? 5);
/** Rounds of a case whose warm-up round (all three engines) took under a second. */
const QUICK_ROUNDS = 21;
const PYTHON = process.env.LAPTIME_BENCH_PYTHON ?? 'python3';
/** Only the cases whose title contains this text (all when unset). */
const CASES = process.env.LAPTIME_BENCH_CASES ?? '';
/** Where the results go (a run of a few cases should not replace the whole table's file). */
const OUT = path.resolve(process.env.LAPTIME_BENCH_OUT ?? path.join(ROOT, 'bench', 'query-results.json'));
/** A pause before each engine's timed query, so none starts while another's work winds down. */
const SETTLE_MS = Number(process.env.LAPTIME_BENCH_SETTLE_MS ?? 0);
const settle = (): Promise<void> => (SETTLE_MS > 0 ? new Promise((r) => setTimeout(r, SETTLE_MS)) : Promise.resolve());
const work = mkdtempSync(path.join(process.env.LAPTIME_BENCH_TMP ?? os.tmpdir(), 'laptime-query-bench-'));
const storeDir = path.join(work, 'store');
const csvPath = path.join(work, 'r1.csv');
const parquetPath = path.join(work, 'r1.parquet');
const duckPath = path.join(work, 'r1.duckdb');
const chdbDir = path.join(work, 'chdb');

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

const load1 = (): number => Math.round(os.loadavg()[0]! * 100) / 100;
const fmtBytes = (n: number): string => n.toLocaleString('en-US');

log(`# laptime vs DuckDB and ClickHouse queries, ${EVENTS.toLocaleString('en-US')} R1-full events`);
const m = machine();
log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.totalMemGiB} GiB, ${m.platform}, node ${m.node}; load ${m.loadavg1m}`);

// 1. Data.
log('building the example (release)...');
execFileSync('cargo', ['build', '--release', '-q', '-p', 'laptime-core', '--example', 'r1_export'], { cwd: ROOT, stdio: 'inherit' });
const exporter = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'examples', 'r1_export');
const [exportMs, exported] = await timed(async () => JSON.parse(execFileSync(exporter, ['--extra', String(EVENTS), storeDir, csvPath], { encoding: 'utf8' })) as {
  events: number;
  dropped: number;
  firstStartNs: string;
  lastStartNs: string;
  storeBytes: number;
  storeSeconds: number;
});
if (exported.dropped !== 0) throw new Error(`the exporter dropped ${exported.dropped} events`);
log(`laptime store written in ${exported.storeSeconds.toFixed(1)} s (CSV too: ${(exportMs / 1000).toFixed(1)} s in all); ${fmtBytes(exported.storeBytes)} bytes`);

const duck = await DuckDBInstance.create(duckPath);
const con = await duck.connect();
const [parquetMs] = await timed(() =>
  con.run(
    `COPY (SELECT * FROM read_csv('${csvPath}', header = true, columns = {'name': 'VARCHAR', 'start': 'UBIGINT', 'dur': 'UBIGINT', 'is_call': 'BOOLEAN', 'err': 'BOOLEAN', 'route': 'VARCHAR', 'tier': 'VARCHAR', 'user': 'VARCHAR', 'release': 'VARCHAR', 'msg': 'VARCHAR'})) TO '${parquetPath}' (FORMAT parquet)`,
  ),
);
rmSync(csvPath);
const parquetBytes = statSync(parquetPath).size;
log(`Parquet export (DuckDB COPY from the CSV): ${(parquetMs / 1000).toFixed(1)} s; ${fmtBytes(parquetBytes)} bytes`);
const [loadMs] = await timed(() => con.run(`CREATE TABLE ev AS SELECT * FROM read_parquet('${parquetPath}')`));
await con.run('CHECKPOINT');
const duckBytes = statSync(duckPath).size;
const duckVersion = (await con.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]!.v as string;
const threads = (await con.runAndReadAll("SELECT current_setting('threads') AS t")).getRowObjectsJS()[0]!.t;
log(`DuckDB ${duckVersion} (threads ${String(threads)}): Parquet loaded in ${(loadMs / 1000).toFixed(1)} s; database file ${fmtBytes(duckBytes)} bytes`);

/** The ClickHouse child: loads the Parquet file, then answers one query per JSON line. */
interface ChReady {
  chdb: string;
  clickhouse: string;
  maxThreads: number | string;
  rows: number;
  insertSeconds: number;
  optimizeSeconds: number;
  parts: number;
  bytesOnDisk: number;
  compressedBytes: number;
  uncompressedBytes: number;
}
interface ChAnswer {
  ms: number;
  elapsedMs: number;
  rows: unknown[][];
}
const child = spawn(PYTHON, [path.join(ROOT, 'bench', 'chdb_query.py'), chdbDir, parquetPath], { stdio: ['pipe', 'pipe', 'inherit'] });
const childExit = new Promise<never>((_, reject) =>
  child.on('exit', (code) => reject(new Error(`bench/chdb_query.py exited (${String(code)}); is chdb installed (pip install chdb)?`))),
);
// Observed through chLine's race; the exit after `quit` at the end is expected.
childExit.catch(() => undefined);
child.on('error', (e) => process.stderr.write(`cannot start ${PYTHON}: ${e.message}\n`));
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
async function chLine(): Promise<Record<string, unknown>> {
  const next = await Promise.race([lines.next(), childExit]);
  if (next.done) throw new Error('bench/chdb_query.py closed its output');
  const msg = JSON.parse(next.value as string) as Record<string, unknown>;
  if (typeof msg.error === 'string') throw new Error(`ClickHouse: ${msg.error}`);
  return msg;
}
async function chQuery(sql: string): Promise<ChAnswer> {
  child.stdin.write(`${JSON.stringify({ sql })}\n`);
  return (await chLine()) as unknown as ChAnswer;
}
const [chLoadMs, chReadyMsg] = await timed(chLine);
const ch = chReadyMsg as unknown as ChReady;
if (ch.rows !== EVENTS) throw new Error(`ClickHouse loaded ${ch.rows} rows, expected ${EVENTS}`);
log(
  `ClickHouse ${ch.clickhouse} (chdb ${ch.chdb}, max_threads ${String(ch.maxThreads)}): Parquet loaded in ${ch.insertSeconds.toFixed(1)} s, ` +
    `merged to ${ch.parts} part(s) in ${ch.optimizeSeconds.toFixed(1)} s (${(chLoadMs / 1000).toFixed(1)} s with the process start); MergeTree ORDER BY (name, start): ${fmtBytes(ch.bytesOnDisk)} bytes on disk`,
);
rmSync(parquetPath);

// R1's events date from 2023: the default retention (30 days, 1 GiB) would drop them while the
// bench runs.
const store = open({ dir: storeDir, retentionMaxAgeMs: null, retentionMaxBytes: null });
const first = BigInt(exported.firstStartNs);
const last = BigInt(exported.lastStartNs);
const newest10Ns = first + ((last - first) * 9n) / 10n;
const newest10Ms = Number(newest10Ns / 1_000_000n);
const routeRow = (await con.runAndReadAll('SELECT route FROM ev WHERE route IS NOT NULL GROUP BY route ORDER BY count(*) LIMIT 1')).getRowObjectsJS()[0]!;
const rareRoute = routeRow.route as string;
// A log message with a six-digit number: searching for it is selective (the number is rare).
const msgRow = (await con.runAndReadAll("SELECT msg FROM ev WHERE regexp_matches(msg, 'retrying after [0-9]{6} ms') ORDER BY start LIMIT 1")).getRowObjectsJS()[0]!;
const rareMessage = (msgRow.msg as string).slice((msgRow.msg as string).indexOf('retrying'));
// The user whose events are closest to 0.01 % of all: a selective filter on a high-cardinality
// attribute (users come in sessions, clustered in time; see r1_export's --extra).
const userRow = (await con.runAndReadAll(`SELECT user, count(*) AS c FROM ev WHERE user IS NOT NULL GROUP BY user ORDER BY abs(c - ${Math.round(EVENTS / 10_000)}), user LIMIT 1`)).getRowObjectsJS()[0]!;
const rareUser = userRow.user as string;
const rareUserEvents = Number(userRow.c);
// A release in the middle of the run: an equality filter on a few-valued attribute whose values
// come and go with time (about 0.3 % of the events carry it).
const midRelease = `r${Math.floor(EVENTS / 200_000 / 2)}`;
const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;

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

/** Rows of a ClickHouse answer keyed by its leading `keys` columns (64-bit integers may come as strings). */
function chRows(rows: unknown[][], keys: number): Rows {
  const out: Rows = new Map();
  for (const r of rows) {
    const vals = r.slice(keys).flatMap((v) => (Array.isArray(v) ? (v as unknown[]) : [v])).map((v) => Number(v));
    out.set(key(r.slice(0, keys)), vals);
  }
  return out;
}

interface Case {
  title: string;
  laptime: Array<{ mode: string; run: () => Promise<Rows> }>;
  duckdb: { mode: string; sql: string; keys: number };
  clickhouse: { mode: string; sql: string; keys: number };
  /** DuckDB query whose answer laptime's must equal (or be within 1% of, for sketch modes). */
  check: { sql: string; keys: number };
  /** ClickHouse query (not timed) whose answer must equal `check`'s: the same definition in its SQL. */
  chCheck: { sql: string; keys: number };
}

const pct = (q: ReturnType<typeof store.query>) => q.kind('call').groupBy('name').percentiles([50, 90, 99]);
const byRoute = (q: ReturnType<typeof store.query>) => q.kind('call').groupBy('route').count().percentiles([50, 99]);
const p99BySecond = (q: ReturnType<typeof store.query>) => q.kind('call').groupBy('name').bucket('1s').count().percentiles([99]);
/** What the engine did in the latest laptime run (pages skipped, answered from meta, decoded). */
let lastStats: Record<string, unknown> = {};
const lapRows = async (
  result: { rows: Array<Record<string, unknown>>; stats: object },
  keys: string[],
  values: string[],
): Promise<Rows> => {
  lastStats = { ...result.stats };
  return new Map(result.rows.map((r) => [key(keys.map((k) => r[k])), values.map((v) => Number(r[v]))]));
};

// ClickHouse has no nearest-rank quantile (quantileExact takes index floor(q n), not ceil(q n) - 1),
// so its check sorts each group and takes ranks ceil(p n / 100) in integers.
const chNearest = (where: string, pcts: number[], group = 'name', withCount = false) =>
  `SELECT ${group},${withCount ? ' n,' : ''} arrayMap(p -> s[toUInt64(greatest(1, intDiv(p * n + 99, 100)))], [${pcts.join(', ')}]) FROM (SELECT ${group}, arraySort(groupArray(dur)) AS s, count() AS n FROM ev WHERE ${where} GROUP BY ${group})`;
const since10 = BigInt(newest10Ms) * 1_000_000n;

/** Calls where field `key` equals `value`: count and p99 by function, in all three engines. */
function equalityCase(what: string, key: string, value: string): Case {
  const where = `is_call AND ${key} = ${sqlText(value)}`;
  return {
    title: `${what}: count and p99 by function`,
    laptime: [
      {
        mode: 'sketch',
        run: async () => lapRows(await store.query().kind('call').where(key, '=', value).groupBy('name').count().percentiles([99]).run(), ['name'], ['count', 'p99']),
      },
    ],
    duckdb: { mode: 'quantile_cont', sql: `SELECT name, count(*), quantile_cont(dur, 0.99) FROM ev WHERE ${where} GROUP BY name`, keys: 1 },
    clickhouse: { mode: 'quantileExactInclusive', sql: `SELECT name, count(), quantileExactInclusive(0.99)(dur) FROM ev WHERE ${where} GROUP BY name`, keys: 1 },
    check: { sql: `SELECT name, count(*), quantile_disc(dur, 0.99) FROM ev WHERE ${where} GROUP BY name`, keys: 1 },
    chCheck: {
      sql: `SELECT name, n, s[toUInt64(greatest(1, intDiv(99 * n + 99, 100)))] FROM (SELECT name, arraySort(groupArray(dur)) AS s, count() AS n FROM ev WHERE ${where} GROUP BY name)`,
      keys: 1,
    },
  };
}

const cases: Case[] = [
  {
    title: 'p50/p90/p99 by function, all events',
    laptime: [
      { mode: 'sketch', run: async () => lapRows(await pct(store.query()).run(), ['name'], ['p50', 'p90', 'p99']) },
      { mode: 'exact', run: async () => lapRows(await pct(store.query()).exact().run(), ['name'], ['p50', 'p90', 'p99']) },
    ],
    duckdb: { mode: 'quantile_cont', sql: 'SELECT name, quantile_cont(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call GROUP BY name', keys: 1 },
    clickhouse: { mode: 'quantilesExactInclusive', sql: 'SELECT name, quantilesExactInclusive(0.5, 0.9, 0.99)(dur) FROM ev WHERE is_call GROUP BY name', keys: 1 },
    check: { sql: 'SELECT name, quantile_disc(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call GROUP BY name', keys: 1 },
    chCheck: { sql: chNearest('is_call', [50, 90, 99]), keys: 1 },
  },
  {
    title: 'p50/p90/p99 by function, newest 10% of the time range',
    laptime: [
      { mode: 'sketch', run: async () => lapRows(await pct(store.query()).since(newest10Ms).run(), ['name'], ['p50', 'p90', 'p99']) },
      { mode: 'exact', run: async () => lapRows(await pct(store.query()).since(newest10Ms).exact().run(), ['name'], ['p50', 'p90', 'p99']) },
    ],
    duckdb: { mode: 'quantile_cont', sql: `SELECT name, quantile_cont(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call AND start >= ${since10} GROUP BY name`, keys: 1 },
    clickhouse: {
      mode: 'quantilesExactInclusive',
      sql: `SELECT name, quantilesExactInclusive(0.5, 0.9, 0.99)(dur) FROM ev WHERE is_call AND start >= ${since10} GROUP BY name`,
      keys: 1,
    },
    check: { sql: `SELECT name, quantile_disc(dur, [0.5, 0.9, 0.99]) FROM ev WHERE is_call AND start >= ${since10} GROUP BY name`, keys: 1 },
    chCheck: { sql: chNearest(`is_call AND start >= ${since10}`, [50, 90, 99]), keys: 1 },
  },
  {
    title: 'count by function and 1 s bucket',
    laptime: [{ mode: 'count', run: async () => lapRows(await store.query().groupBy('name').bucket('1s').count().run(), ['name', 'time'], ['count']) }],
    duckdb: { mode: 'count', sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*) FROM ev GROUP BY ALL', keys: 2 },
    clickhouse: { mode: 'count', sql: 'SELECT name, intDiv(start, 1000000000) * 1000 AS t, count() FROM ev GROUP BY name, t', keys: 2 },
    check: { sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*) FROM ev GROUP BY ALL', keys: 2 },
    chCheck: { sql: 'SELECT name, intDiv(start, 1000000000) * 1000 AS t, count() FROM ev GROUP BY name, t', keys: 2 },
  },
  {
    // Latency over time for every function at once (a dashboard's overview): ~20 thousand groups.
    // Pages shorter than a second are answered from their metas' sketches, the others decoded.
    title: 'calls and p99 by function and 1 s bucket (latency over time)',
    laptime: [
      {
        mode: 'sketch',
        run: async () => lapRows(await p99BySecond(store.query()).run(), ['name', 'time'], ['count', 'p99']),
      },
      {
        mode: 'exact',
        run: async () => lapRows(await p99BySecond(store.query()).exact().run(), ['name', 'time'], ['count', 'p99']),
      },
    ],
    duckdb: { mode: 'quantile_cont', sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*), quantile_cont(dur, 0.99) FROM ev WHERE is_call GROUP BY ALL', keys: 2 },
    clickhouse: {
      mode: 'quantileExactInclusive',
      sql: 'SELECT name, intDiv(start, 1000000000) * 1000 AS t, count(), quantileExactInclusive(0.99)(dur) FROM ev WHERE is_call GROUP BY name, t',
      keys: 2,
    },
    check: { sql: 'SELECT name, (start - start % 1000000000) // 1000000 AS t, count(*), quantile_disc(dur, 0.99) FROM ev WHERE is_call GROUP BY ALL', keys: 2 },
    chCheck: {
      sql: 'SELECT name, t, n, s[toUInt64(greatest(1, intDiv(99 * n + 99, 100)))] FROM (SELECT name, intDiv(start, 1000000000) * 1000 AS t, arraySort(groupArray(dur)) AS s, count() AS n FROM ev WHERE is_call GROUP BY name, t)',
      keys: 2,
    },
  },
  {
    // Answered from the value index (segment summaries and page metas list each route's counts).
    title: 'events, calls and errors by route (all events; no route is a group of its own)',
    laptime: [{ mode: 'count', run: async () => lapRows(await store.query().groupBy('route').count().calls().errors().run(), ['route'], ['count', 'calls', 'errors']) }],
    duckdb: { mode: 'count', sql: 'SELECT route, count(*), count(*) FILTER (WHERE is_call), count(*) FILTER (WHERE err) FROM ev GROUP BY route', keys: 1 },
    clickhouse: { mode: 'count', sql: 'SELECT route, count(), countIf(is_call), countIf(err) FROM ev GROUP BY route', keys: 1 },
    check: { sql: 'SELECT route, count(*), count(*) FILTER (WHERE is_call), count(*) FILTER (WHERE err) FROM ev GROUP BY route', keys: 1 },
    chCheck: { sql: 'SELECT route, count(), countIf(is_call), countIf(err) FROM ev GROUP BY route', keys: 1 },
  },
  {
    // Answered from the value index: each listed route keeps a latency sketch of its calls (and
    // each key one of the calls without it) in page metas and segment summaries.
    title: 'calls and p50/p99 by route (group by an attribute; no route is a group of its own)',
    laptime: [
      { mode: 'sketch', run: async () => lapRows(await byRoute(store.query()).run(), ['route'], ['count', 'p50', 'p99']) },
      { mode: 'exact', run: async () => lapRows(await byRoute(store.query()).exact().run(), ['route'], ['count', 'p50', 'p99']) },
    ],
    duckdb: { mode: 'quantile_cont', sql: 'SELECT route, count(*), quantile_cont(dur, [0.5, 0.99]) FROM ev WHERE is_call GROUP BY route', keys: 1 },
    clickhouse: { mode: 'quantilesExactInclusive', sql: 'SELECT route, count(), quantilesExactInclusive(0.5, 0.99)(dur) FROM ev WHERE is_call GROUP BY route', keys: 1 },
    check: { sql: 'SELECT route, count(*), quantile_disc(dur, [0.5, 0.99]) FROM ev WHERE is_call GROUP BY route', keys: 1 },
    chCheck: { sql: chNearest('is_call', [50, 99], 'route', true), keys: 1 },
  },
  {
    // The message index: the words of each page's messages in a filter; the rare number rules
    // out nearly every page.
    title: `selective message search (message contains "${rareMessage}"): count by function`,
    laptime: [
      {
        mode: 'count',
        run: async () => lapRows(await store.query().filter(`message~"${rareMessage}"`).groupBy('name').count().run(), ['name'], ['count']),
      },
    ],
    duckdb: { mode: 'count', sql: `SELECT name, count(*) FROM ev WHERE contains(msg, ${sqlText(rareMessage)}) GROUP BY name`, keys: 1 },
    clickhouse: { mode: 'count', sql: `SELECT name, count() FROM ev WHERE position(msg, ${sqlText(rareMessage)}) > 0 GROUP BY name`, keys: 1 },
    check: { sql: `SELECT name, count(*) FROM ev WHERE contains(msg, ${sqlText(rareMessage)}) GROUP BY name`, keys: 1 },
    chCheck: { sql: `SELECT name, count() FROM ev WHERE position(msg, ${sqlText(rareMessage)}) > 0 GROUP BY name`, keys: 1 },
  },
  equalityCase(`few-valued attribute filter (release = ${midRelease})`, 'release', midRelease),
  equalityCase(`high-cardinality filter (user = ${rareUser}, ${rareUserEvents.toLocaleString('en-US')} events)`, 'user', rareUser),
  equalityCase(`selective field filter (route = ${rareRoute})`, 'route', rareRoute),
];

/** Compare an answer with the reference; values may differ by `tolerance` relative (counts never, by the callers' choice). */
function agree(got: Rows, ref: Rows, tolerance: number, who: string): string {
  if (got.size !== ref.size) return `groups differ: ${who} ${got.size}, DuckDB ${ref.size}`;
  let worst = 0;
  for (const [k, want] of ref) {
    const have = got.get(k);
    if (have === undefined) return `group ${k} missing in ${who}`;
    if (have.length !== want.length) return `group ${k}: ${who} has ${have.length} values, DuckDB ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      const rel = want[i] === 0 ? Math.abs(have[i]!) : Math.abs(have[i]! - want[i]!) / want[i]!;
      worst = Math.max(worst, rel);
      if (rel > tolerance) return `group ${k} column ${i}: ${who} ${have[i]}, DuckDB ${want[i]}`;
    }
  }
  return worst === 0 ? 'equal' : `within ${(worst * 100).toPrecision(2)}%`;
}

const results: Array<Record<string, unknown>> = [];
const checks: Array<Record<string, unknown>> = [];
for (const c of cases.filter((k) => k.title.includes(CASES))) {
  log(`\n## ${c.title} (load ${load1()})`);
  const ref = await duckRows(c.check.sql, c.check.keys);
  const refKind = c.check.sql.includes('quantile_disc') ? 'quantile_disc' : 'count';
  const chRef = agree(chRows((await chQuery(c.chCheck.sql)).rows, c.chCheck.keys), ref, 0, 'ClickHouse');
  const lapTimes = c.laptime.map(() => [] as number[]);
  const duckTimes: number[] = [];
  const chTimes: number[] = [];
  const chElapsed: number[] = [];
  const answers: Rows[] = [];
  let duckTimed: Rows = new Map();
  let chTimed: Rows = new Map();
  const lapStats: Array<Record<string, unknown>> = [];
  // A case whose warm-up round took under a second runs at least QUICK_ROUNDS rounds: the
  // median of three sub-millisecond runs moves with every stray wake-up.
  let rounds = ROUNDS;
  // Each engine's turn in a round; the order rotates from round to round, so no engine is
  // always the one timed right after another's scan of the whole table (a sub-millisecond query
  // feels whose caches and cores it follows).
  const turns: Array<(round: number) => Promise<void>> = [
    async (round) => {
      for (const [i, l] of c.laptime.entries()) {
        await settle();
        const [ms, rows] = await timed(l.run);
        if (round > 0) lapTimes[i]!.push(ms);
        else answers[i] = rows;
        lapStats[i] = lastStats;
      }
    },
    async (round) => {
      await settle();
      const [ms, drows] = await timed(() => duckRows(c.duckdb.sql, c.duckdb.keys));
      if (round > 0) duckTimes.push(ms);
      else duckTimed = drows;
    },
    async (round) => {
      await settle();
      const a = await chQuery(c.clickhouse.sql);
      if (round > 0) {
        chTimes.push(a.ms);
        chElapsed.push(a.elapsedMs);
      } else chTimed = chRows(a.rows, c.clickhouse.keys);
    },
  ];
  for (let round = 0; round <= rounds; round++) {
    const roundStart = performance.now();
    for (let t = 0; t < turns.length; t++) await turns[(round + t) % turns.length]!(round);
    if (round === 0 && performance.now() - roundStart < 1000) rounds = Math.max(ROUNDS, QUICK_ROUNDS);
  }
  const duckMs = median(duckTimes);
  const chMs = median(chTimes);
  const bestMs = Math.min(duckMs, chMs);
  const best = duckMs <= chMs ? 'DuckDB' : 'ClickHouse';
  // Both timed SQL forms are exact interpolated percentiles: they must agree up to float rounding.
  const chVsDuck = agree(chTimed, duckTimed, 1e-9, 'ClickHouse');
  log(`DuckDB ${c.duckdb.mode}: median ${duckMs.toFixed(1)} ms`);
  log(`ClickHouse ${c.clickhouse.mode}: median ${chMs.toFixed(1)} ms (its own elapsed ${median(chElapsed).toFixed(1)} ms); answers vs DuckDB ${c.duckdb.mode}: ${chVsDuck}; ClickHouse ${refKind === 'count' ? 'count' : 'nearest rank'} vs DuckDB ${refKind}: ${chRef}`);
  checks.push({ case: c.title, clickhouseTimedVsDuckdbTimed: chVsDuck, clickhouseCheckVsDuckdbCheck: chRef });
  for (const [i, l] of c.laptime.entries()) {
    const ms = median(lapTimes[i]!);
    const tolerance = l.mode === 'sketch' ? 0.01 : 0;
    const verdict = agree(answers[i]!, ref, tolerance, 'laptime');
    log(
      `laptime ${l.mode}: median ${ms.toFixed(1)} ms = ${(duckMs / ms).toFixed(1)}x DuckDB, ${(chMs / ms).toFixed(1)}x ClickHouse, ` +
        `${(bestMs / ms).toFixed(1)}x the faster (${best}); answers vs DuckDB ${refKind}: ${verdict}`,
    );
    const st = lapStats[i]!;
    log(`  pages: ${st.pagesTotal} in all, ${st.pagesSkipped} skipped, ${st.pagesFromMeta} answered from meta, ${st.pagesDecoded} decoded`);
    results.push({
      case: c.title,
      mode: l.mode,
      laptimeMs: ms,
      duckdbMs: duckMs,
      clickhouseMs: chMs,
      fasterEngine: best,
      speedupVsDuckdb: duckMs / ms,
      speedupVsClickhouse: chMs / ms,
      speedupVsFaster: bestMs / ms,
      agreement: verdict,
      pages: lapStats[i],
      clickhouseAgreement: chRef,
      laptimeRuns: lapTimes[i],
      duckdbRuns: duckTimes,
      clickhouseRuns: chTimes,
      clickhouseElapsedRuns: chElapsed,
      loadavg1m: load1(),
    });
  }
}

await store.close();
con.closeSync();
duck.closeSync();
child.stdin.write(`${JSON.stringify({ quit: true })}\n`);
await new Promise<void>((resolve) => child.once('close', () => resolve()));
const summary = {
  events: EVENTS,
  rounds: ROUNDS,
  quickRounds: QUICK_ROUNDS,
  settleMs: SETTLE_MS,
  engineOrder: 'rotating: laptime, DuckDB, ClickHouse in round 0, then each round starts one engine later',
  cases: CASES || 'all',
  machine: m,
  loadavg1mAtEnd: load1(),
  duckdb: duckVersion,
  duckdbThreads: Number(threads),
  clickhouse: ch.clickhouse,
  chdb: ch.chdb,
  clickhouseMaxThreads: ch.maxThreads,
  timing: {
    duckdb: 'performance.now() in Node around runAndReadAll + getRowsJS (quantile_cont)',
    clickhouse: 'time.perf_counter() in Python around Session.query(sql, "JSONCompact") (quantilesExactInclusive)',
    laptime: 'performance.now() in Node around store.query()...run()',
  },
  laptimeStoreBytes: exported.storeBytes,
  laptimeStoreSeconds: exported.storeSeconds,
  parquetBytes,
  parquetExportSeconds: parquetMs / 1000,
  duckdbFileBytes: duckBytes,
  duckdbLoadSeconds: loadMs / 1000,
  clickhouseBytesOnDisk: ch.bytesOnDisk,
  clickhouseCompressedBytes: ch.compressedBytes,
  clickhouseParts: ch.parts,
  clickhouseLoadSeconds: ch.insertSeconds,
  clickhouseMergeSeconds: ch.optimizeSeconds,
  checks,
  results,
};
writeFileSync(OUT, `${JSON.stringify(summary, null, 2)}\n`);
const per = (b: number) => (b / EVENTS).toFixed(2);
log(
  `\nstorage: laptime ${per(exported.storeBytes)} B/event, DuckDB ${per(duckBytes)} B/event (${(duckBytes / exported.storeBytes).toFixed(2)}x), ` +
    `ClickHouse ${per(ch.bytesOnDisk)} B/event (${(ch.bytesOnDisk / exported.storeBytes).toFixed(2)}x), Parquet ${per(parquetBytes)} B/event`,
);
log(`results written to ${path.relative(ROOT, OUT)}`);
rmSync(work, { recursive: true, force: true });
