/**
 * laptime/otel against the real addon and the real OpenTelemetry SDK: every ended span becomes one
 * stored call with the span's exact start (epoch ns) and duration, its status and chosen attributes;
 * the http auto-instrumentation on a real node:http server feeds it with no code change.
 */
import test from 'ava';
import { context, SpanKind, SpanStatusCode, trace, type HrTime, type Span } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { open, openReader, setDefaultStore, type StoredEvent, type Store } from '../index';
import { DEFAULT_SPAN_ATTRIBUTES, hrTimeToNs, LaptimeSpanProcessor } from '../src/otel';
import { cannotRun, hasAddon, tempDir } from './helpers/real';

const real = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('OpenTelemetry bridge tests need native/binding.cjs (npm run build:native)');

/** A provider feeding `store` through laptime and, for comparison, an in-memory exporter. */
function tracing(store: Store, options: ConstructorParameters<typeof LaptimeSpanProcessor>[0] = {}) {
  const exporter = new InMemorySpanExporter();
  const processor = new LaptimeSpanProcessor({ store, ...options });
  // The type check that matters: the processor is an SDK SpanProcessor.
  const asSdk: SpanProcessor = processor;
  const provider = new BasicTracerProvider({ spanProcessors: [asSdk, new SimpleSpanProcessor(exporter)] });
  return { provider, processor, exporter, tracer: provider.getTracer('laptime-test') };
}

async function allEvents(store: Store): Promise<StoredEvent[]> {
  await store.flush();
  return (await store.events(undefined, { limit: 10_000 })).events;
}

/** Epoch ns of an OTel [seconds, nanos] tuple, computed independently of the code under test. */
function exactNs([s, ns]: HrTime): bigint {
  return BigInt(s) * 1_000_000_000n + BigInt(ns);
}

/** [seconds, nanos] from epoch ns, computed independently of the code under test. */
function hr(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

// Ten seconds ago, with nanoseconds a rounding to ms or µs would lose.
const BASE_NS = (BigInt(Date.now()) / 1000n - 10n) * 1_000_000_000n + 123_456_789n;

real('each ended span is one call: name, exact start ns and duration, kind', async (t) => {
  const store = open({ dir: tempDir() });
  const { provider, tracer } = tracing(store);
  // 1 ns, sub-ms, a carry across the second boundary, more than 4 s (a ms/ns or s/ns mix-up shows).
  const cases: Array<[string, bigint, bigint, SpanKind]> = [
    ['tiny', BASE_NS, 1n, SpanKind.INTERNAL],
    ['sub-ms', BASE_NS + 1_000n, 987_654n, SpanKind.SERVER],
    ['carry', BASE_NS + 2_000n, 900_000_001n, SpanKind.CLIENT],
    ['long', BASE_NS + 3_000n, 4_321_987_654n, SpanKind.PRODUCER],
    ['zero', BASE_NS + 4_000n, 0n, SpanKind.CONSUMER],
  ];
  for (const [name, start, duration, kind] of cases) tracer.startSpan(name, { kind, startTime: hr(start) }).end(hr(start + duration));
  await provider.forceFlush();
  const rows = await allEvents(store);
  t.is(rows.length, cases.length);
  for (const [name, start, duration, kind] of cases) {
    const row = rows.find((r) => r.name === name);
    t.truthy(row, name);
    t.is(row!.startNs, start, `${name} start`);
    t.is(row!.durationNs, Number(duration), `${name} duration`);
    t.is(row!.kind, 'call');
    t.is(row!.status, 'ok', name);
    t.deepEqual(row!.fields, { 'span.kind': SpanKind[kind].toLowerCase() }, name);
  }
  await store.close();
});

real('start times given as epoch ms numbers and Dates land where OTel itself put them', async (t) => {
  const store = open({ dir: tempDir() });
  const { provider, tracer, exporter } = tracing(store);
  const ms = Number(BASE_NS / 1_000_000n) + 0.25; // a fraction of a ms: 250 µs
  tracer.startSpan('from-number', { startTime: ms }).end(ms + 12.5);
  tracer.startSpan('from-date', { startTime: new Date(Math.floor(ms)) }).end(new Date(Math.floor(ms) + 3));
  const live = tracer.startSpan('from-clock');
  await new Promise((resolve) => setTimeout(resolve, 20));
  live.end();
  await provider.forceFlush();
  const rows = await allEvents(store);
  const spans = exporter.getFinishedSpans();
  t.is(rows.length, spans.length);
  for (const span of spans) {
    const row = rows.find((r) => r.name === span.name)!;
    t.is(row.startNs, exactNs(span.startTime), span.name);
    t.is(row.durationNs, span.duration[0] * 1e9 + span.duration[1], span.name);
  }
  const byName = new Map(rows.map((r) => [r.name, r]));
  t.is(byName.get('from-number')!.durationNs, 12_500_000);
  t.is(byName.get('from-date')!.durationNs, 3_000_000);
  t.is(byName.get('from-date')!.startNs, BigInt(Math.floor(ms)) * 1_000_000n);
  t.true(byName.get('from-clock')!.durationNs >= 19_000_000, `${byName.get('from-clock')!.durationNs} ns for a 20 ms wait`);
  await store.close();
});

real('status ERROR is a failed call; OK, UNSET and a recorded exception alone are not', async (t) => {
  const store = open({ dir: tempDir() });
  const { provider, tracer } = tracing(store);
  const err = tracer.startSpan('failing', { startTime: hr(BASE_NS) });
  err.recordException(new Error('boom'));
  err.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  err.end(hr(BASE_NS + 5n));
  const ok = tracer.startSpan('ok', { startTime: hr(BASE_NS) });
  ok.setStatus({ code: SpanStatusCode.OK });
  ok.end(hr(BASE_NS + 5n));
  tracer.startSpan('unset', { startTime: hr(BASE_NS) }).end(hr(BASE_NS + 5n));
  const handled = tracer.startSpan('handled', { startTime: hr(BASE_NS) });
  handled.recordException(new Error('retried'));
  handled.end(hr(BASE_NS + 5n));
  await provider.forceFlush();
  const status = Object.fromEntries((await allEvents(store)).map((r) => [r.name, r.status]));
  t.deepEqual(status, { failing: 'error', ok: 'ok', unset: 'ok', handled: 'ok' });
  const { rows } = await store.query().filter('status:error').groupBy('name').count().run();
  t.deepEqual(rows, [{ name: 'failing', count: 1 }]);
  await store.close();
});

real('attributes: the default list (new and old HTTP names), a chosen list, or all; arrays skipped', async (t) => {
  const attributes = {
    'http.request.method': 'GET',
    'http.method': 'GET',
    'http.route': '/users/:id',
    'http.response.status_code': 404,
    'http.status_code': 404,
    'url.path': '/users/42',
    tenant: 'acme',
    retried: true,
    ratio: 0.5,
    tags: ['a', 'b'],
    ids: [1, 2],
  };
  const expectDefault = {
    'span.kind': 'server',
    'http.request.method': 'GET',
    'http.method': 'GET',
    'http.route': '/users/:id',
    'http.response.status_code': 404,
    'http.status_code': 404,
  };
  const choices: Array<[LaptimeSpanProcessorAttributes, Record<string, string | number | boolean>]> = [
    [undefined, expectDefault],
    [['tenant', 'retried', 'ratio', 'tags', 'missing'], { 'span.kind': 'server', tenant: 'acme', retried: true, ratio: 0.5 }],
    [true, { ...expectDefault, 'url.path': '/users/42', tenant: 'acme', retried: true, ratio: 0.5 }],
    [[], { 'span.kind': 'server' }],
  ];
  for (const [choice, expected] of choices) {
    const store = open({ dir: tempDir() });
    const { provider, tracer } = tracing(store, choice === undefined ? {} : { attributes: choice });
    tracer.startSpan('GET /users/:id', { kind: SpanKind.SERVER, attributes }).end();
    await provider.forceFlush();
    const rows = await allEvents(store);
    t.is(rows.length, 1);
    t.deepEqual(rows[0]!.fields, expected, JSON.stringify(choice));
    await store.close();
  }
  t.true(DEFAULT_SPAN_ATTRIBUTES.includes('http.route'));
  // Recorded attributes are columns: filter and group by them.
  const store = open({ dir: tempDir() });
  const { provider, tracer } = tracing(store);
  for (const [route, code] of [['/users/:id', 200], ['/users/:id', 500], ['/orders', 200]] as const) {
    tracer.startSpan('GET', { kind: SpanKind.SERVER, attributes: { 'http.route': route, 'http.response.status_code': code } }).end();
  }
  await provider.forceFlush();
  await store.flush();
  const grouped = await store.query().filter('http.response.status_code>=200').groupBy('http.route').count().run();
  t.deepEqual(
    grouped.rows.map((r) => [r['http.route'], r.count]).sort(),
    [['/orders', 1], ['/users/:id', 2]],
  );
  t.is((await store.events('http.route="/users/:id" http.response.status_code=500')).events.length, 1);
  await store.close();
});

type LaptimeSpanProcessorAttributes = readonly string[] | true | undefined;

real('nested spans: one row per span, parents contain children, spans count equals rows count', async (t) => {
  const store = open({ dir: tempDir() });
  const { provider, tracer, exporter } = tracing(store);
  let at = BASE_NS;
  const spanAt = (name: string, parent: Span | null): Span => {
    const ctx = parent === null ? context.active() : trace.setSpan(context.active(), parent);
    return tracer.startSpan(name, { startTime: hr((at += 1_000n)) }, ctx);
  };
  for (let request = 0; request < 20; request++) {
    const root = spanAt('handle', null);
    const db = spanAt('db.query', root);
    const inner = spanAt('db.encode', db);
    inner.end(hr((at += 7n)));
    db.end(hr((at += 11n)));
    const cache = spanAt('cache.get', root);
    if (request % 5 === 0) cache.setStatus({ code: SpanStatusCode.ERROR });
    cache.end(hr((at += 13n)));
    root.end(hr((at += 17n)));
  }
  await provider.forceFlush();
  const rows = await allEvents(store);
  const spans: ReadableSpan[] = exporter.getFinishedSpans();
  t.is(spans.length, 80);
  t.is(rows.length, spans.length);
  const key = (name: string, startNs: bigint, durationNs: number, ok: boolean) => `${name}@${startNs}+${durationNs}:${ok}`;
  t.deepEqual(
    rows.map((r) => key(r.name, r.startNs, r.durationNs, r.status === 'ok')).sort(),
    spans.map((s) => key(s.name, exactNs(s.startTime), Number(exactNs(s.duration)), s.status.code !== SpanStatusCode.ERROR)).sort(),
  );
  // A parent contains its children: start before, end after.
  const handle = rows.filter((r) => r.name === 'handle').sort((a, b) => Number(a.startNs - b.startNs))[0]!;
  const db = rows.filter((r) => r.name === 'db.query').sort((a, b) => Number(a.startNs - b.startNs))[0]!;
  t.true(handle.startNs < db.startNs && handle.startNs + BigInt(handle.durationNs) > db.startNs + BigInt(db.durationNs));
  const { rows: errors } = await store.query().filter('status:error').groupBy('name').count().run();
  t.deepEqual(errors, [{ name: 'cache.get', count: 4 }]);
  await store.close();
});

real('forceFlush makes spans visible to a reader; shutdown flushes, keeps the store open, ignores later spans', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  const { provider, tracer } = tracing(store);
  for (let i = 0; i < 3; i++) tracer.startSpan('job').end();
  await provider.forceFlush();
  const reader = openReader(dir);
  t.is((await reader.query().count().run()).rows[0]!.count, 3);
  tracer.startSpan('job').end();
  await provider.shutdown();
  t.false(store.closed, 'the processor does not close a store it did not open');
  t.is((await reader.query().count().run()).rows[0]!.count, 4);
  tracer.startSpan('after-shutdown').end();
  store.record({ name: 'direct', startNs: BASE_NS, durationNs: 1 });
  await store.flush();
  t.deepEqual((await allEvents(store)).map((r) => r.name).sort(), ['direct', 'job', 'job', 'job', 'job']);
  await reader.close();
  await store.close();
});

(hasAddon ? test.serial : test.serial.skip)('without a store option it records into the default store, also after setDefaultStore changes it', async (t) => {
  const first = open({ dir: tempDir() });
  const second = open({ dir: tempDir() });
  t.teardown(() => setDefaultStore(null));
  const processor = new LaptimeSpanProcessor();
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  const tracer = provider.getTracer('default-store');
  setDefaultStore(first);
  tracer.startSpan('one').end();
  setDefaultStore(second);
  tracer.startSpan('two').end();
  await processor.forceFlush();
  t.deepEqual((await first.events()).events.map((r) => r.name), ['one']);
  t.deepEqual((await second.events()).events.map((r) => r.name), ['two']);
  await first.close();
  await second.close();
  // Flushing after the stores closed does not reopen or throw.
  await t.notThrowsAsync(processor.forceFlush());
});

real('a span the store refuses never throws into span.end() and is counted as lost', async (t) => {
  const store = open({ dir: tempDir() });
  const { provider, tracer } = tracing(store, { attributes: true });
  const lostBefore = store.counters().lost;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const bad = tracer.startSpan('', { startTime: hr(BASE_NS) }); // an empty name: record() refuses it
  t.notThrows(() => bad.end(hr(BASE_NS + 1n)));
  // A lone surrogate in an attribute value: only that field is skipped, the span is stored.
  tracer.startSpan('surrogate', { startTime: hr(BASE_NS), attributes: { bad: 'x\ud800', good: 'y' } }).end(hr(BASE_NS + 2n));
  await provider.forceFlush();
  const rows = await allEvents(store);
  t.deepEqual(
    rows.map((r) => [r.name, r.fields]),
    [['surrogate', { 'span.kind': 'internal', good: 'y' }]],
  );
  t.is(store.counters().lost, lostBefore + 1);
  await new Promise((resolve) => setImmediate(resolve));
  t.true(warnings.some((m) => /OpenTelemetry span was not recorded.*name/.test(m)), warnings.join('\n'));
  await store.close();
});

test('bad options are refused naming the option', (t) => {
  t.throws(() => new LaptimeSpanProcessor({ attributes: 'http.route' as never }), { instanceOf: TypeError, message: /"attributes"/ });
  t.throws(() => new LaptimeSpanProcessor({ attributes: ['ok', 7 as never] }), { instanceOf: TypeError, message: /"attributes\[1\]".*7/ });
  t.throws(() => new LaptimeSpanProcessor({ store: {} as never }), { instanceOf: TypeError, message: /"store"/ });
  t.throws(() => new LaptimeSpanProcessor(null as never), { instanceOf: TypeError, message: /options/ });
});

test('hrTimeToNs is exact beyond 2^53 ns', (t) => {
  t.is(hrTimeToNs([1_796_295_810, 999_999_999]), 1_796_295_810_999_999_999n);
  t.is(hrTimeToNs([0, 1]), 1n);
  // OTel's ms-to-hrtime rounding can leave nanos = 1e9; the sum is still right.
  t.is(hrTimeToNs([5, 1_000_000_000]), 6_000_000_000n);
  t.is(hrTimeToNs([NaN, 0]), null);
  t.is(hrTimeToNs([1] as unknown as HrTime), null);
});

test('the root import loads no OpenTelemetry package, laptime/otel loads none either; both module systems share one instance', (t) => {
  const script = `
    const before = () => Object.keys(require.cache).filter((f) => f.includes('@opentelemetry')).length;
    require('laptime');
    const root = before();
    const otel = require('laptime/otel');
    const sub = before();
    import('laptime/otel').then((esm) => {
      console.log(JSON.stringify({ root, sub, same: esm.LaptimeSpanProcessor === otel.LaptimeSpanProcessor, names: Object.keys(otel).sort() }));
    });`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout.trim()), { root: 0, sub: 0, same: true, names: ['DEFAULT_SPAN_ATTRIBUTES', 'LaptimeSpanProcessor', 'SPAN_KIND_FIELD', 'hrTimeToNs'] });
});
