/**
 * Post-mortems from Node: a child that throws, one that leaves a rejection unhandled and one killed
 * by SIGTERM each leave exactly one valid post-mortem holding its last events, in
 * `<store>/postmortems/`; the process still ends as it would have. Plus store.postMortem(),
 * periodic post-mortems and their retention, and the old names (`snapshots`, `store.snapshot()`,
 * `readSnapshot`) that still work.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { open, readPostMortem, readSnapshot } from '../index';
import { spawnFixture } from './helpers/child';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('post-mortem tests need native/binding.cjs (npm run build:native)');

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.ltpm') && f.startsWith('postmortem-'))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

for (const [scenario, reason, ending] of [
  ['throw', /^uncaught exception: TypeError: cannot read the config/, { code: 1, signal: null }],
  ['reject', /^unhandled rejection: RangeError: the queue is gone/, { code: 1, signal: null }],
  ['sigterm', /^signal: SIGTERM$/, { code: null, signal: 'SIGTERM' }],
] as const) {
  e2e(`a child ending by ${scenario} leaves exactly one post-mortem with its last events`, async (t) => {
    const dir = tempDir();
    const child = spawnFixture('post-mortem-child.ts', [scenario, dir]);
    if (scenario === 'sigterm') {
      await child.waitFor('READY');
      child.process.kill('SIGTERM');
    }
    const result = await child.done;
    t.like(result, ending, result.stderr);
    const files = filesIn(path.join(dir, 'postmortems'));
    t.is(files.length, 1, files.join(', '));
    t.false(existsSync(path.join(dir, 'snapshots')), 'nothing goes to the old directory');
    const pm = await readPostMortem(files[0]!);
    t.regex(pm.meta.reason ?? '', reason);
    t.is(pm.meta.pid, String(child.process.pid));
    t.regex(pm.meta.runtime ?? '', /^node v\d+/);
    t.is(pm.meta.service, 'post-mortem-child');
    t.is(pm.events.length, 2000, 'lastEvents: 2000 of 3,001');
    const last = pm.events[pm.events.length - 1]!;
    t.is(last.kind, 'log');
    t.is(last.message, 'the last words');
    t.deepEqual(last.fields, { scenario });
    t.true(pm.events.slice(0, -1).every((e) => e.name === 'Job.step' && e.kind === 'call'));
    // The post-mortem did not take the events out of the store.
    const store = open({ dir, postMortems: false });
    t.teardown(() => store.close());
    const { rows } = await store.query().groupBy('name').count().run();
    t.deepEqual(rows, [
      { name: 'Job.step', count: 3000 },
      { name: 'log', count: 1 },
    ]);
  });
}

e2e('postMortems: false writes none', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('post-mortem-child.ts', ['off', dir]).done;
  t.is(result.code, 1);
  t.regex(result.stderr, /TypeError: cannot read the config/, 'the child ran until its own error');
  t.deepEqual(filesIn(path.join(dir, 'postmortems')), []);
  t.deepEqual(filesIn(path.join(dir, 'snapshots')), []);
});

e2e('store.postMortem() and periodic post-mortems with a retention count', async (t) => {
  const dir = tempDir();
  const store = open({ dir, postMortems: { periodicMs: 30, keep: 2, dir: path.join(dir, 'pms') } });
  for (let i = 0; i < 10; i++) store.record({ name: 'tick', startNs: BigInt(Date.now()) * 1_000_000n + BigInt(i), durationNs: 10 + i });
  const file = await store.postMortem('before deploy');
  t.true(file.startsWith(path.join(dir, 'pms')));
  const pm = await readPostMortem(file);
  t.is(pm.meta.reason, 'before deploy');
  t.is(pm.events.length, 10);
  t.is(pm.events[0]!.durationNs, 10);
  await new Promise((resolve) => setTimeout(resolve, 400));
  await store.close(); // waits for a periodic post-mortem under way, and its pruning
  const periodic = filesIn(path.join(dir, 'pms'));
  t.is(periodic.length, 3, `manual + the 2 newest periodic ones: ${periodic.join(', ')}`);
  await t.throwsAsync(async () => open({ dir: tempDir(), postMortems: { periodcMs: 5 } as never }), { message: /unknown postMortems option "periodcMs" \(did you mean "periodicMs"\?\)/ });
});

e2e('store.postMortem() goes to <store>/postmortems, also with the automatic ones off', async (t) => {
  const dir = tempDir();
  const store = open({ dir, postMortems: false });
  t.teardown(() => store.close());
  store.record({ name: 'tick', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 5 });
  const file = await store.postMortem('by hand');
  t.is(path.dirname(file), path.join(store.path, 'postmortems'));
  t.is((await readPostMortem(file)).events.length, 1);
  await t.throwsAsync(store.postMortem(42 as never), { instanceOf: TypeError, message: /post-mortem reason must be a string, got number 42/ });
});

// The old names: each still works (deprecated), once.
e2e('deprecated: option "snapshots", store.snapshot() and readSnapshot still work', async (t) => {
  const dir = tempDir();
  const store = open({ dir, snapshots: { dir: path.join(dir, 'old'), service: 'old-names' } });
  t.teardown(() => store.close());
  store.record({ name: 'tick', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 7 });
  const file = await store.snapshot('old habits');
  t.is(path.dirname(file), path.join(dir, 'old'), 'the settings under the old option name apply');
  const pm = await readSnapshot(file);
  t.is(pm.meta.reason, 'old habits');
  t.is(pm.meta.service, 'old-names');
  t.deepEqual(pm, await readPostMortem(file));
  t.throws(() => open({ dir: tempDir(), snapshots: { periodcMs: 5 } as never }), { message: /unknown snapshots option "periodcMs"/ });
  t.throws(() => open({ dir: tempDir(), snapshots: false, postMortems: {} }), { instanceOf: TypeError, message: /options "postMortems" and "snapshots" \(its old name\) exclude each other/ });
});
