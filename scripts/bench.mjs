#!/usr/bin/env node
// `npm run bench`: the HTTP middleware bench, then the capture-overhead bench, in that order (each
// prints its own tables). `--quick` goes to both (smoke runs); every other argument is the capture
// bench's (`--seconds=N`, `--rate=N`, `--sustained`, `--out=FILE`); use `npm run bench:http --
// ...` for the HTTP bench's own options.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');

function run(script, scriptArgs) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', script), ...scriptArgs], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!args.includes('--sustained')) run('http-overhead.mts', quick ? ['--quick'] : []);
run('capture-overhead.mts', args);
