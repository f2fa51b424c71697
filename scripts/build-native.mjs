#!/usr/bin/env node
// Postinstall: make sure this platform has laptime's native binding, building it from source when no
// prebuilt one is present. It never fails the installation: when the binding cannot be had it says
// why and how to fix it, and exits 0 (laptime then runs as a no-op with one warning).
//
// Order: LAPTIME_SKIP_BUILD=1 skips everything. A loadable native/laptime.<triple>.node or an
// installed laptime-<triple> package (what native/binding.cjs loads) means nothing to do. Otherwise
// build: with the napi CLI when the dev dependencies are installed (`npm run build:native`, which
// also regenerates native/binding.cjs and binding.d.ts), else with plain cargo from the crate sources
// shipped in the package, copying the library to native/laptime.<triple>.node.

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const nativeDir = join(pkgDir, 'native')
const require = createRequire(join(nativeDir, 'binding.cjs'))

const say = (msg) => process.stderr.write(`laptime: ${msg}\n`)

main()

function main() {
  if (process.env.LAPTIME_SKIP_BUILD === '1') {
    say('LAPTIME_SKIP_BUILD=1, not checking or building the native binding')
    return
  }
  const triple = platformTriple()
  if (!triple) {
    giveUp(
      `no native binding is made for ${process.platform}-${process.arch}`,
      'laptime will record nothing on this platform. Run it on Linux, macOS or Windows (x64 or arm64).',
    )
    return
  }
  const binaryName = `laptime.${triple}.node`
  const local = join(nativeDir, binaryName)
  const found = existingBinding(local, `laptime-${triple}`)
  if (found) {
    say(`native binding present (${found}), nothing to build`)
    return
  }
  say(`no prebuilt native binding for ${triple}; building it from source (takes a minute or two)`)
  if (napiCli()) {
    buildWithNapi(binaryName)
  } else {
    buildWithCargo(local)
  }
}

/** platform-arch-abi as napi names it, and as native/binding.cjs picks it at run time. */
function platformTriple() {
  const { platform, arch } = process
  switch (platform) {
    case 'linux': {
      const libc = isMusl() ? 'musl' : 'gnu'
      if (arch === 'arm') return `linux-arm-${libc}eabihf`
      return ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64', 's390x'].includes(arch) ? `linux-${arch}-${libc}` : null
    }
    case 'darwin':
      return ['x64', 'arm64'].includes(arch) ? `darwin-${arch}` : null
    case 'win32': {
      if (arch === 'x64') {
        const vars = process.config?.variables ?? {}
        const gnu = vars.shlib_suffix === 'dll.a' || vars.node_target_type === 'shared_library'
        return gnu ? 'win32-x64-gnu' : 'win32-x64-msvc'
      }
      return ['ia32', 'arm64'].includes(arch) ? `win32-${arch}-msvc` : null
    }
    case 'freebsd':
      return ['x64', 'arm64'].includes(arch) ? `freebsd-${arch}` : null
    default:
      return null
  }
}

/** musl libc, detected as napi does: a glibc process reports the glibc version it runs on. */
function isMusl() {
  if (!process.report || typeof process.report.getReport !== 'function') {
    try {
      return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
    } catch {
      return false
    }
  }
  process.report.excludeNetwork = true
  const report = process.report.getReport()
  const header = typeof report === 'string' ? JSON.parse(report).header : report.header
  return !header?.glibcVersionRuntime
}

/** Where a loadable binding is: the local file or the platform package; null if neither. */
function existingBinding(localFile, platformPackage) {
  const candidates = []
  if (existsSync(localFile)) candidates.push(localFile)
  try {
    candidates.push(require.resolve(platformPackage))
  } catch {
    // not installed (the usual case for an install from source)
  }
  for (const file of candidates) {
    try {
      require(file)
      return relative(pkgDir, file) || file
    } catch (err) {
      say(`${file} is present but does not load (${firstLine(err)}); ignoring it`)
    }
  }
  return null
}

/** The napi CLI of this package's own dev dependencies, if installed. */
function napiCli() {
  const bin = join(pkgDir, 'node_modules', '.bin')
  return ['napi', 'napi.cmd'].some((name) => existsSync(join(bin, name)))
}

/** `npm run build:native`: the release build plus regenerated loader and types. */
function buildWithNapi(binaryName) {
  const npmCli = process.env.npm_execpath
  const [cmd, args, shell] =
    npmCli && /\.[cm]?js$/.test(npmCli)
      ? [process.execPath, [npmCli, 'run', 'build:native'], false]
      : ['npm', ['run', 'build:native'], process.platform === 'win32']
  const run = spawnSync(cmd, args, { cwd: pkgDir, stdio: ['ignore', 2, 2], shell })
  if (run.error || run.status !== 0) {
    giveUp(
      `\`npm run build:native\` failed (${run.error ? run.error.message : `exit code ${run.status}`}, output above)`,
      'Fix the error shown above, then run `npm run build:native` in the laptime package.',
    )
    return
  }
  say(`built native/${binaryName}`)
}

/** `cargo build --release -p laptime-node`, then copy the library to native/laptime.<triple>.node. */
function buildWithCargo(dest) {
  const cargo = process.env.CARGO || 'cargo'
  const manifest = join(pkgDir, 'crates', 'laptime-node', 'Cargo.toml')
  if (!existsSync(manifest)) {
    giveUp(
      `the Rust sources of the binding are missing (${relative(pkgDir, manifest)})`,
      'Reinstall laptime from the npm registry or a complete tarball.',
    )
    return
  }
  const probe = spawnSync(cargo, ['--version'], { stdio: 'ignore' })
  if (probe.error || probe.status !== 0) {
    giveUp(
      'building the binding from source needs Rust, and `cargo` was not found on PATH',
      'Install Rust 1.89 or newer (https://rustup.rs), then run `npm rebuild laptime`' +
        ' (or `node scripts/build-native.mjs` in the laptime package).',
    )
    return
  }
  // Cargo's progress and diagnostics go to stderr as usual; stdout carries the JSON messages that
  // say where the library was written, wherever the target directory is configured to be. The
  // workspace's release profile keeps debug info for profiling; an installed binding needs none
  // (1.5 MB instead of 13 MB on linux-x64).
  const args = ['build', '--release', '-p', 'laptime-node', '--manifest-path', manifest]
  const slim = ['--config', 'profile.release.debug=0', '--config', 'profile.release.strip=true']
  const build = spawnSync(cargo, [...args, ...slim, '--message-format=json-render-diagnostics'], {
    cwd: pkgDir,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 << 20,
    encoding: 'utf8',
  })
  if (build.error || build.status !== 0) {
    giveUp(
      `\`cargo ${args.join(' ')}\` failed (${build.error ? build.error.message : `exit code ${build.status}`}, output above)`,
      'Fix the error shown above (a too-old Rust: run `rustup update`; no access to crates.io: build on a' +
        ' connected machine), then run `npm rebuild laptime`.',
    )
    return
  }
  const lib = builtLibrary(build.stdout)
  if (!lib) {
    giveUp('cargo finished but reported no laptime-node library', 'Run `npm rebuild laptime` to try again.')
    return
  }
  mkdirSync(dirname(dest), { recursive: true })
  copyFileSync(lib, dest)
  say(`built ${relative(pkgDir, dest)} from ${lib}`)
}

/** The cdylib path from cargo's `compiler-artifact` messages. */
function builtLibrary(jsonLines) {
  const suffix = { darwin: '.dylib', win32: '.dll' }[process.platform] ?? '.so'
  let found = null
  for (const line of jsonLines.split('\n')) {
    if (!line.startsWith('{')) continue
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      continue
    }
    if (msg.reason !== 'compiler-artifact' || msg.target?.name !== 'laptime_node') continue
    found = (msg.filenames ?? []).find((f) => f.endsWith(suffix)) ?? found
  }
  return found
}

function giveUp(what, fix) {
  say(
    `the native binding is not available: ${what}. Installation goes on, but laptime will record` +
      ` nothing (it warns once at run time). ${fix} Set LAPTIME_SKIP_BUILD=1 to skip this step.`,
  )
}

function firstLine(err) {
  return String(err?.message ?? err).split('\n')[0]
}
