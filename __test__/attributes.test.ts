/**
 * Per-call attributes (issue 12): `capture(fn, { fields: (args, result, error) => ... })` stores
 * fields computed from each recorded call, against the real engine. They filter and group like any
 * field (queries and the CLI); bad values next to good ones lose only themselves; a fields function
 * that throws costs only its call's fields; hostile strings arrive intact (lone surrogates as
 * U+FFFD); and the function runs only for recorded calls, after the call is timed.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { capture, open, type Store } from '../index';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test.serial : test.skip;
if (!hasAddon) cannotRun('attribute tests need native/binding.cjs (npm run build:native)');

interface Order {
  tenant: string;
  items: number;
}

async function eventsOf(store: Store, name: string): Promise<Array<{ fields: Record<string, unknown>; ok: boolean; durationNs: number }>> {
  await store.flush();
  const page = await store.events(`name:${name}`, { limit: 1000, order: 'oldest' });
  return page.events.map((e) => ({ fields: e.fields, ok: e.status === 'ok', durationNs: e.durationNs }));
}

/** Collects process warnings by code while `fn` runs. */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (w: Error & { code?: string }) => seen.push(`${w.code ?? ''}: ${w.message}`);
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

e2e('sync, async and failing calls store the fields their function computes', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const place = capture((order: Order) => order.items * 10, {
    name: 'orders.place',
    store,
    fields: ([order], total, error) => ({ tenant: order.tenant, items: order.items, total, failed: error !== undefined }),
  });
  const charge = capture(
    async (order: Order): Promise<string> => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (order.items === 0) throw new RangeError('empty order');
      return `receipt-${order.tenant}`;
    },
    { name: 'orders.charge', store, fields: ([order], receipt) => ({ tenant: order.tenant, receipt }) },
  );
  t.is(place({ tenant: 'acme', items: 3 }), 30);
  t.is(place({ tenant: 'globex', items: 1 }), 10);
  t.is(await charge({ tenant: 'acme', items: 2 }), 'receipt-acme');
  await t.throwsAsync(charge({ tenant: 'initech', items: 0 }), { instanceOf: RangeError });

  const placed = await eventsOf(store, 'orders.place');
  t.deepEqual(
    placed.map((e) => e.fields),
    [
      { tenant: 'acme', items: 3, total: 30, failed: false },
      { tenant: 'globex', items: 1, total: 10, failed: false },
    ],
  );
  const charged = await eventsOf(store, 'orders.charge');
  t.deepEqual(
    charged.map((e) => [e.ok, e.fields]),
    [
      [true, { tenant: 'acme', receipt: 'receipt-acme' }],
      [false, { tenant: 'initech', error: 'RangeError' }],
    ],
    'a failed call gets no result, keeps its error class',
  );
  t.true(charged.every((e) => e.durationNs >= 4_000_000), 'async calls are timed to settlement');
});

e2e('attributes filter and group in queries and in the CLI', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  const handle = capture((req: { tenant: string; route: string; status: number }) => req.status, {
    name: 'http.handle',
    store,
    fields: ([req]) => ({ tenant: req.tenant, route: req.route, status_code: req.status }),
  });
  const tenants = ['acme', 'globex', 'initech'];
  for (let i = 0; i < 300; i++) handle({ tenant: tenants[i % 3]!, route: i % 2 === 0 ? '/users/:id' : '/orders', status: i % 10 === 0 ? 500 : 200 });
  await store.flush();

  const acme = await store.query().filter('tenant=acme').count().run();
  t.is(acme.rows[0]!.count, 100);
  const grouped = await store.query().filter('name:http.handle status_code>=500').groupBy('tenant').count().run();
  t.deepEqual(
    grouped.rows.map((r) => [r.tenant, r.count]).sort(),
    [
      ['acme', 10],
      ['globex', 10],
      ['initech', 10],
    ],
  );
  const routes = await store.query().groupBy('route').count().run();
  t.deepEqual(
    routes.rows.map((r) => [r.route, r.count]).sort(),
    [
      ['/orders', 150],
      ['/users/:id', 150],
    ],
  );
  await store.close();

  const bin = path.join(__dirname, '..', 'bin', 'laptime.cjs');
  const cli = spawnSync(process.execPath, [bin, 'query', '-d', dir, 'tenant=globex', '--group', 'route', '--agg', 'count', '--json'], { encoding: 'utf8' });
  t.is(cli.status, 0, cli.stderr);
  const rows = cli.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { route: string; count: number })
    .map((r) => [r.route, r.count])
    .sort();
  t.deepEqual(rows, [
    ['/orders', 50],
    ['/users/:id', 50],
  ]);
});

e2e('bad values next to good ones lose only themselves; the reserved key and empty keys are left out', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const f = capture((n: number) => n, {
    name: 'odd',
    store,
    fields: ([n]) => ({
      good: 'kept',
      obj: { nested: true },
      fn: () => 1,
      sym: Symbol('s'),
      huge: 2n ** 70n,
      big: 2n ** 60n + 1n,
      neg: -(2n ** 63n),
      nan: Number.NaN,
      inf: -Infinity,
      nul: null,
      und: undefined,
      error: 'mine',
      '': 'empty',
      n,
    }),
  });
  const warnings = await warningsDuring(async () => {
    f(1);
    f(2);
  });
  const events = await eventsOf(store, 'odd');
  t.is(events.length, 2);
  const first = events[0]!.fields;
  t.like(first, { good: 'kept', big: 2n ** 60n + 1n, neg: -(2n ** 63n), inf: -Infinity, n: 1 });
  t.true(Number.isNaN(first.nan as number));
  for (const key of ['obj', 'fn', 'sym', 'huge', 'nul', 'und', 'error', '']) t.false(key in first, key);
  t.is(events[1]!.fields.n, 2);
  t.true(warnings.some((w) => w.startsWith('LAPTIME_FIELD_VALUE: ') && w.includes('"obj"')), warnings.join('\n'));
  t.true(warnings.some((w) => w.startsWith('LAPTIME_FIELD_RESERVED: ')), warnings.join('\n'));
  t.is(store.counters().rejected, 0);
});

e2e('a fields function that throws or returns no object costs only its fields; the call and its neighbours are stored', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const hostile = capture((n: number) => n * 2, {
    name: 'hostile',
    store,
    fields: ([n]) => {
      if (n === 2) throw new Error('fields exploded');
      if (n === 3) return 'not an object' as never;
      return { n };
    },
  });
  const warnings = await warningsDuring(async () => {
    t.deepEqual([1, 2, 3, 4].map(hostile), [2, 4, 6, 8], 'the program sees the same results');
  });
  const events = await eventsOf(store, 'hostile');
  t.deepEqual(
    events.map((e) => e.fields),
    [{ n: 1 }, {}, {}, { n: 4 }],
  );
  t.true(warnings.some((w) => w.startsWith('LAPTIME_FIELDS_THREW: ') && w.includes('fields exploded') && w.includes('hostile')), warnings.join('\n'));
  t.true(warnings.some((w) => w.startsWith('LAPTIME_FIELDS_RESULT: ')), warnings.join('\n'));
});

e2e('hostile strings arrive intact: quotes, newlines, emoji, 100 KB, and lone surrogates as U+FFFD', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const values = ['"quoted"\n\t\\', 'héllo wörld 👋🏽', 'x'.repeat(100_000), 'lone \ud800 high', 'lone \udfff low', '', '<script>alert(1)</script>'];
  const echo = capture((s: string) => s.length, { name: 'echo', store, fields: ([s]) => ({ s, len: s.length }) });
  for (const v of values) echo(v);
  const events = await eventsOf(store, 'echo');
  t.deepEqual(
    events.map((e) => e.fields.s),
    values.map((v) => v.toWellFormed()),
  );
  t.deepEqual(
    events.map((e) => e.fields.len),
    values.map((v) => v.length),
  );
});

e2e('the fields function runs only for recorded calls, after the second clock read', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  let runs = 0;
  const sampled = capture((n: number) => n, {
    name: 'sampled',
    store,
    sample: 0.25,
    fields: ([n]) => {
      runs++;
      return { n };
    },
  });
  for (let i = 0; i < 2000; i++) sampled(i);
  const recorded = (await eventsOf(store, 'sampled')).length;
  t.is(runs, recorded, 'one run per recorded call');
  t.true(recorded > 300 && recorded < 700, `about a quarter recorded, got ${recorded}`);

  const slowFields = capture(() => 1, {
    name: 'slowFields',
    store,
    fields: () => {
      const until = performance.now() + 20;
      while (performance.now() < until);
      return { slow: true };
    },
  });
  slowFields();
  const [event] = await eventsOf(store, 'slowFields');
  t.true(event!.durationNs < 10_000_000, `the fields function's 20 ms are not in the duration (${event!.durationNs} ns)`);
});

e2e('decorators take a fields function typed by its arguments, in both decorator modes', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  class Checkout {
    @capture<[Order], number>({ store, fields: ([order], total) => ({ tenant: order.tenant, total }) })
    place(order: Order): number {
      return order.items * 5;
    }
  }
  const checkout = new Checkout();
  t.is(checkout.place({ tenant: 'acme', items: 2 }), 10);
  const events = await eventsOf(store, 'Checkout.place');
  t.deepEqual(
    events.map((e) => e.fields),
    [{ tenant: 'acme', total: 10 }],
  );
});

e2e('static fields and per-call fields of many calls share batches with record() and logs without mixing rows', async (t) => {
  const store = open({ dir: tempDir(), batchSize: 64 });
  t.teardown(() => store.close());
  const work = capture((i: number) => i, { name: 'mixed', store, fields: ([i]) => ({ i, parity: i % 2 === 0 ? 'even' : 'odd' }) });
  const startNs = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < 1000; i++) {
    work(i);
    if (i % 7 === 0) store.record({ name: 'recorded', startNs, durationNs: 1, fields: { i } });
    if (i % 11 === 0) store.log.info(`log ${i}`, { i });
  }
  const mixed = await eventsOf(store, 'mixed');
  t.is(mixed.length, 1000);
  t.true(mixed.every((e, i) => e.fields.i === i && e.fields.parity === (i % 2 === 0 ? 'even' : 'odd')));
  const recorded = await eventsOf(store, 'recorded');
  t.deepEqual(
    recorded.map((e) => e.fields.i),
    Array.from({ length: 143 }, (_, k) => k * 7),
  );
  await store.flush();
  const logs = await store.events('name:log', { limit: 1000, order: 'oldest' });
  t.true(logs.events.every((e) => e.message === `log ${String(e.fields.i)}`));
  t.is(logs.events.length, 91);
});

e2e('repeated values, sent once per hand-over, arrive on every row whatever the pattern', async (t) => {
  // batchSize 7: hand-overs fall mid-pattern, so references must never cross one.
  const store = open({ dir: tempDir(), batchSize: 7 });
  t.teardown(() => store.close());
  const tenantOf = (i: number) => (i % 3 === 0 ? 'globex' : [...'acme'].join(''));
  const routeOf = (i: number) => (i < 40 ? '/users/:id' : `/orders/${i % 2}`);
  const handle = capture(
    (i: number) => {
      if (i % 5 === 4) throw i % 10 === 4 ? new RangeError('r') : new TypeError('t');
      return i;
    },
    { name: 'memo.handle', store, fields: ([i]) => (i % 11 === 10 ? { route: routeOf(i), tenant: null } : { tenant: tenantOf(i), route: routeOf(i), i }) },
  );
  const other = capture((i: number) => i, { name: 'memo.other', store, fields: ([i]) => ({ route: i % 2 === 0 ? '/users/:id' : '/x' }) });
  const want: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 100; i++) {
    try {
      handle(i);
    } catch {
      // thrown on purpose
    }
    other(i);
    const fields: Record<string, unknown> = i % 11 === 10 ? { route: routeOf(i) } : { tenant: tenantOf(i), route: routeOf(i), i };
    if (i % 5 === 4) fields.error = i % 10 === 4 ? 'RangeError' : 'TypeError';
    want.push(fields);
  }
  t.deepEqual(
    (await eventsOf(store, 'memo.handle')).map((e) => e.fields),
    want,
  );
  t.deepEqual(
    (await eventsOf(store, 'memo.other')).map((e) => e.fields.route),
    Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? '/users/:id' : '/x')),
  );
});
