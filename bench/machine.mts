/**
 * Facts about the machine, the runtime and the addon, printed with every run and stored in the JSON,
 * plus per-thread CPU time from /proc (Linux) to show what laptime's writer thread costs.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Machine {
  cpuModel: string;
  cores: number;
  totalMemGiB: number;
  platform: string;
  kernel: string;
  clocksource: string | null;
  loadavg1m: number;
  node: string;
  v8: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    clocksource: readOrNull('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
    loadavg1m: Math.round(os.loadavg()[0]! * 100) / 100,
    node: process.version,
    v8: process.versions.v8,
  };
}

export interface AddonInfo {
  /** The addon file(s) in native/. */
  files: string[];
  /** 'release' or 'debug' when the addon is byte-identical to cargo's output of that profile here. */
  profile: 'release' | 'debug' | 'unknown';
  how: string;
}

/** Which cargo profile built native/laptime.*.node: compared byte for byte with target/{release,debug}. */
export function addonInfo(): AddonInfo {
  const dir = path.join(ROOT, 'native');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('laptime.') && f.endsWith('.node')) : [];
  if (files.length === 0) return { files, profile: 'unknown', how: 'no native/laptime.*.node' };
  const addon = sha256(path.join(dir, files[0]!));
  for (const profile of ['release', 'debug'] as const) {
    const candidates = [
      path.join(ROOT, 'target', profile, 'liblaptime_node.so'),
      path.join(ROOT, 'target', profile, 'liblaptime_node.dylib'),
      path.join(ROOT, 'target', profile, 'laptime_node.dll'),
    ];
    for (const c of candidates) {
      if (existsSync(c) && sha256(c) === addon) {
        return { files, profile, how: `native/${files[0]} is identical to ${path.relative(ROOT, c)}` };
      }
    }
  }
  return {
    files,
    profile: 'unknown',
    how: 'matches no library in target/ (scripts/build-native.mjs always builds --release; a prebuilt or copied addon cannot be checked)',
  };
}

/** Exact versions of the packages compared, read from node_modules. */
export function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['laptime', 'tinybench', '@opentelemetry/api', '@opentelemetry/sdk-trace-base', 'prom-client', 'pino', 'tsx', 'typescript']) {
    const file = name === 'laptime' ? path.join(ROOT, 'package.json') : path.join(ROOT, 'node_modules', name, 'package.json');
    try {
      out[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      out[name] = 'unknown';
    }
  }
  return out;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

let clockTicks: number | null = null;

/** Clock ticks per second of /proc's utime/stime (USER_HZ). */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * CPU seconds (user + system) used so far by this process's threads whose name starts with
 * `prefix` (laptime's writer is "laptime-writer"), or null where /proc is not available.
 * Threads that already ended are not counted.
 */
export function threadCpuSeconds(prefix: string): number | null {
  const taskDir = '/proc/self/task';
  if (!existsSync(taskDir)) return null;
  let ticks = 0;
  for (const tid of readdirSync(taskDir)) {
    try {
      const comm = readFileSync(`${taskDir}/${tid}/comm`, 'utf8').trim();
      if (!comm.startsWith(prefix)) continue;
      const stat = readFileSync(`${taskDir}/${tid}/stat`, 'utf8');
      // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ticks / ticksPerSecond();
}

/** The store counters a benchmark reports (what really reached the engine, and what did not). */
export interface CounterReport {
  accepted: number;
  written: number;
  dropped: number;
  discarded: number;
  pending: number;
  lost: number;
  internalErrors: number;
  bytesOnDisk: number;
}

/** Just the {@link CounterReport} fields of a store's counters. */
export function counterReport(c: CounterReport): CounterReport {
  const { accepted, written, dropped, discarded, pending, lost, internalErrors, bytesOnDisk } = c;
  return { accepted, written, dropped, discarded, pending, lost, internalErrors, bytesOnDisk };
}
