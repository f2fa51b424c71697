#!/usr/bin/env node
// `npm run bench:ingest:rust`: builds and runs bench/ingest-rust (laptime's writer against DuckDB's
// appender, both from Rust). DuckDB is not compiled: the crate links the libduckdb shared library
// that @duckdb/node-bindings-<platform>-<arch> ships in node_modules (the version the duckdb crate
// pin expects), found through DUCKDB_LIB_DIR. Environment: LAPTIME_BENCH_EVENTS, LAPTIME_BENCH_ROUNDS,
// LAPTIME_BENCH_TMP (passed on). Set DUCKDB_LIB_DIR yourself to link another libduckdb.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const crate = path.join(root, 'bench', 'ingest-rust');
const libDir =
  process.env.DUCKDB_LIB_DIR ?? path.join(root, 'node_modules', '@duckdb', `node-bindings-${process.platform}-${process.arch}`);
const libName = process.platform === 'darwin' ? 'libduckdb.dylib' : process.platform === 'win32' ? 'duckdb.dll' : 'libduckdb.so';
if (!existsSync(path.join(libDir, libName))) {
  console.error(`bench:ingest:rust: no ${libName} in ${libDir} (run npm install, or set DUCKDB_LIB_DIR to a DuckDB 1.5.6 library)`);
  process.exit(1);
}
const env = { ...process.env, DUCKDB_LIB_DIR: libDir, CARGO_TARGET_DIR: path.join(crate, 'target') };
const build = spawnSync('cargo', ['build', '--release', '-q', '--manifest-path', path.join(crate, 'Cargo.toml')], { stdio: 'inherit', env });
if (build.status !== 0) process.exit(build.status ?? 1);
const binary = path.join(crate, 'target', 'release', process.platform === 'win32' ? 'laptime-ingest-bench.exe' : 'laptime-ingest-bench');
const loaderVar = process.platform === 'darwin' ? 'DYLD_LIBRARY_PATH' : 'LD_LIBRARY_PATH';
const loaderPath = [libDir, process.env[loaderVar]].filter(Boolean).join(path.delimiter);
const run = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit', env: { ...env, [loaderVar]: loaderPath } });
process.exit(run.status ?? 1);
