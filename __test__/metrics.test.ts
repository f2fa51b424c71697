/**
 * Prometheus exposition (src/metrics.ts) against the real engine, read back with a real Prometheus
 * text-format parser (parse-prometheus-text-format): counts, errors, sums and quantiles equal the
 * store's own query over the window (and a plain count over the recorded calls), hostile names
 * round-trip through label escaping, an empty store gives valid output, the node:http handler
 * answers and fails softly, and `laptime serve` answers /metrics behind its usual checks.
 */
import test from 'ava';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsHandler, metricsText, open, type Store } from '../index';
import { serve } from '../src/server/http';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('metrics tests need native/binding.cjs (npm run build:native)');

/** The parser's output (it ships no types): one family per metric name. */
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}
// An untyped CommonJS package: required, with the shape it documents.
const parse = require('parse-prometheus-text-format') as (text: string) => Family[];

const NOW_MS = Date.now();
const msToNs = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

interface Rec {
  name: string;
  agoMs: number;
  durationNs: number;
  ok: boolean;
  route?: string;
}

function recordAll(store: Store, recs: Rec[]): void {
  for (const r of recs) {
    store.record({ name: r.name, startNs: msToNs(NOW_MS - r.agoMs), durationNs: r.durationNs, ok: r.ok, ...(r.route === undefined ? {} : { fields: { route: r.route } }) });
  }
}

function family(families: Family[], name: string): Family {
  const f = families.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no metric family ${name} in ${families.map((x) => x.name).join(', ')}`);
  return f;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Every sample line of the text, by the same parser. Its summary handling folds all labelled series
 * of a summary into one object (keeping only unlabelled _sum/_count), so the samples are read from
 * the text with each TYPE made `untyped`, where the parser keeps every line with its labels.
 */
function samples(text: string): Sample[] {
  const untyped = text.replace(/^# TYPE (\S+) \w+$/gm, '# TYPE $1 untyped');
  return parse(untyped).flatMap((f) => f.metrics.map((m) => ({ name: f.name, labels: m.labels ?? {}, value: Number(m.value) })));
}

/** The one sample of `name` whose labels are exactly `labels`. */
function sample(all: Sample[], name: string, labels: Record<string, string>): number {
  const found = all.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  if (found.length !== 1) throw new Error(`${found.length} samples ${name}${JSON.stringify(labels)}`);
  return found[0]!.value;
}

e2e('metricsText: calls, errors, sums and quantiles equal store.query() over the window', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const recs: Rec[] = [];
  for (let i = 0; i < 900; i++) {
    const name = ['Users.find', 'Users.save', 'Billing.charge'][i % 3]!;
    // Spread over 10 minutes: about half inside the 5-minute window.
    recs.push({ name, agoMs: (i * 600_000) / 900 + 1, durationNs: 10_000 + ((i * 7919) % 5000) * (name === 'Billing.charge' ? 1000 : 10), ok: i % 7 !== 0 });
  }
  recordAll(store, recs);
  store.logger('audit').info('not a call'); // logs are not functions: no series for them
  await store.flush();

  const text = await metricsText(store, { now: () => NOW_MS });
  const families = parse(text);
  t.deepEqual(
    families.map((f) => [f.name, f.type]),
    [
      ['laptime_metrics_window_seconds', 'GAUGE'],
      ['laptime_function_calls', 'GAUGE'],
      ['laptime_function_errors', 'GAUGE'],
      ['laptime_function_duration_seconds', 'SUMMARY'],
    ],
  );
  for (const f of families) t.true(f.help.length > 10, `${f.name} has HELP`);
  t.is(Number(family(families, 'laptime_metrics_window_seconds').metrics[0]!.value), 300);

  const windowStart = NOW_MS - 300_000;
  const { rows } = await store.query().kind('call').at(NOW_MS).since(windowStart).groupBy('name').calls().errors().sum().percentiles([50, 90, 99]).run();
  t.is(rows.length, 3);
  const all = samples(text);
  t.is(all.filter((x) => x.name === 'laptime_function_calls').length, 3, 'one series per function, none for the logger');
  t.is(all.filter((x) => x.name === 'laptime_function_duration_seconds').length, 9, 'three quantiles per function');
  for (const row of rows) {
    const fn = { function: row.name };
    // A plain count over what was recorded, as well as the engine's own answer.
    const inWindow = recs.filter((r) => r.name === row.name && NOW_MS - r.agoMs >= windowStart);
    t.true(inWindow.length > 100 && inWindow.length < 200, `${row.name}: ${inWindow.length} calls in the window`);
    t.is(sample(all, 'laptime_function_calls', fn), row.calls);
    t.is(row.calls, inWindow.length);
    t.is(sample(all, 'laptime_function_errors', fn), row.errors);
    t.is(row.errors, inWindow.filter((r) => !r.ok).length);
    t.is(sample(all, 'laptime_function_duration_seconds_count', fn), row.calls);
    t.is(sample(all, 'laptime_function_duration_seconds_sum', fn), row.sum / 1e9);
    t.is(row.sum, inWindow.reduce((s, r) => s + r.durationNs, 0));
    t.is(sample(all, 'laptime_function_duration_seconds', { ...fn, quantile: '0.5' }), row.p50! / 1e9);
    t.is(sample(all, 'laptime_function_duration_seconds', { ...fn, quantile: '0.9' }), row.p90! / 1e9);
    t.is(sample(all, 'laptime_function_duration_seconds', { ...fn, quantile: '0.99' }), row.p99! / 1e9);
  }

  // A 1-minute window is its own query: fewer calls than the 5-minute one.
  const narrow = samples(await metricsText(store, { now: () => NOW_MS, windowMs: 60_000 }));
  t.is(sample(narrow, 'laptime_function_calls', { function: 'Users.find' }), recs.filter((r) => r.name === 'Users.find' && r.agoMs <= 60_000).length);
});

e2e('metricsText: hostile names and label values are escaped and parse back to the original', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const names = ['quote"d', 'back\\slash', 'new\nline', 'ünïcødé ✓ 😀', 'all "\\\n" three', '} 1\n# TYPE x counter', 'trailing\\'];
  const recs: Rec[] = names.flatMap((name, i) => [
    { name, agoMs: 1000, durationNs: 1000 * (i + 1), ok: true, route: `/r"\\\n/${i}` },
    { name, agoMs: 2000, durationNs: 2000 * (i + 1), ok: false },
  ]);
  recordAll(store, recs);
  await store.flush();

  const text = await metricsText(store, { now: () => NOW_MS });
  // Every sample stays on one line: a raw newline in a name would have split it.
  t.is(text.split('\n').filter((l) => l.startsWith('laptime_function_calls{')).length, names.length);
  const calls = family(parse(text), 'laptime_function_calls');
  t.deepEqual(calls.metrics.map((m) => m.labels!.function).sort(), [...names].sort());
  for (const m of calls.metrics) t.is(Number(m.value), 2);

  // With a field as an extra label: one series per (function, route); no route = empty label.
  const withRouteText = await metricsText(store, { now: () => NOW_MS, labels: ['route'] });
  const withRoute = parse(withRouteText);
  const seen = family(withRoute, 'laptime_function_errors').metrics.map((m) => [m.labels!.function, m.labels!.route ?? '', Number(m.value)]);
  const expected = names.flatMap((name, i) => [
    [name, `/r"\\\n/${i}`, 0],
    [name, '', 1],
  ]);
  const order = (a: Array<string | number>, b: Array<string | number>) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  t.deepEqual(seen.sort(order), expected.sort(order));
  const counts = samples(withRouteText).filter((x) => x.name === 'laptime_function_duration_seconds_count');
  t.is(counts.length, names.length * 2);
  for (const x of counts) t.is(x.value, 1, JSON.stringify(x.labels));
});

e2e('metricsText: a store with no calls gives valid output with the families and no series', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  // An old call, outside the window, is not reported either.
  store.record({ name: 'old', startNs: msToNs(NOW_MS - 3_600_000), durationNs: 5 });
  await store.flush();
  const text = await metricsText(store, { now: () => NOW_MS, windowMs: 120_000 });
  t.true(text.endsWith('\n'));
  const families = parse(text);
  t.is(families.length, 4);
  t.is(Number(family(families, 'laptime_metrics_window_seconds').metrics[0]!.value), 120);
  for (const name of ['laptime_function_calls', 'laptime_function_errors', 'laptime_function_duration_seconds']) {
    t.deepEqual(family(families, name).metrics, [], name);
  }
});

test('metricsText / metricsHandler: bad options are refused, naming the option', (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  t.throws(() => metricsHandler(store, { windowMs: 0 }), { message: /"windowMs" must be a number of ms above 0, got number 0/ });
  t.throws(() => metricsHandler(store, { labels: ['bad-label'] }), { message: /"labels": string "bad-label" is not a Prometheus label name/ });
  t.throws(() => metricsHandler(store, { labels: ['quantile'] }), { message: /"quantile" is taken/ });
  t.throws(() => metricsHandler(store, { labels: ['__x'] }), { message: /not a Prometheus label name/ });
  t.throws(() => metricsHandler(store, { window: 5 } as never), { message: /unknown metrics option "window"/ });
});

async function listen(handler: http.RequestListener): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

e2e('metricsHandler: answers the exposition on node:http, 405 for other methods, 500 text when the store is closed', async (t) => {
  const store = open({ dir: tempDir() });
  store.record({ name: 'job.run', startNs: msToNs(NOW_MS - 500), durationNs: 2_500_000, ok: false });
  const handler = metricsHandler(store);
  const server = await listen((req, res) => handler(req, res));
  t.teardown(() => server.close());

  const res = await fetch(`${server.base}/metrics`);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const families = parse(text);
  t.deepEqual(family(families, 'laptime_function_errors').metrics, [{ value: '1', labels: { function: 'job.run' } }]);
  t.is(sample(samples(text), 'laptime_function_duration_seconds_sum', { function: 'job.run' }), 0.0025);

  const head = await fetch(`${server.base}/metrics`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
  const post = await fetch(`${server.base}/metrics`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');

  await store.close();
  const failed = await fetch(`${server.base}/metrics`);
  t.is(failed.status, 500);
  t.is(failed.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.regex(await failed.text(), /^laptime metrics failed: .*closed/);
  // The server survived: it still answers.
  t.is((await fetch(`${server.base}/metrics`)).status, 500);
});

e2e('laptime serve: GET /metrics answers the exposition, behind the token like the API', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  const now = Date.now();
  for (let i = 0; i < 50; i++) store.record({ name: i % 2 === 0 ? 'Api.get' : 'Api.put', startNs: msToNs(now - 1000 - i), durationNs: 1_000_000 + i * 1000, ok: i % 10 !== 0 });
  await store.close();

  const local = await serve({ dir, port: 0, now: () => now });
  t.teardown(() => local.close());
  const res = await fetch(new URL('/metrics', local.url));
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const calls = family(parse(await res.text()), 'laptime_function_calls');
  t.deepEqual(
    calls.metrics.map((m) => [m.labels!.function, Number(m.value)]),
    [
      ['Api.get', 25],
      ['Api.put', 25],
    ],
  );

  const token = 'correct-horse-battery-staple';
  const guarded = await serve({ dir, port: 0, token, now: () => now });
  t.teardown(() => guarded.close());
  const port = new URL(guarded.url).port;
  const bare = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.is(bare.status, 401);
  t.is(bare.headers.get('www-authenticate'), 'Bearer');
  const authed = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
  t.is(authed.status, 200);
  t.is(family(parse(await authed.text()), 'laptime_function_errors').metrics.length, 2);
  // The Host check applies too (no DNS rebinding).
  const rebound = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', headers: { Host: 'evil.example', Authorization: `Bearer ${token}` } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    }).on('error', reject);
  });
  t.is(rebound, 421);
  // A name given with allowedHosts (the one Prometheus scrapes) is accepted; others still are not.
  const named = await serve({ dir, port: 0, token, allowedHosts: ['scrape.example'], now: () => now });
  t.teardown(() => named.close());
  const namedPort = Number(new URL(named.url).port);
  const viaName = (hostHeader: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: namedPort, path: '/metrics', headers: { Host: hostHeader, Authorization: `Bearer ${token}` } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on('error', reject);
    });
  t.is(await viaName(`scrape.example:${namedPort}`), 200);
  t.is(await viaName(`SCRAPE.example:${namedPort}`), 200);
  t.is(await viaName('scrape.example:1'), 421, 'another port is another server');
  t.is(await viaName(`evil.example:${namedPort}`), 421);
  await t.throwsAsync(serve({ dir, port: 0, allowedHosts: ['bad host/'] }), { instanceOf: TypeError, message: /allowed host names are DNS names/ });
});
