/**
 * Reading a fleet from TypeScript and the CLI: three stores written through the real engine, each
 * behind `laptime-fleet read-server`, one `laptime-fleet coordinate` over them. Answers through
 * `openFleet()` and `laptime stats --coordinator` must equal one store holding every event; a read
 * server killed makes a partial answer that says so. No Kafka here (crates/laptime-fleet's tests
 * and `npm run test:fleet` cover it); the fleet program is the real one, built by cargo.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { open, openFleet, FleetError, type Store } from '../index';
import { fleetProgram } from './helpers/fleet-build';
import type { Io } from '../src/cli/commands';
import { main } from '../src/cli/main';
import { runFleetProgram } from '../src/cli/fleet-process';
import { hasAddon, tempDir, cannotRun } from './helpers/real';
import { serve } from '../src/server/http';

const e2e = hasAddon ? test.serial : test.serial.skip;
if (!hasAddon) cannotRun('fleet tests need native/binding.cjs (npm run build:native)');

const BASE_NS = 1_794_999_600_000n * 1_000_000n;
const FUNCTIONS = ['api.checkout', 'api.search', 'db.query'];

const processes: ChildProcess[] = [];

/** Start `laptime-fleet ARGS` and resolve to the URL its start line gives after `after`. */
function start(args: string[], after: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(fleetProgram(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
  processes.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      const at = line.indexOf(after);
      if (at < 0) return reject(new Error(`unexpected start line: ${line}`));
      resolve({ child, url: line.slice(at + after.length).split(/[ ,]/)[0]! });
    });
    child.once('exit', (code) => reject(new Error(`laptime-fleet ${args[0]} ended with ${code}`)));
  });
}

/** Event i of store s: durations spread differently per function; some fail; a tenant field. */
function record(store: Store, s: number, i: number): void {
  const f = (i * 7 + s) % 3;
  store.record({
    name: FUNCTIONS[f]!,
    startNs: BASE_NS + BigInt(s * 1_000_000 + i) * 1_000n,
    // Store 1's api.search is 40x slower for 1 ms: an anomaly, and a regression against store 0.
    durationNs: (10_000 + ((i * 7_919 + s * 104_729) % [1_000, 50_000, 2_000_000][f]!)) * (s === 1 && f === 1 && i >= 15_000 && i < 16_000 ? 40 : 1),
    ok: i % 41 !== 0,
    // One integer beyond 2^53 per store: it must come back exact through JSON.
    fields: i === 5 ? { tenant: 'acme', big: 2n ** 60n + BigInt(s) } : { tenant: ['acme', 'globex', 'initech'][(i + s) % 3]! },
  });
}

let coordinator = '';
const readServers: ChildProcess[] = [];
let allDir = '';
let twoDir = '';
/** The three stores behind the read servers. */
let storeDirs: string[] = [];

test.before(async () => {
  if (!hasAddon) return;
  const dirs = [tempDir(), tempDir(), tempDir()];
  storeDirs = dirs;
  allDir = tempDir();
  twoDir = tempDir();
  const all = open({ dir: allDir });
  const two = open({ dir: twoDir }); // stores 0 and 1: what a fleet missing store 2 answers
  for (let s = 0; s < 3; s++) {
    const store = open({ dir: dirs[s]! });
    for (let i = 0; i < 20_000 + s * 5_000; i++) {
      record(store, s, i);
      record(all, s, i);
      if (s < 2) record(two, s, i);
    }
    await store.close();
  }
  await all.close();
  await two.close();
  const urls: string[] = [];
  for (const dir of dirs) {
    const { child, url } = await start(['read-server', '--dir', dir, '--listen', '127.0.0.1:0'], 'read server ');
    readServers.push(child);
    urls.push(url);
  }
  // A generous timeout: the tests want complete answers, also from a loaded 2-core machine (3 s once
  // failed a 7,000-event page while clippy ran beside the tests).
  coordinator = (await start(['coordinate', '--listen', '127.0.0.1:0', '--indexers', urls.join(','), '--timeout-ms', '15000'], 'listening on ')).url;
});

test.after.always(() => {
  for (const p of processes) p.kill('SIGKILL');
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: false,
    now: () => Date.now(),
    sleep: async () => false,
  };
  const code = await main(args, io);
  return { code, out, err };
}

const byFunction = (q: ReturnType<Store['query']>) => q.groupBy('name').count().errors().percentiles([50, 90, 99]).orderBy('name');

e2e('a query over the fleet equals one store holding every event, and says all indexers answered', async (t) => {
  const all = open({ dir: allDir });
  try {
    const expected = await byFunction(all.query()).run();
    const got = await byFunction(openFleet(coordinator).query()).run();
    t.deepEqual(got.rows, expected.rows);
    t.is(got.rows.reduce((n, r) => n + r.count, 0), 75_000);
    t.deepEqual(got.coverage && { answered: got.coverage.answered, asked: got.coverage.asked, complete: got.coverage.complete }, { answered: 3, asked: 3, complete: true });
    t.is(expected.coverage, undefined, 'a local answer carries no coverage');
    // Grouped by an attribute, filtered, with the builder's own column names.
    const tenants = (q: ReturnType<Store['query']>) => q.filter('name:api.*').groupBy('tenant').count().percentiles([99]).orderBy('tenant');
    t.deepEqual((await tenants(openFleet(coordinator).query()).run()).rows, (await tenants(all.query()).run()).rows);
  } finally {
    await all.close();
  }
});

e2e('laptime stats --coordinator prints what laptime stats prints for one store of every event', async (t) => {
  const fleet = await cli(['stats', '--coordinator', coordinator, '--json']);
  const local = await cli(['stats', '-d', allDir, '--json']);
  t.is(fleet.code, 0, fleet.err);
  t.is(fleet.out, local.out);
  t.is(fleet.err, '');
  const grouped = await cli(['query', '--coordinator', coordinator, '-g', 'tenant', '-a', 'count,p50', '--sort', 'tenant', '--asc', '--json']);
  t.is(grouped.out, (await cli(['query', '-d', allDir, '-g', 'tenant', '-a', 'count,p50', '--sort', 'tenant', '--asc', '--json'])).out);
  const listing = await cli(['query', '--coordinator', coordinator, 'name:db.*', '-l', '20', '--json']);
  t.is(listing.code, 0, listing.err);
  t.is(listing.out, (await cli(['query', '-d', allDir, 'name:db.*', '-l', '20', '--json'])).out);
  t.is(listing.out.trim().split('\n').length, 20);
  const baseMs = Number(BASE_NS / 1_000_000n);
  for (const args of [
    ['top', '--json'],
    ['top', '--events', '-l', '5', '--json'],
    ['anomalies', '--since', String(baseMs + 1_000), '--until', String(baseMs + 1_030), '--bucket', '1ms', '--json'],
    ['compare', '--baseline', `${baseMs}..${baseMs + 100}`, '--candidate', `${baseMs + 1_000}..${baseMs + 1_100}`, '--all', '--json'],
  ]) {
    const overFleet = await cli([...args, '--coordinator', coordinator]);
    t.is(overFleet.code, 0, overFleet.err);
    t.not(overFleet.out.trim(), '', args.join(' '));
    t.is(overFleet.out, (await cli([...args, '-d', allDir])).out, args.join(' '));
  }
});

e2e('events over the fleet page through every event in order with a cursor, as one store lists them', async (t) => {
  const fleet = openFleet(coordinator);
  const all = open({ dir: allDir });
  try {
    for (const [filter, order, limit] of [['', 'newest', 7_000], ['name:api.* tenant:acme', 'oldest', 999]] as const) {
      const got: unknown[] = [];
      const expected: unknown[] = [];
      let pages = 0;
      for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
        const page = await fleet.events(filter, { order, limit, ...(cursor === null ? {} : { cursor }) });
        t.true(page.coverage?.complete, page.coverage?.summary);
        t.true(page.events.length <= limit);
        got.push(...page.events);
        cursor = page.nextCursor;
        pages++;
      }
      for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
        const page = await all.events(filter, { order, limit, ...(cursor === null ? {} : { cursor }) });
        expected.push(...page.events);
        cursor = page.nextCursor;
      }
      t.is(got.length, expected.length);
      t.deepEqual(got, expected, `${filter || 'everything'} ${order}`);
      t.true(pages > 1, 'more than one page');
    }
    const big = await fleet.events('big>1000', { order: 'oldest' });
    t.deepEqual(big.events.map((e) => e.fields.big), [2n ** 60n, 2n ** 60n + 1n, 2n ** 60n + 2n]);
    const bad = await t.throwsAsync(fleet.events('', { cursor: 'not-a-cursor' }), { instanceOf: FleetError });
    t.is((bad as FleetError).status, 400);
    t.regex(bad!.message, /cursor/);
  } finally {
    await all.close();
  }
});

e2e('histograms, anomalies and comparisons over the fleet equal one store holding every event', async (t) => {
  const fleet = openFleet(coordinator);
  const all = open({ dir: allDir });
  const baseMs = Number(BASE_NS / 1_000_000n);
  try {
    for (const [filter, bins] of [['', 30], ['name:api.search', 7], ['tenant:globex', 100]] as const) {
      const got = await fleet.histogram(filter, { bins });
      const expected = await all.histogram(filter, { bins });
      t.true(got.coverage.complete);
      t.deepEqual({ calls: got.calls, bins: got.bins }, { calls: expected.calls, bins: expected.bins }, `${filter} ${bins}`);
      t.true(got.calls > 0);
    }
    // Store 1's events span its second: 1 ms buckets, the first ones a baseline.
    const anomalies = { since: baseMs + 1_000, until: baseMs + 1_030, bucket: '1ms', at: baseMs + 10_000 };
    const found = await fleet.anomalies(anomalies);
    t.deepEqual(found, await all.anomalies(anomalies));
    t.true(found.some((a) => a.name === 'api.search'), JSON.stringify(found));
    const ranges = { baseline: { since: baseMs, until: baseMs + 100 }, candidate: { since: baseMs + 1_000, until: baseMs + 1_100 }, at: baseMs + 10_000 };
    const compared = await fleet.compare(ranges);
    const expected = await all.compare(ranges);
    t.deepEqual(compared.functions, expected.functions);
    t.is(compared.functions.find((f) => f.name === 'api.search')?.verdict, 'regressed');
    // The dashboard over the fleet answers its panels from the same engine.
    const dashboard = await serve({ dir: allDir, coordinator, port: 0 });
    const local = await serve({ dir: allDir, port: 0 });
    try {
      for (const route of ['api/stats?since=0&until=9999999999999', `api/histogram?name=db.query&since=0&until=9999999999999`, 'api/events?limit=25', `api/compare?baseline=${baseMs}..${baseMs + 100}&candidate=${baseMs + 1_000}..${baseMs + 1_100}`]) {
        const [a, b] = await Promise.all([dashboard, local].map(async (d) => (await fetch(new URL(route, d.url))).json()));
        t.deepEqual(strip(a), strip(b), route);
      }
      const info = (await (await fetch(new URL('api/info', dashboard.url))).json()) as { coordinator?: string; path?: string };
      t.is(info.coordinator, coordinator);
      t.is(info.path, undefined);
    } finally {
      await dashboard.close();
      await local.close();
    }
  } finally {
    await all.close();
  }
});

/** An answer without what differs by where it was computed (work figures, coverage, cursors: they name partitions). */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'stats' && k !== 'coverage' && k !== 'nextCursor').map(([k, x]) => [k, strip(x)]));
}

e2e('bad queries and an unreachable coordinator are FleetErrors naming what and where', async (t) => {
  const bad = await t.throwsAsync(openFleet(coordinator).query().filter('duration>>5').run(), { instanceOf: Error });
  t.regex(bad!.message, /filter/);
  const gone = await t.throwsAsync(openFleet('http://127.0.0.1:9').query().count().run(), { instanceOf: FleetError });
  t.is((gone as FleetError).status, null);
  t.regex(gone!.message, /coordinator http:\/\/127\.0\.0\.1:9/);
  t.throws(() => openFleet('not a url'), { instanceOf: TypeError, message: /coordinator's URL/ });
});

e2e('laptime ship without the fleet program says how to get it; laptime index --help shows the usage', async (t) => {
  let err = '';
  const empty = tempDir();
  const code = await runFleetProgram(['ship', '--dir', 'x'], (e) => void (err += e), { env: { PATH: '' }, root: empty });
  t.is(code, 1);
  t.regex(err, /`laptime ship` runs the laptime-fleet program, which was not found/);
  t.regex(err, /npm run build:fleet/);
  t.true(err.includes(empty), err);
  const help = spawn(process.execPath, ['bin/laptime.cjs', 'index', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  help.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const helpCode = await new Promise((resolve) => help.on('exit', resolve));
  t.is(helpCode, 0);
  t.regex(out, /laptime-fleet index +--dir DIR --brokers/);
});

e2e('laptime export and tail --coordinator print what they print for one store of every event', async (t) => {
  for (const args of [
    ['export'],
    ['export', '-f', 'csv', 'name:db.*'],
    ['export', '-f', 'otlp', '--service', 'fleet-test', 'tenant:acme'],
    ['tail', '-l', '30'],
    ['tail', '-l', '7', '--json', 'name:api.*'],
  ]) {
    const overFleet = await cli([...args, '--coordinator', coordinator]);
    t.is(overFleet.code, 0, overFleet.err);
    t.is(overFleet.err, '', args.join(' '));
    const local = await cli([...args, '-d', allDir]);
    t.true(overFleet.out.length > 100, args.join(' '));
    t.is(overFleet.out, local.out, args.join(' '));
  }
  const exported = await cli(['export', '--coordinator', coordinator]);
  t.is(exported.out.trim().split('\n').length, 75_000, 'every event of the three stores, once');
  const parquet = await cli(['export', '-f', 'parquet', '-o', `${tempDir()}/x.parquet`, '--coordinator', coordinator]);
  t.is(parquet.code, 2);
  t.regex(parquet.err, /parquet reads a local store.*ndjson, csv or otlp/);
});

const CHROMIUM = process.env.LAPTIME_CHROMIUM ?? '/usr/bin/chromium';
const browserTest = hasAddon && existsSync(CHROMIUM) ? test.serial : test.serial.skip;
if (hasAddon && !existsSync(CHROMIUM)) cannotRun(`the fleet dashboard test needs Chromium at ${CHROMIUM} (.ci/run installs it)`);

browserTest('the dashboard over a fleet shows every store\'s functions in a real browser', async (t) => {
  // Two stores written a minute ago (the dashboard shows the last hour), each behind a read server.
  const startNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const urls: string[] = [];
  for (let s = 0; s < 2; s++) {
    const dir = tempDir();
    const store = open({ dir });
    for (let i = 0; i < 600; i++) {
      store.record({ name: i % 2 === 0 ? 'shared.op' : `only${s}.op`, startNs: startNs + BigInt(i * 1_000_000 + s), durationNs: 1_000_000 + i * 1_000 });
    }
    await store.close();
    urls.push((await start(['read-server', '--dir', dir, '--listen', '127.0.0.1:0'], 'read server ')).url);
  }
  const fleetUrl = (await start(['coordinate', '--listen', '127.0.0.1:0', '--indexers', urls.join(',')], 'listening on ')).url;
  const dashboard = await serve({ dir: tempDir(), coordinator: fleetUrl, port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(dashboard.url);
    await page.waitForFunction(() => document.querySelectorAll('#functions tbody tr').length === 3);
    await page.waitForSelector('#events tbody tr');
    const rows = await page.locator('#functions tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.children[0]!.textContent, tr.children[1]!.textContent]));
    t.deepEqual(rows.sort(), [['only0.op', '300'], ['only1.op', '300'], ['shared.op', '600']]);
    t.is(await page.locator('#store').textContent(), `fleet: ${fleetUrl}`);
    t.deepEqual(errors, []);
  } finally {
    await browser.close();
    await dashboard.close();
  }
});

// Last: it kills a read server.
e2e('with one read server down, the answer covers 2 of 3 and says so (API and CLI)', async (t) => {
  readServers[2]!.kill('SIGKILL');
  await new Promise((resolve) => readServers[2]!.once('exit', resolve));
  const two = open({ dir: twoDir });
  try {
    const got = await byFunction(openFleet(coordinator).query()).run();
    t.deepEqual(got.rows, (await byFunction(two.query()).run()).rows);
    t.is(got.coverage?.answered, 2);
    t.false(got.coverage?.complete);
    t.regex(got.coverage!.summary, /2 of 3 indexers answered/);
    t.is(got.coverage!.indexers.filter((r) => r.outcome !== 'answered').length, 1);
  } finally {
    await two.close();
  }
  const r = await cli(['stats', '--coordinator', coordinator]);
  t.is(r.code, 0);
  t.regex(r.err, /partial answer: 2 of 3 indexers answered/);
  const page = await openFleet(coordinator).events('', { limit: 10 });
  t.false(page.coverage?.complete);
  t.is(page.events.length, 10);
  const exported = await cli(['export', '--coordinator', coordinator, 'name:db.*']);
  t.is(exported.code, 0);
  t.regex(exported.err, /partial export: 2 of 3 indexers answered/);
  t.is(exported.out, (await cli(['export', '-d', twoDir, 'name:db.*'])).out);
});

// After the read server went: it writes into store 0.
e2e('laptime tail -f --coordinator prints events written to an indexer\'s store after it started, once', async (t) => {
  const newest = BASE_NS + 60_000_000_000n; // after every event the stores hold
  let polls = 0;
  let out = '';
  let err = '';
  const io: Io = {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    isTTY: false,
    now: () => Number(newest / 1_000_000n),
    sleep: async () => {
      polls++;
      if (polls === 1) {
        const store = open({ dir: storeDirs[0]! });
        for (let i = 0; i < 5; i++) store.record({ name: 'late.op', startNs: newest + BigInt(i) * 1_000n, durationNs: 1_000 + i });
        await store.close(); // sealed: the read server's next view has them
      }
      return polls <= 2; // two polls after the first listing: the second must print nothing new
    },
  };
  const code = await main(['tail', '-f', '--interval', '1', '-l', '3', '--json', '--coordinator', coordinator], io);
  t.is(code, 0, err);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; durationNs: number });
  t.is(lines.length, 3 + 5, out);
  t.deepEqual(
    lines.slice(3).map((e) => [e.name, e.durationNs]),
    [0, 1, 2, 3, 4].map((i) => ['late.op', 1_000 + i]),
  );
});
