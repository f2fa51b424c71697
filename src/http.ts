/**
 * What the HTTP middleware share (laptime/express, laptime/fastify, laptime/nest): their options,
 * the event name (`GET /users/:id`), the fields of a request (`route`, `method`, `status_code`,
 * `status_class`, `aborted`), which requests count as errors, and `annotate()`. Each framework
 * module only finds t0, t1, the route template and the status; recording is done here, through a
 * CallRecorder (perf.now() timing, never throws into the program).
 */
import { CallRecorder } from './calls';
import { describeError, warnOnce } from './diagnostics';
import type { FieldValue } from './fields';
import type { Store } from './store';

/** Route of a request that matched no route: one value, so scanners cannot explode cardinality. */
export const UNMATCHED = '(unmatched)';

/** A per-request field value; null and undefined are left out. */
export type HttpFieldValue = FieldValue | null | undefined;
/** Extra per-request fields, from the `fields` option or {@link annotate}. */
export type HttpFields = Readonly<Record<string, HttpFieldValue>>;
/** A status class as stored in the `status_class` field. */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/**
 * Which requests count as errors. A function gets the response status (0 when the client went away
 * before any response was sent) and what the handler threw (undefined if nothing) and decides. A
 * list names statuses and classes (`[429, '5xx']`): a request is an error when its status is
 * listed, or when the handler threw and no 4xx/5xx response came of it (e.g. a stream broke).
 * Default `['5xx']`: 5xx responses and thrown errors that did not become a 4xx.
 */
export type ErrorRule = ((status: number, error: unknown) => boolean) | ReadonlyArray<number | StatusClass>;

/** Options every middleware takes. */
export interface HttpOptions<Req, Res> {
  /** Store to record into. Default: the default store (looked up again when it changes). */
  store?: Store;
  /** Which requests count as errors; see {@link ErrorRule}. Default: 5xx and thrown errors not mapped to a 4xx. */
  errors?: ErrorRule;
  /**
   * Extra fields for each request, computed when the response finished. A function that throws or
   * returns something else than an object adds nothing (one warning).
   */
  fields?: (req: Req, res: Res) => HttpFields | null | undefined;
}

/** The fields every request event carries; `fields` and `annotate` cannot replace them. */
const BUILT_IN = new Set(['route', 'method', 'status_code', 'status_class', 'aborted', 'error']);
const CLASSES: readonly string[] = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Fields handlers added with annotate(), by request object. */
const annotations = new WeakMap<object, Record<string, HttpFieldValue>>();
/** What a handler threw, by request object, as the error hooks saw it. */
const thrown = new WeakMap<object, unknown>();
/** Skip the WeakMap lookups until something was annotated or noted as thrown. */
let annotating = false;
let noting = false;

/**
 * Adds fields to the event of `req` (the request object your framework gives the handler),
 * recorded when its response finishes. Later calls add to and override earlier ones; null or
 * undefined values remove a key. The built-in fields (`route`, `method`, `status_code`,
 * `status_class`, `aborted`, `error`) cannot be replaced.
 *
 * @example
 * app.get('/orders/:id', (req, res) => {
 *   annotate(req, { tenant: req.get('x-tenant'), cache: 'miss' });
 *   res.json(order);
 * });
 */
export function annotate(req: object, fields: HttpFields): void {
  if ((typeof req !== 'object' && typeof req !== 'function') || req === null) {
    throw new TypeError(`laptime: annotate(req, fields): req must be the request object, got ${req === null ? 'null' : typeof req}`);
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError(`laptime: annotate(req, fields): fields must be an object of key/values, got ${fields === null ? 'null' : Array.isArray(fields) ? 'an array' : typeof fields}`);
  }
  annotating = true;
  const own = annotations.get(req);
  if (own === undefined) annotations.set(req, { ...fields });
  else Object.assign(own, fields);
}

/** Notes what a handler threw for `req`'s event (the last one wins). */
export function noteError(req: object, err: unknown): void {
  noting = true;
  thrown.set(req, err);
}

/** What was noted as thrown for `req`, or undefined. */
export function errorOf(req: object): unknown {
  return noting ? thrown.get(req) : undefined;
}

/** `value` if it is a plain options object (or undefined); throws naming `where` and the unknown key. */
export function checkOptions<T extends object>(value: unknown, where: string, known: readonly string[], ignored: readonly string[] = []): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`laptime: ${where} options must be an object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  for (const key of Object.keys(value)) {
    if (!known.includes(key) && !ignored.includes(key)) throw new TypeError(`laptime: ${where} has no option "${key}" (options: ${known.join(', ')})`);
  }
  return value as Partial<T>;
}

/** Checks and returns the `route` option: a function of the request. */
export function checkRouteOption<R>(value: unknown, where: string): ((req: R) => string) | null {
  if (value === undefined) return null;
  if (typeof value !== 'function') throw new TypeError(`laptime: ${where} option "route" must be a function (req) => route template, got ${typeof value}`);
  return value as (req: R) => string;
}

function defaultIsError(status: number, error: unknown): boolean {
  return status >= 500 || (error !== undefined && status < 400);
}

/** The classification function of an `errors` option; throws naming `where` on a bad rule. */
export function errorRule(rule: unknown, where: string): (status: number, error: unknown) => boolean {
  if (rule === undefined) return defaultIsError;
  if (typeof rule === 'function') {
    const fn = rule as (status: number, error: unknown) => boolean;
    return (status, error) => {
      try {
        return fn(status, error) === true;
      } catch (err) {
        warnOnce('LAPTIME_HTTP_ERRORS_THREW', `laptime: ${where} option "errors" threw (${describeError(err)}); the default rule was used (later ones are not reported)`);
        return defaultIsError(status, error);
      }
    };
  }
  if (!Array.isArray(rule)) throw new TypeError(`laptime: ${where} option "errors" must be a function (status, error) => boolean or a list of statuses and classes like [404, '5xx'], got ${typeof rule}`);
  const statuses = new Set<number>();
  const classes = new Set<number>();
  (rule as unknown[]).forEach((entry, i) => {
    if (typeof entry === 'number' && Number.isInteger(entry) && entry >= 100 && entry <= 599) statuses.add(entry);
    else if (typeof entry === 'string' && /^[1-5]xx$/.test(entry)) classes.add(Number(entry[0]));
    else throw new TypeError(`laptime: ${where} option "errors[${i}]" must be a status 100..599 or a class '1xx'..'5xx', got ${typeof entry === 'string' ? JSON.stringify(entry) : String(entry)}`);
  });
  return (status, error) => statuses.has(status) || classes.has((status / 100) | 0) || (error !== undefined && status < 400);
}

/** Checks the `store` option. */
export function storeOption(value: unknown, where: string): Store | null {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null || typeof (value as Store).flush !== 'function' || typeof (value as Store).query !== 'function') {
    throw new TypeError(`laptime: ${where} option "store" must be a Store from open()`);
  }
  return value as Store;
}

/** Names kept per route; past this they are built per request (no unbounded growth). */
const MAX_NAMES = 4096;

/** One finished request, as a framework module sees it. */
export interface Finished {
  /** Route template, or {@link UNMATCHED}. */
  route: string;
  method: string;
  /** Final status; 0 when no response was sent. */
  status: number;
  /** The client went away before the response finished. */
  aborted: boolean;
  /** What the handler threw, or undefined. */
  error: unknown;
}

/** Records finished requests for one middleware instance. */
export class HttpRecorder<Req extends object, Res> {
  private readonly calls: CallRecorder;
  private readonly isError: (status: number, error: unknown) => boolean;
  private readonly extra: ((req: Req, res: Res) => HttpFields | null | undefined) | null;
  private readonly where: string;
  /** `${method} ${route}` by route, then method: no string building per request. */
  private readonly names = new Map<string, Map<string, string>>();
  private nameCount = 0;

  constructor(options: Partial<HttpOptions<Req, Res>>, where: string) {
    this.where = where;
    this.isError = errorRule(options.errors, where);
    const extra = options.fields;
    if (extra !== undefined && typeof extra !== 'function') throw new TypeError(`laptime: ${where} option "fields" must be a function (req, res) => fields, got ${typeof extra}`);
    this.extra = extra ?? null;
    this.calls = new CallRecorder(storeOption(options.store, where), where);
  }

  /** The event name of a request: `GET /users/:id`. */
  nameOf(method: string, route: string): string {
    let byMethod = this.names.get(route);
    if (byMethod === undefined) {
      if (this.nameCount >= MAX_NAMES) return `${method} ${route}`;
      byMethod = new Map();
      this.names.set(route, byMethod);
    }
    let name = byMethod.get(method);
    if (name === undefined) {
      name = `${method} ${route}`;
      if (this.nameCount < MAX_NAMES) {
        byMethod.set(method, name);
        this.nameCount++;
      }
    }
    return name;
  }

  /** Records one request named `name` that ran from t0 to t1 (perf.now() ms). Never throws. */
  record(name: string, t0: number, t1: number, req: Req, res: Res, done: Finished): void {
    const { status, error } = done;
    let failed: boolean;
    let fields: Record<string, HttpFieldValue>;
    try {
      failed = this.isError(status, error);
      fields = {
        route: done.route,
        method: done.method,
        status_code: status === 0 ? undefined : status,
        status_class: status === 0 ? undefined : CLASSES[(status / 100) | 0],
      };
      if (done.aborted) fields.aborted = true;
      if (this.extra !== null) this.addExtra(fields, req, res);
      if (annotating) {
        const own = annotations.get(req);
        if (own !== undefined) copyExtra(fields, own);
      }
    } catch (err) {
      // Only user code (a getter on the request, say) gets here; the event is kept without extras.
      warnOnce('LAPTIME_HTTP_FIELDS', `laptime: ${this.where} could not read a request's fields (${describeError(err)}); recorded without them`);
      failed = status >= 500 || error !== undefined;
      fields = { route: done.route, method: done.method };
    }
    this.calls.record(name, t0, t1, failed, error, fields);
  }

  private addExtra(fields: Record<string, HttpFieldValue>, req: Req, res: Res): void {
    let more: unknown;
    try {
      more = (this.extra as (req: Req, res: Res) => unknown)(req, res);
    } catch (err) {
      warnOnce('LAPTIME_HTTP_FIELDS_THREW', `laptime: ${this.where} option "fields" threw (${describeError(err)}); the request was recorded without its extra fields (later ones are not reported)`);
      return;
    }
    if (more === null || more === undefined) return;
    if (typeof more !== 'object' || Array.isArray(more)) {
      warnOnce('LAPTIME_HTTP_FIELDS_TYPE', `laptime: ${this.where} option "fields" returned ${Array.isArray(more) ? 'an array' : typeof more}, not an object of key/values; left out (later ones are not reported)`);
      return;
    }
    copyExtra(fields, more as HttpFields);
  }
}

function copyExtra(into: Record<string, HttpFieldValue>, from: HttpFields): void {
  for (const key in from) {
    if (!BUILT_IN.has(key)) into[key] = from[key];
  }
}
