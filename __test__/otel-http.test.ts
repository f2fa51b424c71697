/**
 * laptime/otel with the real OTel Node SDK and the http auto-instrumentation, on a real node:http
 * server on 127.0.0.1: the server and client spans of each request become stored calls, with the
 * route (set by the handler, as a framework does) and status attributes. Its own file: the
 * instrumentation patches node:http and registers a global context manager for this process.
 */
import test from 'ava';
import { SpanStatusCode, trace, type HrTime } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type * as Http from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from '../index';
import { LaptimeSpanProcessor } from '../src/otel';
import { cannotRun, hasAddon, tempDir } from './helpers/real';

/** Epoch ns of an OTel [seconds, nanos] tuple, computed independently of the code under test. */
function exactNs([s, ns]: HrTime): bigint {
  return BigInt(s) * 1_000_000_000n + BigInt(ns);
}

const real = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('OpenTelemetry http tests need native/binding.cjs (npm run build:native)');

real('http auto-instrumentation: each request gives a server and a client span, each one stored row with route and status', async (t) => {
  const store = open({ dir: tempDir() });
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new LaptimeSpanProcessor({ store }), new SimpleSpanProcessor(exporter)] });
  provider.register();
  const instrumentation = new HttpInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  t.teardown(() => instrumentation.disable());
  // Loaded only now, so that the instrumentation's require hook patches it.
  const http = require('node:http') as typeof Http;

  const server = http.createServer((req, res) => {
    const route = req.url?.startsWith('/users/') ? '/users/:id' : (req.url ?? '/');
    trace.getActiveSpan()?.setAttribute('http.route', route);
    if (route === '/users/:id') {
      // Answers later, from a timer: the span must cover the response, not the handler's return.
      setTimeout(() => res.end('{"id":42}'), 30);
    } else {
      res.statusCode = 500;
      res.end('boom');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const get = (urlPath: string) =>
    new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
  t.is(await get('/users/42'), 200);
  t.is(await get('/boom'), 500);

  // The server span ends when its response finished; wait for all four.
  const deadline = Date.now() + 5000;
  while (exporter.getFinishedSpans().length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  t.is(spans.length, 4);
  const rows = (await store.events()).events;
  t.is(rows.length, spans.length, 'spans count equals rows count');

  // Row for row, what the SDK reported.
  const describe = (name: string, startNs: bigint, durationNs: number, ok: boolean) => `${name}@${startNs}+${durationNs}:${ok}`;
  t.deepEqual(
    rows.map((r) => describe(r.name, r.startNs, r.durationNs, r.status === 'ok')).sort(),
    spans.map((s) => describe(s.name, exactNs(s.startTime), Number(exactNs(s.duration)), s.status.code !== SpanStatusCode.ERROR)).sort(),
  );

  const servers = rows.filter((r) => r.fields['span.kind'] === 'server').sort((a, b) => Number(a.startNs - b.startNs));
  const clients = rows.filter((r) => r.fields['span.kind'] === 'client').sort((a, b) => Number(a.startNs - b.startNs));
  t.is(servers.length, 2);
  t.is(clients.length, 2);
  const status = (fields: Record<string, unknown>) => fields['http.response.status_code'] ?? fields['http.status_code'];
  const method = (fields: Record<string, unknown>) => fields['http.request.method'] ?? fields['http.method'];
  t.deepEqual(
    servers.map((r) => [r.fields['http.route'], method(r.fields), status(r.fields), r.status]),
    [
      ['/users/:id', 'GET', 200, 'ok'],
      ['/boom', 'GET', 500, 'error'],
    ],
  );
  t.deepEqual(
    clients.map((r) => [method(r.fields), status(r.fields), r.status]),
    [
      ['GET', 200, 'ok'],
      ['GET', 500, 'error'],
    ],
  );
  // The delayed answer: the server span covers the 30 ms until the response ended.
  t.true(servers[0]!.durationNs >= 29_000_000, `${servers[0]!.durationNs} ns`);
  t.true(clients[0]!.durationNs >= servers[0]!.durationNs, 'the client waited for the whole response');
  // The recorded columns answer the usual question: latency per route.
  const byRoute = await store.query().filter('span.kind=server').groupBy('http.route').count().run();
  t.deepEqual(byRoute.rows.map((r) => [r['http.route'], r.count]).sort(), [['/boom', 1], ['/users/:id', 1]]);
  await provider.shutdown();
  t.false(store.closed);
  await store.close();
});
