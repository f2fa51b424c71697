#!/usr/bin/env node
// Runs the TypeScript test suite once per decorator mode (npm run test:node builds first):
//   standard: __test__/tsconfig.standard.json (TC39 decorators)
//   legacy:   __test__/tsconfig.legacy.json   (experimentalDecorators, NestJS style)
// Each mode is type-checked with tsc, then run by ava with TSX_TSCONFIG_PATH pointing tsx at that
// tsconfig and LAPTIME_TEST_DECORATORS naming the mode (a test checks the decorators really
// received that mode's arguments). Prints each run's summary; exits non-zero if any step failed.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const ava = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const modes = ['standard', 'legacy'];
const extra = process.argv.slice(2); // e.g. a file or --match, passed to ava

const summaries = [];
let failed = false;
const totals = { passed: 0, failed: 0, skipped: 0 };

function run(label, args, env) {
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const status = result.error ? `error: ${result.error.message}` : result.signal ? `killed by ${result.signal}` : `exit ${result.status}`;
  if (result.error || result.status !== 0) failed = true;
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
  // ava's closing lines: "N tests passed", "N tests failed", "N tests skipped", "N known failures", ...
  const counts = [...output.matchAll(/^\s*(\d+ (?:tests?|known failures?|uncaught exceptions?|unhandled rejections?|tests? (?:passed|failed|skipped|todo))[^\n]*)$/gm)].map((m) => m[1].trim());
  summaries.push(`${label}: ${status} in ${seconds}s${counts.length ? ` (${counts.join(', ')})` : ''}`);
  for (const line of counts) {
    const m = /^(\d+) tests? (passed|failed|skipped)/.exec(line);
    if (m) totals[m[2]] += Number(m[1]);
  }
  if (result.status !== 0 && totals.failed === 0) totals.failed += 1;
}

for (const mode of modes) {
  const tsconfig = path.join('__test__', `tsconfig.${mode}.json`);
  console.log(`\n== ${mode} decorators: type-check (${tsconfig})`);
  run(`${mode}: tsc --noEmit`, [tsc, '--noEmit', '-p', tsconfig], {});
  console.log(`\n== ${mode} decorators: ava`);
  run(`${mode}: ava`, [ava, '--config', path.join('__test__', 'ava.config.mjs'), ...extra], {
    TSX_TSCONFIG_PATH: tsconfig,
    LAPTIME_TEST_DECORATORS: mode,
  });
}

console.log('\n== summary');
for (const line of summaries) console.log(`  ${line}`);
// The plain closing line CI reads: both decorator modes together.
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = failed ? 1 : 0;
