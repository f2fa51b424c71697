/**
 * Errors reach JS with the engine's stable code in `err.code` (issue 11): a damaged store or file
 * read (CORRUPT), a missing file (ENOENT), an unusable option (INVALID_OPTION, from the engine and
 * from the TypeScript checks alike), a closed store or reader (CLOSED), malformed call input
 * (INVALID_INPUT, a TypeError); and the TypeScript list of codes is the engine's. ENOSPC through a
 * real full disk is in disk-full.test.ts.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODES, isLaptimeError, open, openReader, readPostMortem, type LaptimeErrorCode } from '../index';
import type { NativeBinding } from '../src/native';
import { bindingPath, cannotRun, hasAddon, tempDir } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('error code tests need native/binding.cjs (npm run build:native)');

function binding(): NativeBinding {
  return require(bindingPath) as NativeBinding;
}

/** The error `fn` throws (or its promise rejects with); fails the test when it succeeds. */
async function errorOf(fn: () => unknown): Promise<Error & { code?: unknown }> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) return err as Error & { code?: unknown };
    throw new Error(`threw a non-Error: ${String(err)}`);
  }
  throw new Error('did not throw');
}

async function expectCode(t: { is(a: unknown, b: unknown, m?: string): void }, fn: () => unknown, code: LaptimeErrorCode, message?: RegExp): Promise<Error> {
  const err = await errorOf(fn);
  t.is(err.code, code, err.message);
  if (message !== undefined && !message.test(err.message)) throw new Error(`message ${JSON.stringify(err.message)} does not match ${message}`);
  return err;
}

/** A closed store in a new directory holding one flushed event. */
async function storeWithOneEvent(): Promise<string> {
  const dir = tempDir();
  const store = open({ dir });
  store.record({ name: 'Err.one', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1000, ok: true });
  await store.close();
  return dir;
}

e2e('the TypeScript list of codes is the engine list', (t) => {
  t.deepEqual(binding().errorCodes(), [...ERROR_CODES]);
});

e2e('a reader of a store whose manifest names a missing segment rejects with CORRUPT', async (t) => {
  const dir = await storeWithOneEvent();
  const partitions = path.join(dir, 'partitions');
  let removed = 0;
  for (const p of fs.readdirSync(partitions)) {
    for (const f of fs.readdirSync(path.join(partitions, p))) {
      if (f.startsWith('seg-')) {
        fs.rmSync(path.join(partitions, p, f));
        removed++;
      }
    }
  }
  t.true(removed > 0, 'the closed store has a sealed segment');
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const err = await expectCode(t, () => reader.stats(), 'CORRUPT', /segment named by the manifest is missing/);
  t.true(isLaptimeError(err, 'CORRUPT'));
  await expectCode(t, () => reader.query().count().run(), 'CORRUPT');
});

e2e('a damaged post-mortem file rejects with CORRUPT, a missing one with ENOENT', async (t) => {
  const dir = tempDir();
  const damaged = path.join(dir, 'postmortem-1.ltpm');
  fs.writeFileSync(damaged, Buffer.alloc(256, 0x5a));
  await expectCode(t, () => readPostMortem(damaged), 'CORRUPT', /bad magic/);
  await expectCode(t, () => readPostMortem(path.join(dir, 'gone.ltpm')), 'ENOENT');
});

e2e('unusable options throw INVALID_OPTION, from the engine and from the TypeScript checks', async (t) => {
  const dir = tempDir();
  // The engine checks the range, the open() wrapper keeps its code.
  const engine = await expectCode(t, () => open({ dir, pageRows: 0 }), 'INVALID_OPTION', /pageRows/);
  t.true(isLaptimeError(engine.cause, 'INVALID_OPTION'), 'the cause is the engine error');
  await expectCode(t, () => openReader(dir, { bufferpoolBytes: 5 }), 'INVALID_OPTION', /bufferpoolBytes/);
  // Checked in TypeScript before the engine sees them: same code.
  const range = await expectCode(t, () => open({ dir, batchSize: 0 }), 'INVALID_OPTION', /batchSize/);
  t.true(range instanceof RangeError);
  const type = await expectCode(t, () => open({ dir, pageRows: 'many' as unknown as number }), 'INVALID_OPTION');
  t.true(type instanceof TypeError);
  // The native call itself, without the TypeScript layer.
  await expectCode(t, () => binding().NativeStore.open(dir, { syncIntervalMs: 0, sync: 'interval' }), 'INVALID_OPTION', /syncIntervalMs/);
});

e2e('a closed store and a closed reader throw CLOSED, in TypeScript and in the engine', async (t) => {
  const dir = await storeWithOneEvent();
  const store = open({ dir });
  await store.close();
  await expectCode(t, () => store.record({ name: 'Err.late', startNs: 1n, durationNs: 1, ok: true }), 'CLOSED');
  await expectCode(t, () => store.stats(), 'CLOSED');
  await expectCode(t, () => store.postMortem(), 'CLOSED');
  const reader = openReader(dir);
  reader.close();
  await expectCode(t, () => reader.stats(), 'CLOSED');

  // A native handle after close: sync calls throw, async calls reject, each with the engine's code.
  const native = binding().NativeStore.open(dir);
  await native.close();
  await expectCode(t, () => native.flush(), 'CLOSED', /store is closed/);
  await expectCode(t, () => native.counters(), 'CLOSED');
  await expectCode(t, () => native.intern('x'), 'CLOSED');
  await expectCode(t, () => native.writeFailure(), 'CLOSED');
  await expectCode(t, () => native.closeSync(), 'CLOSED');
  await expectCode(t, () => native.query({ aggregates: ['count'] }), 'CLOSED');
  await expectCode(t, () => native.histogram({ bins: 10 }), 'CLOSED');
});

e2e('malformed input to a native call is a TypeError with code INVALID_INPUT', async (t) => {
  const native = binding().NativeStore.open(tempDir());
  t.teardown(() => native.closeSync());
  const err = await expectCode(t, () => native.append(new Uint32Array([0]), new Float64Array([0]), new Float64Array([1]), new Uint8Array([0]), 5, Date.now(), null), 'INVALID_INPUT', /count 5 exceeds/);
  t.true(err instanceof TypeError);
  // Not a store: the engine refuses the input.
  await expectCode(t, () => openReader(path.join(tempDir(), 'nothing-here')), 'INVALID_INPUT', /no laptime store/);
});

test('isLaptimeError knows the codes and nothing else', (t) => {
  const coded = Object.assign(new Error('x'), { code: 'ENOSPC' });
  t.true(isLaptimeError(coded));
  t.true(isLaptimeError(coded, 'ENOSPC'));
  t.false(isLaptimeError(coded, 'EIO'));
  t.false(isLaptimeError(Object.assign(new Error('x'), { code: 'ERR_SOMETHING' })));
  t.false(isLaptimeError({ code: 'ENOSPC', message: 'not an Error' }));
});
