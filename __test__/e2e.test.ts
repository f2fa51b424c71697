/**
 * End to end against the real addon: decorated calls to stats, worker threads sharing a store,
 * SIGKILL after acknowledged flushes, SIGTERM and process.exit with buffered events.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { capture, FilterSyntaxError, open, setDefaultStore } from '../index';
import { spawnFixture, tsWorkerSource } from './helpers/child';
import { MODE } from './helpers/mode';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('end-to-end tests need native/binding.cjs (npm run build:native)');

class Orders {
  @capture()
  place(n: number): number {
    return n;
  }

  @capture()
  async ship(n: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (n % 4 === 0) throw new Error('no stock');
    return n;
  }

  @capture()
  static audit(): void {
    throw new TypeError('audit failed');
  }
}

e2e(`decorated calls (${MODE} decorators) -> flush -> stats: counts and error counts`, async (t) => {
  const store = open({ dir: tempDir() });
  t.true(store.enabled);
  setDefaultStore(store);
  t.teardown(() => store.close());
  const orders = new Orders();
  for (let i = 0; i < 1000; i++) orders.place(i);
  const shipped = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => orders.ship(i)));
  t.is(shipped.filter((s) => s.status === 'rejected').length, 10);
  for (let i = 0; i < 3; i++) t.throws(() => Orders.audit(), { instanceOf: TypeError });
  await store.flush();
  const { rows, counters } = await store.stats();
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  t.like(byName['Orders.place'], { count: 1000, errors: 0, logs: 0 });
  t.like(byName['Orders.ship'], { count: 40, errors: 10, errorRate: 0.25 });
  t.like(byName['Orders.audit'], { count: 3, errors: 3 });
  t.true(byName['Orders.ship']!.p50! >= 500_000, 'async calls timed to settlement (>= 0.5 ms)');
  t.is(counters.accepted, 1043);
  t.is(counters.written, 1043);
  t.is(counters.dropped, 0);
});

e2e('record(), logs and filters through the real engine', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let i = 1; i <= 1000; i++) store.record({ name: 'rec', startNs: now - BigInt(i) * 1_000_000n, durationNs: i * 1000, ok: i % 100 !== 0, fields: { i } });
  store.record({ name: 'rec', startNs: now - 7_200_000_000_000n, durationNs: 5 });
  store.log.info('hello', { user: 'ann' });
  store.logger('audit').warn('careful');
  const all = await store.stats();
  t.deepEqual(
    all.rows.map((r) => [r.name, r.count, r.errors, r.logs]),
    [
      ['audit', 0, 0, 1],
      ['log', 0, 0, 1],
      ['rec', 1001, 10, 0],
    ],
  );
  const recent = (await store.stats({ since: '1h', name: 'rec' })).rows[0]!;
  t.is(recent.count, 1000);
  t.is(recent.min, 1000);
  t.is(recent.max, 1_000_000);
  const near = (actual: number | null, expected: number) => actual !== null && Math.abs(actual - expected) <= expected * 0.02;
  t.true(near(recent.p50, 500_000), `p50 ${recent.p50}`);
  t.true(near(recent.p90, 900_000), `p90 ${recent.p90}`);
  t.true(near(recent.p99, 990_000), `p99 ${recent.p99}`);
  t.is((await store.stats({ until: Date.now() - 3_600_000 })).rows[0]!.count, 1);
});

e2e('captures from worker threads land in the same store', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  t.teardown(() => store.close());
  const main = capture((i: number) => i, { name: 'main.work', store });
  for (let i = 0; i < 300; i++) main(i);
  const results = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<{ enabled: boolean }>((resolve, reject) => {
          const worker = new Worker(tsWorkerSource(require.resolve('./fixtures/real-worker.ts')), { eval: true, workerData: { dir, count: 250 } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  t.deepEqual(results, [{ enabled: true }, { enabled: true }]);
  for (let i = 0; i < 300; i++) main(i);
  const { rows } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count]),
    [
      ['main.work', 600],
      ['worker.work', 500],
    ],
    "a worker closing its handle does not close the main thread's",
  );
});

for (const writers of [1, 2]) {
  e2e(`stress: four workers and the main thread capture 100k calls each at full speed, every call stored once (${writers} writer${writers > 1 ? 's' : ''})`, async (t) => {
    const dir = tempDir();
    const store = open({ dir, overflow: 'block', blockTimeoutMs: 10_000, writers });
    t.teardown(() => store.close());
    // One partition per writer of the process (the workers join the main thread's engine).
    t.is(readdirSync(join(dir, 'partitions')).length, writers);
    const count = 100_000;
    const main = capture((i: number) => i * 2, { name: 'stress.main', store });
    const workers = [0, 1, 2, 3].map(
      () =>
        new Promise<{ enabled: boolean }>((resolve, reject) => {
          const worker = new Worker(tsWorkerSource(require.resolve('./fixtures/real-worker.ts')), {
            eval: true,
            workerData: { dir, count, name: 'stress.worker', block: true },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    );
    for (let i = 0; i < count; i++) main(i);
    t.deepEqual(await Promise.all(workers), [0, 1, 2, 3].map(() => ({ enabled: true })));
    const { rows, counters } = await store.stats({ name: ['stress.main', 'stress.worker'] });
    t.deepEqual(
      rows.map((r) => [r.name, r.count, r.errors]),
      [
        ['stress.main', count, 0],
        ['stress.worker', 4 * count, 0],
      ],
    );
    t.is(counters.dropped + counters.discarded, 0);
  });
}

e2e('writers out of range or not whole are refused, naming the option, before any partition is made', (t) => {
  for (const writers of [0, 17, 1.5]) {
    const dir = tempDir();
    const err = t.throws(() => open({ dir, writers }));
    t.is((err as NodeJS.ErrnoException).code, 'INVALID_OPTION', String(err));
    t.regex(err!.message, /[`"]writers[`"]/);
    t.false(existsSync(join(dir, 'partitions')), `no partition made for writers: ${writers}`);
  }
  t.throws(() => open({ dir: tempDir(), writers: '2' as unknown as number }), { instanceOf: TypeError, message: /writers/ });
});

e2e('SIGKILL after acknowledged flushes (sync: always): the store reopens with every acknowledged event', async (t) => {
  const dir = tempDir();
  const child = spawnFixture('real-child.ts', ['ack-loop', dir]);
  await child.waitFor('ACK 1500');
  child.process.kill('SIGKILL');
  const result = await child.done;
  t.is(result.signal, 'SIGKILL');
  const acks = [...result.stdout.matchAll(/^ACK (\d+)$/gm)].map((m) => Number(m[1]));
  const acknowledged = acks[acks.length - 1]!;
  const store = open({ dir });
  t.teardown(() => store.close());
  const row = (await store.stats({ name: 'Worker.step' })).rows[0];
  t.truthy(row);
  t.true(row!.count >= acknowledged, `${row!.count} stored, ${acknowledged} acknowledged`);
  t.true(row!.count <= acknowledged + 500, 'nothing invented');
});

e2e('SIGTERM: buffered events are flushed, then the process ends by SIGTERM', async (t) => {
  const dir = tempDir();
  const child = spawnFixture('real-child.ts', ['buffered', dir, '2000']);
  await child.waitFor('READY');
  child.process.kill('SIGTERM');
  const result = await child.done;
  t.is(result.signal, 'SIGTERM', result.stderr);
  const store = open({ dir });
  t.teardown(() => store.close());
  const rows = (await store.stats()).rows;
  t.like(
    Object.fromEntries(rows.map((r) => [r.name, [r.count, r.errors]])),
    { 'Worker.step': [2000, 0], 'Worker.fail': [200, 200] },
  );
});

for (const scenario of ['process-exit', 'natural']) {
  e2e(`${scenario === 'natural' ? 'natural end' : 'process.exit()'} with buffered events: all written`, async (t) => {
    const dir = tempDir();
    const result = await spawnFixture('real-child.ts', [scenario, dir, '3000']).done;
    t.is(result.code, 0, result.stderr);
    const store = open({ dir });
    t.teardown(() => store.close());
    const step = (await store.stats({ name: 'Worker.step' })).rows[0];
    t.is(step?.count, 3000);
  });
}

e2e('stats(): one engine query; options checked, rows in the public shape, rate over the calls seen, counters included', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const now = BigInt(Date.now()) * 1_000_000n;
  const hour = 3_600_000_000_000n;
  for (let i = 1; i <= 100; i++) store.record({ name: 'a', startNs: now - 1000n * BigInt(i), durationNs: BigInt(i) * 1000n, ok: i % 10 !== 0 });
  store.record({ name: 'a', startNs: now - 3n * hour, durationNs: 1n });
  store.record({ name: 'b', startNs: now, durationNs: 7n });
  store.log.info('hello');
  const all = await store.stats();
  t.deepEqual(
    all.rows.map((r) => [r.name, r.count, r.errors, r.logs]),
    [
      ['a', 101, 10, 0],
      ['b', 1, 0, 0],
      ['log', 0, 0, 1],
    ],
  );
  t.is(all.rows[2]!.p99, null);
  t.is(all.rows[2]!.rate, 0, 'no calls under that name, calls seen elsewhere');
  const recent = await store.stats({ since: '1h', name: 'a' });
  t.is(recent.rows.length, 1);
  const a = recent.rows[0]!;
  t.like(a, { name: 'a', count: 100, errors: 10, errorRate: 0.1, min: 1000, max: 100_000, logs: 0 });
  t.is(a.mean, 50_500);
  // Percentiles come from the sketches: within 1 %.
  for (const [got, want] of [[a.p50, 50_000], [a.p90, 90_000], [a.p99, 99_000]] as const) t.true(Math.abs(got! - want) <= want * 0.01, `${got} vs ${want}`);
  // Calls in the range were seen from now - 100 us (a) to now (b): 100 calls of a in 100 us.
  t.true(Math.abs(a.rate! - 1e6) < 1e-3, String(a.rate));
  t.is(recent.counters.accepted, 103);
  t.is(recent.counters.pending, 0);
  t.is((await store.stats({ since: new Date(Date.now() + 60_000) })).rows.length, 0);
  t.is((await store.stats({ until: Date.now() - 2 * 3_600_000 })).rows.length, 1);
  t.deepEqual((await store.stats({ name: ['b', 'log'] })).rows.map((r) => r.name), ['b', 'log']);
  t.is((await store.stats({ name: 'a*' })).rows.length, 0, 'names are exact, not globs');
  t.is((await store.stats({ since: new Date(Date.now() - 60_000).toISOString() })).rows.length, 3);
  await t.throwsAsync(store.stats({ since: 'yesterday' }), { instanceOf: FilterSyntaxError, message: /invalid time "yesterday" at 0: expected a time such as now, 1h, 7d/ });
  await t.throwsAsync(store.stats({ since: 5n as never }), { instanceOf: TypeError, message: /must be a Date, epoch milliseconds or a time string/ });
  await t.throwsAsync(store.stats({ nme: 'a' } as never), { instanceOf: TypeError, message: /unknown stats option "nme" \(did you mean "name"\?\)/ });
  await t.throwsAsync(store.stats({ name: [1] as never }), { instanceOf: TypeError, message: /option "name"/ });
});
