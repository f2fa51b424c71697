/**
 * The timed wrapper of a function (invariant 1: capture never changes the program).
 *
 * - Same `this`, arguments, return value and thrown value; `new` works if it worked before.
 * - A returned native Promise (or subclass) is returned as is; its settlement is observed with
 *   `Promise.prototype.then` (both handlers, so no new unhandled rejection appears) and the call is
 *   timed to that settlement. Other thenables are left alone (calling `then` can start work, e.g. a
 *   query builder) and timed as sync calls.
 * - `name`, `length`, own properties, the prototype chain and reflect-metadata are copied, so
 *   frameworks reading them see the original.
 *
 * Sampling is decided here, once: rate 1 gets the plain wrapper, no random draw per call.
 */
import { describeError, warnOnce } from './diagnostics';
import type { CallFields } from './sink';
import type { Site } from './site';
import { perf } from './time';

/** Any function; `never[]` parameters make every function assignable. */
export type AnyFunction = (...args: never[]) => unknown;

/**
 * Per-call fields of a captured function: called after each recorded call with its arguments
 * (an array), its result (the settled value for a promise; undefined if it failed) and its error
 * (undefined if it did not fail). Returns the fields to store with that call; null and undefined
 * values are left out.
 */
export type FieldsFunction<A extends readonly unknown[] = readonly unknown[], R = unknown> = (
  args: A,
  result: R | undefined,
  error: unknown,
) => CallFields | null | undefined;

const promiseThen = Promise.prototype.then;
const reflectApply = Reflect.apply;
const reflectConstruct = Reflect.construct;

/** `fn` timed into `site`, sampling `rate` of its calls (0 < rate <= 1), with per-call fields from `fieldsOf`. */
export function timed<F extends AnyFunction>(fn: F, site: Site, rate: number, fieldsOf: FieldsFunction | null = null): F {
  const wrapper = fieldsOf !== null ? withFields(fn, site, rate, fieldsOf) : rate >= 1 ? plain(fn, site) : sampled(fn, site, rate);
  mirror(wrapper, fn);
  return wrapper as unknown as F;
}

// Stack depth (issue 10): every captured call puts the wrapper's frame (and Reflect's) under the
// original's. The wrappers keep that frame small: no closure captures `t0` (which would give every
// call a heap context), settlement is handled by `settle`, and a sampled call is timed in the
// sampling wrapper's own frame instead of calling a second wrapper.

function plain(fn: AnyFunction, site: Site): AnyFunction {
  return function (this: unknown): unknown {
    const t0 = perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      site.fail(t0, err);
      throw err;
    }
    return settle(site, t0, result);
  };
}

function sampled(fn: AnyFunction, site: Site, rate: number): AnyFunction {
  return function (this: unknown): unknown {
    if (Math.random() >= rate) {
      return new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    }
    const t0 = perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, arguments) : reflectConstruct(fn, arguments, new.target);
    } catch (err) {
      site.fail(t0, err);
      throw err;
    }
    return settle(site, t0, result);
  };
}

/** Record a call that returned `result`: now, or at its settlement for a native Promise. */
function settle(site: Site, t0: number, result: unknown): unknown {
  if (result instanceof Promise) observe(site, t0, result);
  else site.ok(t0);
  return result;
}

/** Time `promise` to its settlement (its own function: only this path needs closures over `t0`). */
function observe(site: Site, t0: number, promise: Promise<unknown>): void {
  promiseThen.call(promise, () => site.ok(t0), (err: unknown) => site.fail(t0, err));
}

/**
 * The wrapper of a function with per-call fields: the plain or sampled wrapper, plus the call's
 * arguments kept until it ends, when `fieldsOf` runs (after the second clock read, so its cost is
 * not in the duration).
 */
function withFields(fn: AnyFunction, site: Site, rate: number, fieldsOf: FieldsFunction): AnyFunction {
  // A rest parameter: one array serves the call and the fields function (no copy of `arguments`).
  return function (this: unknown, ...args: unknown[]): unknown {
    if (rate < 1 && Math.random() >= rate) {
      return new.target === undefined ? reflectApply(fn, this, args) : reflectConstruct(fn, args, new.target);
    }
    const t0 = perf.now();
    let result: unknown;
    try {
      result = new.target === undefined ? reflectApply(fn, this, args) : reflectConstruct(fn, args, new.target);
    } catch (err) {
      const t1 = perf.now();
      site.end(t0, t1, 1, err, fieldsFor(site, fieldsOf, args, undefined, err));
      throw err;
    }
    if (result instanceof Promise) {
      observeWithFields(site, t0, result, fieldsOf, args);
    } else {
      const t1 = perf.now();
      site.end(t0, t1, 0, undefined, fieldsFor(site, fieldsOf, args, result, undefined));
    }
    return result;
  };
}

function observeWithFields(site: Site, t0: number, promise: Promise<unknown>, fieldsOf: FieldsFunction, args: unknown[]): void {
  promiseThen.call(
    promise,
    (value: unknown) => {
      const t1 = perf.now();
      site.end(t0, t1, 0, undefined, fieldsFor(site, fieldsOf, args, value, undefined));
    },
    (err: unknown) => {
      const t1 = perf.now();
      site.end(t0, t1, 1, err, fieldsFor(site, fieldsOf, args, undefined, err));
    },
  );
}

/** The fields `fieldsOf` gives a call; null (after one warning) if it throws or returns a non-object. */
function fieldsFor(site: Site, fieldsOf: FieldsFunction, args: unknown[], result: unknown, error: unknown): CallFields | null {
  try {
    const fields = fieldsOf(args, result, error);
    if (fields === null || fields === undefined) return null;
    if (typeof fields === 'object') return fields;
    warnOnce('LAPTIME_FIELDS_RESULT', `laptime: the "fields" function of ${site.label} returned ${typeof fields}, not an object; the call was recorded without its fields (later ones are not reported)`);
  } catch (err) {
    warnOnce('LAPTIME_FIELDS_THREW', `laptime: the "fields" function of ${site.label} threw (${describeError(err)}); the call was recorded without its fields (later ones are not reported)`);
  }
  return null;
}

interface MetadataReflect {
  getOwnMetadataKeys?: (target: object) => unknown[];
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

const SKIPPED = new Set<PropertyKey>(['name', 'length', 'prototype', 'arguments', 'caller']);

/** Make `wrapper` look like `fn` to code that inspects functions. */
function mirror(wrapper: AnyFunction, fn: AnyFunction): void {
  Object.defineProperty(wrapper, 'name', { value: fn.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: fn.length, configurable: true });
  if (Object.hasOwn(fn, 'prototype')) {
    // Constructible originals: `new wrapper()` builds the same objects, instanceof agrees.
    (wrapper as { prototype: unknown }).prototype = (fn as { prototype: unknown }).prototype;
  }
  for (const key of Reflect.ownKeys(fn)) {
    if (SKIPPED.has(key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(fn, key);
    if (descriptor !== undefined) Object.defineProperty(wrapper, key, descriptor);
  }
  // AsyncFunction.prototype, a base class for static inheritance, ...
  const proto: unknown = Object.getPrototypeOf(fn);
  if (proto !== Object.getPrototypeOf(wrapper)) Object.setPrototypeOf(wrapper, proto as object | null);
  const meta = Reflect as unknown as MetadataReflect;
  if (typeof meta.getOwnMetadataKeys === 'function' && typeof meta.getOwnMetadata === 'function' && typeof meta.defineMetadata === 'function') {
    for (const key of meta.getOwnMetadataKeys(fn)) meta.defineMetadata(key, meta.getOwnMetadata(key, fn), wrapper);
  }
}

/** Generators run across many `next()` calls interleaved with their consumer: no single duration. */
export function isGeneratorFunction(fn: AnyFunction): boolean {
  const tag = Object.prototype.toString.call(fn);
  return tag === '[object GeneratorFunction]' || tag === '[object AsyncGeneratorFunction]';
}
