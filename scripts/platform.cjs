'use strict';
// Which prebuilt binary fits this machine, named as napi-rs names it (`linux-x64-gnu`, ...), and
// what to tell a user when none loads. Plain CommonJS because it runs before the TypeScript layer is
// compiled (scripts/build-native.mjs in a fresh checkout) as well as from it (src/native.ts).
// The rules are those of the generated loader native/binding.cjs; __test__/packaging.test.ts runs
// that loader against these answers for every target in package.json.

const { readFileSync } = require('node:fs');
const path = require('node:path');

const PKG_DIR = path.join(__dirname, '..');
/** Measured on a 2-core VM from a packed install: 4 min 28 s with 63 crates to download on a busy machine, 2 min 24 s with them cached (BENCHMARKS.md "Installing"). */
const SOURCE_BUILD_ESTIMATE = 'about 3 to 5 minutes on 2 cores for a first build, less on more cores';

function packageJson() {
  return JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
}

/** `x86_64-unknown-linux-gnu` -> `linux-x64-gnu`: the napi suffix of a Rust target, or null. */
function tripleOfRustTarget(target) {
  const arch = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[target.split('-')[0]];
  if (!arch) return null;
  if (target.endsWith('-apple-darwin')) return `darwin-${arch}`;
  if (target.endsWith('-pc-windows-msvc')) return `win32-${arch}-msvc`;
  if (target.endsWith('-pc-windows-gnu')) return `win32-${arch}-gnu`;
  const linux = /-unknown-linux-(gnu|musl)$/.exec(target);
  if (linux) return `linux-${arch}-${linux[1]}`;
  return null;
}

/** The triples laptime publishes a binary package for (`laptime-<triple>`), from package.json. */
function prebuiltTriples() {
  const targets = packageJson().napi?.targets ?? [];
  return targets.map(tripleOfRustTarget).filter((t) => t !== null);
}

/**
 * The triple napi's loader looks for on a machine: `{ platform, arch, musl, windowsGnu }` as
 * `process` reports them. Null where the loader has no binary name at all.
 */
function tripleOf({ platform, arch, musl = false, windowsGnu = false }) {
  switch (platform) {
    case 'linux': {
      const libc = musl ? 'musl' : 'gnu';
      if (arch === 'arm') return `linux-arm-${libc}eabihf`;
      return ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64', 's390x'].includes(arch) ? `linux-${arch}-${libc}` : null;
    }
    case 'darwin':
      return ['x64', 'arm64'].includes(arch) ? `darwin-${arch}` : null;
    case 'win32':
      if (arch === 'x64') return windowsGnu ? 'win32-x64-gnu' : 'win32-x64-msvc';
      return ['ia32', 'arm64'].includes(arch) ? `win32-${arch}-msvc` : null;
    case 'freebsd':
      return ['x64', 'arm64'].includes(arch) ? `freebsd-${arch}` : null;
    default:
      return null;
  }
}

/** musl libc: a glibc process reports the glibc version it runs on; a musl one does not. */
function isMusl() {
  if (process.platform !== 'linux') return false;
  if (process.report && typeof process.report.getReport === 'function') {
    process.report.excludeNetwork = true;
    const report = process.report.getReport();
    const header = typeof report === 'string' ? JSON.parse(report).header : report.header;
    return !header?.glibcVersionRuntime;
  }
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    return false;
  }
}

function currentTriple() {
  const vars = process.config?.variables ?? {};
  return tripleOf({
    platform: process.platform,
    arch: process.arch,
    musl: isMusl(),
    windowsGnu: vars.shlib_suffix === 'dll.a' || vars.node_target_type === 'shared_library',
  });
}

/** The command that builds the binding from the Rust sources in the package. */
const BUILD_COMMAND = 'npx laptime build-native';

/**
 * Why no binding loaded on `triple` (null: a platform napi has no name for) and what to do, in one
 * paragraph. `prebuilt` is the list of published triples.
 */
function explainMissing(triple, prebuilt = prebuiltTriples()) {
  const where = `${process.platform}-${process.arch}${triple && triple.startsWith('linux-') ? ` (${triple.endsWith('musl') ? 'musl' : 'glibc'})` : ''}`;
  const fromSource =
    `build it from the Rust sources in the package with \`${BUILD_COMMAND}\` (needs Rust 1.89 or newer, https://rustup.rs; ` +
    `takes ${SOURCE_BUILD_ESTIMATE})`;
  if (triple && prebuilt.includes(triple)) {
    const version = packageJson().version;
    return (
      `the prebuilt binary package laptime-${triple} for ${where} is not installed or does not load. ` +
      `npm installs it as an optional dependency of laptime: reinstall without --omit=optional; if a lock file ` +
      `made on another platform left it out, \`npm install laptime-${triple}@${version}\` adds it. Or ${fromSource}`
    );
  }
  return (
    `laptime publishes no prebuilt binary for ${where} (prebuilt: ${prebuilt.join(', ')}); ${fromSource}`
  );
}

/** The fleet program's file name on the platform of `triple`. */
function fleetProgramOf(triple) {
  return triple.startsWith('win32-') ? 'laptime-fleet.exe' : 'laptime-fleet';
}

/** The triples the fleet program is published for: the addon's, but Windows (the program's signal handling is Unix-only so far). */
function fleetTriples() {
  return prebuiltTriples().filter((t) => !t.startsWith('win32-'));
}

/** The npm package holding the prebuilt fleet program for `triple` (scripts/fleet-packages.mjs). */
function fleetPackageOf(triple) {
  return `laptime-fleet-${triple}`;
}

module.exports = {
  BUILD_COMMAND,
  fleetPackageOf,
  fleetProgramOf,
  fleetTriples,
  SOURCE_BUILD_ESTIMATE,
  currentTriple,
  explainMissing,
  isMusl,
  prebuiltTriples,
  tripleOf,
  tripleOfRustTarget,
};
