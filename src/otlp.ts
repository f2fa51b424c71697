/**
 * Stored calls as OpenTelemetry spans in the OTLP/JSON encoding (an `ExportTraceServiceRequest`),
 * so laptime's data can reach an existing collector: `laptime export --format otlp` writes them as
 * JSON lines (what the collector's `otlpjsonfile` receiver reads) or POSTs them to an OTLP/HTTP
 * endpoint (`/v1/traces`, `application/json`).
 *
 * One call is one span: its name, start and end (exact ns), status ERROR for failed calls, kind from
 * the `span.kind` field when the call came from OTel (else INTERNAL), and its other fields as
 * attributes. Log events are not spans and are left out. Trace and span ids are derived from the
 * event (a hash of start, name, duration and position), so exporting the same events twice gives
 * the same ids and a collector can tell repeats.
 */
import { createHash } from 'node:crypto';
import { SPAN_KIND_FIELD } from './otel';
import type { StoredEvent } from './query';
import { packageVersion } from './version';

/** OTLP/JSON of one attribute value. */
export type OtlpAnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

/** OTLP/JSON of one span (the fields laptime fills). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: OtlpAnyValue }>;
  status: { code: number; message?: string };
}

/** OTLP/JSON `ExportTraceServiceRequest`. */
export interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: OtlpAnyValue }> };
    scopeSpans: Array<{ scope: { name: string; version: string }; spans: OtlpSpan[] }>;
  }>;
}

// OTLP enum numbers (opentelemetry-proto trace.proto).
const KINDS: Readonly<Record<string, number>> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

function anyValue(value: string | number | boolean | bigint): OtlpAnyValue {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'bigint':
      return { intValue: value.toString() };
    default:
      return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  }
}

/** 16- and 8-byte ids, hex, from what identifies the event; never all zero (OTLP forbids it). */
function idsOf(event: StoredEvent, ordinal: number): { traceId: string; spanId: string } {
  const hash = createHash('sha256').update(`${event.startNs}\u0000${event.name}\u0000${event.durationNs}\u0000${ordinal}`).digest('hex');
  const nonZero = (hex: string) => (/^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex);
  return { traceId: nonZero(hash.slice(0, 32)), spanId: nonZero(hash.slice(32, 48)) };
}

/**
 * The calls among `events` as one OTLP/JSON request, for the service `serviceName`. `firstOrdinal`
 * numbers the events (for their ids) when a long export is sent in several requests.
 */
export function callsToOtlp(events: readonly StoredEvent[], serviceName: string, firstOrdinal = 0): OtlpTraceRequest {
  const spans: OtlpSpan[] = [];
  events.forEach((event, i) => {
    if (event.kind !== 'call') return;
    const attributes: OtlpSpan['attributes'] = [];
    let kind = KINDS.internal!;
    // Sorted keys: the same events always give the same bytes.
    for (const key of Object.keys(event.fields).sort()) {
      const value = event.fields[key]!;
      if (key === SPAN_KIND_FIELD && typeof value === 'string' && KINDS[value] !== undefined) kind = KINDS[value];
      else attributes.push({ key, value: anyValue(value) });
    }
    const failed = event.status === 'error';
    const error = event.fields.error;
    spans.push({
      ...idsOf(event, firstOrdinal + i),
      name: event.name,
      kind,
      startTimeUnixNano: event.startNs.toString(),
      endTimeUnixNano: (event.startNs + BigInt(event.durationNs)).toString(),
      attributes,
      status: failed ? { code: STATUS_ERROR, ...(typeof error === 'string' ? { message: error } : {}) } : { code: STATUS_UNSET },
    });
  });
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
        scopeSpans: [{ scope: { name: 'laptime', version: packageVersion() }, spans }],
      },
    ],
  };
}

/** Spans in a request. */
export function spanCount(request: OtlpTraceRequest): number {
  return request.resourceSpans.reduce((n, r) => n + r.scopeSpans.reduce((m, s) => m + s.spans.length, 0), 0);
}
