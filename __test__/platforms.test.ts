/**
 * Every target in package.json `napi.targets` has a platform package whose npm `os`/`cpu`/`libc`
 * fit it, and the generated loader (native/binding.cjs, run here in a sandbox that pretends to be
 * each machine) asks for exactly that package; scripts/platform.cjs names the same triple, and a
 * machine without a prebuilt binary is told so with the way out. The optionalDependencies that
 * `napi pre-publish` writes at release time (the workflow's step) are checked by running it on a
 * copy of the manifests.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { fleetProgram } from './helpers/fleet-build';
import { MODE } from './helpers/mode';

const root = path.join(__dirname, '..');
const once = MODE === 'standard' ? test : test.skip;

interface PackageManifest {
  name: string;
  version: string;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  main?: string;
  files?: string[];
  optionalDependencies?: Record<string, string>;
  napi: { binaryName: string; targets: string[] };
}

interface Platform {
  BUILD_COMMAND: string;
  tripleOf(m: { platform: string; arch: string; musl?: boolean; windowsGnu?: boolean }): string | null;
  tripleOfRustTarget(target: string): string | null;
  prebuiltTriples(): string[];
  explainMissing(triple: string | null, prebuilt?: string[]): string;
}

const platform = require('../scripts/platform.cjs') as Platform;
const rootManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageManifest;

/** The machine each Rust target runs on, as Node's `process` describes it. */
function machineOf(target: string): { platform: string; arch: string; musl: boolean } {
  const arch = target.startsWith('x86_64') ? 'x64' : target.startsWith('aarch64') ? 'arm64' : 'unknown';
  const platformName = target.includes('linux') ? 'linux' : target.includes('darwin') ? 'darwin' : target.includes('windows') ? 'win32' : 'unknown';
  return { platform: platformName, arch, musl: target.endsWith('musl') };
}

/**
 * Run the generated loader as if on `machine`: every module it asks for is recorded and reported
 * missing, so it walks its whole list for that machine and then throws its "not found" error.
 */
function loaderRequests(machine: { platform: string; arch: string; musl: boolean }): { requested: string[]; error: unknown } {
  const source = fs.readFileSync(path.join(root, 'native', 'binding.cjs'), 'utf8');
  const requested: string[] = [];
  const fakeRequire = (id: string): unknown => {
    if (id === 'fs' || id === 'node:fs') {
      // musl is detected from /usr/bin/ldd first.
      return { readFileSync: () => (machine.musl ? 'musl libc (x86_64)' : 'ldd (GNU libc) 2.36') };
    }
    if (id === 'child_process') return { execSync: () => '' };
    requested.push(id);
    const err = new Error(`Cannot find module '${id}'`) as Error & { code: string };
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  };
  fakeRequire.resolve = (id: string): never => {
    const err = new Error(`Cannot find module '${id}'`) as Error & { code: string };
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  };
  const fakeProcess = {
    platform: machine.platform,
    arch: machine.arch,
    env: {},
    config: { variables: {} },
    report: { getReport: () => ({ header: machine.musl ? {} : { glibcVersionRuntime: '2.36' }, sharedObjects: [] }) },
    versions: process.versions,
  };
  const module = { exports: {} as Record<string, unknown> };
  let error: unknown;
  try {
    vm.runInNewContext(source, { require: fakeRequire, process: fakeProcess, module, exports: module.exports, __dirname: path.join(root, 'native'), __filename: path.join(root, 'native', 'binding.cjs'), console });
  } catch (err) {
    error = err;
  }
  return { requested, error };
}

once('every napi target has a platform package whose os/cpu/libc fit it, and the loader asks for that package first', (t) => {
  const targets = rootManifest.napi.targets;
  t.is(targets.length, 7);
  const dirs = fs.readdirSync(path.join(root, 'npm'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  t.deepEqual(dirs, targets.map((target) => platform.tripleOfRustTarget(target)).sort(), 'one npm/<triple> folder per target, no other');
  for (const target of targets) {
    const machine = machineOf(target);
    const triple = platform.tripleOf(machine);
    t.is(triple, platform.tripleOfRustTarget(target), `${target}: platform.cjs names the same triple both ways`);
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'npm', triple ?? '', 'package.json'), 'utf8')) as PackageManifest;
    const binary = `${rootManifest.napi.binaryName}.${triple}.node`;
    t.is(manifest.name, `laptime-${triple}`, target);
    t.is(manifest.version, rootManifest.version, `${target}: version follows the root package`);
    t.deepEqual(manifest.os, [machine.platform], `${target}: os`);
    t.deepEqual(manifest.cpu, [machine.arch], `${target}: cpu`);
    t.deepEqual(manifest.libc, machine.platform === 'linux' ? [machine.musl ? 'musl' : 'glibc'] : undefined, `${target}: libc only on Linux`);
    t.is(manifest.main, binary, `${target}: main is the binary`);
    t.deepEqual(manifest.files, [binary], `${target}: the package holds only the binary`);
    const { requested: all, error } = loaderRequests(machine);
    // On macOS the loader tries a universal binary first (laptime publishes none).
    const requested = all.filter((id) => !id.includes('darwin-universal'));
    t.deepEqual(requested.slice(0, 2), [`./${binary}`, manifest.name], `${target}: the loader tries the local file, then the package`);
    t.false(requested.some((id) => id.startsWith('laptime-') && id !== manifest.name && !id.endsWith('/package.json') && !id.includes('wasm32-wasi')), `${target}: no other platform's package is asked for: ${requested.join(', ')}`);
    t.truthy(error, `${target}: nothing loads in the sandbox`);
  }
});

once('a machine without a prebuilt binary is told so and how to build one; a missing package names itself', (t) => {
  const prebuilt = platform.prebuiltTriples();
  t.is(prebuilt.length, 7);
  // FreeBSD and linux-riscv64 have napi names but no laptime package; AIX has no napi name at all.
  for (const machine of [{ platform: 'freebsd', arch: 'x64' }, { platform: 'linux', arch: 'riscv64' }, { platform: 'aix', arch: 'ppc64' }]) {
    const message = platform.explainMissing(platform.tripleOf(machine), prebuilt);
    t.regex(message, /publishes no prebuilt binary/, JSON.stringify(machine));
    t.true(message.includes(platform.BUILD_COMMAND) && message.includes('Rust 1.89'), message);
    t.true(message.includes(prebuilt.join(', ')), 'the supported list is named');
  }
  const missing = platform.explainMissing('linux-arm64-musl', prebuilt);
  t.true(missing.includes('laptime-linux-arm64-musl') && missing.includes(`laptime-linux-arm64-musl@${rootManifest.version}`), missing);
  t.false(/npm has a bug/.test(missing));
});

once('the addon that cannot load warns with the package that fits this machine, not an npm bug', (t) => {
  const result = spawnSync(process.execPath, ['-e', "const l = require('./index.js'); l.capture((a) => a, 'x')(1)"], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'laptime-no-such-binding.node') },
  });
  t.is(result.status, 0, result.stderr);
  const triple = (require('../scripts/platform.cjs') as { currentTriple(): string | null }).currentTriple();
  t.regex(result.stderr, /LAPTIME_NATIVE_UNAVAILABLE/);
  t.true(result.stderr.includes(`laptime-${triple ?? ''}`), result.stderr);
  t.true(result.stderr.includes('npx laptime build-native'), result.stderr);
  t.false(result.stderr.includes('npm has a bug'), result.stderr);
});

/** `napi pre-publish` from the napi CLI, as the release workflow runs it (fetched by npx). */
function napiPrePublish(cwd: string): ReturnType<typeof spawnSync> {
  return spawnSync('npx', ['-y', '-p', '@napi-rs/cli@3.10.12', 'napi', 'pre-publish', '-t', 'npm', '--no-gh-release', '--skip-optional-publish'], {
    cwd,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, npm_config_yes: 'true' },
  });
}

once('napi pre-publish writes one exact-version optional dependency per target, the platform packages on the same version', (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-prepublish-'));
  try {
    // A release bumps the version first; the copies must follow it.
    const manifest = { ...rootManifest, version: '0.2.0' };
    fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify(manifest, null, 2));
    fs.cpSync(path.join(root, 'npm'), path.join(work, 'npm'), { recursive: true });
    for (const dir of fs.readdirSync(path.join(work, 'npm'))) {
      // `napi artifacts` puts each built binary here before pre-publish; an empty stand-in will do.
      if (fs.statSync(path.join(work, 'npm', dir)).isDirectory()) fs.writeFileSync(path.join(work, 'npm', dir, `laptime.${dir}.node`), '');
    }
    const r = napiPrePublish(work);
    if (r.error !== undefined || r.status !== 0) {
      // Only a registry that cannot be reached excuses this test, and only outside CI.
      const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|network/i.test(String(r.stderr));
      if (offline && process.env.CI === undefined) {
        t.log(`napi CLI not reachable: ${String(r.stderr).slice(0, 300)}`);
        t.pass();
        return;
      }
      t.fail(`napi pre-publish failed (${String(r.status)}): ${String(r.stdout)}\n${String(r.stderr)}`);
      return;
    }
    const written = JSON.parse(fs.readFileSync(path.join(work, 'package.json'), 'utf8')) as PackageManifest;
    const expected = Object.fromEntries(rootManifest.napi.targets.map((target) => [`laptime-${platform.tripleOfRustTarget(target) ?? ''}`, '0.2.0']));
    t.deepEqual(written.optionalDependencies, expected);
    for (const dir of fs.readdirSync(path.join(work, 'npm'))) {
      if (!fs.statSync(path.join(work, 'npm', dir)).isDirectory()) continue;
      const m = JSON.parse(fs.readFileSync(path.join(work, 'npm', dir, 'package.json'), 'utf8')) as PackageManifest;
      t.is(m.version, '0.2.0', `npm/${dir} follows the version`);
    }
    // The committed manifest stays without them: they would make `npm ci` fetch unpublished packages.
    t.is(rootManifest.optionalDependencies, undefined);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

once('the release workflow builds and tests exactly the targets package.json lists, and publishes with provenance', (t) => {
  const workflow = fs.readFileSync(path.join(root, '.github', 'workflows', 'release.yml'), 'utf8');
  const job = (name: string): string => {
    const start = workflow.indexOf(`\n  ${name}:\n`);
    t.true(start >= 0, `job ${name} exists`);
    const next = workflow.slice(start + 1).search(/\n {2}[a-z-]+:\n/);
    return next < 0 ? workflow.slice(start) : workflow.slice(start, start + 1 + next);
  };
  const targetsIn = (text: string): string[] => [...new Set([...text.matchAll(/target: ([a-z0-9_-]+)/g)].map((m) => m[1] ?? ''))].sort();
  const listedIn = (text: string): string[] => [...new Set([...text.matchAll(/^\s+- ([a-z0-9_]+-[a-z0-9_-]+)$/gm)].map((m) => m[1] ?? '').filter((x) => rootManifest.napi.targets.includes(x) || x.includes('-unknown-') || x.includes('-apple-') || x.includes('-pc-')))].sort();
  const wanted = [...rootManifest.napi.targets].sort();
  t.deepEqual(targetsIn(job('build')), wanted, 'build matrix');
  t.deepEqual(targetsIn(job('test')), wanted, 'test matrix (runner per target)');
  t.deepEqual(listedIn(job('test')), wanted, 'test matrix (target axis)');
  const publish = job('publish');
  t.regex(publish, /id-token: write/);
  t.regex(publish, /napi artifacts/);
  t.regex(publish, /napi pre-publish -t npm/);
  t.regex(publish, /npm publish --provenance/);
  t.regex(job('build'), /upload-artifact[\s\S]*name: bindings-\$\{\{ matrix\.target \}\}/);
  // The fleet program: every addon target but Windows, each staged into its package and published.
  const fleetTargets = wanted.filter((x) => !x.includes('windows'));
  t.deepEqual(targetsIn(job('fleet')), fleetTargets, 'fleet program matrix');
  t.regex(job('fleet'), /upload-artifact[\s\S]*name: fleet-\$\{\{ matrix\.target \}\}/);
  t.regex(publish, /needs: \[test, fleet\]/);
  t.regex(publish, /fleet-packages\.mjs stage[\s\S]*fleet-packages\.mjs publish/);
});

once('the release smoke test passes with this machine\'s binding', (t) => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'smoke.cjs')], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}${r.stderr}`);
  t.regex(r.stdout, /laptime smoke test passed/);
});

once('the prebuilt fleet program has one package per published platform, as scripts/fleet-packages.mjs writes them', (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-fleet-packages-'));
  try {
    const write = (dir: string, version?: string) => {
      const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'fleet-packages.mjs'), 'write', dir, ...(version === undefined ? [] : [version])], { encoding: 'utf8' });
      t.is(r.status, 0, r.stderr);
    };
    write(work);
    const committed = fs.readdirSync(path.join(root, 'fleet-npm'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    t.deepEqual(fs.readdirSync(work).sort(), committed, 'the committed folders are the written ones');
    for (const folder of committed) {
      t.is(fs.readFileSync(path.join(root, 'fleet-npm', folder, 'package.json'), 'utf8'), fs.readFileSync(path.join(work, folder, 'package.json'), 'utf8'), `fleet-npm/${folder}/package.json is what the script writes`);
    }
    const triples = platform.prebuiltTriples().filter((x) => !x.startsWith('win32-'));
    t.is(triples.length, 6);
    t.deepEqual(committed, [...triples, 'laptime-fleet'].sort());
    for (const triple of triples) {
      const fleet = JSON.parse(fs.readFileSync(path.join(root, 'fleet-npm', triple, 'package.json'), 'utf8')) as PackageManifest;
      const addon = JSON.parse(fs.readFileSync(path.join(root, 'npm', triple, 'package.json'), 'utf8')) as PackageManifest;
      t.is(fleet.name, `laptime-fleet-${triple}`);
      t.deepEqual([fleet.os, fleet.cpu, fleet.libc], [addon.os, addon.cpu, addon.libc], `${triple}: installed where the addon's package installs`);
      t.deepEqual(fleet.files, ['laptime-fleet'], `${triple}: the program alone`);
      t.is(fleet.version, rootManifest.version);
    }
    const meta = JSON.parse(fs.readFileSync(path.join(root, 'fleet-npm', 'laptime-fleet', 'package.json'), 'utf8')) as PackageManifest;
    t.deepEqual(meta.optionalDependencies, Object.fromEntries(triples.map((x) => [`laptime-fleet-${x}`, rootManifest.version])));
    t.is(rootManifest.optionalDependencies?.['laptime-fleet'], undefined, 'an app that only records does not download the fleet program');
    // A release writes them for its version.
    write(work, '0.2.0');
    const released = JSON.parse(fs.readFileSync(path.join(work, 'laptime-fleet', 'package.json'), 'utf8')) as PackageManifest;
    t.true(Object.values(released.optionalDependencies ?? {}).every((v) => v === '0.2.0'));
    t.is((JSON.parse(fs.readFileSync(path.join(work, 'linux-arm64-musl', 'package.json'), 'utf8')) as PackageManifest).version, '0.2.0');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

once('laptime finds the fleet program in the installed platform package, and says how to get it where it is not', (t) => {
  const { findFleetProgram, fleetProgramMissing } = require('../src/fleet-program') as typeof import('../src/fleet-program');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-fleet-lookup-'));
  try {
    const laptimeRoot = path.join(work, 'node_modules', 'laptime');
    fs.mkdirSync(laptimeRoot, { recursive: true });
    const pkg = path.join(work, 'node_modules', 'laptime-fleet-linux-x64-gnu');
    fs.mkdirSync(pkg, { recursive: true });
    fs.copyFileSync(path.join(root, 'fleet-npm', 'linux-x64-gnu', 'package.json'), path.join(pkg, 'package.json'));
    // The real program of this checkout, so the package's copy is shown to run.
    fs.copyFileSync(fleetProgram(), path.join(pkg, 'laptime-fleet'));
    fs.chmodSync(path.join(pkg, 'laptime-fleet'), 0o755);

    const found = findFleetProgram({ env: {}, root: laptimeRoot, triple: 'linux-x64-gnu' });
    t.is(found, path.join(pkg, 'laptime-fleet'));
    if (process.platform === 'linux' && process.arch === 'x64') {
      const run = spawnSync(found!, ['help'], { encoding: 'utf8' });
      t.is(run.status, 0, run.stderr);
      t.regex(run.stdout, /laptime-fleet ship +--dir DIR/);
    }
    // $LAPTIME_FLEET_BIN, when set, decides alone.
    t.is(findFleetProgram({ env: { LAPTIME_FLEET_BIN: path.join(work, 'nothing') }, root: laptimeRoot, triple: 'linux-x64-gnu' }), null);

    // Another machine: its package is not installed; it is told which to install.
    const tried: string[] = [];
    t.is(findFleetProgram({ env: {}, root: laptimeRoot, triple: 'darwin-arm64' }, tried), null);
    const missing = fleetProgramMissing('`laptime index`', tried, { env: {}, root: laptimeRoot, triple: 'darwin-arm64' });
    t.regex(missing, /looked at \$LAPTIME_FLEET_BIN, the package laptime-fleet-darwin-arm64, .*native\/laptime-fleet/);
    t.regex(missing, /Install the prebuilt program for darwin-arm64: `npm install laptime-fleet`/);
    // Windows and unknown platforms have no prebuilt program: build it.
    const windows = fleetProgramMissing('`laptime index`', [], { env: {}, root: laptimeRoot, triple: 'win32-x64-msvc' });
    t.regex(windows, /No prebuilt program is published for win32-x64-msvc \(prebuilt: linux-x64-gnu, .*darwin-arm64\): build it once with `npm run build:fleet`/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
