/**
 * What happens to buffered events when a process ends, in child processes using the fake addon
 * with persistence: the events are recorded into the JS batch only (long flush interval, big
 * batch), so they survive only if an exit hook hands them over and the engine writes them.
 */
import { tempDir } from './helpers/setup';
import test from 'ava';
import { readPersisted } from './helpers/fake-native';
import { spawnFixture } from './helpers/child';

const env = { LAPTIME_FAKE_PERSIST: '1' };

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} with no other listener: events flushed, then the process dies of ${signal}`, async (t) => {
    const dir = tempDir();
    const child = spawnFixture('child.ts', ['signal-alone', dir, '250'], env);
    await child.waitFor('READY');
    t.is(readPersisted(dir).length, 0, 'nothing written before the signal');
    child.process.kill(signal);
    const result = await child.done;
    t.is(result.signal, signal, result.stderr);
    const rows = readPersisted(dir);
    t.is(rows.length, 250);
    t.true(rows.every((r) => r.name === 'child.work'));
  });
}

test('SIGTERM with signal-exit installed: it still ends the process by the signal, events kept', async (t) => {
  const dir = tempDir();
  const child = spawnFixture('child.ts', ['signal-exit-lib', dir, '90'], env);
  await child.waitFor('READY');
  child.process.kill('SIGTERM');
  const result = await child.done;
  t.is(result.signal, 'SIGTERM', result.stderr);
  t.regex(result.stdout, /signal-exit saw SIGTERM/);
  t.is(readPersisted(dir).length, 90);
});

test('SIGINT with an app listener that exits: the app decides, events are kept', async (t) => {
  const dir = tempDir();
  const child = spawnFixture('child.ts', ['signal-app-exits', dir, '120'], env);
  await child.waitFor('READY');
  child.process.kill('SIGINT');
  const result = await child.done;
  t.is(result.signal, null);
  t.is(result.code, 0);
  t.regex(result.stdout, /app handler/);
  t.is(readPersisted(dir).length, 120);
});

test('SIGINT with an app listener that ignores it: the process goes on', async (t) => {
  const dir = tempDir();
  const child = spawnFixture('child.ts', ['signal-app-ignores', dir, '10'], env);
  await child.waitFor('READY');
  child.process.kill('SIGINT');
  const result = await child.done;
  t.is(result.signal, null);
  t.is(result.code, 0);
  t.regex(result.stdout, /app ignores SIGINT\nstill alive/);
  t.is(readPersisted(dir).length, 10);
});

test('uncaught exception: same crash (exit 1, same message), events written', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('child.ts', ['uncaught', dir, '75'], env).done;
  t.is(result.code, 1);
  t.regex(result.stderr, /Error: boom from child/);
  t.is(readPersisted(dir).length, 75);
});

test('natural end: beforeExit flushes, the process exits normally', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('child.ts', ['natural-exit', dir, '40'], env).done;
  t.is(result.code, 0, result.stderr);
  const rows = readPersisted(dir);
  t.is(rows.length, 40);
  t.true(rows.every((r) => r.via === 'flush'));
});

test('process.exit(): exit code kept, events written while exiting', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('child.ts', ['process-exit', dir, '60'], env).done;
  t.is(result.code, 3, result.stderr);
  t.is(readPersisted(dir).length, 60);
});

test('worker thread: its buffered events are written when it ends', async (t) => {
  const dir = tempDir();
  const result = await spawnFixture('child.ts', ['worker', dir, '30'], env).done;
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /worker exited 0/);
  const rows = readPersisted(dir);
  t.is(rows.filter((r) => r.name === 'worker.work').length, 30);
  t.is(rows.filter((r) => r.name === 'child.work').length, 30);
});
