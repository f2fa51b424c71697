/**
 * `laptime build-native`: the explicit fallback for a machine without a prebuilt binary. It runs
 * the package's scripts/build-native.mjs (plain JS, so a fresh checkout can run it before the
 * TypeScript layer is compiled) with this terminal, so cargo's progress shows as it goes.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'build-native.mjs');

/** Exit code of the build: 0 when a loadable binding is there afterwards. */
export function buildNative(force: boolean): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, ...(force ? ['--force'] : [])], { stdio: 'inherit' });
    child.on('error', () => resolve(1));
    child.on('close', (code) => resolve(code ?? 1));
  });
}
