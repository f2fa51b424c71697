/**
 * One variant of the Express 5 app measured by bench/http-overhead.mts, run as a child process
 * (the OTel http instrumentation patches node:http for the whole process, so each variant has its
 * own): `none` and `control` (no middleware), `laptime` (laptime.express(), default options, a fresh temp store)
 * or `otel` (@opentelemetry/instrumentation-http with a NodeTracerProvider, BatchSpanProcessor
 * and an exporter that drops spans, counting them). Talks to the parent over IPC:
 *   -> { port }                               when listening
 *   <- 'cpu'      -> { cpu: µs of CPU used by this process (all threads) so far }
 *   <- { drive: n } -> { wall, cpu } µs per request of n requests handed to the server in-process
 *                    (real IncomingMessage/ServerResponse over a socket that drops what is
 *                    written: no network, no client, the server's own work only)
 *   <- 'stop'     -> { served, stored, spans, counters } after flushing, then exits
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import type * as Http from 'node:http';

type Variant = 'none' | 'control' | 'laptime' | 'otel';
const variant = process.argv[2] as Variant;
if (!['none', 'control', 'laptime', 'otel'].includes(variant)) throw new Error(`variant must be none, control, laptime or otel, got ${variant}`);
const require = createRequire(import.meta.url);

let spans = 0;
let flushOtel: () => Promise<void> = async () => undefined;
if (variant === 'otel') {
  // Before express and node:http are loaded, so the instrumentation's require hook patches them.
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const exporter = {
    export(batch: unknown[], done: (result: { code: number }) => void): void {
      spans += batch.length;
      done({ code: 0 });
    },
    shutdown: async (): Promise<void> => undefined,
  };
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  const instrumentation = new HttpInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  flushOtel = () => provider.forceFlush();
}

const express = require('express') as typeof import('express');
const app = express();
let store: import('laptime').Store | null = null;
let dir: string | null = null;
if (variant === 'laptime') {
  const { open } = await import('laptime');
  const { express: laptimeExpress } = await import('laptime/express');
  dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-bench-http-'));
  store = open({ dir });
  app.use(laptimeExpress({ store }));
}
let served = 0;
app.get('/users/:id', (req, res) => {
  served++;
  res.json({ id: req.params.id });
});

const server = app.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as { port: number }).port });
});
server.keepAliveTimeout = 60_000;

const http = require('node:http') as typeof Http;

/** A connection that accepts and drops every write, and never sends anything. */
class NullSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: string, done: () => void): void {
    done();
  }
}

/**
 * One request through the server's 'request' event (where the OTel instrumentation hooks in),
 * finished as node:http's own server finishes one: the response is detached from its socket and
 * emits 'close' on the next tick.
 */
function drive(i: number): Promise<void> {
  const socket = new NullSocket() as unknown as Http.IncomingMessage['socket'];
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = `/users/${i % 100}`;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  req.headers = { host: '127.0.0.1', accept: '*/*' };
  req.complete = true;
  req.push(null);
  const res = new http.ServerResponse(req);
  res.assignSocket(socket);
  return new Promise((resolve) => {
    res.on('finish', () => {
      res.detachSocket(socket);
      process.nextTick(() => {
        res.emit('close');
        resolve();
      });
    });
    server.emit('request', req, res);
  });
}

async function driveMany(n: number): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await drive(i);
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  return { wall: ((t1 - t0) * 1000) / n, cpu: (c1.user + c1.system) / n };
}

process.on('message', (msg: unknown) => {
  if (typeof msg === 'object' && msg !== null && 'drive' in msg) {
    void driveMany((msg as { drive: number }).drive).then((r) => process.send!(r));
  } else if (msg === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send!({ cpu: user + system });
  } else if (msg === 'stop') {
    void (async () => {
      await flushOtel();
      let stored: number | null = null;
      let counters: unknown = null;
      if (store !== null) {
        await store.flush();
        const c = store.counters();
        stored = c.written;
        counters = { accepted: c.accepted, written: c.written, dropped: c.dropped, lost: c.lost, pending: c.pending };
        await store.close();
        rmSync(dir!, { recursive: true, force: true });
      }
      process.send!({ served, stored, spans: variant === 'otel' ? spans : null, counters }, () => process.exit(0));
      server.closeAllConnections();
      server.close();
    })();
  }
});
