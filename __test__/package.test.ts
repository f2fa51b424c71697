/**
 * The built package (npm run build:ts, run first by test:node): `require('laptime')` and
 * `import 'laptime'` resolve through package.json "exports" to one instance, and the shipped
 * declarations carry no `any` and no internals.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cannotRun, hasAddon, tempDir } from './helpers/real';

const root = path.join(__dirname, '..');
const built = fs.existsSync(path.join(root, 'index.js')) && fs.existsSync(path.join(root, 'index.d.ts'));
const needsBuild = built ? test : test.skip;
if (!built) cannotRun('package tests need the build (npm run build:ts)');

needsBuild('require and import of the package name give the same module; it records', (t) => {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'package-check.cjs'), tempDir()], { cwd: root, encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim()) as { enabled: boolean; rows: Array<[string, number]> };
  t.is(out.enabled, hasAddon);
  t.deepEqual(out.rows, hasAddon ? [['add', 1]] : []);
});

needsBuild('the root import loads no framework; laptime/express and laptime/fastify none either, laptime/nest only rxjs; import and require share each subpath', (t) => {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'subpaths-check.cjs')], { cwd: root, encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
  t.deepEqual(out, {
    root: [],
    express: [],
    fastify: [],
    nest: ['rxjs'],
    // Loading a framework on purpose shows up: the check can see one.
    control: ['@nestjs/common', 'rxjs'],
    sameInstance: { express: true, fastify: true, nest: true },
    esmExpressIsFunction: true,
  });
});

needsBuild('declarations: no any, no internals, every public function documented with an example', (t) => {
  const files = ['index.d.ts', ...fs.readdirSync(path.join(root, 'src')).filter((f) => f.endsWith('.d.ts')).map((f) => path.join('src', f))];
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '');
    t.notRegex(text, /\bany\b/, `${file} mentions any`);
  }
  const store = fs.readFileSync(path.join(root, 'src', 'store.d.ts'), 'utf8');
  t.notRegex(store, /\[kBatch\]|\[kAppend\]|static open/, 'internal members are stripped');
  for (const [file, fn] of [
    ['capture', 'capture'],
    ['store', 'open'],
    ['default-store', 'defaultStore'],
    ['default-store', 'setDefaultStore'],
    ['log', 'logger'],
  ] as const) {
    const text = fs.readFileSync(path.join(root, 'src', `${file}.d.ts`), 'utf8');
    t.regex(text, new RegExp(`@example[\\s\\S]*?\\*/\\s*export declare (function|const) ${fn}\\b`), `${fn} has an @example`);
  }
});
