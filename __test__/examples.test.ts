/**
 * The runnable examples (npm run example:prometheus / example:otel / example:express /
 * example:fastify / example:nest) run to the end and print what their comments promise: a
 * parseable scrape with the recorded function, per-function stats of the spans, per-route stats of
 * the HTTP requests.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { hasAddon, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('example tests need native/binding.cjs (npm run build:native)');

function runExample(file: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'examples', file)], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
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

for (const file of ['express.ts', 'fastify.ts']) {
  e2e(`examples/${file} records each request under its route template, errors and unmatched paths included`, (t) => {
    const r = runExample(file);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^GET \/users\/:id\s+30 calls\s+0 errors/m);
    t.regex(r.stdout, /^POST \/orders\s+10 calls\s+0 errors/m);
    t.regex(r.stdout, /^GET \/fail\s+4 calls\s+4 errors/m);
    t.regex(r.stdout, /^GET \(unmatched\)\s+3 calls\s+0 errors/m);
    t.regex(r.stdout, /\{"route":"\/orders","status_code":201,"count":10\}/);
    t.is(r.stderr, '');
  });
}

e2e('examples/nest.ts records Controller.method with route and status, HttpException statuses included', (t) => {
  // Nest's decorators are legacy ones: the example runs with its own tsconfig, as npm run example:nest does.
  const r = runExample('nest.ts', { TSX_TSCONFIG_PATH: path.join(__dirname, '..', 'examples', 'tsconfig.nest.json') });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^ShopController\.user\s+33 calls\s+0 errors/m);
  t.regex(r.stdout, /^ShopController\.order\s+10 calls\s+0 errors/m);
  t.regex(r.stdout, /^ShopController\.fail\s+4 calls\s+4 errors/m);
  t.regex(r.stdout, /\{"route":"\/users\/:id","status_code":404,"count":3\}/);
});
