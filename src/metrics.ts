/**
 * Prometheus exposition (text format 0.0.4) of what a store saw over a sliding window.
 *
 * Every scrape runs ONE engine query over the calls that started in the last `windowMs` (default
 * 5 minutes), grouped by function name (and by chosen fields as extra labels). A sliding window goes
 * down as well as up, so the counts are gauges, not `_total` counters (Prometheus would read a drop
 * as a counter reset):
 *
 * - `laptime_function_calls{function}` gauge: calls started in the window
 * - `laptime_function_errors{function}` gauge: failed calls among them
 * - `laptime_function_duration_seconds{function,quantile="0.5"|"0.9"|"0.99"}` summary, with `_sum`
 *   and `_count`: durations of those calls in seconds (quantiles from the engine's sketches, within
 *   1 % relative error)
 * - `laptime_metrics_window_seconds` gauge: the window length, to turn the gauges into rates
 *
 * Only unit conversion (ns to s) happens here; every figure comes from the query.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { show } from './describe';
import type { FieldKeyValue } from './query';
import type { ReadApi } from './reads';
import { nowEpochMs } from './time';

/** Options of {@link metricsText} and {@link metricsHandler}. */
export interface MetricsOptions {
  /** Length of the sliding window, ms (default 300 000 = 5 minutes). */
  windowMs?: number;
  /**
   * Fields to group by as extra labels, e.g. `['route']` adds `route="..."` to every sample (events
   * without the field get `""`). Each must be a valid Prometheus label name other than `function`,
   * `quantile`, `le` and `name`, and not start with `__`.
   */
  labels?: readonly string[];
  /** Clock, epoch ms (default: the clock captures use). */
  now?: () => number;
}

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const DEFAULT_WINDOW_MS = 5 * 60_000;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set(['function', 'quantile', 'le', 'name']);
/** Percentiles asked of the engine and the quantile label each becomes. */
const QUANTILES = [
  ['p50', '0.5'],
  ['p90', '0.9'],
  ['p99', '0.99'],
] as const;

/** Check options once (so a handler fails at setup, not on every scrape). */
function checkOptions(options: MetricsOptions | undefined): { windowMs: number; labels: string[]; now: () => number } {
  if (options === undefined) return { windowMs: DEFAULT_WINDOW_MS, labels: [], now: nowEpochMs };
  if (typeof options !== 'object' || options === null) throw new TypeError(`laptime: metrics options must be an object, got ${show(options)}`);
  for (const key of Object.keys(options)) {
    if (!['windowMs', 'labels', 'now'].includes(key)) throw new TypeError(`laptime: unknown metrics option "${key}" (windowMs, labels, now)`);
  }
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  if (typeof windowMs !== 'number' || !Number.isFinite(windowMs) || windowMs <= 0) {
    throw new RangeError(`laptime: metrics option "windowMs" must be a number of ms above 0, got ${show(windowMs)}`);
  }
  const labels = options.labels ?? [];
  if (!Array.isArray(labels)) throw new TypeError(`laptime: metrics option "labels" must be an array of field keys, got ${show(labels)}`);
  const seen = new Set<string>();
  for (const label of labels as unknown[]) {
    if (typeof label !== 'string' || !LABEL_NAME.test(label) || label.startsWith('__')) {
      throw new TypeError(`laptime: metrics option "labels": ${show(label)} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`);
    }
    if (RESERVED_LABELS.has(label)) throw new TypeError(`laptime: metrics option "labels": "${label}" is taken (function, quantile, le, name are reserved)`);
    if (seen.has(label)) throw new TypeError(`laptime: metrics option "labels": "${label}" is given twice`);
    seen.add(label);
  }
  const now = options.now ?? nowEpochMs;
  if (typeof now !== 'function') throw new TypeError(`laptime: metrics option "now" must be a function, got ${show(now)}`);
  return { windowMs, labels: [...seen], now };
}

/** A label value as the text format wants it: backslash, double quote and line feed escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A sample value: Go float syntax (`NaN`, `+Inf`, `-Inf`, decimal or exponent). */
function sampleValue(v: number | null): string {
  if (v === null || Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function keyText(v: FieldKeyValue | undefined): string {
  return v === null || v === undefined ? '' : String(v);
}

/**
 * The Prometheus text exposition (format 0.0.4) of the calls that started in the last `windowMs`,
 * per function (and per chosen field): see the module comment for the metric names.
 *
 * @example
 * const text = await metricsText(store, { windowMs: 60_000, labels: ['route'] });
 */
export async function metricsText(reader: ReadApi<unknown>, options?: MetricsOptions): Promise<string> {
  return metricsFor(reader, checkOptions(options));
}

async function metricsFor(reader: ReadApi<unknown>, o: { windowMs: number; labels: string[]; now: () => number }): Promise<string> {
  const nowMs = o.now();
  const q = reader.query().kind('call').at(nowMs).since(nowMs - o.windowMs).groupBy('name');
  // The builder adds each key column in place; the label columns are read by name below.
  for (const label of o.labels) q.groupBy(`field.${label}`);
  const { rows } = await q
    .calls()
    .errors()
    .sum()
    .percentiles([50, 90, 99])
    .run();

  const series = rows.map((row) => {
    const r = row as Record<string, unknown> & typeof row;
    const extra = o.labels.map((l) => `,${l}="${escapeLabelValue(keyText(r[l] as FieldKeyValue | undefined))}"`).join('');
    return { labels: `function="${escapeLabelValue(row.name)}"${extra}`, row };
  });
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('laptime_metrics_window_seconds', 'gauge', 'Length of the sliding window the laptime_function_* metrics cover, in seconds.');
  out.push(`laptime_metrics_window_seconds ${sampleValue(o.windowMs / 1000)}`);
  family('laptime_function_calls', 'gauge', 'Calls that started within the sliding window.');
  for (const s of series) out.push(`laptime_function_calls{${s.labels}} ${sampleValue(s.row.calls)}`);
  family('laptime_function_errors', 'gauge', 'Failed calls that started within the sliding window.');
  for (const s of series) out.push(`laptime_function_errors{${s.labels}} ${sampleValue(s.row.errors)}`);
  family('laptime_function_duration_seconds', 'summary', 'Durations of the calls that started within the sliding window, in seconds (quantiles within 1% relative error).');
  for (const s of series) {
    for (const [column, quantile] of QUANTILES) {
      const ns = s.row[column];
      out.push(`laptime_function_duration_seconds{${s.labels},quantile="${quantile}"} ${sampleValue(ns === null ? null : ns / 1e9)}`);
    }
    out.push(`laptime_function_duration_seconds_sum{${s.labels}} ${sampleValue(s.row.sum / 1e9)}`);
    out.push(`laptime_function_duration_seconds_count{${s.labels}} ${sampleValue(s.row.calls)}`);
  }
  return `${out.join('\n')}\n`;
}

/** Request and response as node:http (and Express, which extends them) hand them over. */
export type MetricsRequest = Pick<IncomingMessage, 'method'>;
export type MetricsResponse = Pick<ServerResponse, 'writeHead' | 'end' | 'headersSent'>;

/**
 * A `(req, res)` handler for node:http or Express that answers {@link metricsText} with the
 * exposition Content-Type. A failed query answers 500 with a short text; it never throws into the
 * server. Options are checked here, once.
 *
 * @example
 * app.get('/metrics', metricsHandler(store));
 */
export function metricsHandler(reader: ReadApi<unknown>, options?: MetricsOptions): (req: MetricsRequest, res: MetricsResponse) => void {
  const o = checkOptions(options);
  return (req, res) => {
    const reply = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        reply(405, 'text/plain; charset=utf-8', `method ${String(req.method)} not allowed on /metrics (GET)\n`, { Allow: 'GET, HEAD' });
        return;
      }
      metricsFor(reader, o).then(
        (text) => reply(200, METRICS_CONTENT_TYPE, text),
        (err: unknown) => reply(500, 'text/plain; charset=utf-8', `laptime metrics failed: ${errorText(err)}\n`),
      ).catch(() => {}); // a response that cannot be written (client gone) is not the server's problem
    } catch (err) {
      try {
        reply(500, 'text/plain; charset=utf-8', `laptime metrics failed: ${errorText(err)}\n`);
      } catch {
        // nothing more to do for this request
      }
    }
  };
}

function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^laptime: /, '').replace(/\s+/g, ' ').slice(0, 500);
}
