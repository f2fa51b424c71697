/**
 * Invariant 11, a bad event costs only itself, against the real addon: `record()` refuses bad
 * events before buffering them, and the native hand-over refuses only the invalid rows of a batch
 * (counted in `rejected`), never their valid neighbours.
 */
import test from 'ava';
import { capture, open, type Store } from '../index';
import type { NativeBinding, NativeFieldColumns, NativeStoreHandle } from '../src/native';
import { ownRows, slotRows, type Rows } from '../src/batch';
import { originMs } from '../src/time';
import { bindingPath, hasAddon, tempDir, cannotRun } from './helpers/real';

const real = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('bad-event tests need native/binding.cjs (npm run build:native)');

/** A second native handle on `store`'s directory: the core shares one engine per directory in a process. */
function nativeOf(store: Store): NativeStoreHandle {
  const binding = require(bindingPath) as NativeBinding;
  const handle = binding.NativeStore.open(store.path, {});
  return handle;
}

const BAD_STARTS: readonly unknown[] = [-1e12, -1n, 2n ** 64n, 2 ** 64, NaN, Infinity, -Infinity, 1.5, '1', null];

real('a bad record() among 4,095 good ones throws at once and every good one is stored (sync always)', async (t) => {
  for (const bad of BAD_STARTS) {
    const store = open({ dir: tempDir(), sync: 'always', batchSize: 4096 });
    const now = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 2000; i++) store.record({ name: 'good', startNs: now + BigInt(i), durationNs: 10 });
    const err = t.throws(() => store.record({ name: 'bad', startNs: bad as bigint, durationNs: 10 }), { message: /startNs/ }, String(bad));
    t.true(err instanceof RangeError || err instanceof TypeError, String(bad));
    t.true(err!.message.includes(typeof bad === 'bigint' ? `${bad}` : String(bad)), `the value is named: ${err!.message}`);
    for (let i = 2000; i < 4095; i++) store.record({ name: 'good', startNs: now + BigInt(i), durationNs: 10 });
    await store.flush();
    const { rows, counters } = await store.stats();
    t.deepEqual(
      rows.map((r) => [r.name, r.count]),
      [['good', 4095]],
      String(bad),
    );
    t.like(counters, { accepted: 4095, written: 4095, durable: 4095, dropped: 0, rejected: 0 }, String(bad));
    await store.close();
  }
});

real('record() names each bad field and value, and keeps nothing of a refused event', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const now = BigInt(Date.now()) * 1_000_000n;
  const cases: Array<[unknown, RegExp, typeof RangeError | typeof TypeError]> = [
    [{ name: 'x', startNs: 13n * 10n ** 18n, durationNs: 1 }, /startNs.*13000000000000000000/, RangeError],
    [{ name: 'x', startNs: now, durationNs: -1 }, /durationNs.*-1/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 2n ** 64n }, /durationNs.*18446744073709551616/, RangeError],
    [{ name: 'x', startNs: now, durationNs: NaN }, /durationNs.*NaN/, RangeError],
    [{ name: 'x', startNs: now, durationNs: Infinity }, /durationNs.*Infinity/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 1n, ok: 1 }, /"ok"/, TypeError],
    [{ name: '', startNs: now, durationNs: 1n }, /"name"/, TypeError],
    [{ name: 7, startNs: now, durationNs: 1n }, /"name".*7/, TypeError],
    [{ name: 'bad\ud800', startNs: now, durationNs: 1n }, /"name".*surrogate/, TypeError],
    [{ name: 'x'.repeat(70_000), startNs: now, durationNs: 1n }, /"name".*70000/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { big: 2n ** 63n } }, /fields\.big.*9223372036854775808/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { inf: Infinity } }, /fields\.inf.*Infinity/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { nan: NaN } }, /fields\.nan.*NaN/, RangeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { o: {} } }, /fields\.o/, TypeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { u: undefined } }, /fields\.u.*undefined/, TypeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { '': 1 } }, /fields.*empty/, TypeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: { s: 'a\udc00' } }, /fields\.s.*surrogate/, TypeError],
    [{ name: 'x', startNs: now, durationNs: 1n, fields: [1] }, /"fields"/, TypeError],
  ];
  for (const [event, message, type] of cases) {
    t.throws(() => store.record(event as never), { instanceOf: type, message }, message.source);
  }
  // Edge values that are valid: negative zero, the largest duration, i64 bounds, doubles as fields.
  store.record({ name: 'edge', startNs: -0 as number, durationNs: -0 });
  store.record({ name: 'edge', startNs: now, durationNs: 2n ** 64n - 1n, fields: { lo: -(2n ** 63n), hi: 2n ** 63n - 1n, f: 0.5, big: 1e300 } });
  store.record({ name: 'edge', startNs: 2n ** 62n, durationNs: 0n });
  // Just after 1970 a double offset is coarse; these must still be placed, never refused.
  for (const near of [1n, 7n, 100n, 255n, 999n]) store.record({ name: 'edge', startNs: near, durationNs: 1n });
  await store.flush();
  const { rows, counters } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count]),
    [['edge', 8]],
  );
  t.like(counters, { accepted: 8, written: 8, rejected: 0, dropped: 0 });
  const events = (await store.events('name:edge', { limit: 10, order: 'oldest' })).events;
  // Far from the thread's time origin a start is as exact as the addon's double offsets allow.
  t.true(events[0]!.startNs < 1000n, `start ${events[0]!.startNs}`);
});

/**
 * Fill `rows` with 4,096 rows of `good`, 9 of them invalid in each way (spread through the batch),
 * and give the field columns that go with them (src/batch.ts: tag 0 a whole number, tag 3 a
 * string of `nums[i]` text units; one entry names a key never interned, one is on a bad row).
 */
function badBatch(rows: Rows, good: number, key: number): NativeFieldColumns {
  const { names, starts, durations, codes } = rows;
  names.fill(good);
  durations.fill(0.001);
  codes.fill(0);
  for (let i = 0; i < names.length; i++) starts[i] = i * 0.001;
  starts[10] = -1e13; // before 1970
  starts[20] = NaN;
  starts[30] = Infinity;
  starts[40] = 1e300; // after 2554
  names[50] = 999_999; // never interned
  codes[60] = 200; // no such code
  durations[70] = -5;
  durations[80] = NaN;
  return {
    rows: new Uint32Array([5, 50, 90, 100]),
    keys: new Uint32Array([key, key, 123_456, key]),
    tags: new Uint8Array([0, 0, 0, 3]),
    nums: new Float64Array([1, 2, 3, 4]),
    count: 4,
    text: 'kept',
  };
}

real('a bad event handed to the native append directly costs only itself: neighbours stored, rejected counted', async (t) => {
  const store = open({ dir: tempDir(), sync: 'always' });
  const native = nativeOf(store);
  t.teardown(async () => {
    await native.close();
    await store.close();
  });
  const good = native.intern('good');
  const key = native.intern('k');
  const n = 4096;
  const { names, starts, durations, codes } = ownRows(n);
  const fields = badBatch({ names, starts, durations, codes }, good, key);
  const refused = native.append(names, starts, durations, codes, n, originMs, fields);
  t.is(typeof refused, 'string');
  t.regex(refused as string, /9 invalid events refused/);
  t.regex(refused as string, /startOffsetsMs\[10\] = -10000000000000 /, 'the first bad value is named');
  await store.flush();
  const c = store.counters();
  t.like(c, { accepted: n - 9, written: n - 9, durable: n - 9, rejected: 9, dropped: 0 });
  const { rows } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count]),
    [['good', n - 9]],
  );
  const first = (await store.events('', { limit: 200, order: 'oldest' })).events;
  t.deepEqual(
    first.filter((e) => Object.keys(e.fields).length > 0).map((e) => e.fields),
    [{ k: 1 }, { k: 'kept' }],
    'fields stay on their own rows after the bad rows are taken out',
  );
  // A clean batch is accepted and reports nothing.
  t.is(native.append(names.subarray(0, 1), starts.subarray(0, 1), durations.subarray(0, 1), codes.subarray(0, 1), 1, originMs, null), null);
});

real('the same bad events handed over in a slot cost only themselves: the writer converts and refuses them, the next hand-over reports the first', async (t) => {
  const store = open({ dir: tempDir(), sync: 'always' });
  const native = nativeOf(store);
  t.teardown(async () => {
    await native.close();
    await store.close();
  });
  const good = native.intern('good');
  const key = native.intern('k');
  const n = 4096;
  const memory = native.newSlot(n);
  if (memory === null) return t.fail('this runtime allows external ArrayBuffers; newSlot must give one');
  const fields = badBatch(slotRows(memory, n), good, key);
  const handed = native.handOver(0, n, originMs, fields);
  t.is(handed.next, 1, 'slot 0 is the writer\'s now: JS is sent to a new slot');
  // JS reuses its field arrays at once: the hand-over copied them.
  fields.rows.fill(0);
  fields.keys.fill(0);
  // Refusals go to the handle that handed the rows over: the store's own checks do not take them.
  await store.flush();
  t.like(store.counters(), { accepted: n - 9, written: n - 9, durable: n - 9, rejected: 9, dropped: 0 });
  const refused = native.takeRefusal();
  t.regex(refused ?? '', /invalid events refused/);
  t.regex(refused ?? '', /startOffsetsMs\[10\] = -10000000000000 /, 'the first bad value is named');
  t.is(native.takeRefusal(), null, 'reported once');
  const { rows } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count]),
    [['good', n - 9]],
  );
  const first = (await store.events('', { limit: 200, order: 'oldest' })).events;
  t.deepEqual(
    first.filter((e) => Object.keys(e.fields).length > 0).map((e) => e.fields),
    [{ k: 1 }, { k: 'kept' }],
  );
  // Slot 0 is free again once stored; a second slot comes in order and holds its own rows.
  const second = native.newSlot(n);
  t.truthy(second);
  const again = native.handOver(0, 1, originMs, null);
  t.true(again.next === 1 || again.next === 0, `next ${again.next}`);
  t.is(again.refused, undefined);
  // Calls that do not fit are TypeErrors naming what, and hand nothing over.
  t.throws(() => native.handOver(7, 1, originMs, null), { instanceOf: TypeError, message: /slot 7 does not exist \(2 slots\)/ });
  t.throws(() => native.handOver(1, n + 1, originMs, null), { instanceOf: TypeError, message: /count 4097 exceeds the rows of slot 1 \(4096\)/ });
  t.throws(() => native.handOver(1, 1, NaN, null), { instanceOf: TypeError, message: /originMs must be epoch milliseconds/ });
  t.throws(() => native.newSlot(0), { message: /a slot holds 1 to 65536 rows, 0 were asked for/ });
  t.throws(() => native.newSlot(70_000), { message: /70000/ });
  await store.flush();
  t.like(store.counters(), { written: n - 8, rejected: 9 });
});

real('a writer far behind (sync always, small batches, no pause) loses nothing: every hand-over is stored or counted', async (t) => {
  const store = open({ dir: tempDir(), sync: 'always', batchSize: 64 });
  t.teardown(() => store.close());
  const f = capture((x: number) => x + 1, { name: 'flood', store });
  const total = 200_000;
  for (let i = 0; i < total; i++) f(i);
  await store.flush();
  const c = store.counters();
  t.is(c.accepted + c.dropped, total, 'every call counted once');
  t.like(c, { written: c.accepted, rejected: 0, lost: 0 });
  const { rows } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count]),
    c.accepted > 0 ? [['flood', c.accepted]] : [],
  );
  t.true(c.accepted >= total / 2, `most calls are stored (${c.accepted} of ${total})`);
});

real('captured calls sharing a batch with record()s are all stored, and a capture can never produce an invalid event', async (t) => {
  const store = open({ dir: tempDir(), sync: 'always', batchSize: 4096 });
  t.teardown(() => store.close());
  const now = BigInt(Date.now()) * 1_000_000n;
  const f = capture((x: number) => x + 1, { name: 'cap', store });
  const g = capture(
    async (x: number) => {
      if (x % 2 === 0) throw new Error('even');
      return x;
    },
    { name: 'cap.async', store, fields: { big: 2n ** 63n - 1n, neg: -0, s: 'v\ud800' } },
  );
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < 3000; i++) {
    f(i);
    if (i % 3 === 0) pending.push(g(i).catch(() => undefined));
    if (i % 100 === 0) {
      try {
        store.record({ name: 'rec', startNs: -1n, durationNs: 1 });
      } catch {
        // refused at the edge; its neighbours go on
      }
      store.record({ name: 'rec', startNs: now + BigInt(i), durationNs: 1 });
    }
  }
  await Promise.all(pending);
  await store.flush();
  const { rows, counters } = await store.stats();
  t.deepEqual(
    rows.map((r) => [r.name, r.count, r.errors]),
    [
      ['cap', 3000, 0],
      ['cap.async', 1000, 500],
      ['rec', 30, 0],
    ],
  );
  t.like(counters, { accepted: 4030, written: 4030, dropped: 0, rejected: 0 });
});

real('a huge log message is cut with a note, never stops the writer for its neighbours', async (t) => {
  const store = open({ dir: tempDir(), sync: 'always' });
  t.teardown(() => store.close());
  store.log.info('before');
  // 70 MB: more than one write-ahead-log record holds; it used to stop the store's writer for good.
  store.log.info('x'.repeat(70_000_000), { blob: 'y'.repeat(3_000_000) });
  store.log.info('after');
  await store.flush();
  t.like(store.counters(), { written: 3, rejected: 0, dropped: 0, discarded: 0 });
  const events = (await store.events('', { limit: 10, order: 'oldest' })).events;
  t.deepEqual(
    events.map((e) => (e.message ?? '').length),
    [6, 1_048_576 + ' [laptime: 68951424 more characters cut]'.length + 1, 5],
  );
  t.regex(events[1]!.message!, /… \[laptime: 68951424 more characters cut\]$/);
  t.regex(String(events[1]!.fields.blob), /… \[laptime: 1951424 more characters cut\]$/);
});
