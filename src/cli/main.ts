/**
 * The `laptime` command line: argument parsing (commander), the store directory, output format
 * and exit codes. Each command's work is in ./commands; this module only wires options to it.
 *
 * Exit codes: 0 success, 1 the store or the data is the problem (no store, damage), 2 bad usage
 * (unknown option, bad filter, bad time). Errors are one line on stderr: `laptime: <reason>`.
 * When stdout closes early (`laptime export | head`) the command stops and exits 0 quietly: the
 * reader took what it wanted, and a non-zero status would fail `set -o pipefail` scripts.
 *
 * Everything printed for people goes through `printable` (./format): store content and echoed
 * input cannot drive the terminal. Filters are words that may start with `-` (a negated term such
 * as `-kind:log`); those are told apart from options before commander sees them.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync, type WriteStream } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { FilterSyntaxError } from '../filter-text';
import { openReader, type Reader } from '../reader';
import { serve } from '../server/http';
import { parseByteSize } from '../sizes';
import { mark } from '../mark';
import { open, type Store } from '../store';
import { describeError } from '../diagnostics';
import { packageVersion } from '../version';
import { importPostMortem, LEGACY_POST_MORTEM_DIR, listPostMortems, listStorePostMortems, POST_MORTEM_DIR, readPostMortem, readPostMortemSummary } from '../post-mortem';
import { exportParquet } from '../export';
import { maintainStore, verifyStore, type Maintained } from '../maintenance';
import { buildNative } from './build-native';
import { anomalies, CliError, compare, exportEvents, exportOtlp, OutputClosed, printEvents, query, stats, tail, top, type Io, type OutputFormat, type QuerySource, type TailSource } from './commands';
import { openFleet, type FleetOptions } from '../fleet';
import { FLEET_COMMANDS, runFleetProgram } from './fleet-process';
import { parseDuration } from '../grammar';
import { jsonLines, printable } from './format';

/**
 * The process's streams as an {@link Io}; `sleep` stops early on SIGINT (tail -f) or once stdout
 * is closed. A closed stdout (EPIPE) makes the next `out` throw {@link OutputClosed}; a closed
 * stderr only silences it.
 */
export function processIo(): Io {
  let stopped = false;
  let outClosed = false;
  let errClosed = false;
  const waiting = new Set<() => void>();
  const stop = () => {
    stopped = true;
    for (const w of waiting) w();
  };
  const closedPipe = (err: NodeJS.ErrnoException) => err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED';
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!closedPipe(err)) throw err;
    outClosed = true;
    stop();
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (!closedPipe(err)) throw err;
    errClosed = true;
  });
  return {
    out: (t) => {
      if (outClosed) throw new OutputClosed();
      process.stdout.write(t);
    },
    err: (t) => void (errClosed ? undefined : process.stderr.write(t)),
    isTTY: process.stdout.isTTY === true,
    now: () => Date.now(),
    sleep: (ms) => {
      if (stopped) return Promise.resolve(false);
      process.once('SIGINT', stop);
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiting.delete(done);
          process.removeListener('SIGINT', stop);
          resolve(!stopped);
        };
        const timer = setTimeout(done, ms);
        waiting.add(done);
      });
    },
  };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return n;
}

function finite(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function percentList(value: string): number[] {
  const ps = list(value).map((p) => Number(p.replace(/^p/, '')));
  if (ps.length === 0 || ps.some((p) => !(p > 0 && p <= 100))) throw new InvalidArgumentError('must be percentiles in (0, 100], e.g. 50,99');
  return ps;
}

interface Common {
  dir: string;
  json?: boolean;
  csv?: boolean;
}

function format(o: Common): OutputFormat {
  if (o.json === true && o.csv === true) throw new CliError('--json and --csv exclude each other', 2);
  return o.json === true ? 'json' : o.csv === true ? 'csv' : 'table';
}

/** What a read command reads: the store in `dir`, or a post-mortem file instead. */
interface Source {
  dir: string;
  postMortem?: string;
}

/** `--coordinator <url>`: answer over a fleet instead of a local store. */
interface FleetSource {
  coordinator?: string;
}

/** Executes a command with an open reader on `source`. */
type Run = (source: Source, work: (reader: Reader) => Promise<void>) => Promise<void>;

/** Filter scope options of stats, top and anomalies. */
interface Scope {
  name?: string;
  since?: string;
  until?: string;
}

/** What every command builder gets: the io, `run`, and the options several commands share. */
interface Shared {
  io: Io;
  /** `run`, taking the parsed options of a command with {@link Shared.source} options. */
  run: (o: Source & { snapshot?: string }, work: (reader: Reader) => Promise<void>) => Promise<void>;
  /** `-d, --dir` (a new Option per command: commander keeps per-command state in it). */
  dir: () => Option;
  /** `--post-mortem <file>`, and `--snapshot <file>`, its old spelling (hidden, deprecated). */
  source: (c: Command) => Command;
  /** `--name`, `--since`, `--until`. */
  scope: (c: Command) => Command;
  /** `--json`, `--csv`. */
  out: (c: Command) => Command;
  /** `--coordinator <url>`: the command reads a fleet (token from $LAPTIME_FLEET_TOKEN). */
  fleet: (c: Command) => Command;
  /** `work` over the coordinator `o.coordinator` names, else `run` over the local source. */
  runQueries: (o: Source & FleetSource & { snapshot?: string }, work: (source: QuerySource & TailSource) => Promise<void>) => Promise<void>;
}

/** How the CLI reaches a coordinator: its token from $LAPTIME_FLEET_TOKEN (never on the command line, where `ps` shows it). */
function fleetOptions(): FleetOptions {
  const token = process.env.LAPTIME_FLEET_TOKEN;
  return token === undefined || token === '' ? {} : { token };
}

function shared(io: Io, run: Run): Shared {
  const defaultDir = process.env.LAPTIME_DIR !== undefined && process.env.LAPTIME_DIR !== '' ? process.env.LAPTIME_DIR : './.laptime';
  return {
    io,
    run: (o, work) => {
      const source: Source = { dir: o.dir };
      if (o.snapshot !== undefined) {
        if (o.postMortem !== undefined) throw new CliError('--post-mortem and --snapshot (its old spelling) exclude each other', 2);
        io.err('laptime: --snapshot is deprecated, use --post-mortem <file>\n');
        source.postMortem = o.snapshot;
      } else if (o.postMortem !== undefined) source.postMortem = o.postMortem;
      return run(source, work);
    },
    dir: () => new Option('-d, --dir <path>', 'store directory').default(defaultDir, '$LAPTIME_DIR or ./.laptime'),
    source: (c) =>
      c.addOption(new Option('--post-mortem <file>', 'read a post-mortem file instead of the store')).addOption(new Option('--snapshot <file>', 'old spelling of --post-mortem').hideHelp()),
    scope: (c) =>
      c
        .option('-n, --name <glob>', 'only functions matching the glob (* any run, ? one character)')
        .option('--since <time>', 'from this time: now, 15m, 2h, 7d (before now), epoch ms or ISO 8601')
        .option('--until <time>', 'before this time (same forms)'),
    out: (c) => c.option('--json', 'JSON lines instead of a table').option('--csv', 'CSV instead of a table'),
    fleet: (c) => c.option('--coordinator <url>', "a fleet's coordinator (laptime-fleet coordinate) instead of the store; token from $LAPTIME_FLEET_TOKEN"),
    runQueries(o, work) {
      if (o.coordinator === undefined) return this.run(o, work);
      if (o.postMortem !== undefined || o.snapshot !== undefined) throw new CliError('--coordinator and --post-mortem exclude each other', 2);
      return work(openFleet(o.coordinator, fleetOptions()));
    },
  };
}

/** Build the program: one builder per command (or group of commands), in the order help lists them. */
function program(io: Io, run: Run): Command {
  const prog = new Command('laptime')
    .description('Look into a laptime store: per-function latency, events, anomalies, regressions.')
    .addHelpText('after', '\nFleet processes (they run the laptime-fleet program; README "Running a fleet"):\n  topic, ship, index, ingest, coordinate, read-server   e.g. laptime index --help')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.out(printable(t, true)), writeErr: (t) => io.err(printable(t, true)), outputError: (t, write) => write(t) });
  const s = shared(io, run);
  for (const add of [statsCommand, topCommand, queryCommand, tailCommand, anomaliesCommand, compareCommand, exportCommand, markCommand, verifyCommand, maintenanceCommands, serveCommand, viewCommand, postMortemsCommand, buildNativeCommand]) {
    add(prog, s);
  }
  return prog;
}

function statsCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('stats')
    .description('per-function table: count, rate, mean, p50, p90, p99, max, error %')
    .addOption(s.dir());
  s.out(
    s.scope(
      s
        .source(c)
        .argument('[filter...]', 'more terms in the filter syntax, e.g. "route:/users" or -kind:log')
        .option('-s, --sort <column>', 'name, count, rate, errors, errorRate, mean, p50, p90, p99 or max', 'p99')
        .option('--asc', 'ascending (default: descending, names ascending)')
        .option('-l, --limit <n>', 'at most n rows', positiveInt)
        .option('--exact', 'exact percentiles (decodes every page) instead of sketches (within 1%)'),
    ),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & Scope & { sort: string; asc?: boolean; limit?: number; exact?: boolean }) => {
    await s.runQueries(o, (r) =>
      stats(r, { ...scopeOf(o, joined(terms)), sort: o.sort, asc: o.asc === true || (o.asc === undefined && o.sort === 'name'), ...(o.limit === undefined ? {} : { limit: o.limit }), format: format(o), exact: o.exact === true }, s.io),
    );
  });
}

function topCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('top')
    .description('the slowest functions, or with --events the slowest single calls')
    .addOption(s.dir());
  s.out(
    s.scope(
      s
        .source(c)
        .argument('[filter...]', 'more terms in the filter syntax')
        .option('-b, --by <column>', 'rank functions by p99, p90, p50, mean, max, count, errorRate', 'p99')
        .option('-l, --limit <n>', 'how many', positiveInt, 10)
        .option('-e, --events', 'the slowest calls instead of functions'),
    ),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & Scope & { by: string; limit: number; events?: boolean }) => {
    await s.runQueries(o, (r) => top(r, { ...scopeOf(o, joined(terms)), by: o.by, n: o.limit, events: o.events === true, format: format(o) }, s.io));
  });
}

function queryCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('query')
    .description('events matching a filter (newest first), or grouped aggregates with --group/--bucket/--agg')
    .addOption(s.dir());
  s.out(
    s
      .source(c)
      .argument('[filter...]', 'the filter, e.g. "name:UserService.* status:error duration>10ms since:1h -kind:log"')
      .option('-g, --group <keys>', 'group by name and/or fields, comma-separated', list, [])
      .option('--bucket <width>', 'group by time buckets of this width, e.g. 1m or 1d')
      .option('-a, --agg <list>', 'count, errors, errorRate, sum, mean, min, max, stddev, p50, p99.9...', list, [])
      .option('-s, --sort <column>', 'sort by this column')
      .option('--asc', 'ascending sort (default descending)')
      .option('-l, --limit <n>', 'at most n rows (events: default 50)', positiveInt)
      .option('--exact', 'exact percentiles')
      .option('--explain', 'with grouped aggregates: also say on stderr how the pages were answered (skipped, from meta, decoded)'),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & { group: string[]; bucket?: string; agg: string[]; sort?: string; asc?: boolean; limit?: number; exact?: boolean; explain?: boolean }) => {
    await s.runQueries(o, (r) =>
      query(
        r,
        {
          filter: joined(terms) ?? '',
          group: o.group,
          ...(o.bucket === undefined ? {} : { bucket: o.bucket }),
          agg: o.agg,
          ...(o.sort === undefined ? {} : { sort: o.sort }),
          asc: o.asc === true,
          ...(o.limit === undefined ? {} : { limit: o.limit }),
          exact: o.exact === true,
          explain: o.explain === true,
          format: format(o),
        },
        s.io,
      ),
    );
  });
}

function tailCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('tail')
    .description('the latest events, oldest first; with -f, keep printing new ones (Ctrl-C stops)')
    .addOption(s.dir());
  s.out(
    s
      .source(c)
      .argument('[filter...]', 'only events matching this filter')
      .option('-l, --limit <n>', 'how many to show first', positiveInt, 20)
      .option('-f, --follow', 'keep printing events as writers seal them')
      .option('--interval <ms>', 'poll interval with -f', positiveInt, 1000)
      .option('--lookback <ms>', 'with -f, also print events that appear up to this long before the newest seen (writers seal pages late)', positiveInt, 30_000),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & { limit: number; follow?: boolean; interval: number; lookback: number }) => {
    await s.runQueries(o, (r) => tail(r, { filter: joined(terms) ?? '', n: o.limit, follow: o.follow === true, intervalMs: o.interval, lookbackMs: o.lookback, format: format(o) }, s.io));
  });
}

function anomaliesCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('anomalies')
    .description('buckets where a function departs from its trailing baseline (robust z-score)')
    .addOption(s.dir());
  s.out(
    s.scope(
      s
        .source(c)
        .argument('[filter...]', 'more terms in the filter syntax')
        .option('--bucket <width>', 'bucket width', '5m')
        .addOption(new Option('-m, --metric <metric>', 'what to judge').choices(['p99', 'p50', 'errorRate']).default('p99'))
        .option('--threshold <z>', 'robust z-score threshold (default 3.5)', finite)
        .option('--min-change <fraction>', 'smallest relative change (default 0.2)', finite)
        .option('--min-count <n>', 'fewest calls per bucket (default 30)', positiveInt)
        .addOption(new Option('--direction <dir>', 'which changes').choices(['up', 'down', 'both']).default('up')),
    ),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & Scope & { bucket: string; metric: 'p99' | 'p50' | 'errorRate'; threshold?: number; minChange?: number; minCount?: number; direction: 'up' | 'down' | 'both' }) => {
    await s.runQueries(o, (r) =>
      anomalies(
        r,
        {
          ...scopeOf(o, joined(terms)),
          bucket: o.bucket,
          metric: o.metric,
          direction: o.direction,
          ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
          ...(o.minChange === undefined ? {} : { minChange: o.minChange }),
          ...(o.minCount === undefined ? {} : { minCount: o.minCount }),
          format: format(o),
        },
        s.io,
      ),
    );
  });
}

function compareCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('compare')
    .description('per function, p50/p99 and error-rate change between two time ranges, with significance')
    .addOption(s.dir());
  s.out(
    s
      .source(c)
      .argument('[filter...]', 'only events matching this filter')
      .requiredOption('--baseline <range>', 'since..until, e.g. 2h..1h or 2026-11-22T09:00Z..2026-11-22T10:00Z')
      .requiredOption('--candidate <range>', 'since..until, e.g. 1h..now')
      .option('-n, --name <glob>', 'only functions matching the glob')
      .option('-p, --percentiles <list>', 'percentiles to compare', percentList, [50, 99])
      .option('--exact', 'exact percentiles')
      .option('--all', 'also list unchanged functions and those with too few calls'),
  );
  s.fleet(c).action(async (terms: string[], o: Common & Source & FleetSource & { baseline: string; candidate: string; name?: string; percentiles: number[]; exact?: boolean; all?: boolean }) => {
    const filter = joined(terms);
    await s.runQueries(o, (r) =>
      compare(
        r,
        {
          ...(filter === undefined ? {} : { filter }),
          ...(o.name === undefined ? {} : { name: o.name }),
          baseline: o.baseline,
          candidate: o.candidate,
          percentiles: o.percentiles,
          exact: o.exact === true,
          all: o.all === true,
          format: format(o),
        },
        s.io,
      ),
    );
  });
}

function exportCommand(prog: Command, s: Shared): void {
  const io = s.io;
  const c = prog
    .command('export')
    .description('every matching event, oldest first, as NDJSON, CSV, Parquet, or OTLP spans (to a file or an OTLP/HTTP collector)')
    .addOption(s.dir());
  s.source(c)
    .argument('[filter...]', 'only events matching this filter')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['ndjson', 'csv', 'parquet', 'otlp']).default('ndjson'))
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option('--endpoint <url>', 'otlp: POST the spans to this OTLP/HTTP traces endpoint, e.g. http://localhost:4318/v1/traces')
    .option('--service <name>', 'otlp: the service.name of the spans (default $OTEL_SERVICE_NAME, else laptime)');
  s.fleet(c).action(async (terms: string[], o: Source & FleetSource & { snapshot?: string; format: 'ndjson' | 'csv' | 'parquet' | 'otlp'; out?: string; endpoint?: string; service?: string }) => {
    const filter = joined(terms) ?? '';
    if ((o.endpoint !== undefined || o.service !== undefined) && o.format !== 'otlp') throw new CliError('--endpoint and --service go with --format otlp', 2);
    if (o.format === 'otlp') return otlpExport(s, o, filter);
    if (o.format === 'parquet') {
      const out = o.out;
      if (out === undefined) throw new CliError('--format parquet needs --out <file> (Parquet is not written to a terminal or pipe)', 2);
      if (o.coordinator !== undefined) throw new CliError('--format parquet reads a local store (the addon writes the file); over a fleet export ndjson, csv or otlp', 2);
      await s.run(o, async (r) => {
        const n = await withSpinner(io, 'exporting', exportParquet(r.path, filter, out));
        io.err(`${n.toLocaleString('en-US')} events written to ${printable(out)}\n`);
      });
      return;
    }
    const format = o.format;
    await s.runQueries(o, async (r) => {
      const file: WriteStream | null = o.out === undefined ? null : createWriteStream(o.out);
      const showProgress = io.isTTY && file !== null;
      try {
        const n = await exportEvents(r, {
          filter,
          format,
          forTerminal: file === null && io.isTTY,
          write: (t) => (file === null ? io.out(t) : void file.write(t)),
          partial: (summary) => io.err(`laptime: partial export: ${summary}\n`),
          ...(showProgress ? { progress: (done: number, total: number) => io.err(`\r${progressBar(done, total)}`) } : {}),
        });
        if (showProgress) io.err('\n');
        if (file !== null) io.err(`${n.toLocaleString('en-US')} events written to ${printable(o.out ?? '')}\n`);
      } finally {
        if (file !== null) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
    });
  });
}

/** `export --format otlp`: JSON lines of OTLP requests to stdout or `--out`, or POSTs to `--endpoint`. */
async function otlpExport(s: Shared, o: Source & FleetSource & { snapshot?: string; out?: string; endpoint?: string; service?: string }, filter: string): Promise<void> {
  const io = s.io;
  if (o.endpoint !== undefined && o.out !== undefined) throw new CliError('--endpoint and --out exclude each other', 2);
  let endpoint: URL | null = null;
  if (o.endpoint !== undefined) {
    try {
      endpoint = new URL(o.endpoint);
    } catch {
      throw new CliError(`--endpoint must be a URL such as http://localhost:4318/v1/traces, got ${printable(o.endpoint)}`, 2);
    }
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new CliError(`--endpoint must be an http or https URL, got ${printable(o.endpoint)}`, 2);
  }
  const serviceName = o.service ?? (process.env.OTEL_SERVICE_NAME || 'laptime');
  await s.runQueries(o, async (r) => {
    const file: WriteStream | null = o.out === undefined ? null : createWriteStream(o.out);
    try {
      const n = await exportOtlp(r, {
        filter,
        serviceName,
        partial: (summary) => io.err(`laptime: partial export: ${summary}\n`),
        send: async (request) => {
          const json = JSON.stringify(request);
          if (endpoint === null) {
            if (file === null) io.out(`${json}\n`);
            else file.write(`${json}\n`);
            return;
          }
          const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json });
          if (!response.ok) {
            const body = (await response.text()).slice(0, 200);
            throw new CliError(`the collector at ${printable(endpoint.href)} answered ${response.status} ${printable(response.statusText)}: ${printable(body)}`, 1);
          }
        },
      });
      const where = endpoint !== null ? printable(endpoint.href) : file !== null ? printable(o.out ?? '') : null;
      if (where !== null) io.err(`${n.toLocaleString('en-US')} spans sent to ${where}\n`);
    } finally {
      if (file !== null) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  });
}

function markCommand(prog: Command, s: Shared): void {
  prog
    .command('mark')
    .description('record a marker now (a deploy, a config change), shown on the dashboard\'s latency chart')
    .addOption(s.dir())
    .argument('<label>', 'what happened, e.g. deploy')
    .option('-f, --field <key=value...>', 'fields of the marker (text), e.g. version=1.4.2 commit=a1b2c3d', [])
    .action(async (label: string, o: { dir: string; field: string[] }) => {
      const fields: Record<string, string> = {};
      for (const pair of o.field) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new CliError(`--field takes key=value, got ${printable(pair)}`, 2);
        fields[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      let store: Store;
      try {
        // A writer of its own, next to the service's (each process writes its own partition).
        store = open({ dir: o.dir, postMortems: false });
      } catch (err) {
        throw new CliError(`cannot open the store at ${printable(o.dir)}: ${printable(describeError(err))}`, 1);
      }
      try {
        mark(label, fields, { store });
      } catch (err) {
        throw new CliError(printable((err as Error).message.replace(/^laptime: /, '')), 2);
      } finally {
        await store.close();
      }
      s.io.out(`marked ${printable(label)} in ${printable(store.path)}\n`);
    });
}

function verifyCommand(prog: Command, s: Shared): void {
  const io = s.io;
  prog
    .command('verify')
    .description('check every checksum of the store (names, manifest, every page, every WAL record); exits 1 on damage')
    .addOption(s.dir())
    .option('--json', 'one JSON line per file checked')
    .action(async (o: { dir: string; json?: boolean }) => {
      const bar = io.isTTY ? (done: number, total: number) => io.err(`\r${progressBar(done, total)} bytes`) : undefined;
      const report = await verifyStore(o.dir, bar === undefined ? {} : { onProgress: bar });
      if (bar !== undefined) io.err('\n');
      if (o.json === true) io.out(jsonLines(report.files));
      else {
        for (const f of report.files.filter((f) => f.finding !== undefined)) {
          io.out(`${f.finding === 'damage' ? 'DAMAGE' : 'note  '} ${printable(f.path)}${f.offset === undefined ? '' : ` at byte ${f.offset}`}: ${printable(f.reason ?? '')}\n`);
        }
        const notes = report.files.filter((f) => f.finding === 'note').length;
        io.out(
          `${report.files.length} files, ${report.pages.toLocaleString('en-US')} pages, ${report.bytes.toLocaleString('en-US')} bytes checked: ${report.damaged.length === 0 ? 'no damage' : `${report.damaged.length} damaged`}${notes > 0 ? `, ${notes} notes` : ''}\n`,
        );
      }
      if (report.damaged.length > 0) throw new CliError(`${report.damaged.length} damaged file(s) in ${o.dir}`, 1);
    });
}

/** build-native: the binding from the Rust sources in the package, where no prebuilt one fits. */
function buildNativeCommand(prog: Command): void {
  prog
    .command('build-native')
    .description('build the native binding from the Rust sources in the package (needs cargo; for a platform without a prebuilt binary)')
    .option('--force', 'rebuild even when a binding loads')
    .action(async (o: { force?: boolean }) => {
      const code = await buildNative(o.force === true);
      if (code !== 0) throw new CliError('the native binding was not built (the reason is above)', code);
    });
}

/** compact, retention, repair: maintenance of partitions no process is writing. */
function maintenanceCommands(prog: Command, s: Shared): void {
  const io = s.io;
  prog
    .command('compact')
    .description('merge small segments of every partition no process is writing')
    .addOption(s.dir())
    .action(async (o: { dir: string }) => {
      printMaintained(await withSpinner(io, 'compacting', maintainStore(o.dir, 'compact')), io);
    });

  prog
    .command('retention')
    .description('drop the oldest segments beyond an age or size limit, in partitions no process is writing')
    .addOption(s.dir())
    .option('--max-age <duration>', 'drop segments whose newest event is older than this, e.g. 7d or 12h')
    .option('--max-bytes <size>', 'keep at most this much per partition, e.g. 500MB or 2GB', byteSize)
    .action(async (o: { dir: string; maxAge?: string; maxBytes?: number }) => {
      if (o.maxAge === undefined && o.maxBytes === undefined) throw new CliError('give --max-age and/or --max-bytes', 2);
      const limits: { retentionMaxAgeMs?: number; retentionMaxBytes?: number } = {};
      // An age is a duration (the one grammar: 12h, 7d, 1w), not a point in time.
      if (o.maxAge !== undefined) limits.retentionMaxAgeMs = Number(parseDuration(o.maxAge, '--max-age').ns) / 1e6;
      if (o.maxBytes !== undefined) limits.retentionMaxBytes = o.maxBytes;
      printMaintained(await withSpinner(io, 'applying retention', maintainStore(o.dir, 'retention', limits)), io);
    });

  prog
    .command('repair')
    .description('check every page of partitions no process is writing; rewrite segments with damaged pages keeping every intact page (originals go to quarantine/); print what was kept and lost')
    .addOption(s.dir())
    .action(async (o: { dir: string }) => {
      printMaintained(await withSpinner(io, 'repairing', maintainStore(o.dir, 'repair')), io);
    });
}

function serveCommand(prog: Command, s: Shared): void {
  const c = prog
    .command('serve')
    .description('the dashboard and its JSON API (read-only), at http://127.0.0.1:7070 by default')
    .addOption(s.dir())
    .option('-p, --port <port>', 'port (0 picks a free one)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0..65535');
      return n;
    }, 7070)
    .option('--host <address>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--token <secret>', 'require this token (at least 16 characters) on every request')
    .option('--allowed-host <name...>', 'more host names clients may use (e.g. the name Prometheus scrapes); others get 421');
  s.fleet(s.source(c)).action(async (o: Source & FleetSource & { snapshot?: string; port: number; host: string; token?: string; allowedHost?: string[] }) => {
    if (o.coordinator !== undefined) {
      if (o.postMortem !== undefined || o.snapshot !== undefined) throw new CliError('--coordinator and --post-mortem exclude each other', 2);
      const { token } = fleetOptions();
      const dashboard = await serve({
        dir: o.dir,
        coordinator: o.coordinator,
        ...(token === undefined ? {} : { coordinatorToken: token }),
        port: o.port,
        host: o.host,
        ...(o.token === undefined ? {} : { token: o.token }),
        ...(o.allowedHost === undefined ? {} : { allowedHosts: o.allowedHost }),
      });
      s.io.out(`laptime dashboard for the fleet at ${printable(o.coordinator)} at ${printable(dashboard.url)} (Ctrl-C stops)\n`);
      while (await s.io.sleep(3_600_000));
      return dashboard.close();
    }
    await s.run(o, async (r) => {
      const dashboard = await serve({ dir: r.path, port: o.port, host: o.host, ...(o.token === undefined ? {} : { token: o.token }), ...(o.allowedHost === undefined ? {} : { allowedHosts: o.allowedHost }) });
      s.io.out(`laptime dashboard for ${printable(o.postMortem ?? o.snapshot ?? o.dir)} at ${printable(dashboard.url)} (Ctrl-C stops)\n`);
      while (await s.io.sleep(3_600_000));
      await dashboard.close();
    });
  });
}

function viewCommand(prog: Command, s: Shared): void {
  const io = s.io;
  s.out(
    prog
      .command('view')
      .description('show a post-mortem: its facts, per-function stats of its window, its events; or list a directory of them')
      .argument('<path>', 'a post-mortem file, or a directory of them')
      .argument('[filter...]', 'only events matching this filter, e.g. "level>=warn"')
      .option('-l, --limit <n>', 'at most this many events (the last ones)', positiveInt, 200),
  ).action(async (target: string, terms: string[], o: Common & { limit: number }) => {
    const filter = joined(terms) ?? '';
    if (statSync(target, { throwIfNoEntry: false })?.isDirectory() === true) return listPostMortemFiles(listPostMortems(target), target, path.basename, format(o), io);
    await s.run({ dir: '', postMortem: target }, async (r) => {
      const pm = await readPostMortem(target);
      const fmt = format(o);
      if (fmt === 'table') {
        const m = pm.meta;
        const p = (v: string | undefined) => printable(v ?? '-');
        io.out(`post-mortem ${p(target)}\n  reason   ${p(m.reason)}\n  service  ${p(m.service)} on ${p(m.host)}, pid ${p(m.pid)} (${p(m.runtime)})\n  time     ${p(m.time)}\n  window   ${p(m.window)}: ${pm.events.length} events\n\n`);
        await stats(r, { filter: filter, sort: 'p99', asc: false, format: 'table', exact: true }, io);
        io.out('\n');
      }
      const page = await r.events(filter, { limit: o.limit });
      printEvents([...page.events].reverse(), fmt, io);
    });
  });
}

function postMortemsCommand(prog: Command, s: Shared): void {
  prog
    .command('postmortems')
    .description(`list the store's post-mortems (in <store>/${POST_MORTEM_DIR}/, and <store>/${LEGACY_POST_MORTEM_DIR}/ of older stores); exits 1 if one is damaged`)
    .addOption(s.dir())
    .option('--json', 'one JSON line per file')
    .action(async (o: { dir: string; json?: boolean }) => {
      if (statSync(o.dir, { throwIfNoEntry: false })?.isDirectory() !== true) throw new CliError(`no store at ${o.dir}`, 1);
      await listPostMortemFiles(listStorePostMortems(o.dir), o.dir, (f) => path.relative(o.dir, f), o.json === true ? 'json' : 'table', s.io);
    });
}

/** One line per post-mortem file (`name` says how to show its path); damaged ones say why, and make the exit code 1. */
async function listPostMortemFiles(files: readonly string[], where: string, name: (file: string) => string, fmt: OutputFormat, io: Io): Promise<void> {
  const rows: Array<Record<string, unknown>> = [];
  let damaged = 0;
  for (const file of files) {
    try {
      // Only the facts and the count: building every event of every file made long lists slow.
      const s = await readPostMortemSummary(file);
      rows.push({ file: name(file), time: s.meta.time, reason: s.meta.reason, service: s.meta.service, pid: s.meta.pid, events: s.events });
    } catch (err) {
      damaged++;
      rows.push({ file: name(file), damaged: (err as Error).message.replace(/^laptime: /, '') });
    }
  }
  const p = (v: unknown) => printable(String(v ?? '-'));
  if (fmt === 'json') io.out(jsonLines(rows));
  else if (rows.length === 0) io.out(`no post-mortems in ${p(where)}\n`);
  else for (const r of rows) io.out(r.damaged !== undefined ? `DAMAGED ${p(r.file)}: ${p(r.damaged)}\n` : `${p(r.time)}  ${p(r.file)}  ${p(r.service)} pid ${p(r.pid)}  ${r.events} events  ${p(r.reason)}\n`);
  if (damaged > 0) throw new CliError(`${damaged} of ${files.length} post-mortem(s) in ${where} are damaged`, 1);
}

function byteSize(value: string): number {
  const bytes = parseByteSize(value);
  if (bytes === null) throw new InvalidArgumentError('must be a size such as 500MB or 2GB');
  return bytes;
}

/** Elapsed seconds on stderr while `work` runs (on a terminal; nothing otherwise). */
async function withSpinner<T>(io: Io, what: string, work: Promise<T>): Promise<T> {
  if (!io.isTTY) return work;
  const started = Date.now();
  const timer = setInterval(() => io.err(`\r${what}… ${((Date.now() - started) / 1000).toFixed(0)} s`), 250);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    io.err('\r\x1b[K');
  }
}

function printMaintained(done: Maintained[], io: Io): void {
  for (const m of done) {
    const what =
      m.outcome === 'busy'
        ? 'skipped: a running writer holds it (it applies retention itself)'
        : m.outcome === 'repaired'
          ? m.notes.length === 0
            ? 'sound: every page verified, nothing to repair'
            : `repaired: ${m.notes.length} finding(s)`
          : `${m.outcome}: ${m.segments} segment(s), ${m.events.toLocaleString('en-US')} events, ${m.bytesFreed.toLocaleString('en-US')} bytes freed`;
    io.out(`${printable(m.partition)}: ${what}\n`);
    for (const n of m.notes) io.out(`  ${printable(n)}\n`);
  }
  if (done.length === 0) io.out('no partitions\n');
}

/** `[██████······] 45% 4,500/10,000`. */
export function progressBar(done: number, total: number, cells = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(f * cells);
  return `[${'█'.repeat(filled)}${'·'.repeat(cells - filled)}] ${Math.round(f * 100)}% ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`;
}

/** The filter words as one filter (terms are ANDed, so words join with spaces); none is undefined. */
function joined(terms: readonly string[]): string | undefined {
  const text = terms.join(' ').trim();
  return text === '' ? undefined : text;
}

function scopeOf(o: { name?: string; since?: string; until?: string }, filter: string | undefined): { filter?: string; name?: string; since?: string; until?: string } {
  return {
    ...(filter === undefined ? {} : { filter }),
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(o.since === undefined ? {} : { since: o.since }),
    ...(o.until === undefined ? {} : { until: o.until }),
  };
}

/** A negated filter term (`-kind:log`, `-name:foo*`, `-duration>1ms`, `-message~x`): a key, then an operator. */
const NEGATED_TERM = /^-[A-Za-z0-9_][A-Za-z0-9_.-]*(?::|=|!=|<|>|~)/;

/**
 * `args` with every negated filter term moved behind a `--`, where commander takes words as
 * operands: otherwise it reads `-kind:log` as an unknown option, or worse, `-name:foo*` as
 * `-n ame:foo*`. A word is left alone when it is the value of the option before it
 * (`--since -5m` style) or already follows a `--`. Terms are ANDed, so moving them keeps the filter.
 * A short option glued to a value of that shape (`-nfoo:bar`) reads as a term: write `-n foo:bar`.
 */
export function separateNegations(prog: Command, args: readonly string[]): string[] {
  const end = args.indexOf('--');
  const head = end === -1 ? [...args] : args.slice(0, end);
  const tail = end === -1 ? [] : args.slice(end + 1);
  const commandAt = head.findIndex((a) => !a.startsWith('-'));
  const command = commandAt === -1 ? undefined : prog.commands.find((c) => c.name() === head[commandAt]);
  if (command === undefined) return [...args];
  const takesValue = (word: string | undefined) => {
    if (word === undefined || !word.startsWith('-') || word.includes('=')) return false;
    const option = command.options.find((o) => o.short === word || o.long === word);
    return option !== undefined && (option.required || option.optional);
  };
  const kept: string[] = [];
  const moved: string[] = [];
  head.forEach((word, i) => {
    if (i > commandAt && NEGATED_TERM.test(word) && !takesValue(head[i - 1])) moved.push(word);
    else kept.push(word);
  });
  if (moved.length === 0) return [...args];
  return [...kept, '--', ...tail, ...moved];
}

/** One line for any failure: what went wrong, never a stack. */
function reason(err: unknown): { message: string; code: number } {
  if (err instanceof CliError) return { message: err.message, code: err.exitCode };
  if (err instanceof FilterSyntaxError) return { message: err.message.replace(/^laptime: /, ''), code: 2 };
  if (err instanceof TypeError || err instanceof RangeError) return { message: err.message.replace(/^laptime: /, ''), code: 2 };
  const message = err instanceof Error ? err.message : String(err);
  return { message: message.replace(/^laptime: /, '').split('\n')[0]!, code: 1 };
}

/** Run the CLI with these arguments (without `node` and the script); resolves to the exit code. */
export async function main(args: readonly string[], io: Io = processIo()): Promise<number> {
  if (args[0] !== undefined && FLEET_COMMANDS.includes(args[0])) return runFleetProgram(args, io.err);
  let reader: Reader | null = null;
  let scratch: string | null = null;
  const run: Run = async (source, work) => {
    let dir = source.dir;
    if (source.postMortem !== undefined) {
      // A post-mortem is read like a store: its events are loaded into a scratch store first.
      scratch = mkdtempSync(path.join(os.tmpdir(), 'laptime-post-mortem-'));
      await importPostMortem(source.postMortem, scratch);
      dir = scratch;
    }
    reader = openReader(dir);
    await work(reader);
  };
  try {
    const prog = program(io, run);
    await prog.parseAsync(separateNegations(prog, args), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof OutputClosed) return 0;
    if (err instanceof CommanderError) {
      // Help and version are successes; commander already printed the reason otherwise.
      return err.exitCode === 0 ? 0 : 2;
    }
    const { message, code } = reason(err);
    io.err(`laptime: ${printable(message)}\n`);
    return code;
  } finally {
    (reader as Reader | null)?.close();
    if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
  }
}
