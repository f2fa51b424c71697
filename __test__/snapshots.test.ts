/**
 * Post-mortem snapshots from Node: a child that throws, one that leaves a rejection unhandled and
 * one killed by SIGTERM each leave exactly one valid snapshot holding its last events; the process
 * still ends as it would have. Plus store.snapshot(), periodic snapshots and their retention.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { open, readSnapshot } from '../index';
import { spawnFixture } from './helpers/child';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('snapshot tests need native/binding.cjs (npm run build:native)');

function snapshotsIn(dir: string): string[] {
  try {
    return readdirSync(path.join(dir, 'snapshots'))
      .filter((f) => f.endsWith('.ltsnap'))
      .map((f) => path.join(dir, 'snapshots', f));
  } catch {
    return [];
  }
}

for (const [scenario, reason, ending] of [
  ['throw', /^uncaught exception: TypeError: cannot read the config/, { code: 1, signal: null }],
  ['reject', /^unhandled rejection: RangeError: the queue is gone/, { code: 1, signal: null }],
  ['sigterm', /^signal: SIGTERM$/, { code: null, signal: 'SIGTERM' }],
] as const) {
  e2e(`a child ending by ${scenario} leaves exactly one snapshot with its last events`, async (t) => {
    const dir = tempDir();
    const child = spawnFixture('snapshot-child.ts', [scenario, dir]);
    if (scenario === 'sigterm') {
      await child.waitFor('READY');
      child.process.kill('SIGTERM');
    }
    const result = await child.done;
    t.like(result, ending, result.stderr);
    const files = snapshotsIn(dir);
    t.is(files.length, 1, files.join(', '));
    const snap = await readSnapshot(files[0]!);
    t.regex(snap.meta.reason ?? '', reason);
    t.is(snap.meta.pid, String(child.process.pid));
    t.regex(snap.meta.runtime ?? '', /^node v\d+/);
    t.is(snap.meta.service, 'snapshot-child');
    t.is(snap.events.length, 2000, 'lastEvents: 2000 of 3,001');
    const last = snap.events[snap.events.length - 1]!;
    t.is(last.kind, 'log');
    t.is(last.message, 'the last words');
    t.deepEqual(last.fields, { scenario });
    t.true(snap.events.slice(0, -1).every((e) => e.name === 'Job.step' && e.kind === 'call'));
    // The snapshot did not take the events out of the store.
    const store = open({ dir, snapshots: false });
    t.teardown(() => store.close());
    const { rows } = await store.query().groupBy('name').count().run();
    t.deepEqual(rows, [
      { name: 'Job.step', count: 3000 },
      { name: 'log', count: 1 },
    ]);
  });
}

e2e('snapshots: false writes none', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('snapshot-child.ts', ['off', dir]).done;
  t.is(result.code, 1);
  t.deepEqual(snapshotsIn(dir), []);
});

e2e('store.snapshot() and periodic snapshots with a retention count', async (t) => {
  const dir = tempDir();
  const store = open({ dir, snapshots: { periodicMs: 30, keep: 2, dir: path.join(dir, 'snaps') } });
  for (let i = 0; i < 10; i++) store.record({ name: 'tick', startNs: BigInt(Date.now()) * 1_000_000n + BigInt(i), durationNs: 10 + i });
  const file = await store.snapshot('before deploy');
  t.true(file.startsWith(path.join(dir, 'snaps')));
  const snap = await readSnapshot(file);
  t.is(snap.meta.reason, 'before deploy');
  t.is(snap.events.length, 10);
  t.is(snap.events[0]!.durationNs, 10);
  await new Promise((resolve) => setTimeout(resolve, 400));
  await store.close(); // waits for a periodic snapshot under way, and its pruning
  const periodic = readdirSync(path.join(dir, 'snaps')).filter((f) => f.endsWith('.ltsnap'));
  t.is(periodic.length, 3, `manual + the 2 newest periodic ones: ${periodic.join(', ')}`);
  await t.throwsAsync(async () => open({ dir: tempDir(), snapshots: { periodcMs: 5 } as never }), { message: /unknown snapshots option "periodcMs" \(did you mean "periodicMs"\?\)/ });
});
