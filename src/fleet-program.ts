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
  /** The machine's napi triple (`linux-x64-gnu`, ...); default: this machine's. */
  triple?: string | null;
}

/** What scripts/platform.cjs tells about the fleet program's packages (plain CommonJS, shared with the release scripts). */
interface FleetPlatform {
  currentTriple(): string | null;
  fleetTriples(): string[];
  fleetPackageOf(triple: string): string;
  fleetProgramOf(triple: string): string;
}

function platformFacts(): FleetPlatform {
  return require('../scripts/platform.cjs') as FleetPlatform;
}

/** The triples a prebuilt fleet program is published for (scripts/platform.cjs). */
export function fleetTriples(): string[] {
  return platformFacts().fleetTriples();
}

/** The prebuilt program in the installed `laptime-fleet-<triple>` package, resolved from `root` as Node resolves packages; null when not installed. */
function fromPlatformPackage(root: string, triple: string | null, tried: string[]): string | null {
  if (triple === null) return null;
  const facts = platformFacts();
  const name = facts.fleetPackageOf(triple);
  let manifest: string;
  try {
    manifest = require.resolve(`${name}/package.json`, { paths: [root] });
  } catch {
    tried.push(`the package ${name}`);
    return null;
  }
  const file = path.join(path.dirname(manifest), facts.fleetProgramOf(triple));
  tried.push(file);
  return executable(file) ? file : null;
}

/** The installed laptime package's own lookup. */
export const PACKAGE_LOOKUP: FleetLookup = { env: process.env, root: path.resolve(__dirname, '..') };

/**
 * Where `laptime-fleet` is: `$LAPTIME_FLEET_BIN` alone when it is set (a path given on purpose
 * that does not run is an error, not a reason to run another copy); else the installed prebuilt
 * package for this machine (`laptime-fleet-<triple>`, which `npm install laptime-fleet` brings),
 * the package's `native/`, a source checkout's `target/release/` (`npm run build:fleet`), then
 * `PATH`. `null` when none has it; the places looked at are added to `tried`.
 */
export function findFleetProgram(lookup: FleetLookup = PACKAGE_LOOKUP, tried: string[] = []): string | null {
  const { env, root } = lookup;
  if (env.LAPTIME_FLEET_BIN !== undefined && env.LAPTIME_FLEET_BIN !== '') {
    tried.push(env.LAPTIME_FLEET_BIN);
    return executable(env.LAPTIME_FLEET_BIN) ? env.LAPTIME_FLEET_BIN : null;
  }
  const triple = lookup.triple === undefined ? platformFacts().currentTriple() : lookup.triple;
  const prebuilt = fromPlatformPackage(root, triple, tried);
  if (prebuilt !== null) return prebuilt;
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
  const looked = tried.filter((f) => f.startsWith(lookup.root) || f.startsWith('the package '));
  const where = lookup.env.LAPTIME_FLEET_BIN ? `$LAPTIME_FLEET_BIN (${lookup.env.LAPTIME_FLEET_BIN}), which does not run` : `$LAPTIME_FLEET_BIN, ${looked.join(', ')} and PATH`;
  const triple = lookup.triple === undefined ? platformFacts().currentTriple() : lookup.triple;
  const build = `build it once with \`npm run build:fleet\` in the laptime package (needs cargo >= 1.89 and a C compiler; about 5 minutes)`;
  const howTo =
    triple !== null && fleetTriples().includes(triple)
      ? `  Install the prebuilt program for ${triple}: \`npm install laptime-fleet\` beside laptime (the same version); or ${build}, or set LAPTIME_FLEET_BIN to a laptime-fleet binary.\n`
      : `  No prebuilt program is published for ${triple ?? `${process.platform}-${process.arch}`} (prebuilt: ${fleetTriples().join(', ')}): ${build}, or set LAPTIME_FLEET_BIN to a laptime-fleet binary.\n`;
  return `laptime: ${what} runs the laptime-fleet program, which was not found (looked at ${where}).\n${howTo}`;
}
