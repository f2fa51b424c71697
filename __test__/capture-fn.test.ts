/** capture(fn): plain functions, arrow functions and arrow-function fields (both decorator modes). */
import { freshStore, delay } from './helpers/setup';
import test from 'ava';
import { capture } from '../index';
import { fake, rowsOf } from './helpers/fake-native';
import { diagnostics } from '../src/diagnostics';

test.serial('default name is the function name; explicit names win; anonymous functions', async (t) => {
  const store = freshStore(t);
  function parseRequest(raw: string): number {
    return raw.length;
  }
  const timed = capture(parseRequest);
  t.is(timed('abc'), 3);
  capture((x: number) => x, 'explicit')(1);
  const anon = [(x: number) => x][0]!;
  capture(anon)(1);
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => r.name),
    ['parseRequest', 'explicit', 'anonymous'],
  );
});

test.serial('name, length, own properties, prototype chain and this are preserved', (t) => {
  async function load(this: { base: number }, a: number, b: number): Promise<number> {
    return this.base + a + b;
  }
  (load as unknown as { meta: string }).meta = 'kept';
  const timed = capture(load);
  t.is(timed.name, 'load');
  t.is(timed.length, 2);
  t.is((timed as unknown as { meta: string }).meta, 'kept');
  t.is(Object.getPrototypeOf(timed), Object.getPrototypeOf(load));
  t.is(Object.prototype.toString.call(timed), '[object AsyncFunction]');
  return timed.call({ base: 10 }, 1, 2).then((v) => t.is(v, 13));
});

test.serial('arrow-function class fields with capture(fn)', async (t) => {
  const store = freshStore(t);
  class Handler {
    prefix = 'hi ';
    greet = capture((name: string) => this.prefix + name, 'Handler.greet');
    later = capture(async (ms: number) => {
      await delay(ms);
      return this.prefix;
    }, 'Handler.later');
  }
  const h = new Handler();
  t.is(h.greet('bob'), 'hi bob');
  t.is(await h.later(3), 'hi ');
  await store.flush();
  const rows = rowsOf(store.path);
  t.deepEqual(
    rows.map((r) => r.name),
    ['Handler.greet', 'Handler.later'],
  );
  t.true(rows[1]!.durationNs >= 2_000_000n);
});

test.serial('constructors: new works, instanceof agrees, calling a class without new throws the same', async (t) => {
  const store = freshStore(t);
  function Point(this: { x: number }, x: number): void {
    this.x = x;
  }
  const TimedPoint = capture(Point as unknown as (x: number) => void) as unknown as new (x: number) => { x: number };
  const p = new TimedPoint(3);
  t.is(p.x, 3);
  t.true(p instanceof (Point as unknown as new () => unknown));
  t.true(p instanceof TimedPoint);
  class Base {
    static kind = 'base';
    constructor(readonly v: number) {}
  }
  const TimedBase = capture(Base as unknown as (v: number) => Base) as unknown as typeof Base;
  const b = new TimedBase(5);
  t.true(b instanceof Base);
  t.is(b.v, 5);
  t.is(TimedBase.kind, 'base');
  const withoutNew = t.throws(() => (TimedBase as unknown as (v: number) => Base)(1), { instanceOf: TypeError });
  t.regex(withoutNew!.message, /cannot be invoked without 'new'/);
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => [r.name, r.code]),
    [
      ['Point', 0],
      ['Base', 0],
      ['Base', 1],
    ],
  );
});

test.serial('generator functions are returned unchanged', (t) => {
  function* gen(): Generator<number> {
    yield 1;
  }
  async function* agen(): AsyncGenerator<number> {
    yield 1;
  }
  t.is(capture(gen), gen);
  t.is(capture(agen), agen);
});

test.serial('reflect-metadata on the function is carried over (NestJS reads it from descriptor.value)', (t) => {
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const reflect = Reflect as unknown as Record<string, unknown>;
  reflect.defineMetadata = (key: unknown, value: unknown, target: object) => {
    const m = store.get(target) ?? new Map();
    m.set(key, value);
    store.set(target, m);
  };
  reflect.getOwnMetadata = (key: unknown, target: object) => store.get(target)?.get(key);
  reflect.getOwnMetadataKeys = (target: object) => [...(store.get(target)?.keys() ?? [])];
  t.teardown(() => {
    delete reflect.defineMetadata;
    delete reflect.getOwnMetadata;
    delete reflect.getOwnMetadataKeys;
  });
  function route(): string {
    return 'ok';
  }
  (reflect.defineMetadata as (k: unknown, v: unknown, t: object) => void)('path', '/users', route);
  const timed = capture(route);
  t.is((reflect.getOwnMetadata as (k: unknown, t: object) => unknown)('path', timed), '/users');
});

test.serial('an internal failure never reaches the caller', async (t) => {
  const store = freshStore(t);
  const before = diagnostics.internalErrors;
  const engine = fake.engines.get(store.path)!;
  const realIntern = engine.ids.get.bind(engine.ids);
  // make interning fail: the fake's intern reads engine.ids
  engine.ids.get = () => {
    throw new Error('intern exploded');
  };
  try {
    const f = capture((x: number) => x * 3, 'explodes');
    t.is(f(2), 6);
    t.is(f(3), 9);
  } finally {
    engine.ids.get = realIntern;
  }
  t.is(diagnostics.internalErrors, before + 1, 'counted once: the site stays unbound until something changes');
  t.true(store.counters().lost >= 2);
});

test.serial('bad arguments fail at setup with a named error', (t) => {
  t.throws(() => capture((x: number) => x, { sample: -1 }), { instanceOf: RangeError, message: /option "sample"/ });
  t.throws(() => capture((x: number) => x, { store: {} as never }), { instanceOf: TypeError, message: /option "store" must be a Store/ });
  t.throws(() => capture((x: number) => x, 5 as never), { instanceOf: TypeError, message: /takes a name or an options object, got number 5/ });
});
