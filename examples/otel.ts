/**
 * OpenTelemetry: every span your tracer ends is recorded by laptime as a call, so code that is
 * already instrumented (by hand or by OTel's auto-instrumentations) feeds laptime unchanged.
 * Run with `npm run example:otel`. Writes into a temporary store and prints per-function stats.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { open } from '../index';
import { LaptimeSpanProcessor } from '../src/otel';

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-otel-'));
  const store = open({ dir });
  const provider = new BasicTracerProvider({ spanProcessors: [new LaptimeSpanProcessor({ store })] });
  const tracer = provider.getTracer('example');

  for (let i = 0; i < 200; i++) {
    const span = tracer.startSpan('GET /orders/:id', { attributes: { 'http.route': '/orders/:id', 'http.request.method': 'GET' } });
    const db = tracer.startSpan('SELECT orders');
    db.end();
    if (i % 25 === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttribute('http.response.status_code', i % 25 === 0 ? 500 : 200);
    span.end();
  }
  await provider.forceFlush();

  const { rows } = await store.stats();
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(18)} ${String(r.count).padStart(5)} calls ${String(r.errors).padStart(3)} errors  p99 ${r.p99} ns\n`);
  }
  const byRoute = await store.query().groupBy('http.route').count().run();
  process.stdout.write(`by http.route: ${JSON.stringify(byRoute.rows)}\n`);
  await provider.shutdown();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
