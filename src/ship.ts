/**
 * Shipping a store from the app that writes it: `open({ ship: { brokers, topic } })` runs
 * `laptime-fleet ship --with-parent` beside the app. The shipper is its own process (the fleet
 * program; librdkafka never enters the app) reading the store's sealed pages. It ends when the app
 * closes the store (after sending what the close sealed) or when the app ends in any way (its
 * standard input, held by the app, closes); an unexpected exit is warned about and the shipper
 * started again, waiting longer each time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { show, suggest } from './describe';
import { warn } from './diagnostics';

/** Where a store's sealed pages go (README "Running a fleet"). */
export interface ShipSettings {
  /** Kafka bootstrap list, `host:port,host:port`. */
  brokers: string;
  /** The fleet's topic (made with `laptime topic`). */
  topic: string;
  /** The feed's name: its own cursors under `<dir>/ship/<feed>/` (default `kafka`). */
  feed?: string;
}

const KEYS = ['brokers', 'topic', 'feed'];
/** How long a stopping shipper may take to send what the close sealed, before it is killed. */
const STOP_GRACE_MS = 15_000;
const FIRST_RESTART_MS = 1_000;
const MAX_RESTART_MS = 60_000;
/** Lines of the shipper's standard error kept for the warning about its exit. */
const KEPT_LINES = 20;

/** Check the `ship` option; TypeErrors name the bad part. */
export function checkShipSettings(value: unknown): ShipSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`laptime: option "ship" must be an object such as { brokers: 'k1:9092', topic: 'laptime' }, got ${show(value)}`);
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!KEYS.includes(key)) throw new TypeError(`laptime: unknown ship option "${key}"${suggest(key, KEYS)}`);
  }
  const text = (key: string, required: boolean): string | undefined => {
    const v = given[key];
    if (v === undefined && !required) return undefined;
    // Characters a shell or the argument list would mangle have no place in these.
    if (typeof v !== 'string' || v.trim() === '' || /[\s\0]/.test(v)) throw new TypeError(`laptime: ship option "${key}" must be a non-empty string without spaces, got ${show(v)}`);
    return v;
  };
  const out: ShipSettings = { brokers: text('brokers', true)!, topic: text('topic', true)! };
  const feed = text('feed', false);
  if (feed !== undefined) out.feed = feed;
  return out;
}

/** The running shipper of one store. */
export class Shipping {
  readonly #program: string;
  readonly #args: string[];
  readonly #dir: string;
  #child: ChildProcess | null = null;
  #startedAt = 0;
  #stderr: string[] = [];
  #restartMs = FIRST_RESTART_MS;
  #restartTimer: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  /** How many times the shipper was started again after an unexpected exit. */
  restarts = 0;

  constructor(program: string, dir: string, settings: ShipSettings) {
    this.#program = program;
    this.#dir = dir;
    this.#args = ['ship', '--dir', dir, '--brokers', settings.brokers, '--topic', settings.topic, ...(settings.feed === undefined ? [] : ['--feed', settings.feed]), '--with-parent'];
    this.#start();
  }

  #start(): void {
    this.#restartTimer = null;
    this.#stderr = [];
    this.#startedAt = Date.now();
    const child = spawn(this.#program, this.#args, { stdio: ['pipe', 'ignore', 'pipe'], windowsHide: true });
    this.#child = child;
    // The app must be able to exit while its shipper runs: nothing here holds the event loop.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on('error', () => {}); // EPIPE once the shipper is gone; its exit says why
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      this.#stderr.push(...lines);
      if (this.#stderr.length > KEPT_LINES) this.#stderr.splice(0, this.#stderr.length - KEPT_LINES);
    });
    let ended = false;
    const onEnd = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.#child === child) this.#child = null;
      if (this.#stopping !== null) return;
      if (Date.now() - this.#startedAt >= MAX_RESTART_MS) this.#restartMs = FIRST_RESTART_MS;
      const said = this.#stderr.filter((l) => l.trim() !== '').slice(-5).join(' | ');
      warn('LAPTIME_SHIP_EXITED', `laptime: the shipper of ${this.#dir} (laptime-fleet ship) ${why}${said === '' ? '' : `: ${said}`}; starting it again in ${this.#restartMs / 1000} s`);
      this.#restartTimer = setTimeout(() => {
        this.restarts++;
        this.#start();
      }, this.#restartMs);
      this.#restartTimer.unref();
      this.#restartMs = Math.min(this.#restartMs * 2, MAX_RESTART_MS);
    };
    child.on('error', (e) => onEnd(`could not run: ${e.message}`));
    child.on('exit', (code, signal) => onEnd(signal !== null ? `was ended by ${signal}` : `exited with code ${code}`));
  }

  /** True while a shipper process runs. */
  get running(): boolean {
    return this.#child !== null;
  }

  /**
   * Stop the shipper: it sends what is sealed (call after the store's close sealed its last
   * page), then exits; killed if it takes longer than 15 s. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      this.#stopping = Promise.resolve();
      return this.#stopping;
    }
    this.#stopping = new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.stdin?.end(); // its --with-parent watch sees the end and stops
    });
    return this.#stopping;
  }
}
