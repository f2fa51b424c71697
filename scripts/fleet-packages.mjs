#!/usr/bin/env node
// The prebuilt `laptime-fleet` program on npm: one package per platform, `laptime-fleet-<triple>`
// (fleet-npm/<triple>/: the program alone, npm `os`/`cpu`/`libc` as the addon's package for the same
// triple), and `laptime-fleet` (fleet-npm/laptime-fleet/), which a fleet host installs beside
// laptime and which pulls in the one package that fits the machine as an optional dependency. An
// app that only records installs neither. `laptime ship|index|...` and `open({ ship })` find the
// program there (src/fleet-program.ts).
//
//   node scripts/fleet-packages.mjs write [DIR] [VERSION]  (re)write every manifest in DIR (default
//                                                          fleet-npm/) for VERSION (default package.json's)
//   node scripts/fleet-packages.mjs stage RUST_TARGET BINARY   copy a built program into its package
//   node scripts/fleet-packages.mjs publish                    npm publish every platform package that
//                                                              holds its program, then laptime-fleet
//
// __test__/platforms.test.ts checks the committed manifests against `write` and the lookup.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const platform = createRequire(import.meta.url)('./platform.cjs');
const rootManifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const { fleetTriples } = platform;

function manifests(version) {
  const out = {};
  for (const triple of fleetTriples()) {
    const addon = JSON.parse(readFileSync(path.join(root, 'npm', triple, 'package.json'), 'utf8'));
    out[triple] = {
      name: platform.fleetPackageOf(triple),
      version,
      description: `laptime's fleet program (laptime-fleet: ship, index, ingest, coordinate) for ${triple}; installed by the laptime-fleet package, not used directly.`,
      license: rootManifest.license,
      os: addon.os,
      cpu: addon.cpu,
      ...(addon.libc === undefined ? {} : { libc: addon.libc }),
      files: [platform.fleetProgramOf(triple)],
    };
  }
  out['laptime-fleet'] = {
    name: 'laptime-fleet',
    version,
    description: "laptime's fleet program, prebuilt: install it beside laptime on hosts that run `laptime ship`, `index`, `ingest` or `coordinate`, or open stores with the ship option (README \"Running a fleet\").",
    license: rootManifest.license,
    files: ['README.md'],
    optionalDependencies: Object.fromEntries(fleetTriples().map((t) => [platform.fleetPackageOf(t), version])),
  };
  return out;
}

function write(dir = path.join(root, 'fleet-npm'), version = rootManifest.version) {
  for (const [folder, manifest] of Object.entries(manifests(version))) {
    mkdirSync(path.join(dir, folder), { recursive: true });
    writeFileSync(path.join(dir, folder, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
}

function stage(target, binary) {
  const triple = platform.tripleOfRustTarget(target);
  if (triple === null || !fleetTriples().includes(triple)) throw new Error(`no fleet package for the Rust target ${target} (published: ${fleetTriples().join(', ')})`);
  const dest = path.join(root, 'fleet-npm', triple, platform.fleetProgramOf(triple));
  copyFileSync(binary, dest);
  chmodSync(dest, 0o755);
  console.log(`fleet-packages: ${binary} -> ${dest}`);
}

function publish() {
  write();
  for (const triple of fleetTriples()) {
    const dir = path.join(root, 'fleet-npm', triple);
    const program = platform.fleetProgramOf(triple);
    if (!existsSync(path.join(dir, program))) throw new Error(`${dir} has no ${program}: stage every target before publishing`);
    execFileSync('npm', ['publish', '--provenance', '--access', 'public'], { cwd: dir, stdio: 'inherit' });
  }
  execFileSync('npm', ['publish', '--provenance', '--access', 'public'], { cwd: path.join(root, 'fleet-npm', 'laptime-fleet'), stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, a, b] = process.argv.slice(2);
  if (command === 'write') write(a, b);
  else if (command === 'stage' && a && b) stage(a, b);
  else if (command === 'publish') publish();
  else {
    console.error('usage: node scripts/fleet-packages.mjs write [DIR] [VERSION] | stage RUST_TARGET BINARY | publish');
    process.exit(2);
  }
}
