/**
 * Temporary directories for stores, removed after the test file's last test (open stores are
 * closed first, so no engine writes into a removed directory).
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { registry } from '../../src/registry';

const created: string[] = [];

/** A new empty directory under the OS temp dir. */
export function tempDir(prefix = 'laptime-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

test.after.always('remove temporary directories', async () => {
  for (const store of [...registry.stores]) await store.close().catch(() => undefined);
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});
