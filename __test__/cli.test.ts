/**
 * The `laptime` CLI: every command's output, exit codes and one-line errors, run in-process against
 * a store written through the real engine, plus the installed bin as a child process.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { open, openReader, type Store } from '../index';
import type { Io } from '../src/cli/commands';
import { main } from '../src/cli/main';
import { hasAddon, readerSees, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('CLI tests need native/binding.cjs (npm run build:native)');

const BASE_MS = 1_794_999_600_000; // a whole half hour: buckets and ranges are stable
const BASE_NS = BigInt(BASE_MS) * 1_000_000n;

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Run the CLI in-process; `polls` is how many times `sleep` lets tail -f go on. */
async function cli(args: string[], options: { tty?: boolean; polls?: number; between?: () => Promise<void> } = {}): Promise<Run> {
  let out = '';
  let err = '';
  let polls = options.polls ?? 0;
  const io: Io = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    isTTY: options.tty === true,
    now: () => BASE_MS + 3_600_000,
    sleep: async () => {
      if (polls-- <= 0) return false;
      await options.between?.();
      return true;
    },
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** Three functions over an hour: Slow.run 4x slower in the last 20 minutes; a few logs. */
async function fill(dir: string): Promise<void> {
  const store = open({ dir });
  for (let minute = 0; minute < 60; minute++) {
    for (let i = 0; i < 50; i++) {
      const startNs = BASE_NS + BigInt(minute * 60_000 + i * 1000) * 1_000_000n;
      store.record({ name: 'Users.find', startNs, durationNs: 1_000_000 + ((i * 7919) % 200_000), ok: i % 25 !== 0, fields: { route: i % 2 ? '/users' : '/admin' } });
      store.record({ name: 'Slow.run', startNs: startNs + 1n, durationNs: (minute >= 40 ? 4 : 1) * (5_000_000 + ((i * 104_729) % 1_000_000)) });
      store.record({ name: 'Billing.charge', startNs: startNs + 2n, durationNs: 200_000 + ((i * 31) % 1000), ok: minute < 50 || i % 3 !== 0 });
    }
  }
  store.logger('audit').warn('rotated keys', { by: 'ann' });
  await store.close();
}

let shared: Promise<string> | undefined;
function sharedStore(): Promise<string> {
  shared ??= (async () => {
    const dir = tempDir();
    await fill(dir);
    return dir;
  })();
  return shared;
}

e2e('stats: per-function table, sorted by p99; JSON and CSV; bars on a TTY', async (t) => {
  const dir = await sharedStore();
  const r = await cli(['stats', '--dir', dir]);
  t.is(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  t.regex(lines[0]!, /^name\s+count\s+rate\s+mean\s+p50\s+p90\s+p99\s+max\s+errors$/);
  t.deepEqual(
    lines.slice(1).map((l) => l.split(/\s+/)[0]),
    ['Slow.run', 'Users.find', 'Billing.charge'],
  );
  t.regex(lines[1]!, /Slow\.run\s+3,000\s/);
  const json = (await cli(['stats', '-d', dir, '--json', '--sort', 'name'])).out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(
    json.map((r) => r.name),
    ['Billing.charge', 'Slow.run', 'Users.find'],
  );
  t.is(json[2]!.count, 3000);
  t.is(json[2]!.errors, 120);
  t.true(Math.abs((json[2]!.rate as number) - 3000 / 3599.002) < 0.01, `rate ${json[2]!.rate}`);
  const csvOut = (await cli(['stats', '-d', dir, '--csv', '-n', 'Users.*'])).out;
  t.is(csvOut.split('\n')[0], 'name,count,rate,errors,errorRate,mean,p50,p90,p99,max');
  t.regex(csvOut.split('\n')[1]!, /^Users\.find,3000,/);
  const tty = await cli(['stats', '-d', dir], { tty: true });
  t.regex(tty.out, /p50 █ ─ p99 \(log\)/);
  t.regex(tty.out, /█/);
  const window = (await cli(['stats', '-d', dir, '--since', '20m', '--json'])).out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; count: number });
  t.is(window.find((r) => r.name === 'Slow.run')!.count, 1000);
});

e2e('top: slowest functions and slowest single calls', async (t) => {
  const dir = await sharedStore();
  const fns = await cli(['top', '-d', dir, '-l', '1']);
  t.is(fns.code, 0, fns.err);
  t.regex(fns.out.split('\n')[1]!, /^Slow\.run/);
  const calls = await cli(['top', '-d', dir, '--events', '-l', '3', '--json']);
  t.is(calls.code, 0, calls.err);
  const events = calls.out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; durationNs: number });
  t.is(events.length, 3);
  t.true(events.every((e) => e.name === 'Slow.run'));
  const want = Array.from({ length: 50 }, (_, i) => 4 * (5_000_000 + ((i * 104_729) % 1_000_000))).sort((a, b) => b - a);
  // Every minute after the slowdown repeats the same 50 durations: the top 3 are all the largest.
  t.deepEqual(
    events.map((e) => e.durationNs),
    [want[0], want[0], want[0]],
  );
});

e2e('query --explain: pages skipped by the value index, answered from meta or decoded, on stderr', async (t) => {
  const dir = tempDir();
  // Six pages of 500 calls; a tenant's traffic comes in runs of two pages.
  const store = open({ dir, pageRows: 500 });
  const tenants = ['acme', 'globex', 'initech'];
  for (let i = 0; i < 3000; i++) {
    const startNs = BASE_NS + BigInt(i) * 1_000_000n;
    store.record({ name: 'Orders.place', startNs, durationNs: 1_000_000 + i, fields: { tenant: tenants[Math.floor(i / 1000)]! } });
  }
  await store.close();
  const acme = await cli(['query', 'tenant:acme', '-d', dir, '-a', 'count,p99', '--explain', '--json']);
  t.is(acme.code, 0, acme.err);
  t.is((JSON.parse(acme.out.trim()) as { count: number }).count, 1000);
  // The sealed segment's value rollup holds acme's events: all six pages answered at once.
  t.is(
    acme.err,
    'explain: 6 pages: 0 skipped (0 by an index), 6 answered from meta (6 from the value index), 0 decoded; 0 rows scanned, 1,000 matched; percentiles from sketches\n',
  );
  // Exact percentiles need the rows: every page holds the key `tenant`, and the four pages
  // without `acme` were ruled out by their listed values.
  const exact = await cli(['query', 'tenant:acme', '-d', dir, '-a', 'count,p99', '--exact', '--explain', '--json']);
  t.is(exact.code, 0, exact.err);
  t.is(
    exact.err,
    'explain: 6 pages: 4 skipped (4 by an index), 0 answered from meta (0 from the value index), 2 decoded; 1,000 rows scanned, 1,000 matched; percentiles exact\n',
  );
  // No filter: every page is answered from its meta (the segment's summary).
  const all = await cli(['query', '-d', dir, '-g', 'name', '-a', 'count', '--explain']);
  t.is(all.code, 0, all.err);
  t.regex(all.err, /^explain: 6 pages: 0 skipped \(0 by an index\), 6 answered from meta \(0 from the value index\), 0 decoded;/);
  // Without percentiles, nothing is said about how they were computed.
  t.notRegex(all.err, /percentiles/);
  // Counts by a listed field come from the pages' value index, nothing decoded.
  const byTenant = await cli(['query', '-d', dir, '-g', 'tenant', '-a', 'count,errors', '--explain', '--json']);
  t.is(byTenant.code, 0, byTenant.err);
  t.is(byTenant.err, 'explain: 6 pages: 0 skipped (0 by an index), 6 answered from meta (6 from the value index), 0 decoded; 0 rows scanned, 3,000 matched\n');
  const counts = byTenant.out.trim().split('\n').map((l) => JSON.parse(l) as { tenant: string; count: number });
  t.deepEqual(counts.map((r) => [r.tenant, r.count]).sort(), [['acme', 1000], ['globex', 1000], ['initech', 1000]]);
  const listing = await cli(['query', 'tenant:acme', '-d', dir, '--explain']);
  t.is(listing.code, 2);
  t.regex(listing.err, /--explain goes with grouped aggregates/);
});

e2e('query: events newest first, grouped aggregates, CSV, and a bad filter with its position', async (t) => {
  const dir = await sharedStore();
  const ev = await cli(['query', 'status:error name:Billing.*', '-d', dir, '-l', '2', '--json']);
  t.is(ev.code, 0, ev.err);
  const rows = ev.out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; status: string; startNs: string });
  t.is(rows.length, 2);
  t.true(rows.every((r) => r.name === 'Billing.charge' && r.status === 'error'));
  t.true(BigInt(rows[0]!.startNs) > BigInt(rows[1]!.startNs), 'newest first');
  const grouped = await cli(['query', 'kind:call', '-d', dir, '-g', 'name,route', '--agg', 'count,p99', '-s', 'count', '--csv']);
  t.is(grouped.code, 0, grouped.err);
  const lines = grouped.out.trim().split('\n');
  t.is(lines[0], 'name,route,count,p99');
  t.regex(lines[1]!, /^(Slow\.run|Billing\.charge),,3000,/);
  t.true(lines.some((l) => l.startsWith('Users.find,/users,1500,')), 'half of Users.find carries /users');
  const table = await cli(['query', 'kind:call', '-d', dir, '--bucket', '30m', '--agg', 'count', '-s', 'time', '--asc']);
  t.regex(table.out, /^\s*time\s+count\n/);
  t.is(table.out.trim().split('\n').length, 3);
  const bad = await cli(['query', 'status:error duration>10xs', '-d', dir]);
  t.is(bad.code, 2);
  t.is(bad.err, 'laptime: invalid filter at 22: expected a duration such as 10ms, found "10xs"\n');
  t.is(bad.out, '');
  const badAgg = await cli(['query', '', '-d', dir, '--agg', 'p0']);
  t.is(badAgg.code, 2);
  t.regex(badAgg.err, /^laptime: .*percentile/);
});

e2e('tail: the latest events, then new ones as writers seal them', async (t) => {
  const dir = tempDir();
  const store: Store = open({ dir, pageMaxAgeMs: 5, pageRows: 16 });
  t.teardown(() => store.close());
  // Readers see what the writer has sealed; wait until a reader sees all `n` events.
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const sealed = (n: number) => readerSees(reader, n, 10_000);

  for (let i = 0; i < 30; i++) store.record({ name: 'job', startNs: BASE_NS + BigInt(i) * 1_000_000n, durationNs: 1000 + i });
  await store.flush();
  await sealed(30);
  let next = 30;
  const r = await cli(['tail', '-d', dir, '-l', '3', '-f', '--interval', '1', '--json'], {
    polls: 3,
    between: async () => {
      for (let k = 0; k < 2; k++, next++) store.record({ name: 'job', startNs: BASE_NS + BigInt(next) * 1_000_000n, durationNs: 1000 + next });
      await store.flush();
      await sealed(next);
    },
  });
  t.is(r.code, 0, r.err);
  const durations = r.out.trim().split('\n').map((l) => (JSON.parse(l) as { durationNs: number }).durationNs - 1000);
  t.deepEqual(durations, [27, 28, 29, 30, 31, 32, 33, 34, 35]);
});

e2e('anomalies and compare find the planted slowdown', async (t) => {
  const dir = await sharedStore();
  const a = await cli(['anomalies', '-d', dir, '--since', '70m', '--bucket', '5m', '--min-count', '20', '--json']);
  t.is(a.code, 0, a.err);
  const found = a.out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; time: number });
  t.is(found[0]!.name, 'Slow.run');
  t.is(found[0]!.time, BASE_MS + 40 * 60_000);
  const table = await cli(['anomalies', '-d', dir, '--since', '70m', '--bucket', '5m', '--min-count', '20']);
  t.regex(table.out, /^bucket\s+name\s+metric\s+value\s+baseline\s+change\s+z\s+calls\n/);
  const c = await cli(['compare', '-d', dir, '--baseline', '60m..30m', '--candidate', '15m..now']);
  t.is(c.code, 0, c.err);
  t.regex(c.out, /Slow\.run\s+regressed/);
  t.regex(c.out, /Billing\.charge\s+regressed/);
  t.notRegex(c.out, /Users\.find/);
  const all = await cli(['compare', '-d', dir, '--baseline', '60m..30m', '--candidate', '15m..now', '--all', '--json']);
  const verdicts = Object.fromEntries(all.out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; verdict: string }).map((f) => [f.name, f.verdict]));
  t.deepEqual(verdicts, { 'Slow.run': 'regressed', 'Billing.charge': 'regressed', 'Users.find': 'unchanged' });
  const bad = await cli(['compare', '-d', dir, '--baseline', '30m..60m', '--candidate', '15m..now']);
  t.is(bad.code, 2);
  t.is(bad.err, 'laptime: --baseline "30m..60m" is empty: its start must be before its end\n');
  const missing = await cli(['compare', '-d', dir, '--baseline', '60m..30m']);
  t.is(missing.code, 2);
  t.regex(missing.err, /required option '--candidate <range>' not specified/);
});

e2e('export: NDJSON and CSV of every event, oldest first, to stdout or a file', async (t) => {
  const dir = await sharedStore();
  const nd = await cli(['export', '-d', dir, 'name:Users.find']);
  t.is(nd.code, 0, nd.err);
  const events = nd.out.trim().split('\n').map((l) => JSON.parse(l) as { startNs: string; fields: Record<string, string> });
  t.is(events.length, 3000);
  t.true(events.every((e, i) => i === 0 || BigInt(e.startNs) >= BigInt(events[i - 1]!.startNs)));
  t.true(events.every((e) => e.fields.route === '/users' || e.fields.route === '/admin'));
  const file = path.join(tempDir(), 'out.csv');
  const csvRun = await cli(['export', '-d', dir, '--format', 'csv', '--out', file, 'kind:log']);
  t.is(csvRun.code, 0, csvRun.err);
  t.is(csvRun.err, `1 events written to ${file}\n`);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.is(lines[0], 'start_ns,name,duration_ns,kind,status,message,fields');
  t.regex(lines[1]!, /,audit,0,log,warn,rotated keys,"{""by"":""ann""}"$/);
  const parquet = await cli(['export', '-d', dir, '--format', 'parquet']);
  t.is(parquet.code, 2);
  t.is(parquet.err, 'laptime: --format parquet needs --out <file> (Parquet is not written to a terminal or pipe)\n');
});

e2e('export --format parquet: a file DuckDB (and pandas, where installed) reads back event for event', async (t) => {
  const dir = await sharedStore();
  const file = path.join(tempDir(), 'events.parquet');
  const r = await cli(['export', '-d', dir, '--format', 'parquet', '--out', file, 'name:Users.*']);
  t.is(r.code, 0, r.err);
  t.is(r.err, `3,000 events written to ${file}\n`);
  const expected = (await cli(['export', '-d', dir, 'name:Users.*'])).out.trim().split('\n').map((l) => JSON.parse(l) as { startNs: string; name: string; durationNs: number; status: string; fields: Record<string, unknown> });
  let duck: typeof import('@duckdb/node-api');
  try {
    duck = require('@duckdb/node-api') as typeof import('@duckdb/node-api');
  } catch {
    t.fail('@duckdb/node-api (a dev dependency) is needed to read the Parquet file back');
    return;
  }
  const db = await duck.DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const rows = (await con.runAndReadAll(`SELECT epoch_ns(start_ns)::VARCHAR AS s, name, duration_ns AS d, kind, status, level, message, fields::VARCHAR AS f FROM read_parquet('${file}') ORDER BY start_ns`)).getRowObjectsJS();
  con.closeSync();
  db.closeSync();
  t.is(rows.length, 3000);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const want = expected[i]!;
    t.is(row.s, want.startNs);
    t.is(row.name, want.name);
    t.is(Number(row.d), want.durationNs);
    t.is(row.kind, 'call');
    t.is(row.status, want.status);
    t.is(row.level, null);
    t.deepEqual(JSON.parse(row.f as string), want.fields);
  }
  const python = spawnSync('python3', ['-c', 'import pandas, sys; df = pandas.read_parquet(sys.argv[1]); print(len(df), df["name"].iloc[0], int(df["duration_ns"].sum()))', file], { encoding: 'utf8' });
  if (python.status === 0) {
    const [n, first, sum] = python.stdout.trim().split(' ');
    t.is(Number(n), 3000);
    t.is(first, expected[0]!.name);
    t.is(Number(sum), expected.reduce((s, e) => s + e.durationNs, 0));
  } else if (process.env.CI !== undefined) {
    t.fail(`pandas could not read the file (CI installs pandas and pyarrow): ${python.stderr.trim().split('\n').pop()}`);
  } else {
    t.log('pandas/pyarrow not installed here: the pandas check is skipped (CI runs it)');
  }
});

e2e('bad input: unknown store, unknown command or option, bad values — one line, non-zero', async (t) => {
  const nowhere = path.join(tempDir(), 'missing');
  const r = await cli(['stats', '--dir', nowhere]);
  t.is(r.code, 1);
  t.is(r.err, `laptime: invalid store: no laptime store at ${nowhere} (no partitions/ directory)\n`);
  const unknown = await cli(['stat']);
  t.is(unknown.code, 2);
  t.regex(unknown.err, /unknown command 'stat'/);
  const opt = await cli(['stats', '--colour']);
  t.is(opt.code, 2);
  t.regex(opt.err, /unknown option '--colour'/);
  const limit = await cli(['stats', '--limit', 'x']);
  t.is(limit.code, 2);
  t.regex(limit.err, /must be a whole number >= 1/);
  const sort = await cli(['stats', '-d', await sharedStore(), '--sort', 'speed']);
  t.is(sort.code, 2);
  t.regex(sort.err, /^laptime: --sort must be one of/);
  const time = await cli(['stats', '-d', await sharedStore(), '--since', 'yesterday']);
  t.is(time.code, 2);
  const help = await cli(['compare', '--help']);
  t.is(help.code, 0);
  t.regex(help.out, /--baseline <range>/);
});

e2e('the bin: `laptime` as a child process, with LAPTIME_DIR', async (t) => {
  const dir = await sharedStore();
  const bin = path.join(__dirname, '..', 'bin', 'laptime.cjs');
  const ok = spawnSync(process.execPath, [bin, 'stats', '--json', '-l', '1'], { env: { ...process.env, LAPTIME_DIR: dir }, encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  t.is((JSON.parse(ok.stdout.trim()) as { name: string }).name, 'Slow.run');
  const bad = spawnSync(process.execPath, [bin, 'query', 'level>=loud'], { env: { ...process.env, LAPTIME_DIR: dir }, encoding: 'utf8' });
  t.is(bad.status, 2);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /^laptime: invalid filter at 7: expected a level/);
  t.is(bad.stderr.trim().split('\n').length, 1);
});

/** Segment files of a store, oldest first. */
function segmentFiles(dir: string): string[] {
  const fs = require('node:fs') as typeof import('node:fs');
  const out: string[] = [];
  for (const p of fs.readdirSync(path.join(dir, 'partitions'))) {
    for (const f of fs.readdirSync(path.join(dir, 'partitions', p))) if (f.startsWith('seg-')) out.push(path.join(dir, 'partitions', p, f));
  }
  return out.sort();
}

/** A store whose events sit in several small segments (each open and close seals one). */
async function manySegments(): Promise<string> {
  const dir = tempDir();
  for (let round = 0; round < 4; round++) {
    const store = open({ dir });
    for (let i = 0; i < 500; i++) store.record({ name: 'batch.run', startNs: BASE_NS + BigInt(round * 500 + i) * 1_000_000n, durationNs: 1000 + i });
    await store.close();
  }
  return dir;
}

e2e('verify: no damage on a sound store; a flipped byte is named by file and offset, exit 1', async (t) => {
  const dir = await manySegments();
  const ok = await cli(['verify', '-d', dir]);
  t.is(ok.code, 0, ok.err);
  t.regex(ok.out, /files, [\d,]+ pages, [\d,]+ bytes checked: no damage/);
  const seg = segmentFiles(dir)[0]!;
  const fs = require('node:fs') as typeof import('node:fs');
  const bytes = fs.readFileSync(seg);
  bytes[Math.floor(bytes.length / 3)] ^= 0x10;
  fs.writeFileSync(seg, bytes);
  const bad = await cli(['verify', '-d', dir]);
  t.is(bad.code, 1);
  t.regex(bad.out, new RegExp(`^DAMAGE ${seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( at byte \\d+)?: `, 'm'));
  t.regex(bad.out, /1 damaged/);
  t.is(bad.err, `laptime: 1 damaged file(s) in ${dir}\n`);
  const json = await cli(['verify', '-d', dir, '--json']);
  t.true(json.out.trim().split('\n').some((l) => (JSON.parse(l) as { finding?: string }).finding === 'damage'));
  t.is((await cli(['verify', '-d', path.join(dir, 'none')])).code, 1);
});

e2e('compact and retention: idle partitions are maintained, events kept or dropped as asked', async (t) => {
  const dir = await manySegments();
  const before = segmentFiles(dir).length;
  t.true(before >= 4, `${before} segments`);
  const c = await cli(['compact', '-d', dir]);
  t.is(c.code, 0, c.err);
  t.regex(c.out, /compacted: \d+ segment\(s\), 2,000 events/);
  t.true(segmentFiles(dir).length < before);
  const stats = JSON.parse((await cli(['stats', '-d', dir, '--json'])).out) as { count: number };
  t.is(stats.count, 2000, 'compaction keeps every event');
  const r = await cli(['retention', '-d', dir, '--max-bytes', '1B']);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /retained: \d+ segment\(s\)/);
  const none = await cli(['retention', '-d', dir]);
  t.is(none.code, 2);
  t.is(none.err, 'laptime: give --max-age and/or --max-bytes\n');
  const bad = await cli(['retention', '-d', dir, '--max-bytes', 'lots']);
  t.is(bad.code, 2);
});

e2e('the bin: `laptime serve` prints its URL and answers until stopped', async (t) => {
  const dir = await sharedStore();
  const bin = path.join(__dirname, '..', 'bin', 'laptime.cjs');
  const child = spawn(process.execPath, [bin, 'serve', '--dir', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m !== null) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  const info = (await (await fetch(new URL('/api/info', url))).json()) as { path: string };
  t.is(info.path, dir);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  t.is(await exited, 0, 'Ctrl-C stops it cleanly');
  const refused = spawnSync(process.execPath, [bin, 'serve', '--dir', dir, '--host', '0.0.0.0'], { encoding: 'utf8' });
  t.is(refused.status, 2);
  t.regex(refused.stderr, /^laptime: --token is required when binding to 0\.0\.0\.0/);
});

e2e('postmortems lists a store\'s post-mortems: new ones in postmortems/, those of older stores in snapshots/', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  store.record({ name: 'Api.get', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1000 });
  const first = await store.postMortem('first');
  const second = await store.postMortem('second');
  await store.close();
  t.is(path.dirname(first), path.join(dir, 'postmortems'));
  // An older store kept them in snapshots/: move the first one there.
  const fs = require('node:fs') as typeof import('node:fs');
  fs.mkdirSync(path.join(dir, 'snapshots'));
  const moved = path.join(dir, 'snapshots', path.basename(first));
  fs.renameSync(first, moved);

  const listing = await cli(['postmortems', '-d', dir]);
  t.is(listing.code, 0, listing.err);
  const lines = listing.out.trim().split('\n');
  t.is(lines.length, 2, listing.out);
  t.true(lines[0]!.includes(` ${path.join('snapshots', path.basename(first))} `) && lines[0]!.endsWith('1 events  first'), lines[0]);
  t.true(lines[1]!.includes(` ${path.join('postmortems', path.basename(second))} `) && lines[1]!.endsWith('1 events  second'), lines[1]);
  const json = (await cli(['postmortems', '-d', dir, '--json'])).out.trim().split('\n').map((l) => JSON.parse(l) as { file: string; reason: string });
  t.deepEqual(json.map((r) => r.reason), ['first', 'second']);
  // Either file reads as a post-mortem.
  const old = await cli(['stats', '--post-mortem', moved, '--json']);
  t.is(old.code, 0, old.err);
  t.is((JSON.parse(old.out) as { name: string; count: number }).count, 1);

  const empty = tempDir();
  t.deepEqual(await cli(['postmortems', '-d', empty]), { code: 0, out: `no post-mortems in ${empty}\n`, err: '' });
  const missing = await cli(['postmortems', '-d', path.join(empty, 'nope')]);
  t.is(missing.code, 1);
  t.is(missing.err, `laptime: no store at ${path.join(empty, 'nope')}\n`);
});

e2e('view, stats --post-mortem and serve --post-mortem read a post-mortem like a store', async (t) => {
  const dir = tempDir();
  const store = open({ dir, postMortems: { dir: path.join(dir, 'pms') } });
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < 300; i++) store.record({ name: i % 3 ? 'Api.get' : 'Api.put', startNs: nowNs - BigInt(300 - i) * 1_000_000n, durationNs: 1000 * (i + 1), ok: i % 50 !== 0 });
  store.logger('audit').warn('disk almost full', { freeMb: 12 });
  const file = await store.postMortem('on-call asked');
  await store.close();

  const view = await cli(['view', file]);
  t.is(view.code, 0, view.err);
  t.regex(view.out, /^post-mortem /);
  t.regex(view.out, /reason {3}on-call asked/);
  t.regex(view.out, /window {3}last 60 s, at most 10000 events: 301 events/);
  t.regex(view.out, /^name\s+count\s+rate/m);
  t.regex(view.out, /^Api\.get\s+200\s/m);
  t.regex(view.out, /disk almost full/);
  const warnings = await cli(['view', file, 'level>=warn', '--json']);
  const lines = warnings.out.trim().split('\n').map((l) => JSON.parse(l) as { level: string; message: string });
  t.deepEqual(lines.map((l) => [l.level, l.message]), [['warn', 'disk almost full']]);

  const stats = await cli(['stats', '--post-mortem', file, '--json', '--sort', 'name']);
  t.is(stats.code, 0, stats.err);
  t.is(stats.err, '');
  t.deepEqual(
    stats.out.trim().split('\n').map((l) => { const r = JSON.parse(l) as { name: string; count: number; errors: number }; return [r.name, r.count, r.errors]; }),
    [['Api.get', 200, 4], ['Api.put', 100, 2]],
  );
  // The old spelling still works, with a one-line note on stderr; both at once is bad usage.
  const old = await cli(['stats', '--snapshot', file, '--json', '--sort', 'name']);
  t.is(old.code, 0, old.err);
  t.is(old.out, stats.out);
  t.is(old.err, 'laptime: --snapshot is deprecated, use --post-mortem <file>\n');
  const both = await cli(['stats', '--snapshot', file, '--post-mortem', file]);
  t.is(both.code, 2);
  t.is(both.err, 'laptime: --post-mortem and --snapshot (its old spelling) exclude each other\n');
  t.false((await cli(['stats', '--help'])).out.includes('--snapshot'), 'the old spelling is not advertised');

  // A directory of post-mortems with one damaged file still lists the rest.
  const fs = require('node:fs') as typeof import('node:fs');
  const pms = path.dirname(file);
  const bad = path.join(pms, 'snapshot-19700101T000000Z-1-0.ltsnap');
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 5] ^= 0xff;
  fs.writeFileSync(bad, bytes);
  const listing = await cli(['view', pms]);
  t.is(listing.code, 1);
  t.regex(listing.out, /^DAMAGED snapshot-19700101T000000Z-1-0\.ltsnap: .*checksum mismatch/m);
  t.regex(listing.out, /pid \d+ {2}301 events {2}on-call asked$/m);
  t.is(listing.err, `laptime: 1 of 2 post-mortem(s) in ${pms} are damaged\n`);
  const direct = await cli(['view', bad]);
  t.is(direct.code, 1);
  t.regex(direct.err, /^laptime: .*checksum mismatch/);

  // The dashboard serves a post-mortem as if it were a store.
  let out = '';
  let answered: unknown;
  const io: Io = {
    out: (s) => void (out += s),
    err: () => {},
    isTTY: false,
    now: () => Date.now(),
    sleep: async () => {
      const url = /at (http:\S+)/.exec(out)![1]!;
      answered = await (await fetch(new URL('/api/stats?since=1h', url))).json();
      return false;
    },
  };
  t.is(await main(['serve', '--post-mortem', file, '--port', '0'], io), 0);
  t.deepEqual(((answered as { rows: Array<{ name: string }> }).rows.map((r) => r.name)).sort(), ['Api.get', 'Api.put']);
});
