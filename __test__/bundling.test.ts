/**
 * Bundlers (issue 12): an app bundled with esbuild either keeps laptime external and records, or
 * gets one warning that says laptime was bundled and how to keep it external; it never goes
 * silent, and the app itself runs on unchanged.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildSync, type BuildOptions } from 'esbuild';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const e2e = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('bundling tests need native/binding.cjs (npm run build:native)');

const ROOT = path.join(__dirname, '..');

/** A tiny app: ten captured calls into a store at argv[2], then what the store counted. */
function app(dir: string): string {
  const entry = path.join(dir, 'app.js');
  writeFileSync(
    entry,
    `const { capture, open, setDefaultStore } = require(${JSON.stringify(path.join(ROOT, 'index.js'))});
const store = open({ dir: process.argv[2] });
setDefaultStore(store);
const double = capture((x) => x * 2, 'bundled.double');
let sum = 0;
for (let i = 0; i < 10; i++) sum += double(i);
store.flush().then(() => {
  console.log(JSON.stringify({ sum, enabled: store.enabled, written: store.counters().written }));
  return store.close();
});
`,
  );
  return entry;
}

function bundleAndRun(options: BuildOptions): { out: { sum: number; enabled: boolean; written: number }; stderr: string } {
  const dir = tempDir();
  const outfile = path.join(dir, 'dist', 'app.js');
  buildSync({ entryPoints: [app(dir)], bundle: true, platform: 'node', outfile, logLevel: 'silent', ...options });
  const r = spawnSync(process.execPath, [outfile, path.join(dir, 'store')], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`bundled app failed (${String(r.status)}): ${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim()) as { sum: number; enabled: boolean; written: number }, stderr: r.stderr };
}

e2e('bundling laptime in without a loader for .node files fails the build, naming the addon', (t) => {
  const dir = tempDir();
  const err = t.throws(() => buildSync({ entryPoints: [app(dir)], bundle: true, platform: 'node', outfile: path.join(dir, 'out.js'), logLevel: 'silent' }));
  t.regex(err?.message ?? '', /No loader is configured for "\.node" files/);
});

const halfBundled: Array<[string, BuildOptions]> = [
  ['with the .node file copied by a file loader', { loader: { '.node': 'file' } }],
  ['with .node files left external', { external: ['*.node'] }],
];
for (const [title, options] of halfBundled) {
  e2e(`bundled ${title}: the app runs, and one warning says laptime was bundled and how to keep it external`, (t) => {
    const { out, stderr } = bundleAndRun(options);
    t.deepEqual(out, { sum: 90, enabled: false, written: 0 }, 'the app is unchanged; laptime records nothing');
    t.regex(stderr, /LAPTIME_NATIVE_UNAVAILABLE/);
    t.regex(stderr, /laptime looks bundled: its native\/ directory is not at .*Mark laptime as external.*esbuild: --external:laptime/);
    t.is(stderr.match(/LaptimeWarning/g)?.length, 1, stderr);
  });
}

e2e('bundled with laptime external: every call is recorded, no warning', (t) => {
  const { out, stderr } = bundleAndRun({ external: [path.join(ROOT, 'index.js')] });
  t.deepEqual(out, { sum: 90, enabled: true, written: 10 });
  t.notRegex(stderr, /LaptimeWarning/);
});
