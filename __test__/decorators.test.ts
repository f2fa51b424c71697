/**
 * @capture() on methods. This file runs twice (scripts/test-node.mjs): compiled with standard
 * decorators and with experimentalDecorators; the first test proves which one is in effect.
 */
import { delay, freshStore } from './helpers/setup';
import test from 'ava';
import { capture } from '../index';
import { fake, rowsOf } from './helpers/fake-native';
import { MODE, probe, probeCalls } from './helpers/mode';

class Probed {
  @probe
  method(): void {}
}
void Probed;

class NotFound extends Error {}

const shared = Promise.resolve('shared');
class Custom<T> extends Promise<T> {}

class UserService {
  calls = 0;
  shared = shared;

  @capture()
  find(id: number): { id: number; self: UserService } {
    this.calls++;
    return { id, self: this };
  }

  @capture()
  async load(id: number): Promise<number> {
    await delay(5);
    return id * 2;
  }

  @capture()
  async missing(): Promise<never> {
    await delay(1);
    throw new NotFound('no such user');
  }

  @capture()
  boom(error: unknown): never {
    throw error;
  }

  @capture('users.save')
  save(a: number, b?: number): number {
    return a + (b ?? 0);
  }

  @capture({ name: 'users.tagged', fields: { tier: 'gold', shard: 3, weight: 0.5, beta: true, big: 9007199254740993n } })
  tagged(fail: boolean): string {
    if (fail) throw new TypeError('tagged');
    return 'ok';
  }

  @capture()
  returnsShared(): Promise<string> {
    return this.shared;
  }

  @capture()
  custom(): Custom<number> {
    return new Custom<number>((resolve) => setTimeout(() => resolve(7), 3));
  }

  thenCalls = 0;
  @capture()
  thenable(): PromiseLike<number> {
    // eslint-disable-next-line unicorn/no-thenable
    return {
      then: <R>(onOk?: ((v: number) => R) | null) => {
        this.thenCalls++;
        return onOk ? (onOk(1) as unknown as PromiseLike<R>) : (this as unknown as PromiseLike<R>);
      },
    } as PromiseLike<number>;
  }

  @capture()
  *numbers(): Generator<number> {
    yield 1;
    yield 2;
  }

  @capture()
  async *stream(): AsyncGenerator<number> {
    yield 1;
  }

  @capture()
  [Symbol.iterator](): Iterator<number> {
    return [1][Symbol.iterator]();
  }

  @capture()
  static create(): UserService {
    return new UserService();
  }

  @capture({ sample: 0.25 })
  sampled(): number {
    return 1;
  }
}

class AdminService extends UserService {
  override find(id: number): { id: number; self: UserService } {
    return super.find(id);
  }
}

const rows = (dir: string, name?: string) => rowsOf(dir).filter((r) => name === undefined || r.name === name);

test.serial(`decorators run in ${MODE} mode`, (t) => {
  t.is(probeCalls.length, 1);
  if (MODE === 'standard') t.deepEqual(probeCalls[0], { argc: 2, shape: 'standard:method' });
  else t.deepEqual(probeCalls[0], { argc: 3, shape: 'legacy:object:object' });
});

test.serial('instance method: default name, same this, same return value, timed', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  const out = svc.find(7);
  t.is(out.self, svc);
  t.is(out.id, 7);
  t.is(svc.calls, 1);
  await store.flush();
  const [row] = rows(store.path, 'UserService.find');
  t.truthy(row);
  t.is(row!.code, 0);
  t.true(row!.durationNs >= 0n && row!.durationNs < 1_000_000_000n);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  t.true(row!.startNs > nowNs - 60_000_000_000n && row!.startNs <= nowNs + 1_000_000_000n, 'start is wall-clock epoch ns');
});

test.serial('name and length are preserved', (t) => {
  const proto = UserService.prototype;
  t.is(proto.find.name, 'find');
  t.is(proto.find.length, 1);
  t.is(proto.save.name, 'save');
  t.is(proto.save.length, 2);
  t.is(UserService.create.name, 'create');
  t.is(proto.load.constructor.name, 'AsyncFunction', 'async methods still look async');
});

test.serial('static method is named after the class', async (t) => {
  const store = freshStore(t);
  t.true(UserService.create() instanceof UserService);
  await store.flush();
  t.is(rows(store.path, 'UserService.create').length, 1);
});

test.serial('explicit name and fields', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  t.is(svc.save(1, 2), 3);
  t.is(svc.tagged(false), 'ok');
  t.throws(() => svc.tagged(true), { instanceOf: TypeError });
  await store.flush();
  t.is(rows(store.path, 'users.save').length, 1);
  const tagged = rows(store.path, 'users.tagged');
  t.deepEqual(
    tagged.map((r) => [r.code, r.fields]),
    [
      [0, { tier: 'gold', shard: 3, weight: 0.5, beta: true, big: 9007199254740992 /* JSON.parse in the fake */ }],
      [1, { tier: 'gold', shard: 3, weight: 0.5, beta: true, big: 9007199254740992, error: 'TypeError' }],
    ],
  );
  t.true(fake.appendCalls.some((c) => c.fieldText?.includes('9007199254740993') === true), 'bigints beyond 2^53 travel exactly, as text');
});

test.serial('async method: same promise resolution, timed to settlement', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  const p = svc.load(21);
  t.true(p instanceof Promise);
  t.is(await p, 42);
  await store.flush();
  const [row] = rows(store.path, 'UserService.load');
  t.is(row!.code, 0);
  t.true(row!.durationNs >= 4_000_000n, `awaited the 5 ms delay, got ${row!.durationNs} ns`);
});

test.serial('the very same Promise object is returned (and subclasses stay subclasses)', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  t.is(svc.returnsShared(), shared);
  const c = svc.custom();
  t.true(c instanceof Custom);
  t.is(await c, 7);
  await store.flush();
  t.is(rows(store.path, 'UserService.returnsShared').length, 1);
  const [row] = rows(store.path, 'UserService.custom');
  t.true(row!.durationNs >= 2_000_000n);
});

test.serial('rejection: same error, recorded as error with its class name, no unhandled rejection', async (t) => {
  const store = freshStore(t);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const svc = new UserService();
  const error = await t.throwsAsync(svc.missing(), { instanceOf: NotFound });
  t.is(error!.message, 'no such user');
  await store.flush();
  await delay(5);
  const [row] = rows(store.path, 'UserService.missing');
  t.is(row!.code, 1);
  t.deepEqual(row!.fields, { error: 'NotFound' });
  t.deepEqual(unhandled, []);
});

test.serial('sync throw: the same error object is rethrown and recorded', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  const original = new RangeError('out of range');
  t.is(t.throws(() => svc.boom(original)), original);
  const thrownString = t.throws(() => svc.boom('plain string'), { any: true });
  t.is(thrownString as unknown, 'plain string');
  t.throws(() => svc.boom(null), { any: true });
  await store.flush();
  t.deepEqual(
    rows(store.path, 'UserService.boom').map((r) => [r.code, r.fields.error]),
    [
      [1, 'RangeError'],
      [1, 'string'],
      [1, 'null'],
    ],
  );
});

test.serial('thenables that are not promises are left alone and timed as sync calls', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  const result = svc.thenable();
  t.is(svc.thenCalls, 0, 'capture never calls then');
  await store.flush();
  t.is(rows(store.path, 'UserService.thenable').length, 1);
  t.is(typeof result.then, 'function');
});

test.serial('generators are not wrapped (no single duration) and still work', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  t.is(Object.prototype.toString.call(UserService.prototype.numbers), '[object GeneratorFunction]');
  t.is(Object.prototype.toString.call(UserService.prototype.stream), '[object AsyncGeneratorFunction]');
  t.deepEqual([...svc.numbers()], [1, 2]);
  const streamed: number[] = [];
  for await (const n of svc.stream()) streamed.push(n);
  t.deepEqual(streamed, [1]);
  await store.flush();
  t.is(rows(store.path).length, 0);
});

test.serial('symbol-named method', async (t) => {
  const store = freshStore(t);
  t.deepEqual([...new UserService()], [1]);
  await store.flush();
  t.is(rows(store.path, 'UserService[Symbol.iterator]').length, 1);
});

test.serial('inherited method keeps the declaring class in its name', async (t) => {
  const store = freshStore(t);
  const admin = new AdminService();
  t.is(admin.find(3).self, admin);
  await store.flush();
  t.is(rows(store.path, 'UserService.find').length, 1);
  t.is(rows(store.path, 'AdminService.find').length, 0);
});

test.serial('sample: a fraction of calls is recorded; rate 1 draws no random number', async (t) => {
  const store = freshStore(t);
  const svc = new UserService();
  for (let i = 0; i < 4000; i++) svc.sampled();
  const random = Math.random;
  Math.random = () => {
    throw new Error('rate 1 must not draw');
  };
  try {
    for (let i = 0; i < 10; i++) svc.find(i);
  } finally {
    Math.random = random;
  }
  await store.flush();
  const sampled = rows(store.path, 'UserService.sampled').length;
  t.true(sampled > 700 && sampled < 1300, `about 1000 of 4000, got ${sampled}`);
  t.is(rows(store.path, 'UserService.find').length, 10);
});

test.serial('bad decorator options fail at setup with a named error', (t) => {
  t.throws(() => capture({ sample: 0 }), { instanceOf: RangeError, message: /option "sample" must be a number in \(0, 1\]/ });
  t.throws(() => capture({ sample: 1.5 }), { instanceOf: RangeError });
  t.throws(() => capture({ nme: 'x' } as never), { instanceOf: TypeError, message: /unknown @capture\(\) option "nme" \(did you mean "name"\?\)/ });
  t.throws(() => capture({ fields: { error: 'x' } }), { instanceOf: TypeError, message: /field "error" is reserved/ });
  t.throws(() => capture({ fields: { when: new Date() as never } }), { instanceOf: TypeError, message: /field "when" must be/ });
  t.throws(() => capture({ fields: { n: 2n ** 64n } }), { instanceOf: TypeError, message: /field "n" must be .* got 18446744073709551616/ });
  t.throws(() => capture(''), { instanceOf: TypeError });
});

test.serial('getters, setters and (legacy) fields are refused with a clear error', (t) => {
  const decorate = capture() as unknown as (...args: unknown[]) => unknown;
  t.throws(() => decorate(() => 1, { kind: 'getter', name: 'x', static: false, private: false, addInitializer() {} }), {
    instanceOf: TypeError,
    message: /not a getter/,
  });
  t.throws(() => decorate({}, 'x', { get: () => 1, configurable: true }), { instanceOf: TypeError, message: /not a getter/ });
  t.throws(() => decorate({}, 'handler', undefined), { instanceOf: TypeError, message: /capture\(\(\.\.\.\) => \.\.\., 'Class\.handler'\)/ });
  t.throws(() => (capture as unknown as (...a: unknown[]) => unknown)({}, 'm', {}), { instanceOf: TypeError, message: /with parentheses/ });
});
