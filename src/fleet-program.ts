/**
 * Finding the `laptime-fleet` program (Rust, linked with librdkafka; kept out of the Node addon so
 * an app that only records never loads Kafka's client): the CLI's fleet commands run it, and a
 * store opened with `ship` runs its `ship` command beside the app.
 */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

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

/** The installed laptime package's own lookup. */
export const PACKAGE_LOOKUP: FleetLookup = { env: process.env, root: path.resolve(__dirname, '..') };

/**
 * Where `laptime-fleet` is: `$LAPTIME_FLEET_BIN` alone when it is set (a path given on purpose
 * that does not run is an error, not a reason to run another copy); else the package's `native/`
 * (a prebuilt copy), a source checkout's `target/release/` (`npm run build:fleet`), then `PATH`.
 * `null` when none has it; the places looked at are added to `tried`.
 */
export function findFleetProgram(lookup: FleetLookup = PACKAGE_LOOKUP, tried: string[] = []): string | null {
  const { env, root } = lookup;
  if (env.LAPTIME_FLEET_BIN !== undefined && env.LAPTIME_FLEET_BIN !== '') {
    tried.push(env.LAPTIME_FLEET_BIN);
    return executable(env.LAPTIME_FLEET_BIN) ? env.LAPTIME_FLEET_BIN : null;
  }
  const candidates = [
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

/** What to tell someone whose `laptime-fleet` was not found, given the places `tried`. */
export function fleetProgramMissing(what: string, tried: readonly string[], lookup: FleetLookup = PACKAGE_LOOKUP): string {
  const inPackage = tried.filter((f) => f.startsWith(lookup.root));
  const where = lookup.env.LAPTIME_FLEET_BIN ? `$LAPTIME_FLEET_BIN (${lookup.env.LAPTIME_FLEET_BIN}), which does not run` : `$LAPTIME_FLEET_BIN, ${inPackage.join(', ')} and PATH`;
  return (
    `laptime: ${what} runs the laptime-fleet program, which was not found (looked at ${where}).\n` +
    `  Build it once with \`npm run build:fleet\` in the laptime package (needs cargo >= 1.89 and a C compiler; about 5 minutes), or set LAPTIME_FLEET_BIN to a laptime-fleet binary.\n`
  );
}
