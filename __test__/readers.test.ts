/**
 * Acknowledged means readable (invariant 10, ARCHITECTURE.md), from the outside: a process that ends without
 * `close()` leaves a cleanly closed store that the CLI counts in full and `laptime verify` passes; a
 * SIGKILLed writer's acknowledged events are visible to the CLI and `openReader` without any other
 * writer; and a damaged WAL record (not a torn tail) is damage for `verify`.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, openReader } from '../index';
import { spawnFixture } from './helpers/child';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('reader tests need native/binding.cjs (npm run build:native)');

const BIN = path.join(__dirname, '..', 'bin', 'laptime.cjs');

/** Run the installed bin as a child process. */
function laptime(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Calls of `Job.run` the CLI counts. */
function cliCount(dir: string): number {
  const r = laptime(['stats', '-d', dir, '--json']);
  if (r.code !== 0) throw new Error(`laptime stats exited ${r.code}: ${r.err}`);
  const rows = r.out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { name: string; count: number });
  return rows.find((row) => row.name === 'Job.run')?.count ?? 0;
}

/** The WAL files left in the store. */
function walFiles(dir: string): string[] {
  const parts = path.join(dir, 'partitions');
  return fs.readdirSync(parts).flatMap((p) => fs.readdirSync(path.join(parts, p)).filter((f) => f.startsWith('wal-')).map((f) => path.join(parts, p, f)));
}

for (const scenario of ['natural', 'process-exit', 'sigterm'] as const) {
  e2e(`${scenario}: without close(), the store is left cleanly closed; stats counts all, verify passes`, async (t) => {
    const dir = tempDir();
    const child = spawnFixture('readers-child.ts', [scenario, dir, '2500']);
    if (scenario === 'sigterm') {
      await child.waitFor('READY');
      child.process.kill('SIGTERM');
    }
    const result = await child.done;
    if (scenario === 'sigterm') t.is(result.signal, 'SIGTERM', result.stderr);
    else t.is(result.code, 0, result.stderr);
    t.deepEqual(walFiles(dir), [], 'closed: every event sealed, no WAL left');
    t.is(cliCount(dir), 2500);
    const verify = laptime(['verify', '-d', dir]);
    t.is(verify.code, 0, verify.out + verify.err);
    t.regex(verify.out, /no damage/);
    t.notRegex(verify.out, /note/);
  });
}

/** A child that acknowledged `rounds` flushes of 100 events (sync 'always'), then SIGKILLed. */
async function ackedThenKilled(dir: string, rounds: number): Promise<number> {
  const child = spawnFixture('readers-child.ts', ['acked', dir, String(rounds)]);
  await child.waitFor('DONE');
  child.process.kill('SIGKILL');
  const result = await child.done;
  if (result.signal !== 'SIGKILL') throw new Error(`child ended by ${result.code ?? result.signal}: ${result.stderr}`);
  const acks = [...result.stdout.matchAll(/^ACK (\d+)$/gm)].map((m) => Number(m[1]));
  return acks[acks.length - 1] ?? 0;
}

e2e('SIGKILL after acknowledged flushes: the CLI and openReader see every acknowledged event', async (t) => {
  const dir = tempDir();
  const acknowledged = await ackedThenKilled(dir, 12);
  t.is(acknowledged, 1200);
  t.true(walFiles(dir).length > 0, 'the killed writer left its WAL');
  t.is(cliCount(dir), acknowledged);
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  t.is((await reader.query().count().run()).rows[0]?.count, acknowledged);
  const verify = laptime(['verify', '-d', dir]);
  t.is(verify.code, 0, verify.out + verify.err);
  t.regex(verify.out, /no damage/);
  t.regex(verify.out, /^note .*wal-[0-9a-f]+\.log: holds 1200 events of a running writer or of one that stopped without closing/m);
});

e2e('a flipped bit in a middle WAL record of a dead writer: verify exits 1 naming the file and offset', async (t) => {
  const dir = tempDir();
  await ackedThenKilled(dir, 4);
  const [wal] = walFiles(dir);
  t.truthy(wal);
  const bytes = fs.readFileSync(wal!);
  // 32-byte file header, then records of [len u32][crc u32][payload]: damage the second record.
  const second = 32 + 8 + bytes.readUInt32LE(32);
  t.true(second + 8 + bytes.readUInt32LE(second) < bytes.length, 'records follow the second one');
  const at = second + 8 + 20;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x04, at);
  fs.writeFileSync(wal!, bytes);
  const verify = laptime(['verify', '-d', dir]);
  t.is(verify.code, 1, verify.out + verify.err);
  t.true(verify.out.includes(`DAMAGE ${wal} at byte ${second}:`), verify.out);
});

e2e('a store and a reader answer every read method with the same shapes and the same data', async (t) => {
  const dir = tempDir();
  const store = open({ dir, sync: 'always' });
  const now = Date.now();
  for (let i = 0; i < 200; i++) {
    store.record({ name: i % 2 === 0 ? 'Shape.a' : 'Shape.b', startNs: BigInt(now - 60_000 + i) * 1_000_000n, durationNs: 1_000 + i, ok: i % 10 !== 0 });
  }
  await store.flush();
  const reader = openReader(dir);
  try {
    const [s, r] = [await store.stats({ since: '1h' }), await reader.stats({ since: '1h' })];
    t.deepEqual(Object.keys(s).sort(), Object.keys(r).sort());
    t.deepEqual(r.rows, s.rows);
    t.is(r.counters, null);
    t.is(s.counters.written, 200);
    const q = (x: typeof store | typeof reader) => x.query().groupBy('name').count().percentiles([50, 99]).orderBy('name', 'asc').run();
    const [qs, qr] = [await q(store), await q(reader)];
    t.deepEqual(qr.rows, qs.rows);
    t.deepEqual(Object.keys(qr).sort(), Object.keys(qs).sort());
    const [es, er] = [await store.events('name:Shape.a', { limit: 5 }), await reader.events('name:Shape.a', { limit: 5 })];
    t.deepEqual(er.events, es.events);
    t.deepEqual(Object.keys(er).sort(), Object.keys(es).sort());
    const [hs, hr] = [await store.histogram('name:Shape.*', { bins: 8 }), await reader.histogram('name:Shape.*', { bins: 8 })];
    t.deepEqual(hr.bins, hs.bins);
    t.is(hs.calls, 200);
    t.is(hs.bins.reduce((n, b) => n + b.count, 0), 200);
    t.deepEqual([hs.bins[0]!.lo, hs.bins.at(-1)!.hi], [1_000, 1_199]);
    const range = { baseline: { since: '1h', until: '30s' }, candidate: { since: '30s', until: 'now' } };
    t.deepEqual(Object.keys(await reader.compare(range)).sort(), Object.keys(await store.compare(range)).sort());
    t.deepEqual(await reader.anomalies({ since: '1h', bucket: '1m' }), await store.anomalies({ since: '1h', bucket: '1m' }));
  } finally {
    reader.close();
    await store.close();
  }
});
