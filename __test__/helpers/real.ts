/**
 * For end-to-end tests against the real addon (native/binding.cjs, built by `npm run build:native`).
 * If the loader file is absent the tests are skipped with a visible title (a failure in CI, which
 * must run everything); if it is present but cannot be loaded, that is a failure.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir as makeTempDir } from './temp';

export const bindingPath = path.join(__dirname, '..', '..', 'native', 'binding.cjs');
export const hasAddon = fs.existsSync(bindingPath);

/**
 * Stand in for a suite that cannot run on this machine, saying why: outside CI a visible skip, in CI
 * (`CI` set, as `.ci/run` does) a failure, so a suite never passes there by running nothing.
 */
export function cannotRun(reason: string): void {
  test(reason, (t) => {
    if (process.env.CI !== undefined) t.fail(`${reason}; CI must run this suite`);
    else {
      t.log(`SKIPPED: ${reason}`);
      t.pass();
    }
  });
}

export function tempDir(): string {
  return makeTempDir('laptime-e2e-');
}

/** Wait until `reader` counts at least `n` events (polling), or throw after `timeoutMs`. */
export async function readerSees(reader: { query(): { count(): { run(): Promise<{ rows: Array<{ count?: number }> }> } } }, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (((await reader.query().count().run()).rows[0]?.count ?? 0) >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`readers did not see ${n} events in ${timeoutMs} ms`);
}
