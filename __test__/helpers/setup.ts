/**
 * Imported first by every in-process test file: installs the fake addon (src/native.ts hook) and
 * points the default store at a fresh temporary directory, so nothing lands in the repository.
 */
import type { ExecutionContext } from 'ava';
import { setNativeBinding } from '../../src/native';
import { open, type Store } from '../../src/store';
import { setDefaultStore } from '../../src/default-store';
import type { OpenOptions } from '../../src/options';
import { fakeBinding } from './fake-native';
import { tempDir } from './temp';

export { tempDir };

setNativeBinding(fakeBinding);
process.env.LAPTIME_DIR = tempDir('laptime-default-');

/** A store in a fresh directory, made the default store for the test and closed after it. */
export function freshStore(t: ExecutionContext, options: OpenOptions = {}): Store {
  const store = open({ dir: tempDir(), ...options });
  setDefaultStore(store);
  t.teardown(async () => {
    setDefaultStore(null);
    await store.close();
  });
  return store;
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
