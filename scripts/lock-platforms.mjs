#!/usr/bin/env node
// Completes package-lock.json with the per-platform optional packages the registry mirror of our
// build machines does not serve (e.g. @duckdb/node-bindings-darwin-arm64): npm install leaves them
// out of the lock, and `npm ci` then refuses the lock as out of sync. Each missing entry gets its
// version, registry URL and the os/cpu/libc that its name states, so `npm ci` on this platform skips
// it without fetching it, and on the platform it is for installs it from the public registry.
//
// Run after `npm install` changes a dependency that has such packages: node scripts/lock-platforms.mjs
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lockPath = path.join(root, 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

const OS = { darwin: 'darwin', linux: 'linux', win32: 'win32', freebsd: 'freebsd' };
const CPU = { arm64: 'arm64', x64: 'x64', ia32: 'ia32', arm: 'arm' };

/** `{ os, cpu, libc? }` from a name such as `pkg-linux-arm64-musl`, or null. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  for (let i = 0; i + 1 < parts.length; i++) {
    if (OS[parts[i]] && CPU[parts[i + 1]]) {
      const tail = parts[i + 2];
      const platform = { os: [OS[parts[i]]], cpu: [CPU[parts[i + 1]]] };
      if (parts[i] === 'linux') platform.libc = [tail === 'musl' ? 'musl' : 'glibc'];
      return platform;
    }
  }
  return null;
}

let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${location}/node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (packages[nested] || packages[hoisted]) continue;
    const platform = platformOf(dep);
    if (platform === null) {
      console.error(`lock-platforms: ${dep} (optional dependency of ${location}) is missing and names no platform; left alone`);
      continue;
    }
    const base = dep.split('/').pop();
    packages[hoisted] = {
      version,
      resolved: `https://registry.npmjs.org/${dep}/-/${base}-${version}.tgz`,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...platform,
    };
    added++;
    console.log(`lock-platforms: added ${dep}@${version} (${platform.os}/${platform.cpu}${platform.libc ? `/${platform.libc}` : ''})`);
  }
}
if (added > 0) {
  lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
  fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(`lock-platforms: ${added} entr${added === 1 ? 'y' : 'ies'} added`);
