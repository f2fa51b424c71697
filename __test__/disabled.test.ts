/**
 * Without the addon (LAPTIME_DISABLE=1, or a loader that throws), capture is a pass-through after
 * exactly one warning. Run in child processes so the real loader is exercised.
 */
import test from 'ava';
import { spawnFixture } from './helpers/child';
import { tempDir } from './helpers/setup';

const scenarios = [
  { label: 'LAPTIME_DISABLE=1', env: { LAPTIME_DISABLE: '1' }, code: 'LAPTIME_DISABLED' },
  { label: 'an addon that cannot load', env: { NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/laptime.node' }, code: 'LAPTIME_NATIVE_UNAVAILABLE' },
];

for (const { label, env, code } of scenarios) {
  test(`${label}: pass-through, one warning, nothing written`, async (t) => {
    const dir = tempDir();
    const result = await spawnFixture('disabled.ts', [], { ...env, LAPTIME_DIR: dir }).done;
    t.is(result.code, 0, result.stderr);
    t.regex(result.stdout, /^ALL GOOD$/m);
    const warnings = result.stderr.match(/LaptimeWarning/g) ?? [];
    t.is(warnings.length, 1, result.stderr);
    t.true(result.stderr.includes(`[${code}]`), result.stderr);
  });
}
