/**
 * The packaged path, as a user gets it: a fresh clone of this repository (its committed HEAD) is
 * packed by `npm pack` (prepack compiles the TypeScript layer there), this platform's binary is
 * packed as its platform package (npm/<triple>, holding the built addon, as `napi artifacts` fills
 * it), and both tarballs are installed into a fresh project outside the repository with no cargo
 * on PATH. No install script may run; the bin, CommonJS and ESM imports, the framework subpaths
 * and the shipped types must work, and a captured function and a decorated method record.
 * Runs once (standard mode); the packing does not depend on the decorator mode.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MODE } from './helpers/mode';

const root = path.join(__dirname, '..');
const nativeDir = path.join(root, 'native');
const binary = fs.existsSync(nativeDir) ? fs.readdirSync(nativeDir).find((f) => f.endsWith('.node')) : undefined;
const isClone = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root, encoding: 'utf8' }).stdout.trim() === 'true';
const runs = MODE === 'standard' && binary !== undefined && isClone ? test : test.skip;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** PATH without any directory that holds cargo or rustc: the installing user has no Rust. */
function pathWithoutRust(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !['cargo', 'rustc'].some((exe) => fs.existsSync(path.join(dir, exe))))
    .join(path.delimiter);
}

runs('a packed fresh clone installs with its platform package and no cargo: no install script, bin, imports, types and recording work', (t) => {
  t.timeout(300_000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-packed-'));
  try {
    const clone = path.join(work, 'clone');
    sh('git', ['clone', '--quiet', '--no-hardlinks', root, clone], work);
    // The clone's dev tools (tsc for prepack) come from this checkout's install.
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
    t.false(fs.existsSync(path.join(clone, 'index.js')), 'a fresh clone has no compiled entry point');
    const triple = (binary ?? '').replace(/^laptime\./, '').replace(/\.node$/, '');
    // This platform's binary package, as the release workflow fills it.
    const platformSrc = path.join(clone, 'npm', triple);
    t.true(fs.existsSync(path.join(platformSrc, 'package.json')), `npm/${triple} exists`);
    const platformDir = path.join(work, 'platform');
    fs.mkdirSync(platformDir);
    fs.copyFileSync(path.join(platformSrc, 'package.json'), path.join(platformDir, 'package.json'));
    fs.copyFileSync(path.join(nativeDir, binary ?? ''), path.join(platformDir, binary ?? ''));
    const packs = path.join(work, 'packs');
    fs.mkdirSync(packs);
    const npmPack = (dir: string): string => {
      const out = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', packs], dir)) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const first = out[0];
      if (!first) throw new Error(`npm pack printed nothing in ${dir}`);
      if (dir === clone) {
        const files = first.files.map((f) => f.path);
        t.true(files.includes('index.js') && files.includes('index.mjs') && files.includes('index.d.ts'), 'entry points compiled by prepack and packed');
        t.true(files.includes('src/cli/main.js') && files.includes('bin/laptime.cjs'), 'the bin and the CLI it loads');
        t.true(files.includes('native/binding.cjs') && files.includes('scripts/platform.cjs') && files.includes('crates/laptime-core/src/lib.rs'), 'loader and the sources a build needs packed');
        t.false(files.some((f) => f.endsWith('.node')), 'no binary in the main package');
        const rustExtras = files.filter((f) => /^crates\/[^/]+\/(tests|benches|examples)\//.test(f) || /(^|\/)(tests|[a-z_]+_tests)\.rs$/.test(f) || f.startsWith('crates/laptime-fleet/') || f.startsWith('crates/laptime-bench/'));
        t.deepEqual(rustExtras, [], 'no Rust tests, benches, examples or crates the binding does not need');
        for (const sub of ['otel', 'express', 'fastify', 'nest']) t.true(files.includes(`${sub}.mjs`) && files.includes(`src/${sub}.js`) && files.includes(`src/${sub}.d.ts`), `laptime/${sub} packed`);
      }
      return path.join(packs, first.filename);
    };
    const mainTgz = npmPack(clone);
    const platformTgz = npmPack(platformDir);
    const packed = JSON.parse(sh('tar', ['-xOzf', mainTgz, 'package/package.json'], work)) as { scripts?: Record<string, string> };
    t.deepEqual(
      Object.keys(packed.scripts ?? {}).filter((k) => ['preinstall', 'install', 'postinstall'].includes(k)),
      [],
      'the package has no install script: a prebuilt install runs nothing',
    );

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const noRust = pathWithoutRust();
    t.is(spawnSync('cargo', ['--version'], { env: { ...process.env, PATH: noRust } }).error !== undefined, true, 'cargo is not on the PATH the install sees');
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', mainTgz, platformTgz, '@types/node@20'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, PATH: noRust },
    });
    t.is(install.status, 0, install.stderr);
    t.false(/laptime: /.test(`${install.stdout}\n${install.stderr}`), 'nothing of laptime ran at install');
    const installed = path.join(app, 'node_modules', 'laptime');
    t.deepEqual(fs.readdirSync(path.join(installed, 'native')).filter((f) => f.endsWith('.node')), [], 'no binary was built into the package');
    t.false(fs.existsSync(path.join(installed, 'target')), 'no cargo target directory in node_modules');

    const script = `
      const { capture, open, setDefaultStore } = require('laptime');
      const store = open({ dir: process.argv[2], sync: 'always' });
      setDefaultStore(store);
      const add = capture((a, b) => a + b, 'packed.add');
      class Service { find(id) { if (id < 0) throw new RangeError('negative'); return id * 2; } }
      const d = Object.getOwnPropertyDescriptor(Service.prototype, 'find');
      Object.defineProperty(Service.prototype, 'find', capture()(Service.prototype, 'find', d));
      const s = new Service();
      let sum = 0;
      for (let i = 0; i < 100; i++) sum += add(i, 1);
      for (let i = -5; i < 20; i++) { try { s.find(i); } catch {} }
      (async () => {
        const report = await store.stats();
        await store.close();
        console.log(JSON.stringify({ sum, rows: report.rows.map((r) => [r.name, r.count, r.errors]) }));
      })();
    `;
    fs.writeFileSync(path.join(app, 'run.cjs'), script);
    const out = JSON.parse(sh(process.execPath, ['run.cjs', path.join(work, 'store')], app)) as { sum: number; rows: Array<[string, number, number]> };
    t.is(out.sum, 5050);
    t.deepEqual(out.rows, [
      ['Service.find', 25, 5],
      ['packed.add', 100, 0],
    ]);
    // ESM consumers get the same API.
    fs.writeFileSync(path.join(app, 'esm.mjs'), "import { capture, open } from 'laptime'; console.log(typeof capture, typeof open);");
    t.is(sh(process.execPath, ['esm.mjs'], app).trim(), 'function function');
    // The framework subpaths load without their frameworks installed (they use only their types).
    fs.writeFileSync(path.join(app, 'subpaths.cjs'), "console.log(typeof require('laptime/express').express, typeof require('laptime/fastify').fastify);");
    t.is(sh(process.execPath, ['subpaths.cjs'], app).trim(), 'function function');
    // The bin npm linked reads the store the app wrote.
    const bin = path.join(app, 'node_modules', '.bin', 'laptime');
    t.is(sh(bin, ['--version'], app).trim(), JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8')).version);
    const stats = sh(bin, ['stats', '--dir', path.join(work, 'store'), '--json'], app);
    t.deepEqual(
      stats.trim().split('\n').map((l) => (JSON.parse(l) as { name: string }).name),
      ['Service.find', 'packed.add'],
    );
    // The shipped declarations type a consumer's code (which has Node's types, as any Node app
    // written in TypeScript does), as ESM and as CommonJS, with the library's .d.ts checked too.
    const consumer = `
      import { capture, open, type OpenOptions, type StatsReport } from 'laptime';
      const options: OpenOptions = { dir: './.laptime' };
      const store = open(options);
      const double = capture((n: number) => n * 2, 'double');
      const twice: number = double(21);
      export async function report(): Promise<StatsReport> { void twice; return store.stats(); }
    `;
    fs.writeFileSync(path.join(app, 'consumer.mts'), consumer);
    fs.writeFileSync(path.join(app, 'consumer.cts'), consumer);
    fs.writeFileSync(path.join(app, 'wrong.mts'), "import { capture } from 'laptime';\nconst n: string = capture((x: number) => x, 'n')(1);\nvoid n;\n");
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false, lib: ['ES2023'] }, files: ['consumer.mts', 'consumer.cts'] }),
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const typed = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
    t.is(typed.status, 0, `the consumer type-checks against the installed package:\n${typed.stdout}${typed.stderr}`);
    // And the types are real: a wrong use is an error.
    const wrong = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', 'wrong.mts'], { cwd: app, encoding: 'utf8' });
    t.regex(wrong.stdout, /wrong\.mts.*TS2322/, 'a number assigned to a string is caught');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
