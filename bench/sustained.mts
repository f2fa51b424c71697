/**
 * The sustained phase: a captured sync function called at a fixed rate (default 1M calls/s) from
 * the one JS thread for a fixed time (default 60 s), into a fresh store with default options.
 *
 * Pacing: each event-loop turn (setImmediate) compares the calls made with the calls due at this
 * moment of the run (rate x elapsed time, read with performance.now()) and makes the missing ones in
 * chunks of 1000, at most 20 chunks per turn, so the store's flush timer and the RSS sampler still
 * get their turns. When the JS thread cannot keep up, the achieved rate says so.
 *
 * Counted as stored: only `counters().written` of that store after `flush()` (events in the WAL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open, setDefaultStore } from 'laptime';
import { capturedWork } from './cases.mjs';
import { counterReport, type CounterReport, threadCpuSeconds } from './machine.mjs';

const perf = performance;
const CHUNK = 1000;
const MAX_CHUNKS_PER_TURN = 20;
const MiB = 2 ** 20;

/** The loop's results end here so nothing is dead code. */
export let sustainedSink = 0;

export interface SustainedResult {
  targetRate: number;
  targetSeconds: number;
  seconds: number;
  calls: number;
  achievedRate: number;
  /** true when the calls made reached 99% of rate x duration. */
  rateSustained: boolean;
  /** Most calls the pacing was ever behind schedule, and that as milliseconds at the target rate. */
  maxBehindCalls: number;
  maxBehindMs: number;
  /** Share of the wall time the JS thread spent inside the chunks of captured calls. */
  jsBusyShare: number;
  flushMs: number;
  counters: CounterReport;
  /** written === calls after flush. */
  allWritten: boolean;
  /** CPU seconds of laptime's writer thread over the phase (null without /proc). */
  writerCpuSeconds: number | null;
  rssMiB: { start: number; end: number; max: number; growthEnd: number; growthMax: number };
  heapUsedMiB: { start: number; end: number };
  /** RSS (MiB) once a second. */
  rssTimeline: number[];
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export async function runSustained(seconds: number, rate: number, progress: (line: string) => void): Promise<SustainedResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-bench-sustained-'));
  const store = open({ dir });
  if (!store.enabled) throw new Error('laptime is disabled (addon not loaded): nothing to measure');
  setDefaultStore(store);
  const fn = capturedWork('bench.sustained');
  try {
    const writerCpu0 = threadCpuSeconds('laptime');
    const rssStart = process.memoryUsage.rss();
    const heapStart = process.memoryUsage().heapUsed;
    let rssMax = rssStart;
    const rssTimeline: number[] = [];
    let samplesTaken = 0;
    let calls = 0;
    let busyMs = 0;
    let maxBehind = 0;
    let s = 0;
    const durationMs = seconds * 1000;
    const perMs = rate / 1000;
    const t0 = perf.now();
    const sampler = setInterval(() => {
      const rss = process.memoryUsage.rss();
      if (rss > rssMax) rssMax = rss;
      samplesTaken++;
      if (samplesTaken % 10 === 0) {
        rssTimeline.push(round1(rss / MiB));
        if (samplesTaken % 100 === 0) {
          progress(`sustained: ${samplesTaken / 10} s, ${(calls / 1e6).toFixed(1)}M calls, RSS ${(rss / MiB).toFixed(1)} MiB, written ${store.counters().written}`);
        }
      }
    }, 100);

    await new Promise<void>((resolve) => {
      const turn = (): void => {
        const elapsed = perf.now() - t0;
        if (elapsed >= durationMs) {
          resolve();
          return;
        }
        const due = Math.floor(elapsed * perMs);
        if (due - calls > maxBehind) maxBehind = due - calls;
        if (calls < due) {
          const b0 = perf.now();
          for (let chunks = 0; calls < due && chunks < MAX_CHUNKS_PER_TURN; chunks++) {
            for (let i = 0; i < CHUNK; i++) s += fn(i, 1);
            calls += CHUNK;
          }
          busyMs += perf.now() - b0;
        }
        setImmediate(turn);
      };
      setImmediate(turn);
    });
    const elapsedMs = perf.now() - t0;
    clearInterval(sampler);

    const f0 = perf.now();
    await store.flush();
    const flushMs = perf.now() - f0;
    const c = store.counters();
    const rssEnd = process.memoryUsage.rss();
    if (rssEnd > rssMax) rssMax = rssEnd;
    const heapEnd = process.memoryUsage().heapUsed;
    const writerCpu1 = threadCpuSeconds('laptime');
    sustainedSink = s;

    const achievedRate = calls / (elapsedMs / 1000);
    return {
      targetRate: rate,
      targetSeconds: seconds,
      seconds: Math.round(elapsedMs) / 1000,
      calls,
      achievedRate: Math.round(achievedRate),
      rateSustained: calls >= 0.99 * rate * seconds,
      maxBehindCalls: maxBehind,
      maxBehindMs: round1(maxBehind / perMs),
      jsBusyShare: Math.round((busyMs / elapsedMs) * 1000) / 1000,
      flushMs: round1(flushMs),
      counters: counterReport(c),
      allWritten: c.written === calls,
      writerCpuSeconds: writerCpu0 === null || writerCpu1 === null ? null : round1(writerCpu1 - writerCpu0),
      rssMiB: {
        start: round1(rssStart / MiB),
        end: round1(rssEnd / MiB),
        max: round1(rssMax / MiB),
        growthEnd: round1((rssEnd - rssStart) / MiB),
        growthMax: round1((rssMax - rssStart) / MiB),
      },
      heapUsedMiB: { start: round1(heapStart / MiB), end: round1(heapEnd / MiB) },
      rssTimeline,
    };
  } finally {
    setDefaultStore(null);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
