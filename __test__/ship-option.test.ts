/**
 * `open({ ship })`: the store runs `laptime-fleet ship --with-parent` beside the app, stops it
 * after its close sealed the last page, starts it again (with a warning) when it dies, and never
 * outlives the app, however the app ends. The shipper here is a fake program (LAPTIME_FLEET_BIN)
 * that logs its arguments and when its standard input ends; the real one against Kafka is
 * crates/laptime-fleet's business (`npm run test:fleet`).
 */
import test from 'ava';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { open } from '../index';
import { spawnFixture } from './helpers/child';
import { cannotRun, hasAddon, tempDir } from './helpers/real';

const e2e = hasAddon ? test.serial : test.serial.skip;
if (!hasAddon) cannotRun('the ship option tests need native/binding.cjs (npm run build:native)');

interface Entry {
  start?: string[];
  stop?: number;
  pid?: number;
}

/** A fake laptime-fleet: logs `{start: argv, pid}`, exits with $FAKE_SHIP_FAIL_FIRST's code on its first start, else waits for stdin to end and logs `{stop: pid}`. */
function fakeProgram(): { program: string; log: string } {
  const dir = tempDir();
  const program = path.join(dir, 'laptime-fleet');
  const log = path.join(dir, 'log.ndjson');
  writeFileSync(
    program,
    `#!${process.execPath}
const fs = require('fs');
const log = ${JSON.stringify(log)};
const before = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\\n').filter((l) => l.includes('"start"')).length : 0;
fs.appendFileSync(log, JSON.stringify({ start: process.argv.slice(2), pid: process.pid }) + '\\n');
if (process.env.FAKE_SHIP_FAIL_FIRST && before === 0) {
  process.stderr.write('broker 127.0.0.1:9 unreachable\\n');
  process.exit(Number(process.env.FAKE_SHIP_FAIL_FIRST));
}
process.stdin.resume();
process.stdin.on('end', () => {
  fs.appendFileSync(log, JSON.stringify({ stop: process.pid }) + '\\n');
  process.exit(0);
});
`,
  );
  chmodSync(program, 0o755);
  return { program, log };
}

function entries(log: string): Entry[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Entry);
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function withFleetBin<T>(program: string, work: () => Promise<T>): Promise<T> {
  const before = process.env.LAPTIME_FLEET_BIN;
  process.env.LAPTIME_FLEET_BIN = program;
  return work().finally(() => {
    if (before === undefined) delete process.env.LAPTIME_FLEET_BIN;
    else process.env.LAPTIME_FLEET_BIN = before;
  });
}

e2e('the shipper starts with the store and stops after its close, which resolves once it ended', async (t) => {
  const { program, log } = fakeProgram();
  const dir = tempDir();
  await withFleetBin(program, async () => {
    const store = open({ dir, ship: { brokers: 'k1:9092,k2:9092', topic: 'laptime', feed: 'east' } });
    await until('the shipper to start', () => entries(log).some((e) => e.start));
    const [started] = entries(log);
    t.deepEqual(started!.start, ['ship', '--dir', store.path, '--brokers', 'k1:9092,k2:9092', '--topic', 'laptime', '--feed', 'east', '--with-parent']);
    t.true(store.shipping?.running);
    store.record({ name: 'a.op', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 5 });
    await store.close();
    // close() resolved only after the shipper ended, by its standard input closing.
    t.deepEqual(
      entries(log).map((e) => Object.keys(e)[0]),
      ['start', 'stop'],
    );
    t.false(store.shipping?.running);
  });
});

e2e('a shipper that dies is warned about, with what it said, and started again', async (t) => {
  const { program, log } = fakeProgram();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  process.env.FAKE_SHIP_FAIL_FIRST = '3';
  try {
    await withFleetBin(program, async () => {
      const store = open({ dir: tempDir(), ship: { brokers: '127.0.0.1:9', topic: 'laptime' } });
      await until('a second start', () => entries(log).filter((e) => e.start).length === 2);
      t.is(store.shipping?.restarts, 1);
      await store.close();
      t.deepEqual(
        entries(log).map((e) => Object.keys(e)[0]),
        ['start', 'start', 'stop'],
      );
    });
  } finally {
    delete process.env.FAKE_SHIP_FAIL_FIRST;
    process.removeListener('warning', onWarning);
  }
  const w = warnings.find((x) => (x as Error & { code?: string }).code === 'LAPTIME_SHIP_EXITED');
  t.truthy(w, warnings.map(String).join('\n'));
  t.regex(w!.message, /exited with code 3: broker 127\.0\.0\.1:9 unreachable; starting it again in 1 s/);
});

for (const how of ['natural', 'exit', 'kill'] as const) {
  e2e(`an app that ends without closing its store (${how}) ends its shipper too`, async (t) => {
    const { program, log } = fakeProgram();
    const dir = tempDir();
    const child = spawnFixture('ship-app.ts', [how, dir], { LAPTIME_FLEET_BIN: program });
    const result = await child.done;
    if (how === 'kill') t.is(result.signal, 'SIGKILL');
    else t.is(result.code, 0, result.stderr);
    t.regex(result.stdout, /opened/);
    await until('the shipper to see its standard input end', () => entries(log).some((e) => e.stop !== undefined));
    const started = entries(log).find((e) => e.start);
    t.is(entries(log).find((e) => e.stop !== undefined)!.stop, started!.pid);
  });
}

e2e('bad ship options and a missing fleet program are errors naming them, before the store opens', async (t) => {
  for (const [ship, message] of [
    ['k1:9092', /option "ship" must be an object/],
    [{ topic: 'laptime' }, /ship option "brokers" must be a non-empty string/],
    [{ brokers: 'k1:9092', topic: 'two words' }, /ship option "topic"/],
    [{ brokers: 'k1:9092', topic: 'laptime', topik: 'x' }, /unknown ship option "topik"/],
  ] as const) {
    const err = t.throws(() => open({ dir: tempDir(), ship: ship as never }));
    t.regex(err!.message, message);
    t.is((err as Error & { code?: string }).code, 'INVALID_OPTION');
  }
  const dir = path.join(tempDir(), 'never-made');
  await withFleetBin('/nonexistent/laptime-fleet', async () => {
    const err = t.throws(() => open({ dir, ship: { brokers: 'k1:9092', topic: 'laptime' } }));
    t.regex(err!.message, /option "ship" runs the laptime-fleet program, which was not found \(looked at \$LAPTIME_FLEET_BIN \(\/nonexistent\/laptime-fleet\)/);
    t.regex(err!.message, /npm run build:fleet/);
    t.is((err as Error & { code?: string }).code, 'INVALID_OPTION');
  });
  t.false(existsSync(dir), 'nothing was opened');
});
