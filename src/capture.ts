/**
 * `capture`: record every call of a function into the default store (or a given one).
 *
 * Three forms, decided at setup so a call costs only the timing (pino's habit):
 * - `capture(fn, nameOrOptions?)` returns a timed copy of a function (plain functions, arrow
 *   functions, arrow-function class fields).
 * - `@capture(nameOrOptions?)` on methods, instance or static, with TypeScript's standard (TC39)
 *   decorators or with `experimentalDecorators` (legacy, NestJS style). The mode is recognized from
 *   the arguments the decorator receives. Default name: `ClassName.method`.
 * - `@capture()` on a function-valued class field, standard decorators only.
 *
 * Left alone, returned unchanged: everything when the addon is unavailable or `LAPTIME_DISABLE=1`
 * (one warning), and generator functions (sync or async): their body runs across many `next()`
 * calls interleaved with the consumer's code, so there is no one duration to record, and timing
 * each step would count steps as calls.
 */
import { Site } from './site';
import { checkFields, type Fields } from './fields';
import { nativeBinding } from './native';
import { show, suggest } from './describe';
import { Store } from './store';
import { isGeneratorFunction, timed, type AnyFunction, type FieldsFunction } from './wrap';

/**
 * Options of {@link capture}. `A` and `R` type the arguments and result a `fields` function gets;
 * `capture(fn, options)` infers them from `fn`, a decorator takes them as type arguments
 * (`@capture<[Request], Response>({ fields: ([req], res) => ... })`).
 *
 * @example
 * @capture({ name: 'db.query', fields: { db: 'users' }, sample: 0.1 })
 * @capture<[{ tenant: string }]>({ fields: ([order]) => ({ tenant: order.tenant }) })
 */
export interface CaptureOptions<A extends readonly unknown[] = readonly unknown[], R = unknown> {
  /** Name events are stored under. Default: `ClassName.method` for methods, the function's name otherwise. */
  name?: string;
  /**
   * Key/values stored with the events of this function (strings, booleans, numbers, bigints; the
   * key `error` is reserved): an object, the same for every call, or a function computing them
   * per call from its arguments, result and error (it runs only for recorded calls, after the
   * call is timed; null and undefined values are left out). Filter and group by them like any
   * field (`tenant=acme`, `groupBy('tenant')`).
   */
  fields?: Fields | FieldsFunction<A, R>;
  /** Fraction of calls recorded, in (0, 1]; decided per call by Math.random(). Default 1 (all; no draw). Stats count recorded calls only. */
  sample?: number;
  /** Store to write to. Default: the default store ({@link defaultStore}). */
  store?: Store;
}

/**
 * What `@capture(...)` returns: a method decorator for both decorator modes, and a field decorator
 * for standard decorators.
 */
export interface CaptureDecorator {
  /** Standard (TC39) method decorator. */
  <This, Fn extends AnyFunction>(method: Fn, context: ClassMethodDecoratorContext<This>): Fn;
  /** Standard (TC39) decorator of a function-valued field. */
  <This, Fn extends AnyFunction>(field: undefined, context: ClassFieldDecoratorContext<This, Fn>): (this: This, initial: Fn) => Fn;
  /** Legacy (`experimentalDecorators`) method decorator. */
  <Fn extends AnyFunction>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<Fn>): TypedPropertyDescriptor<Fn>;
}

interface Settings {
  name: string | null;
  fields: Fields | null;
  fieldsOf: FieldsFunction | null;
  sample: number;
  store: Store | null;
}

const OPTION_KEYS = ['name', 'fields', 'sample', 'store'];

/**
 * Time every call of `fn`: returns a function that behaves exactly like `fn` and records each
 * call's start, duration and outcome (async functions: to settlement).
 *
 * @example
 * import { capture } from 'laptime';
 * export const handler = capture(async (req: Request) => respond(req), 'http.handler');
 * class Api { onMessage = capture((msg: string) => this.route(msg), 'Api.onMessage'); }
 */
export function capture<F extends AnyFunction>(fn: F, nameOrOptions?: string | CaptureOptions<Parameters<F>, Awaited<ReturnType<F>>>): F;
/**
 * Decorator recording every call of a method (instance or static) or function-valued field;
 * works with standard decorators and with `experimentalDecorators`.
 *
 * @example
 * import { capture } from 'laptime';
 * class UserService {
 *   @capture() async find(id: string) { ... }                    // "UserService.find"
 *   @capture('users.save') save(user: User) { ... }
 *   @capture({ fields: { tier: 'gold' }, sample: 0.25 }) static hot() { ... }
 * }
 */
export function capture<A extends readonly unknown[] = readonly unknown[], R = unknown>(nameOrOptions?: string | CaptureOptions<A, R>): CaptureDecorator;
export function capture(first?: unknown, second?: unknown): unknown {
  if (typeof first === 'function') {
    const fn = first as AnyFunction;
    const settings = settingsOf(second, 'capture()');
    if (nativeBinding() === null || isGeneratorFunction(fn)) return fn;
    const name = settings.name ?? (fn.name || 'anonymous');
    return timed(fn, new Site(name, name, settings.fields, settings.store), settings.sample, settings.fieldsOf);
  }
  if (second !== undefined) {
    throw new TypeError('laptime: write @capture() with parentheses, or capture(fn, name) for a function');
  }
  return decorator(settingsOf(first, '@capture()'));
}

function settingsOf(value: unknown, where: string): Settings {
  if (value === undefined) return { name: null, fields: null, fieldsOf: null, sample: 1, store: null };
  if (typeof value === 'string') {
    if (value === '') throw new TypeError(`laptime: ${where} name must not be empty`);
    return { name: value, fields: null, fieldsOf: null, sample: 1, store: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`laptime: ${where} takes a name or an options object, got ${show(value)}`);
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) throw new TypeError(`laptime: unknown ${where} option "${key}"${suggest(key, OPTION_KEYS)}`);
  }
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === '')) {
    throw new TypeError(`laptime: ${where} option "name" must be a non-empty string, got ${show(o.name)}`);
  }
  if (o.sample !== undefined && (typeof o.sample !== 'number' || !(o.sample > 0 && o.sample <= 1))) {
    throw new RangeError(`laptime: ${where} option "sample" must be a number in (0, 1], got ${show(o.sample)}`);
  }
  if (o.store !== undefined && !(o.store instanceof Store)) {
    throw new TypeError(`laptime: ${where} option "store" must be a Store from open(), got ${show(o.store)}`);
  }
  return {
    name: (o.name as string | undefined) ?? null,
    fields: o.fields === undefined || typeof o.fields === 'function' ? null : checkFields(o.fields, where),
    fieldsOf: typeof o.fields === 'function' ? (o.fields as FieldsFunction) : null,
    sample: (o.sample as number | undefined) ?? 1,
    store: (o.store as Store | undefined) ?? null,
  };
}

/** `Class.method`, or `Class[description]` for symbol keys. */
function memberName(className: string, key: string | symbol): string {
  return typeof key === 'symbol' ? `${className}[${key.description ?? ''}]` : `${className}.${key}`;
}

function classNameOf(ctor: unknown): string {
  return typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '' ? ctor.name : 'anonymous';
}

interface StandardContext {
  kind: string;
  name: string | symbol;
  static: boolean;
  private: boolean;
  addInitializer(initializer: (this: unknown) => void): void;
}

function isStandardContext(value: unknown): value is StandardContext {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string' && 'addInitializer' in value;
}

function decorator(settings: Settings): CaptureDecorator {
  const decorate = (value: unknown, context: unknown, descriptor?: unknown): unknown => {
    if (isStandardContext(context)) return decorateStandard(value, context, settings);
    if (typeof context === 'string' || typeof context === 'symbol') return decorateLegacy(value, context, descriptor, settings);
    throw new TypeError('laptime: @capture() decorates methods and function-valued fields');
  };
  return decorate as CaptureDecorator;
}

/** Standard decorators: `(value, context)`. The class is not known yet; initializers name the site. */
function decorateStandard(value: unknown, context: StandardContext, settings: Settings): unknown {
  const key = context.name;
  if (context.kind === 'method') {
    const method = value as AnyFunction;
    if (nativeBinding() === null || isGeneratorFunction(method)) return undefined;
    const site = new Site(settings.name, memberName('anonymous', key), settings.fields, settings.store);
    const wrapper = timed(method, site, settings.sample, settings.fieldsOf);
    if (settings.name === null) {
      context.addInitializer(function (this: unknown) {
        if (site.named) return;
        if (context.static) {
          // `this` is the class, but during its static initialization its name may not be final
          // yet (esbuild renames it afterwards): read it at the first call.
          const cls = this;
          site.setName(() => memberName(classNameOf(cls), key));
        } else {
          // Runs in each constructor; the first one names the site after the class that declares
          // the method (not a subclass that inherits it).
          site.setName(memberName(declaringClassName(this, key, wrapper, context.private), key));
        }
      });
    }
    return wrapper;
  }
  if (context.kind === 'field') {
    if (nativeBinding() === null) return undefined;
    const site = new Site(settings.name, memberName('anonymous', key), settings.fields, settings.store);
    return function (this: unknown, initial: unknown): unknown {
      if (typeof initial !== 'function' || isGeneratorFunction(initial as AnyFunction)) return initial;
      if (!site.named) {
        const cls: unknown = context.static ? this : (this as object).constructor;
        site.setName(() => memberName(classNameOf(cls), key));
      }
      return timed(initial as AnyFunction, site, settings.sample, settings.fieldsOf);
    };
  }
  throw new TypeError(`laptime: @capture() decorates methods and function-valued fields, not a ${context.kind} (${String(key)})`);
}

/** The name of the class whose prototype holds `wrapper` under `key`, searching from `instance`. */
function declaringClassName(instance: unknown, key: string | symbol, wrapper: AnyFunction, isPrivate: boolean): string {
  if (typeof instance !== 'object' || instance === null) return 'anonymous';
  if (!isPrivate) {
    let firstOwner: object | null = null;
    for (let proto: object | null = Object.getPrototypeOf(instance); proto !== null; proto = Object.getPrototypeOf(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (descriptor === undefined) continue;
      if (descriptor.value === wrapper) return classNameOf((proto as { constructor?: unknown }).constructor);
      firstOwner ??= proto;
    }
    // Another decorator wrapped ours: the nearest class defining the method is the best guess.
    if (firstOwner !== null) return classNameOf((firstOwner as { constructor?: unknown }).constructor);
  }
  return classNameOf((instance as { constructor?: unknown }).constructor);
}

/** Legacy decorators: `(target, key, descriptor)`; target is the prototype, or the class for static members. */
function decorateLegacy(target: unknown, key: string | symbol, descriptor: unknown, settings: Settings): unknown {
  if (descriptor === undefined) {
    throw new TypeError(
      `laptime: @capture() on the field ${String(key)} needs standard decorators; with experimentalDecorators write ${String(key)} = capture((...) => ..., 'Class.${String(key)}')`,
    );
  }
  const d = descriptor as PropertyDescriptor;
  if (typeof d.value !== 'function') {
    throw new TypeError(`laptime: @capture() decorates methods, not a getter, setter or value (${String(key)})`);
  }
  const method = d.value as AnyFunction;
  if (nativeBinding() === null || isGeneratorFunction(method)) return d;
  const className = classNameOf(typeof target === 'function' ? target : (target as { constructor?: unknown }).constructor);
  const name = settings.name ?? memberName(className, key);
  d.value = timed(method, new Site(name, name, settings.fields, settings.store), settings.sample, settings.fieldsOf);
  return d;
}
