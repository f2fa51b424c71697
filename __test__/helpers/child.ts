/** Spawning TypeScript child processes (through tsx, in the decorator mode of this run). */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  process: ChildProcess;
  /** Resolves when stdout has printed `line` (rejects if the child ends first). */
  waitFor(line: string | RegExp): Promise<void>;
  /** Resolves when the child has ended. */
  done: Promise<ChildResult>;
}

/** Run `fixture` (a file in __test__/fixtures) with `args` under node --import tsx. */
export function spawnFixture(fixture: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const file = path.join(__dirname, '..', 'fixtures', fixture);
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ line: string | RegExp; resolve: () => void; reject: (e: Error) => void }> = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (typeof w.line === 'string' ? stdout.split('\n').includes(w.line) : w.line.test(stdout)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    check();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`child ended (${code ?? signal}) before printing ${String(w.line)}\nstdout: ${stdout}\nstderr: ${stderr}`));
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    process: child,
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ line, resolve, reject });
        check();
      }),
    done,
  };
}

/**
 * A worker thread running a TypeScript file. Node 20 does not apply tsx's `--import` hooks in
 * workers, so the worker starts from a tiny CommonJS script that registers tsx's require hook.
 */
export function tsWorkerSource(file: string): string {
  return `require('tsx/cjs'); require(${JSON.stringify(file)});`;
}
