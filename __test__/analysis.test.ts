/**
 * store.anomalies() and store.compare() against the real engine, on data with planted changes.
 */
import test from 'ava';
import { open, type Store } from '../index';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('analysis tests need native/binding.cjs (npm run build:native)');

const MINUTE_MS = 60_000;
const T0_MS = 1_795_000_020_000; // a whole minute
const END_MS = T0_MS + 60 * MINUTE_MS;

/** Deterministic noise: log-normal durations around 1 ms, 200 calls per minute per function. */
function fill(store: Store): void {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const normal = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  for (let minute = 0; minute < 60; minute++) {
    for (let i = 0; i < 200; i++) {
      const startNs = BigInt(T0_MS + minute * MINUTE_MS) * 1_000_000n + BigInt(i) * 300_000_000n;
      for (const name of ['Steady.get', 'Slow.get', 'Flaky.get']) {
        let durationNs = Math.round(1_000_000 * Math.exp(0.4 * normal())) + 1;
        if (name === 'Slow.get' && minute >= 40) durationNs *= 4;
        const errorRate = name === 'Flaky.get' && minute >= 50 ? 0.2 : 0.01;
        store.record({ name, startNs, durationNs, ok: rand() >= errorRate, fields: { route: '/x' } });
      }
    }
  }
}

e2e('anomalies: the planted p99 step and error-rate jump are found where they start, nothing else', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  fill(store);
  const p99 = await store.anomalies({ since: new Date(T0_MS), until: new Date(END_MS), at: END_MS });
  t.true(p99.length > 0);
  t.deepEqual([...new Set(p99.map((a) => a.name))], ['Slow.get']);
  t.is(p99[0]!.time, T0_MS + 40 * MINUTE_MS);
  t.is(p99[0]!.bucketMs, 60_000);
  t.is(p99[0]!.metric, 'p99');
  t.is(p99[0]!.direction, 'up');
  t.true(p99[0]!.relativeChange > 2, `${p99[0]!.relativeChange}`);
  const errors = await store.anomalies({ since: new Date(T0_MS), until: new Date(END_MS), metric: 'errorRate', at: END_MS, filter: 'route:/x' });
  t.deepEqual(
    errors.slice(0, 1).map((a) => [a.name, a.time]),
    [['Flaky.get', T0_MS + 50 * MINUTE_MS]],
  );
  t.true(errors.every((a) => a.name === 'Flaky.get'));
  const none = await store.anomalies({ since: new Date(T0_MS), until: new Date(END_MS), name: 'Steady.*', direction: 'both', at: END_MS });
  t.deepEqual(none, []);
  await t.throwsAsync(store.anomalies({ metric: 'p95' as 'p99' }), { instanceOf: TypeError, message: /metric/ });
  await t.throwsAsync(store.anomalies({ treshold: 3 } as never), { instanceOf: TypeError, message: /did you mean "threshold"/ });
  await t.throwsAsync(store.anomalies({ bucket: '0s' }), { message: /bucket/ });
});

e2e('compare: before/after ranges give regressed, unchanged and error-rate verdicts', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  fill(store);
  for (const exact of [false, true]) {
    const { functions, stats } = await store.compare({
      baseline: { since: new Date(T0_MS), until: new Date(T0_MS + 30 * MINUTE_MS) },
      candidate: { since: new Date(T0_MS + 52 * MINUTE_MS), until: new Date(END_MS) },
      exact,
    });
    t.is(stats.exactPercentiles, exact);
    const by = Object.fromEntries(functions.map((f) => [f.name, f]));
    t.is(by['Slow.get']!.verdict, 'regressed');
    t.is(by['Flaky.get']!.verdict, 'regressed');
    t.true(by['Flaky.get']!.errorRate.significant);
    t.is(by['Steady.get']!.verdict, 'unchanged');
    t.is(functions[functions.length - 1]!.name, 'Steady.get', 'regressed first');
    const p99 = by['Slow.get']!.percentiles.find((p) => p.percentile === 99)!;
    t.true(p99.significant);
    t.true(p99.relativeChange > 2.5 && p99.relativeChange < 3.5, `${p99.relativeChange}`);
    t.true(p99.baselineInterval[0] <= p99.baseline && p99.baseline <= p99.baselineInterval[1]);
    // 30 minutes x 200 calls; about 1% of them failed.
    const base = by['Slow.get']!.baseline;
    t.is(base.calls, 6000);
    t.true(base.errors > 20 && base.errors < 100, `${base.errors} errors`);
    t.is(base.errorRate, base.errors / 6000);
  }
  await t.throwsAsync(store.compare({ baseline: { since: '1h', until: '2h' }, candidate: { since: '1h', until: new Date() } }), { instanceOf: RangeError, message: /baseline.*empty/ });
});
