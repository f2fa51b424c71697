/** open(), the JS batch, record(), flush(), close() and counters, against the fake addon (stats(): e2e.test.ts). */
import { delay, freshStore, tempDir } from './helpers/setup';
import test from 'ava';
import { capture, open } from '../index';
import { fake, rowsOf, startNsOf } from './helpers/fake-native';
import { diagnostics } from '../src/diagnostics';
import { originMs } from '../src/time';

test.beforeEach(() => {
  fake.appendCalls.length = 0;
  fake.writerRunsOnCounters = true;
});

test.serial('unknown options and wrong types are refused, naming the option', (t) => {
  t.throws(() => open({ pageRow: 100 } as never), { instanceOf: TypeError, message: 'laptime: unknown option "pageRow" (did you mean "pageRows"?)' });
  t.throws(() => open({ colour: 'red' } as never), { instanceOf: TypeError, message: 'laptime: unknown option "colour"' });
  t.throws(() => open({ pageRows: '100' } as never), { instanceOf: TypeError, message: 'laptime: option "pageRows" must be a number, got string "100"' });
  t.throws(() => open({ pageRows: 1.5 }), { instanceOf: TypeError, message: 'laptime: option "pageRows" must be an integer, got 1.5' });
  t.throws(() => open({ pageRows: Number.NaN }), { instanceOf: TypeError, message: /option "pageRows" must be a finite number/ });
  t.throws(() => open({ ringBytes: -1 }), { instanceOf: RangeError, message: /option "ringBytes" must not be negative/ });
  t.throws(() => open({ sync: 'sometimes' as never }), { instanceOf: TypeError, message: 'laptime: option "sync" must be one of "none", "interval", "always", got string "sometimes"' });
  t.throws(() => open({ dir: 42 } as never), { instanceOf: TypeError, message: /option "dir" must be a string/ });
  t.throws(() => open({ batchSize: 0 }), { instanceOf: RangeError, message: /option "batchSize" must be between 1 and 65536/ });
  t.throws(() => open({ flushIntervalMs: 0 }), { instanceOf: RangeError, message: /option "flushIntervalMs"/ });
  t.throws(() => open('dir' as never), { instanceOf: TypeError, message: /options must be an object/ });
});

test.serial('range errors of the engine come through with the option name', (t) => {
  t.throws(() => open({ dir: tempDir(), pageRows: 1 }), { message: /^laptime: cannot open the store at .*: invalid option `pageRows`: must be between 16/ });
});

test.serial('engine options are passed through; JS options are not', (t) => {
  const store = freshStore(t, { sync: 'always', pageRows: 1024, flushIntervalMs: 50, batchSize: 8, retentionMaxAgeMs: 3_600_000 });
  t.deepEqual(fake.engines.get(store.path)!.options, { sync: 'always', pageRows: 1024, retentionMaxAgeMs: 3_600_000, retentionMaxBytes: 1024 ** 3 });
  t.true(store.enabled);
});

test.serial('a full batch is handed over at once, in one append', async (t) => {
  const store = freshStore(t, { batchSize: 8 });
  const f = capture(() => 1, 'full');
  for (let i = 0; i < 7; i++) f();
  t.is(fake.appendCalls.length, 0);
  f();
  t.deepEqual(
    fake.appendCalls.map((c) => [c.count, c.originMs]),
    [[8, originMs]],
  );
  await store.flush();
  t.is(rowsOf(store.path).length, 8);
});

test.serial('the timer hands the batch over (and is unref\'d)', async (t) => {
  const store = freshStore(t, { flushIntervalMs: 10 });
  capture(() => 1, 'timer')();
  t.is(fake.appendCalls.length, 0);
  await delay(40);
  t.is(fake.appendCalls.length, 1);
  t.is(store.counters().pending, 0);
});

test.serial('flush() covers everything recorded before it', async (t) => {
  const store = freshStore(t);
  fake.writerRunsOnCounters = false;
  const f = capture(() => 1, 'flushed');
  for (let i = 0; i < 100; i++) f();
  t.is(store.counters().pending, 100);
  const done = store.flush();
  t.is(store.counters().pending, 0, 'handed over synchronously');
  t.is(rowsOf(store.path).length, 0);
  await done;
  t.is(rowsOf(store.path).length, 100);
});

test.serial('record(): explicit events, epoch ns converted exactly', async (t) => {
  const store = freshStore(t);
  const base = BigInt(Date.now()) * 1_000_000n;
  const starts: bigint[] = [];
  for (let i = 0; i < 200; i++) starts.push(base - 86_400_000_000_000n * BigInt(i % 15) + BigInt(i * 7919 + 13));
  for (const [i, startNs] of starts.entries()) store.record({ name: 'rec', startNs, durationNs: BigInt(i) * 1001n + 1n, ok: i % 3 !== 0 });
  store.record({ name: 'rec.num', startNs: Number(base), durationNs: 2.6 });
  store.record({ name: 'rec.fields', startNs: base, durationNs: 0n, fields: { route: '/x', n: -5, r: 0.25, b: false } });
  await store.flush();
  const rows = rowsOf(store.path);
  t.deepEqual(
    rows.filter((r) => r.name === 'rec').map((r) => r.startNs),
    starts,
    'every start comes back to the nanosecond (within two weeks of now)',
  );
  t.deepEqual(
    rows.filter((r) => r.name === 'rec').map((r) => [r.durationNs, r.code]),
    starts.map((_, i) => [BigInt(i) * 1001n + 1n, i % 3 !== 0 ? 0 : 1]),
  );
  const num = rows.find((r) => r.name === 'rec.num')!;
  t.true(num.startNs - BigInt(Number(base)) < 1000n && BigInt(Number(base)) - num.startNs < 1000n);
  t.is(num.durationNs, 3n);
  t.deepEqual(rows.find((r) => r.name === 'rec.fields')!.fields, { route: '/x', n: -5, r: 0.25, b: false });
  t.is(startNsOf(originMs, 0) > 0n, true);
});

test.serial('record(): malformed events throw a TypeError naming the field', (t) => {
  const store = freshStore(t);
  t.throws(() => store.record({ name: '', startNs: 1n, durationNs: 1n }), { instanceOf: TypeError, message: /event "name"/ });
  t.throws(() => store.record({ name: 'x', startNs: 'now' as never, durationNs: 1n }), { instanceOf: TypeError, message: /event "startNs"/ });
  t.throws(() => store.record({ name: 'x', startNs: 1n, durationNs: -1n }), { instanceOf: RangeError, message: /event "durationNs" must not be negative/ });
  t.throws(() => store.record({ name: 'x', startNs: 1n, durationNs: 1n, ok: 'yes' as never }), { instanceOf: TypeError, message: /event "ok"/ });
  t.throws(() => store.record({ name: 'x', startNs: 1n, durationNs: 1n, fields: { o: {} as never } }), { instanceOf: TypeError, message: /event "fields.o"/ });
  t.throws(() => store.record(null as never), { instanceOf: TypeError });
});

test.serial('close(): flushes, releases, is idempotent; records after it throw', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  store.record({ name: 'before-close', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 5n });
  const closing = store.close();
  t.is(store.close(), closing);
  t.true(store.closed);
  await closing;
  t.is(rowsOf(store.path).length, 1);
  t.is(fake.engines.get(store.path)!.handles, 0);
  t.throws(() => store.record({ name: 'after', startNs: 1n, durationNs: 1n }), { message: 'laptime: the store is closed' });
  await t.throwsAsync(store.stats(), { message: 'laptime: the store is closed' });
  await t.notThrowsAsync(store.flush());
  t.is(store.counters().accepted, 1, 'last counters stay readable');
});

test.serial('captures bound to a closed store are counted as lost, never thrown', async (t) => {
  const store = open({ dir: tempDir() });
  const f = capture(() => 'still works', { name: 'late', store });
  f();
  await store.close();
  const lost = store.counters().lost;
  t.is(f(), 'still works');
  t.is(f(), 'still works');
  t.is(store.counters().accepted, 1);
  t.is(store.counters().lost, lost + 2);
});

test.serial('append failures are swallowed and counted; dropped batches are counted', async (t) => {
  const store = freshStore(t, { batchSize: 4 });
  const f = capture((x: number) => x, 'fails');
  const before = diagnostics.internalErrors;
  fake.throwOnAppend = 1;
  for (let i = 0; i < 4; i++) t.is(f(i), i);
  t.is(diagnostics.internalErrors, before + 1);
  fake.dropOnAppend = 1;
  for (let i = 0; i < 4; i++) f(i);
  for (let i = 0; i < 4; i++) f(i);
  await store.flush();
  const c = store.counters();
  t.is(c.dropped, 8, '4 lost to the failed append, 4 dropped by the engine');
  t.is(c.accepted, 4);
  t.is(c.internalErrors, diagnostics.internalErrors);
  t.is(rowsOf(store.path).length, 4);
});

test.serial('extras stay bounded: a batch with huge messages is handed over early', (t) => {
  const store = freshStore(t);
  const big = 'x'.repeat(300_000);
  for (let i = 0; i < 4; i++) store.log.info(big);
  t.is(fake.appendCalls.length, 1);
  t.is(fake.appendCalls[0]!.count, 4);
  t.is(store.counters().pending, 0);
});
