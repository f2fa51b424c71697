/**
 * The timed cases of the Node.js capture-overhead benchmark: one small function called bare, with
 * two clock reads around it (the floor), through laptime, and through the peers a Node user would
 * pick for the same job (an OpenTelemetry span, a prom-client histogram timer, a pino log line).
 *
 * Each case is a loop of `calls` calls written out by hand (no shared helper taking a callback, so
 * V8 optimizes each loop for its one callee, as it would in an application). A tinybench sample is
 * one run of that loop; ns/call is the sample's time divided by `calls`. Loops of laptime cases run
 * long enough to fill the JS batch (4096 rows) a few times per sample, so the hand-over to the addon
 * is inside the timed window, amortized as it is in production.
 */
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { capture } from 'laptime';
import pino from 'pino';
import { Histogram, Registry } from 'prom-client';

/** The clock laptime itself uses; a local reference, as in src/time.ts. */
const perf = performance;

/** Calls per sample of the cheap sync cases (bare, floor, laptime): several batches of 4096 rows. */
export const FAST_CALLS = 10_000;
/** Calls per sample of the peer cases and of the async cases (microseconds per call). */
export const SLOW_CALLS = 1_000;

// ---- the function being timed ----------------------------------------------------------------

interface Point {
  x: number;
  hits: number;
}
const point: Point = { x: 0, hits: 0 };

/** Adds two numbers and touches an object: a few ns, and nothing the optimizer may drop. */
function work(a: number, b: number): number {
  point.hits++;
  point.x = a + b;
  return point.x;
}

/** The same work in an async function: callers `await` an already-resolved promise. */
async function workAsync(a: number, b: number): Promise<number> {
  point.hits++;
  point.x = a + b;
  return point.x;
}

/** Loops write their results here so nothing is dead code. */
export let sink = 0;

// ---- laptime ----------------------------------------------------------------------------------

/** Calls made to captured functions (every loop run, warm-up included): events laptime should store. */
export const made = { captured: 0, otelSpans: 0 };

const workCaptured = capture(work, 'bench.work');

/** The request-like argument the attribute cases read their four attributes from. */
interface Req {
  tenant: string;
  route: string;
  retries: number;
  cached: boolean;
}
const req: Req = { tenant: 'acme', route: '/users/:id', retries: 2, cached: true };

/** The same work, given a request, with four per-call attributes (two strings, a number, a boolean). */
function workOn(r: Req, b: number): number {
  point.hits++;
  point.x = r.retries + b;
  return point.x;
}
const workOnCaptured = capture(workOn, 'bench.workOn');
const workOnWithAttributes = capture(workOn, {
  name: 'bench.workOnAttributes',
  fields: ([r]) => ({ tenant: r.tenant, route: r.route, retries: r.retries, cached: r.cached }),
});
/**
 * The same four attributes with a request id that differs on every call (a high-cardinality
 * attribute: its text goes over with every call, where repeated values go over once per batch).
 */
interface ReqWithId extends Req {
  id: string;
}
const ID_POOL = 4096;
// Object literals, not `{ ...req, id }`: V8 gives spread copies made in a loop a map each, and the
// loads of the captured function and of the fields function would then measure megamorphic misses.
const reqsWithIds: ReqWithId[] = Array.from({ length: ID_POOL }, (_, i) => ({
  tenant: req.tenant,
  route: req.route,
  retries: req.retries,
  cached: req.cached,
  id: `req-${(i * 2654435761) >>> 0}`,
}));
const workOnWithId = capture<(r: ReqWithId, b: number) => number>(workOn, {
  name: 'bench.workOnAttributesId',
  fields: ([r]) => ({ id: r.id, route: r.route, retries: r.retries, cached: r.cached }),
});
const workAsyncCaptured = capture(workAsync, 'bench.workAsync');

/** The decorator form; standard (TC39) decorators, as tsx compiles with the root tsconfig.json. */
class BenchService {
  @capture()
  work(a: number, b: number): number {
    point.hits++;
    point.x = a + b;
    return point.x;
  }

  @capture()
  async workAsync(a: number, b: number): Promise<number> {
    point.hits++;
    point.x = a + b;
    return point.x;
  }
}
const service = new BenchService();

// ---- peers ------------------------------------------------------------------------------------

/** An exporter that sends nothing: the span pipeline's cost without any I/O. Counts what it got. */
class NoopExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], resultCallback: Parameters<SpanExporter['export']>[1]): void {
    this.exported += spans.length;
    resultCallback({ code: 0 }); // ExportResultCode.SUCCESS
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const exporter = new NoopExporter();
// BatchSpanProcessor with its default options (queue 2048, batches of 512, 5 s delay). No context
// manager is registered, so startSpan uses the root context: the cheapest setup OTel offers.
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
const tracer = tracerProvider.getTracer('laptime-bench');

// A histogram with the default buckets and no labels, in its own registry (no default metrics).
const promRegistry = new Registry();
const histogram = new Histogram({ name: 'bench_work_seconds', help: 'work() duration', registers: [promRegistry] });

// pino with its default options, writing synchronously (one write(2) per line) to /dev/null.
const pinoDestination = pino.destination({ dest: '/dev/null', sync: true });
const logger = pino(pinoDestination);

// ---- the loops --------------------------------------------------------------------------------

function bareSync(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += work(i, 1);
  sink = s;
}

function floorSync(): void {
  let s = 0;
  let d = 0;
  for (let i = 0; i < FAST_CALLS; i++) {
    const t0 = perf.now();
    s += work(i, 1);
    d += perf.now() - t0;
  }
  sink = s + d;
}

function captureSync(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += workCaptured(i, 1);
  made.captured += FAST_CALLS;
  sink = s;
}

function decoratorSync(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += service.work(i, 1);
  made.captured += FAST_CALLS;
  sink = s;
}

function captureOn(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += workOnCaptured(req, i);
  made.captured += FAST_CALLS;
  sink = s;
}

function captureAttributes(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += workOnWithAttributes(req, i);
  made.captured += FAST_CALLS;
  sink = s;
}

function captureAttributesId(): void {
  let s = 0;
  for (let i = 0; i < FAST_CALLS; i++) s += workOnWithId(reqsWithIds[i & (ID_POOL - 1)]!, i);
  made.captured += FAST_CALLS;
  sink = s;
}

function otelSpanOn(): void {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const span = tracer.startSpan('workOn');
    s += workOn(req, i);
    span.end();
  }
  made.otelSpans += SLOW_CALLS;
  sink = s;
}

function otelAttributes(): void {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const span = tracer.startSpan('workOn');
    s += workOn(req, i);
    span.setAttributes({ tenant: req.tenant, route: req.route, retries: req.retries, cached: req.cached });
    span.end();
  }
  made.otelSpans += SLOW_CALLS;
  sink = s;
}

function otelSpan(): void {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const span = tracer.startSpan('work');
    s += work(i, 1);
    span.end();
  }
  made.otelSpans += SLOW_CALLS;
  sink = s;
}

function promTimer(): void {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const end = histogram.startTimer();
    s += work(i, 1);
    end();
  }
  sink = s;
}

function pinoLine(): void {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const t0 = perf.now();
    s += work(i, 1);
    logger.info({ fn: 'work', ms: perf.now() - t0 });
  }
  sink = s;
}

async function bareAsync(): Promise<void> {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) s += await workAsync(i, 1);
  sink = s;
}

async function floorAsync(): Promise<void> {
  let s = 0;
  let d = 0;
  for (let i = 0; i < SLOW_CALLS; i++) {
    const t0 = perf.now();
    s += await workAsync(i, 1);
    d += perf.now() - t0;
  }
  sink = s + d;
}

async function captureAsync(): Promise<void> {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) s += await workAsyncCaptured(i, 1);
  made.captured += SLOW_CALLS;
  sink = s;
}

async function decoratorAsync(): Promise<void> {
  let s = 0;
  for (let i = 0; i < SLOW_CALLS; i++) s += await service.workAsync(i, 1);
  made.captured += SLOW_CALLS;
  sink = s;
}

// ---- the table of cases -----------------------------------------------------------------------

export type CaseId =
  | 'bare'
  | 'floor'
  | 'capture'
  | 'decorator'
  | 'captureOn'
  | 'captureAttributes'
  | 'captureAttributesId'
  | 'otel'
  | 'otelOn'
  | 'otelAttributes'
  | 'prom'
  | 'pino'
  | 'asyncBare'
  | 'asyncFloor'
  | 'asyncCapture'
  | 'asyncDecorator';

export interface Case {
  id: CaseId;
  label: string;
  async: boolean;
  /** Calls per sample (one run of `fn`). */
  calls: number;
  fn: () => void | Promise<void>;
}

export const CASES: readonly Case[] = [
  { id: 'bare', label: 'bare sync call', async: false, calls: FAST_CALLS, fn: bareSync },
  { id: 'floor', label: 'sync call + 2x performance.now() (floor)', async: false, calls: FAST_CALLS, fn: floorSync },
  { id: 'capture', label: 'laptime capture(fn)', async: false, calls: FAST_CALLS, fn: captureSync },
  { id: 'decorator', label: 'laptime @capture() method', async: false, calls: FAST_CALLS, fn: decoratorSync },
  { id: 'captureOn', label: 'laptime capture(fn), fn reading a request', async: false, calls: FAST_CALLS, fn: captureOn },
  { id: 'captureAttributes', label: 'the same + 4 per-call attributes (fields function)', async: false, calls: FAST_CALLS, fn: captureAttributes },
  { id: 'captureAttributesId', label: 'the same, one attribute a distinct id per call', async: false, calls: FAST_CALLS, fn: captureAttributesId },
  { id: 'otel', label: 'OpenTelemetry startSpan+end (BatchSpanProcessor)', async: false, calls: SLOW_CALLS, fn: otelSpan },
  { id: 'otelOn', label: 'OpenTelemetry span, fn reading a request', async: false, calls: SLOW_CALLS, fn: otelSpanOn },
  { id: 'otelAttributes', label: 'the same + span.setAttributes(4 attributes)', async: false, calls: SLOW_CALLS, fn: otelAttributes },
  { id: 'prom', label: 'prom-client Histogram startTimer()/end()', async: false, calls: SLOW_CALLS, fn: promTimer },
  { id: 'pino', label: 'pino info({fn, ms}) to /dev/null (sync)', async: false, calls: SLOW_CALLS, fn: pinoLine },
  { id: 'asyncBare', label: 'await async fn (bare)', async: true, calls: SLOW_CALLS, fn: bareAsync },
  { id: 'asyncFloor', label: 'await async fn + 2x performance.now() (async floor)', async: true, calls: SLOW_CALLS, fn: floorAsync },
  { id: 'asyncCapture', label: 'laptime capture(async fn)', async: true, calls: SLOW_CALLS, fn: captureAsync },
  { id: 'asyncDecorator', label: 'laptime @capture() async method', async: true, calls: SLOW_CALLS, fn: decoratorAsync },
];

/** What the peers saw, so the reader can tell their work really happened. */
export async function peerTotals(): Promise<{ otelSpansStarted: number; otelSpansExported: number; promObservations: number }> {
  await tracerProvider.forceFlush();
  const metric = await histogram.get();
  const count = metric.values.find((v) => v.metricName === 'bench_work_seconds_count')?.value ?? 0;
  return { otelSpansStarted: made.otelSpans, otelSpansExported: exporter.exported, promObservations: count };
}

/** Release the peers' resources (pino's file descriptor, OTel's processor). */
export async function shutdownPeers(): Promise<void> {
  await tracerProvider.shutdown();
  pinoDestination.flushSync();
  pinoDestination.end();
}

/** A fresh `capture(work, name)` for the sustained phase (writes to the default store). */
export function capturedWork(name: string): (a: number, b: number) => number {
  return capture(work, name);
}
