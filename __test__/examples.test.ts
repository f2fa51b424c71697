/**
 * The runnable examples (npm run example:prometheus / example:otel) run to the end and print what
 * their comments promise: a parseable scrape with the recorded function, and per-function stats of
 * the spans.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { hasAddon, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('example tests need native/binding.cjs (npm run build:native)');

function runExample(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'examples', file)], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

e2e('examples/prometheus.ts serves a scrape with the recorded calls and errors', (t) => {
  const r = runExample('prometheus.ts');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^# TYPE laptime_function_duration_seconds summary$/m);
  t.regex(r.stdout, /^laptime_function_calls\{function="Cart\.checkout"\} 300$/m);
  t.regex(r.stdout, /^laptime_function_errors\{function="Cart\.checkout"\} 30$/m);
});

e2e('examples/otel.ts records every span and groups by its route attribute', (t) => {
  const r = runExample('otel.ts');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^GET \/orders\/:id\s+200 calls\s+8 errors/m);
  t.regex(r.stdout, /^SELECT orders\s+200 calls\s+0 errors/m);
  t.regex(r.stdout, /"http\.route":"\/orders\/:id","count":200/);
});
