/**
 * The fleet program of this tree, for the tests that run it. cargo brings
 * target/release/laptime-fleet up to date first (a no-op after `npm run test:rust`): one built
 * before a change to the store's format would read the tests' stores as empty, and a test that
 * copied the file while another test's cargo rewrote it would copy half a program. cargo's lock
 * on the target directory makes the second caller wait for the first build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

let program: string | null = null;

export function fleetProgram(): string {
  if (program !== null) return program;
  const root = path.join(__dirname, '..', '..');
  execFileSync('cargo', ['build', '--release', '-p', 'laptime-fleet'], { cwd: root, stdio: 'inherit', timeout: 20 * 60_000 });
  const built = path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, 'target'), 'release', 'laptime-fleet');
  if (!existsSync(built)) throw new Error(`cargo built laptime-fleet but it is not at ${built}`);
  program = built;
  return built;
}
