/**
 * Production defaults (issue 12): every store opened from JS keeps 30 days and 1 GiB unless the
 * options or `$LAPTIME_RETENTION_MAX_AGE` / `$LAPTIME_RETENTION_MAX_BYTES` say otherwise, and the
 * engine really drops what is older. (The other suites run with the age limit off, see
 * ava.config.mjs; this file restores the default.)
 */
import test from 'ava';
import { open } from '../index';
import { DEFAULT_RETENTION_MAX_AGE_MS, DEFAULT_RETENTION_MAX_BYTES, resolveOptions } from '../src/options';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

delete process.env.LAPTIME_RETENTION_MAX_AGE;
delete process.env.LAPTIME_RETENTION_MAX_BYTES;

const e2e = hasAddon ? test.serial : test.serial.skip;
if (!hasAddon) cannotRun('retention tests need native/binding.cjs (npm run build:native)');

const DAY_MS = 86_400_000;

/** Runs `fn` with the environment variables set (undefined: unset), then restores them. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return fn();
  } finally {
    set(before);
  }
}

test.serial('retention defaults to 30 days and 1 GiB', (t) => {
  const { native } = resolveOptions({ dir: tempDir() });
  t.is(native.retentionMaxAgeMs, 30 * DAY_MS);
  t.is(DEFAULT_RETENTION_MAX_AGE_MS, 30 * DAY_MS);
  t.is(native.retentionMaxBytes, 1024 ** 3);
  t.is(DEFAULT_RETENTION_MAX_BYTES, 1024 ** 3);
});

test.serial('options win over the environment, which wins over the defaults; null and off mean no limit', (t) => {
  withEnv({ LAPTIME_RETENTION_MAX_AGE: '7d', LAPTIME_RETENTION_MAX_BYTES: '500MB' }, () => {
    const fromEnv = resolveOptions({}).native;
    t.is(fromEnv.retentionMaxAgeMs, 7 * DAY_MS);
    t.is(fromEnv.retentionMaxBytes, 500_000_000);
    const given = resolveOptions({ retentionMaxAgeMs: 60_000, retentionMaxBytes: null }).native;
    t.is(given.retentionMaxAgeMs, 60_000);
    t.false('retentionMaxBytes' in given, 'null: no size limit, even with the variable set');
  });
  withEnv({ LAPTIME_RETENTION_MAX_AGE: 'off', LAPTIME_RETENTION_MAX_BYTES: ' OFF ' }, () => {
    const off = resolveOptions({}).native;
    t.false('retentionMaxAgeMs' in off);
    t.false('retentionMaxBytes' in off);
  });
});

test.serial('bad retention settings are refused naming the option or the variable', (t) => {
  t.throws(() => resolveOptions({ retentionMaxAgeMs: '7d' }), { instanceOf: TypeError, message: /"retentionMaxAgeMs" must be a number, got string "7d"/ });
  t.throws(() => resolveOptions({ retentionMaxBytes: -1 }), { instanceOf: RangeError, message: /"retentionMaxBytes" must not be negative/ });
  t.throws(() => resolveOptions({ batchSize: null }), { instanceOf: TypeError, message: /"batchSize" must not be null/ });
  withEnv({ LAPTIME_RETENTION_MAX_BYTES: 'lots' }, () => {
    t.throws(() => resolveOptions({}), { message: /\$LAPTIME_RETENTION_MAX_BYTES must be a size such as 500MB or 2GB, or off; got "lots"/ });
  });
  if (hasAddon) {
    withEnv({ LAPTIME_RETENTION_MAX_AGE: 'a while' }, () => {
      const err = t.throws(() => resolveOptions({}));
      t.regex(err?.message ?? '', /\$LAPTIME_RETENTION_MAX_AGE: invalid duration "a while"/);
      t.is((err as Error & { code?: string }).code, 'INVALID_OPTION');
    });
  }
});

e2e('a store with the default options drops segments older than 30 days and keeps the rest', async (t) => {
  const dir = tempDir();
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const day = 86_400_000_000_000n;
  // Written with no age limit: 40-day-old events in one sealed segment, 2-day-old ones in another.
  const seed = open({ dir, retentionMaxAgeMs: null });
  for (let i = 0; i < 100; i++) seed.record({ name: 'old', startNs: nowNs - 40n * day + BigInt(i), durationNs: 1 });
  await seed.close();
  const seed2 = open({ dir, retentionMaxAgeMs: null });
  for (let i = 0; i < 100; i++) seed2.record({ name: 'recent', startNs: nowNs - 2n * day + BigInt(i), durationNs: 1 });
  await seed2.close();

  const store = open({ dir });
  t.teardown(() => store.close());
  store.record({ name: 'now', startNs: nowNs, durationNs: 1 });
  const deadline = Date.now() + 10_000;
  let names: Record<string, number> = {};
  while (Date.now() < deadline) {
    const { rows } = await store.stats({ since: '60d' });
    names = Object.fromEntries(rows.map((r) => [r.name, r.count]));
    if (names.old === undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.deepEqual(names, { recent: 100, now: 1 }, 'the 40-day-old segment went, the 2-day-old one stayed');
});
