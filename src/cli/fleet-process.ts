/**
 * `laptime topic | ship | index | ingest | coordinate | read-server`: the fleet's processes. They are the
 * `laptime-fleet` program (Rust, linked with librdkafka; not part of the Node addon, so an app
 * that only records never loads Kafka's client). This module finds that program and runs it with
 * the arguments as given, passing stdio, signals and the exit code through.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { findFleetProgram, fleetProgramMissing, PACKAGE_LOOKUP, type FleetLookup } from '../fleet-program';

export { findFleetProgram, type FleetLookup } from '../fleet-program';

/** The commands `laptime` hands to `laptime-fleet`. */
export const FLEET_COMMANDS: readonly string[] = ['topic', 'ship', 'index', 'ingest', 'coordinate', 'read-server'];

/** Run `laptime-fleet <args>`; resolves to its exit code (1 with a message when it cannot start). */
export function runFleetProgram(args: readonly string[], err: (text: string) => void, lookup: FleetLookup = PACKAGE_LOOKUP): Promise<number> {
  const tried: string[] = [];
  const program = findFleetProgram(lookup, tried);
  if (program === null) {
    err(fleetProgramMissing(`\`laptime ${args[0] ?? ''}\``, tried, lookup));
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
