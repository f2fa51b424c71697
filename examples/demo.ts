/**
 * A tour of the Node API: run with `npx tsx examples/demo.ts` (after `npm run build:native`).
 * Writes into ./.laptime-demo (or $LAPTIME_DIR) and prints per-function statistics.
 */
import { capture, defaultStore, log, open, setDefaultStore } from '../index';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class NotFound extends Error {}

class UserService {
  private readonly users = new Map([[1, 'ann'], [2, 'bob']]);

  // Default name: "UserService.find"
  @capture()
  async find(id: number): Promise<string> {
    await sleep(1 + (id % 3));
    const user = this.users.get(id);
    if (user === undefined) throw new NotFound(`user ${id}`);
    return user;
  }

  // Explicit name, static fields on every event, 1 call in 4 recorded.
  @capture({ name: 'users.validate', fields: { rules: 'strict' }, sample: 0.25 })
  validate(name: string): boolean {
    return /^[a-z]+$/.test(name);
  }

  @capture()
  static create(): UserService {
    return new UserService();
  }
}

// Plain and arrow functions: capture(fn, name?).
const slugify = capture((s: string) => s.toLowerCase().replace(/\W+/g, '-'), 'slugify');

async function main(): Promise<void> {
  setDefaultStore(open({ dir: process.env.LAPTIME_DIR ?? './.laptime-demo', sync: 'interval' }));
  const users = UserService.create();
  for (let i = 0; i < 200; i++) {
    users.validate(i % 10 === 0 ? 'Bad Name' : 'ann');
    slugify(`Hello World ${i}`);
  }
  const lookups = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => users.find(i % 4)));
  log.info('lookups done', { failed: lookups.filter((r) => r.status === 'rejected').length });

  const store = defaultStore();
  const { rows, counters } = await store.stats({ since: '1h' });
  const ms = (ns: number | null): string => (ns === null ? '-' : (ns / 1e6).toFixed(3));
  console.table(
    rows.map((r) => ({ name: r.name, calls: r.count, errors: r.errors, logs: r.logs, 'p50 ms': ms(r.p50), 'p90 ms': ms(r.p90), 'p99 ms': ms(r.p99) })),
  );
  console.log(`accepted ${counters.accepted}, written ${counters.written}, dropped ${counters.dropped}`);
  await store.close();
}

void main();
