/**
 * OpenTelemetry bridge (`laptime/otel`): a span processor that records every ended span as a laptime
 * call, so a service already traced with OTel (and its auto-instrumentations) feeds laptime as is.
 *
 * Only OTel *types* are used: nothing here loads an `@opentelemetry/*` package at run time, so the
 * processor works with whichever SDK copy the application has, and the root `laptime` import never
 * pulls OTel in.
 */
import type { Attributes, AttributeValue, Context, HrTime, SpanKind, SpanStatus } from '@opentelemetry/api';
import { defaultStore } from './default-store';
import { describeError, diagnostics, warnOnce } from './diagnostics';
import type { FieldValue } from './fields';
import type { Store } from './store';

/**
 * The span attributes recorded by default: HTTP method, route template and status code under their
 * current semantic-convention names and the older ones (instrumentations still emit either), and the
 * database system.
 */
export const DEFAULT_SPAN_ATTRIBUTES: readonly string[] = Object.freeze([
  'http.request.method',
  'http.method',
  'http.route',
  'http.response.status_code',
  'http.status_code',
  'db.system.name',
  'db.system',
]);

/** Field key the span kind is stored under (`server`, `client`, `internal`, `producer`, `consumer`). */
export const SPAN_KIND_FIELD = 'span.kind';

/** Options of {@link LaptimeSpanProcessor}. */
export interface LaptimeSpanProcessorOptions {
  /** Store to record into. Default: laptime's default store (looked up at each span, so `setDefaultStore` applies). */
  store?: Store;
  /**
   * Span attributes stored as fields, by exact key; `true` stores every attribute. Only string,
   * number and boolean values are stored (arrays are skipped). Default {@link DEFAULT_SPAN_ATTRIBUTES}.
   */
  attributes?: readonly string[] | true;
}

/**
 * The parts of an ended span the processor reads: a structural subset of the SDK's `ReadableSpan`,
 * so any SDK copy's spans fit.
 */
export interface EndedSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly startTime: HrTime;
  readonly duration: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
}

// Numeric values of the OTel API's enums (stable parts of the API spec), so that no OTel package
// has to be loaded at run time.
const STATUS_ERROR = 2; // SpanStatusCode.ERROR
const KIND_NAMES: readonly string[] = ['internal', 'server', 'client', 'producer', 'consumer'];

const NS_PER_S = 1_000_000_000n;

/** Exact nanoseconds of an OTel `[seconds, nanos]` tuple; null if it is not one. */
export function hrTimeToNs(time: HrTime): bigint | null {
  if (!Array.isArray(time) || time.length !== 2) return null;
  const [s, ns] = time;
  // Whole numbers are converted exactly; OTel's own conversions already round to whole ns, a
  // hand-made tuple with a fraction is rounded here rather than refused.
  if (!Number.isFinite(s) || !Number.isFinite(ns)) return null;
  return BigInt(Math.round(s)) * NS_PER_S + BigInt(Math.round(ns));
}

/**
 * An OpenTelemetry `SpanProcessor` that records each ended span as a laptime call: the span's name,
 * exact start (epoch ns) and duration, `ok` unless its status is ERROR, and as fields its kind
 * (`span.kind`) and the chosen attributes. `forceFlush()` and `shutdown()` flush the store; the
 * processor never closes a store.
 *
 * @example
 * import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
 * import { LaptimeSpanProcessor } from 'laptime/otel';
 * const provider = new NodeTracerProvider({ spanProcessors: [new LaptimeSpanProcessor()] });
 * provider.register();
 */
export class LaptimeSpanProcessor {
  readonly #store: Store | null;
  readonly #keys: readonly string[] | null;
  /** Stores spans went to (the default store may change), so flushing never opens one. */
  readonly #used = new Set<Store>();
  #shutDown = false;

  constructor(options: LaptimeSpanProcessorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`laptime: LaptimeSpanProcessor options must be an object, got ${String(options)}`);
    const { store, attributes = DEFAULT_SPAN_ATTRIBUTES } = options;
    if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.record !== 'function' || typeof store.flush !== 'function')) {
      throw new TypeError('laptime: LaptimeSpanProcessor option "store" must be a Store from open()');
    }
    if (attributes !== true) {
      if (!Array.isArray(attributes)) throw new TypeError(`laptime: LaptimeSpanProcessor option "attributes" must be an array of attribute keys or true, got ${String(attributes)}`);
      attributes.forEach((key, i) => {
        if (typeof key !== 'string' || key === '') throw new TypeError(`laptime: LaptimeSpanProcessor option "attributes[${i}]" must be a non-empty string, got ${String(key)}`);
      });
    }
    this.#store = store ?? null;
    this.#keys = attributes === true ? null : Object.freeze([...attributes]);
  }

  /** Nothing to do when a span starts: it is recorded once ended. */
  onStart(_span: unknown, _parentContext: Context): void {}

  /** Records `span`; never throws into the code that ended it (a span that cannot be stored is counted as lost). */
  onEnd(span: EndedSpan): void {
    if (this.#shutDown) return;
    let store: Store;
    try {
      store = this.#store ?? defaultStore();
      this.#used.add(store);
    } catch (err) {
      diagnostics.lostEvents++;
      warnOnce('LAPTIME_OTEL_NO_STORE', `laptime: an OpenTelemetry span was not recorded: no store (${describeError(err)}); later ones are counted in counters().lost`);
      return;
    }
    try {
      const startNs = hrTimeToNs(span.startTime);
      const durationNs = hrTimeToNs(span.duration);
      if (startNs === null || durationNs === null) throw new TypeError(`span "${String(span.name)}" has no valid startTime/duration`);
      store.record({
        name: span.name,
        startNs,
        // The SDK clamps an end before the start to a zero duration; a hand-made span may not.
        durationNs: durationNs < 0n ? 0n : durationNs,
        ok: span.status?.code !== STATUS_ERROR,
        fields: this.#fields(span),
      });
    } catch (err) {
      diagnostics.lostEvents++;
      warnOnce('LAPTIME_OTEL_SPAN', `laptime: an OpenTelemetry span was not recorded: ${describeError(err)} (later ones are counted in counters().lost)`);
    }
  }

  /** Resolves once every span ended before the call is written by the store's engine. */
  async forceFlush(): Promise<void> {
    const stores = [...this.#used];
    if (this.#store !== null && !this.#used.has(this.#store)) stores.push(this.#store);
    // A closed default store is replaced on next use; forget it once this flush has seen it.
    for (const store of this.#used) if (store.closed) this.#used.delete(store);
    await Promise.all(stores.map((store) => store.flush()));
  }

  /** Stops recording spans and flushes; the store stays open (the processor did not open it). */
  async shutdown(): Promise<void> {
    this.#shutDown = true;
    await this.forceFlush();
  }

  #fields(span: EndedSpan): Record<string, FieldValue> {
    const fields: Record<string, FieldValue> = {};
    const kind = KIND_NAMES[span.kind];
    if (kind !== undefined) fields[SPAN_KIND_FIELD] = kind;
    const attributes = span.attributes ?? {};
    if (this.#keys === null) {
      for (const key of Object.keys(attributes)) addField(fields, key, attributes[key]);
    } else {
      for (const key of this.#keys) addField(fields, key, attributes[key]);
    }
    return fields;
  }
}

/** Adds `value` under `key` if laptime stores it as is (record() would refuse the rest). */
function addField(fields: Record<string, FieldValue>, key: string, value: AttributeValue | undefined): void {
  if (key === '' || key === SPAN_KIND_FIELD || !key.isWellFormed()) return;
  if (typeof value === 'string') {
    if (value.isWellFormed()) fields[key] = value;
  } else if (typeof value === 'number') {
    if (Number.isFinite(value)) fields[key] = value;
  } else if (typeof value === 'boolean') {
    fields[key] = value;
  }
}
