/**
 * `laptime topic | ship | index | ingest | coordinate | read-server`: the fleet's processes. They are the
 * `laptime-fleet` program (Rust, linked with librdkafka; not part of the Node addon, so an app
 * that only records never loads Kafka's client). This module finds that program and runs it with
 * the arguments as given, passing stdio, signals and the exit code through.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';

/** The commands `laptime` hands to `laptime-fleet`. */
export const FLEET_COMMANDS: readonly string[] = ['topic', 'ship', 'index', 'ingest', 'coordinate', 'read-server'];

const PROGRAM = process.platform === 'win32' ? 'laptime-fleet.exe' : 'laptime-fleet';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where to look for `laptime-fleet`: the environment, and the laptime package's root. */
export interface FleetLookup {
  env: NodeJS.ProcessEnv;
  root: string;
}

const PACKAGE_LOOKUP: FleetLookup = { env: process.env, root: path.resolve(__dirname, '..', '..') };

/**
 * Where `laptime-fleet` is: `$LAPTIME_FLEET_BIN`, the package's `native/` (a prebuilt copy),
 * a source checkout's `target/release/` (`npm run build:fleet`), then `PATH`. `null` when none
 * has it; the places looked at are added to `tried`.
 */
export function findFleetProgram(lookup: FleetLookup = PACKAGE_LOOKUP, tried: string[] = []): string | null {
  const { env, root } = lookup;
  const candidates = [
    ...(env.LAPTIME_FLEET_BIN !== undefined && env.LAPTIME_FLEET_BIN !== '' ? [env.LAPTIME_FLEET_BIN] : []),
    path.join(root, 'native', PROGRAM),
    path.join(root, 'target', 'release', PROGRAM),
    ...(env.PATH ?? '').split(path.delimiter).filter((d) => d !== '').map((d) => path.join(d, PROGRAM)),
  ];
  for (const file of candidates) {
    tried.push(file);
    if (executable(file)) return file;
  }
  return null;
}

/** Run `laptime-fleet <args>`; resolves to its exit code (1 with a message when it cannot start). */
export function runFleetProgram(args: readonly string[], err: (text: string) => void, lookup: FleetLookup = PACKAGE_LOOKUP): Promise<number> {
  const tried: string[] = [];
  const program = findFleetProgram(lookup, tried);
  if (program === null) {
    const inPackage = tried.filter((f) => f.startsWith(lookup.root));
    err(
      `laptime: \`laptime ${args[0] ?? ''}\` runs the laptime-fleet program, which was not found (looked at $LAPTIME_FLEET_BIN, ${inPackage.join(', ')} and PATH).\n` +
        `  Build it once with \`npm run build:fleet\` in the laptime package (needs cargo >= 1.89 and a C compiler; about 5 minutes), or set LAPTIME_FLEET_BIN to a laptime-fleet binary.\n`,
    );
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const done = (code: number) => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      resolve(code);
    };
    child.on('error', (e) => {
      err(`laptime: cannot run ${program}: ${e.message}\n`);
      done(1);
    });
    // A process ended by a signal reports 128 + its number, as shells do.
    child.on('exit', (code, signal) => done(code ?? (signal === null ? 1 : 128 + (signalNumber(signal) ?? 0))));
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const n: number | undefined = osConstants.signals[signal];
  return n;
}
