/**
 * `laptime mark`: a deploy script records a marker into a store a running service writes to; the
 * marker is the same event `mark()` writes, and bad input is a usage error naming it.
 */
import test from 'ava';
import { open, openReader } from '../index';
import { main } from '../src/cli/main';
import type { Io } from '../src/cli/commands';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('CLI mark tests need native/binding.cjs (npm run build:native)');

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, now: Date.now, sleep: async () => false };
  return { code: await main(args, io), out, err };
}

e2e('a marker recorded from the command line while the service writes shows up with its fields', async (t) => {
  const dir = tempDir();
  const service = open({ dir });
  t.teardown(() => service.close());
  service.record({ name: 'Users.find', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1000 });
  await service.flush();
  const r = await cli(['mark', 'deploy', '-d', dir, '--field', 'version=1.4.2', 'commit=a1b=2']);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^marked deploy in /);
  service.record({ name: 'Users.find', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1000 });
  await service.flush();
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const marks = (await reader.events('name:laptime.mark')).events;
  t.is(marks.length, 1);
  t.is(marks[0]!.message, 'deploy');
  t.is(marks[0]!.level, 'info');
  t.deepEqual(marks[0]!.fields, { version: '1.4.2', commit: 'a1b=2' });
  t.is((await reader.query().filter('name:Users.find').count().run()).rows[0]!.count, 2, 'the service kept writing');
});

e2e('bad input is a usage error naming it', async (t) => {
  const dir = tempDir();
  const noEq = await cli(['mark', 'deploy', '-d', dir, '--field', 'version']);
  t.is(noEq.code, 2);
  t.regex(noEq.err, /--field takes key=value, got version/);
  const emptyKey = await cli(['mark', 'deploy', '-d', dir, '--field', '=1']);
  t.is(emptyKey.code, 2);
  const blank = await cli(['mark', '  ', '-d', dir]);
  t.is(blank.code, 2);
  t.regex(blank.err, /mark\(\) needs a label/);
  const missing = await cli(['mark', '-d', dir]);
  t.is(missing.code, 2);
});
