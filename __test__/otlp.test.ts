/**
 * `laptime export --format otlp` (issue 12): stored calls as OTLP/JSON spans, to stdout/a file (JSON
 * lines, what the collector's otlpjsonfile receiver reads) or POSTed to an OTLP/HTTP endpoint. The
 * output is parsed by the official OTLP protobuf definitions (Python `opentelemetry-proto`, strict
 * JSON parsing: unknown fields or wrong types fail), and checked span by span against the store.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { open } from '../index';
import { LaptimeSpanProcessor } from '../src/otel';
import type { OtlpTraceRequest } from '../src/otlp';
import { main } from '../src/cli/main';
import type { Io } from '../src/cli/commands';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test.serial : test.serial.skip;
if (!hasAddon) cannotRun('OTLP export tests need native/binding.cjs (npm run build:native)');

const hasProto = spawnSync('python3', ['-c', 'import opentelemetry.proto'], { encoding: 'utf8' }).status === 0;
const withProto = hasAddon && hasProto ? test.serial : test.serial.skip;
if (!hasProto) cannotRun('the OTLP schema check needs Python opentelemetry-proto (pip install opentelemetry-proto; .ci/run installs it)');

const BASE_NS = BigInt(Date.now() - 3_600_000) * 1_000_000n;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, now: Date.now, sleep: async () => false };
  const code = await main(args, io);
  return { code, out, err };
}

/** A store with calls of every kind of field, failed calls, spans from the OTel bridge, and logs. */
async function fill(dir: string, calls = 300): Promise<void> {
  const store = open({ dir });
  for (let i = 0; i < calls; i++) {
    store.record({
      name: i % 2 === 0 ? 'Users.find' : 'Billing.charge',
      startNs: BASE_NS + BigInt(i) * 1_000_000n,
      durationNs: 1_000 + i,
      ok: i % 10 !== 0,
      fields: { route: '/users/:id', attempt: i % 3, ratio: 0.5, cached: i % 4 === 0, big: 2n ** 60n + BigInt(i) },
    });
  }
  const provider = new BasicTracerProvider({ spanProcessors: [new LaptimeSpanProcessor({ store })] });
  provider.getTracer('t').startSpan('GET /orders', { kind: 1 /* SERVER */, startTime: new Date(Number(BASE_NS / 1_000_000n)) }).end();
  await provider.forceFlush();
  store.log.info('not a span');
  await store.close();
}

/** Parses each request with the OTLP protobuf definitions; returns the spans each holds. */
function checkWithProto(requests: string[]): number[] {
  const script = `
import json, sys
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
counts = []
for line in open(sys.argv[1]):
    req = json_format.Parse(line, ExportTraceServiceRequest())  # strict: unknown fields fail
    counts.append(sum(len(s.spans) for r in req.resource_spans for s in r.scope_spans))
print(json.dumps(counts))
`;
  const file = path.join(tempDir(), 'requests.jsonl');
  writeFileSync(file, requests.map((r) => `${r}\n`).join(''));
  const r = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`opentelemetry-proto refused the export: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

withProto('calls become spans that the OTLP protobuf definitions accept, exact and complete', async (t) => {
  const dir = tempDir();
  await fill(dir);
  const r = await cli(['export', '-d', dir, '--format', 'otlp', '--service', 'checkout']);
  t.is(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  t.deepEqual(checkWithProto(lines), [301], 'one request of 300 calls + 1 span; the log is not a span');
  const request = JSON.parse(lines[0]!) as OtlpTraceRequest;
  const resource = request.resourceSpans[0]!;
  t.deepEqual(resource.resource.attributes, [{ key: 'service.name', value: { stringValue: 'checkout' } }]);
  const spans = resource.scopeSpans[0]!.spans;
  const first = spans.find((s) => s.name === 'Users.find')!;
  t.is(first.startTimeUnixNano, BASE_NS.toString());
  t.is(BigInt(first.endTimeUnixNano) - BigInt(first.startTimeUnixNano), 1000n);
  t.deepEqual(first.status, { code: 2 }, 'call 0 failed: status ERROR (record() gives no error class, so no message)');
  const byKey = Object.fromEntries(first.attributes.map((a) => [a.key, a.value]));
  t.deepEqual(byKey.route, { stringValue: '/users/:id' });
  t.deepEqual(byKey.attempt, { intValue: '0' });
  t.deepEqual(byKey.ratio, { doubleValue: 0.5 });
  t.deepEqual(byKey.cached, { boolValue: true });
  t.deepEqual(byKey.big, { intValue: (2n ** 60n).toString() }, 'whole numbers beyond 2^53 stay exact');
  t.deepEqual(Object.keys(byKey).sort(), ['attempt', 'big', 'cached', 'ratio', 'route']);
  const ok = spans.find((s) => s.name === 'Billing.charge')!;
  t.is(ok.status.code, 0);
  t.is(ok.kind, 1, 'INTERNAL by default');
  const server = spans.find((s) => s.name === 'GET /orders')!;
  t.is(server.kind, 2, 'the OTel span kind is kept (SERVER)');
  t.false(server.attributes.some((a) => a.key === 'span.kind'));
  t.true(spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId) && /^[0-9a-f]{16}$/.test(s.spanId)));
  t.is(new Set(spans.map((s) => s.spanId)).size, spans.length, 'span ids are unique');
  const again = await cli(['export', '-d', dir, '--format', 'otlp', '--service', 'checkout']);
  t.true(again.out === r.out, 'exporting twice gives the same bytes, ids included (a collector can tell repeats)');
});

e2e('--endpoint POSTs the spans to an OTLP/HTTP collector, 10,000 per request, in order', async (t) => {
  const dir = tempDir();
  await fill(dir, 12_000);
  const received: Array<{ path: string; type: string; body: OtlpTraceRequest }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: JSON.parse(body) as OtlpTraceRequest });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const r = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', `http://127.0.0.1:${port}/v1/traces`, 'name:Users.*']);
  t.is(r.code, 0, r.err);
  t.regex(r.err, /^6,000 spans sent to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
  t.deepEqual(
    received.map((x) => [x.path, x.type]),
    [['/v1/traces', 'application/json']],
  );
  const spans = received.flatMap((x) => x.body.resourceSpans[0]!.scopeSpans[0]!.spans);
  t.is(spans.length, 6000);
  t.true(spans.every((s) => s.name === 'Users.find'), 'the filter applies');
  const starts = spans.map((s) => BigInt(s.startTimeUnixNano));
  t.true(starts.every((s, i) => i === 0 || s >= starts[i - 1]!), 'oldest first');

  received.length = 0;
  const all = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', `http://127.0.0.1:${port}/v1/traces`]);
  t.is(all.code, 0, all.err);
  t.deepEqual(
    received.map((x) => x.body.resourceSpans[0]!.scopeSpans[0]!.spans.length),
    [10_000, 2_001],
  );
});

e2e('a collector that refuses, or is not there, is an error naming it; bad flags are usage errors', async (t) => {
  const dir = tempDir();
  await fill(dir, 10);
  const server = http.createServer((_req, res) => res.writeHead(503, 'Busy').end('queue full'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const refused = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', `http://127.0.0.1:${port}/v1/traces`]);
  server.close();
  t.is(refused.code, 1);
  t.regex(refused.err, /the collector at http:\/\/127\.0\.0\.1:\d+\/v1\/traces answered 503 Busy: queue full/);
  const absent = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', `http://127.0.0.1:${port}/v1/traces`]);
  t.not(absent.code, 0);
  t.regex(absent.err, /fetch failed|ECONNREFUSED/);
  const wrong = await cli(['export', '-d', dir, '--endpoint', 'http://x/v1/traces']);
  t.is(wrong.code, 2);
  t.regex(wrong.err, /--endpoint and --service go with --format otlp/);
  const notUrl = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', 'collector:4318']);
  t.is(notUrl.code, 2);
  t.regex(notUrl.err, /--endpoint must be an http or https URL/);
  const both = await cli(['export', '-d', dir, '--format', 'otlp', '--endpoint', 'http://x/', '--out', path.join(dir, 'x')]);
  t.is(both.code, 2);
});

e2e('--out writes JSON lines a file receiver reads', async (t) => {
  const dir = tempDir();
  await fill(dir, 50);
  const out = path.join(tempDir(), 'spans.jsonl');
  const r = await cli(['export', '-d', dir, '--format', 'otlp', '--out', out]);
  t.is(r.code, 0, r.err);
  t.regex(r.err, /^51 spans sent to /);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.is(lines.length, 1);
  const request = JSON.parse(lines[0]!) as OtlpTraceRequest;
  t.deepEqual(request.resourceSpans[0]!.resource.attributes, [{ key: 'service.name', value: { stringValue: process.env.OTEL_SERVICE_NAME || 'laptime' } }]);
});
