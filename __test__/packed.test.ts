/**
 * The packaged path, as a user gets it: `npm pack` the laptime package and this platform's binary
 * package (npm/<triple>, holding the built addon), install both tarballs into a fresh project outside
 * the repository, and run a captured function and a decorated method there, then read their stats
 * back. The postinstall must find the prebuilt binary and build nothing. Runs once (standard mode);
 * the packing does not depend on the decorator mode.
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
const built = fs.existsSync(path.join(root, 'index.js'));
const runs = MODE === 'standard' && binary !== undefined && built ? test : test.skip;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

runs('npm pack + install of the package and its platform binary records and reads back stats', (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-packed-'));
  try {
    const triple = (binary ?? '').replace(/^laptime\./, '').replace(/\.node$/, '');
    // This platform's binary package, as `napi prepublish` would publish it.
    const platformSrc = path.join(root, 'npm', triple);
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
      if (dir === root) {
        const files = first.files.map((f) => f.path);
        t.true(files.includes('index.js') && files.includes('index.mjs') && files.includes('index.d.ts'), 'entry points packed');
        t.true(files.includes('native/binding.cjs') && files.includes('crates/laptime-core/src/lib.rs'), 'loader and sources packed');
        t.false(files.some((f) => f.endsWith('.node')), 'no binary in the main package');
        for (const sub of ['otel', 'express', 'fastify', 'nest']) t.true(files.includes(`${sub}.mjs`) && files.includes(`src/${sub}.js`) && files.includes(`src/${sub}.d.ts`), `laptime/${sub} packed`);
      }
      return path.join(packs, first.filename);
    };
    const mainTgz = npmPack(root);
    const platformTgz = npmPack(platformDir);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', mainTgz, platformTgz], {
      cwd: app,
      encoding: 'utf8',
      timeout: 120_000,
    });
    t.is(install.status, 0, install.stderr);
    t.regex(`${install.stdout}\n${install.stderr}`, /native binding present/, 'postinstall found the prebuilt binary and built nothing');

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
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
