/** The default store: lazy, at $LAPTIME_DIR, replaceable, reopened after close, never throwing. */
import { tempDir } from './helpers/setup';
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capture, defaultStore, open, setDefaultStore } from '../index';
import { fake, rowsOf } from './helpers/fake-native';

class Lazy {
  @capture()
  work(): number {
    return 1;
  }
}

test.serial('decorating opens nothing; the first call opens the default store at $LAPTIME_DIR', async (t) => {
  t.is(fake.opens, 0);
  const lazy = new Lazy();
  t.is(fake.opens, 0);
  t.is(lazy.work(), 1);
  t.is(fake.opens, 1);
  const store = defaultStore();
  t.is(store.path, path.resolve(process.env.LAPTIME_DIR!));
  t.is(defaultStore(), store);
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => r.name),
    ['Lazy.work'],
  );
});

test.serial('setDefaultStore switches captured functions on their next call', async (t) => {
  const other = open({ dir: tempDir() });
  setDefaultStore(other);
  new Lazy().work();
  await other.flush();
  t.is(rowsOf(other.path).length, 1);
  setDefaultStore(null);
  t.not(defaultStore(), other);
  await other.close();
  t.throws(() => setDefaultStore(other), { message: /closed store/ });
  t.throws(() => setDefaultStore({} as never), { instanceOf: TypeError });
});

test.serial('after the default store is closed, the next capture opens a fresh one', async (t) => {
  const first = defaultStore();
  await first.close();
  new Lazy().work();
  const second = defaultStore();
  t.not(second, first);
  t.false(second.closed);
  await second.flush();
  t.is(rowsOf(second.path).filter((r) => r.name === 'Lazy.work').length, 2, 'the same directory, same engine');
});

test.serial('a default store that cannot open: calls still work, one warning, events counted as lost', async (t) => {
  const current = defaultStore();
  await current.close();
  const file = path.join(tempDir(), 'not-a-dir');
  fs.writeFileSync(file, 'x');
  const saved = process.env.LAPTIME_DIR;
  process.env.LAPTIME_DIR = path.join(file, 'sub');
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(String(w.code));
  process.on('warning', onWarning);
  try {
    const lazy = new Lazy();
    for (let i = 0; i < 5; i++) t.is(lazy.work(), 1);
    await new Promise((resolve) => setImmediate(resolve));
    t.deepEqual(warnings, ['LAPTIME_DEFAULT_STORE']);
    process.env.LAPTIME_DIR = saved;
    const recovered = open({ dir: tempDir() });
    t.is(recovered.counters().lost, 5);
    await recovered.close();
  } finally {
    process.env.LAPTIME_DIR = saved;
    process.off('warning', onWarning);
  }
});
