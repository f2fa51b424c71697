/**
 * A full disk through Node, against the real addon (invariant 3): a tmpfs of a few MB is filled by
 * another file while a store writes with `sync: 'always'`; flush rejects with code ENOSPC (the
 * warning keeps its code LAPTIME_DISK_FULL), and
 * once space is freed the same store goes on by itself: flush resolves, one warning when recording
 * paused and one when it resumed, and every event offered is accounted for. Needs root (mount); skips
 * with a message elsewhere.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capture, isLaptimeError, open } from '../index';
import * as os from 'node:os';
import { hasAddon } from './helpers/real';

function mountTmpfs(dir: string, size: string): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Write zeros to `file` until the file system has no byte left. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 20, 64 << 10, 4096, 512, 64, 1]) {
      const chunk = Buffer.alloc(size, 0xa5);
      for (;;) {
        try {
          if (fs.writeSync(fd, chunk) < size) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

interface Warned {
  code: string | undefined;
  message: string;
}

// Not a helpers/temp directory: that hook would remove it while it is still mounted.
const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-diskfull-'));
const mounted = hasAddon && mountTmpfs(mnt, '8m');
const run = mounted ? test.serial : test.skip;
if (!mounted) {
  test('disk-full tests need root (to mount a tmpfs) and native/binding.cjs; SKIPPED here', (t) => t.pass());
}
test.after.always(() => {
  if (mounted) execFileSync('umount', [mnt], { stdio: 'ignore' });
  fs.rmSync(mnt, { recursive: true, force: true });
});

run('a full disk pauses recording and the same store resumes by itself once space is freed', async (t) => {
  const warnings: Warned[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.name === 'LaptimeWarning') warnings.push({ code: w.code, message: w.message });
  };
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));

  const store = open({ dir: path.join(mnt, 'store'), sync: 'always', flushIntervalMs: 20, pageRows: 1000 });
  const work = capture((n: number) => n * 2, { name: 'Disk.work', store });
  let offered = 0;
  const burst = (n: number): void => {
    for (let i = 0; i < n; i++) {
      work(i);
      store.record({ name: 'Disk.record', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1000 + i, ok: i % 10 !== 0 });
    }
    offered += 2 * n;
  };
  burst(500);
  await store.flush();
  const before = store.counters();
  t.is(before.written, offered);

  const filler = path.join(mnt, 'filler');
  fillDisk(filler);
  let rejection: (Error & { code?: string }) | undefined;
  for (let i = 0; i < 50 && rejection === undefined; i++) {
    burst(200);
    try {
      await store.flush();
    } catch (err) {
      rejection = err as Error & { code?: string };
    }
  }
  if (rejection === undefined) return t.fail('a full disk must make flush reject');
  // Errors carry the engine's code; warnings keep their LAPTIME_* codes.
  t.is(rejection.code, 'ENOSPC', rejection.message);
  t.true(isLaptimeError(rejection, 'ENOSPC'));
  t.regex(rejection.message, /disk full: .*No space left on device/);
  // Still full: capture goes on without throwing, flush keeps rejecting.
  burst(100);
  await t.throwsAsync(store.flush(), { code: 'ENOSPC' } as never);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const paused = warnings.filter((w) => w.code === 'LAPTIME_DISK_FULL');
  t.is(paused.length, 1, JSON.stringify(warnings));
  t.regex(paused[0]!.message, /recording to .* paused \(ENOSPC\): disk full/);

  fs.rmSync(filler);
  let resumed = false;
  for (let i = 0; i < 100 && !resumed; i++) {
    try {
      await store.flush();
      resumed = true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  t.true(resumed, 'flush resolves again once space is freed, without reopening');
  burst(300);
  await store.flush();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(warnings.filter((w) => w.code === 'LAPTIME_DISK_FULL').length, 1, JSON.stringify(warnings));
  t.is(warnings.filter((w) => w.code === 'LAPTIME_WRITE_RESUMED').length, 1, JSON.stringify(warnings));

  const c = store.counters();
  t.is(c.accepted + c.dropped, offered, JSON.stringify(c));
  t.is(c.written + c.discarded + c.lost, c.accepted, JSON.stringify(c));
  // What the writer had taken was kept in memory and written once the disk allowed it.
  t.is(c.lost, 0, JSON.stringify(c));
  t.is(c.durable, c.written, JSON.stringify(c));
  await store.close();

  // Every accepted event is stored exactly once.
  const again = open({ dir: path.join(mnt, 'store') });
  const { rows } = await again.stats();
  const stored = rows.reduce((sum, r) => sum + r.count, 0);
  t.is(stored, c.accepted);
  await again.close();
});
