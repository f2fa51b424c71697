/**
 * One duration grammar and one time grammar (README "Durations and times"): the same inputs through
 * the filter text, the typed builder, the CLI (the installed bin, as a child process) and the HTTP
 * API give the same answers, and bad inputs fail in all four with the input and position named.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { FilterSyntaxError, open, openReader, type Reader, type SyntaxErrorCode } from '../index';
import { serve, type Dashboard } from '../src/server/http';
import { hasAddon, tempDir } from './helpers/real';

const e2e = hasAddon ? test.serial : test.skip;
if (!hasAddon) test('grammar tests need native/binding.cjs (npm run build:native)', (t) => t.pass());

const ROOT = path.join(__dirname, '..');
const US = 1_000;
const MS = 1_000_000;
const MIN_MS = 60_000;
const HOUR_MS = 60 * MIN_MS;
const DAY_MS = 24 * HOUR_MS;

/** Events of one function: how long before "now" each started, and its duration in ns. No start lies within a minute of a bound tested below. */
const EVENTS: ReadonlyArray<{ ageMs: number; durationNs: number }> = [
  { ageMs: 30_000, durationNs: 100 * US },
  { ageMs: 10 * MIN_MS, durationNs: 300 * US },
  { ageMs: 50 * MIN_MS, durationNs: 5 * MS },
  { ageMs: 100 * MIN_MS, durationNs: 2 * HOUR_MS * MS },
  { ageMs: 36 * HOUR_MS, durationNs: 8 * DAY_MS * MS },
  { ageMs: 3 * DAY_MS, durationNs: 100 * US },
  { ageMs: 6 * DAY_MS, durationNs: HOUR_MS * MS },
  { ageMs: 8 * DAY_MS, durationNs: 300 * US },
  { ageMs: 10 * DAY_MS, durationNs: 2 * HOUR_MS * MS },
  { ageMs: 20 * DAY_MS, durationNs: 8 * DAY_MS * MS },
];

interface Fixture {
  dir: string;
  /** When the events were written; every front end's "now" is this or a few seconds later. */
  t0: number;
  reader: Reader;
  http: Dashboard;
}

let fixture: Promise<Fixture> | undefined;
function shared(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = tempDir();
    const t0 = Date.now();
    const store = open({ dir });
    for (const e of EVENTS) store.record({ name: 'G.f', startNs: BigInt(t0 - e.ageMs) * 1_000_000n, durationNs: e.durationNs });
    await store.close();
    const http = await serve({ dir, port: 0, now: () => t0 });
    return { dir, t0, reader: openReader(dir), http };
  })();
  return fixture;
}

test.after.always(async () => {
  if (fixture === undefined) return;
  const f = await fixture;
  f.reader.close();
  await f.http.close();
});

/** An ISO date-time with a +05:30 offset, whole seconds (rounded down). */
function isoWithOffset(ms: number): string {
  const local = new Date(Math.floor(ms / 1000) * 1000 + 5.5 * HOUR_MS).toISOString();
  return `${local.slice(0, 19)}+05:30`;
}

/** The time inputs, each with the instant it means (given `t0` as now), worked out here independently. */
function timeInputs(t0: number): Array<{ text: string; boundMs: number }> {
  const date = new Date(t0 - 15 * DAY_MS).toISOString().slice(0, 10);
  const withOffset = isoWithOffset(t0 - 2.5 * DAY_MS);
  const epoch = t0 - 4 * DAY_MS;
  return [
    { text: '7d', boundMs: t0 - 7 * DAY_MS },
    { text: '-7d', boundMs: t0 - 7 * DAY_MS },
    { text: '1w', boundMs: t0 - 7 * DAY_MS },
    { text: '250us', boundMs: t0 - 0.25 },
    { text: '1.5h', boundMs: t0 - 1.5 * HOUR_MS },
    { text: date, boundMs: Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) },
    { text: withOffset, boundMs: Math.floor((t0 - 2.5 * DAY_MS) / 1000) * 1000 },
    { text: String(epoch), boundMs: epoch },
    { text: 'now', boundMs: t0 },
  ];
}

const DURATIONS: ReadonlyArray<{ text: string; ns: number }> = [
  { text: '7d', ns: 7 * DAY_MS * MS },
  { text: '1w', ns: 7 * DAY_MS * MS },
  { text: '250us', ns: 250 * US },
  { text: '1.5h', ns: 1.5 * HOUR_MS * MS },
];

function since(t0: number, boundMs: number): number {
  return EVENTS.filter((e) => t0 - e.ageMs >= boundMs).length;
}

/** The bin, as a user runs it (wall-clock now, a few seconds after t0 at most). */
function laptime(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'laptime.cjs'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function jsonLines(text: string): Array<Record<string, number>> {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, number>);
}

async function get(base: string, route: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(route, base));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

e2e('times: since/until through filter, builder, CLI and HTTP count the same events', async (t) => {
  const { dir, t0, reader, http } = await shared();
  for (const { text, boundMs } of timeInputs(t0)) {
    const expected = since(t0, boundMs);
    const viaFilter = (await reader.query().filter(`since:${text}`).at(t0).count().run()).rows[0]!.count;
    const untilFilter = (await reader.query().filter(`until:${text}`).at(t0).count().run()).rows[0]!.count;
    const viaBuilder = (await reader.query().since(text).at(t0).count().run()).rows[0]!.count;
    const untilBuilder = (await reader.query().until(text).at(t0).count().run()).rows[0]!.count;
    t.is(viaFilter, expected, `filter since:${text}`);
    t.is(untilFilter, EVENTS.length - expected, `filter until:${text}`);
    t.is(viaBuilder, expected, `builder since(${text})`);
    t.is(untilBuilder, EVENTS.length - expected, `builder until(${text})`);

    const flag = laptime(['stats', '--dir', dir, '--since', text, '--json']);
    t.is(flag.code, 0, flag.err);
    t.is(jsonLines(flag.out).reduce((s, r) => s + r.count!, 0), expected, `CLI --since ${text}`);
    const term = laptime(['query', '--dir', dir, `since:${text}`, '--agg', 'count', '--json']);
    t.is(term.code, 0, term.err);
    t.is(jsonLines(term.out)[0]!.count, expected, `CLI query since:${text}`);

    const events = await get(http.url, `/api/events?limit=1000&filter=${encodeURIComponent(`since:${text}`)}`);
    t.is(events.status, 200);
    t.is((events.body.events as unknown[]).length, expected, `HTTP filter=since:${text}`);
    if (text !== 'now') {
      const stats = await get(http.url, `/api/stats?since=${encodeURIComponent(text)}`);
      t.is(stats.status, 200, JSON.stringify(stats.body));
      t.is(stats.body.since, boundMs, `HTTP since=${text} bound`);
      t.is((stats.body.rows as Array<{ count: number }>).reduce((s, r) => s + r.count, 0), expected, `HTTP since=${text}`);
    }
  }
  const untilNow = await get(http.url, '/api/stats?since=30d&until=now');
  t.is((untilNow.body.rows as Array<{ count: number }>)[0]!.count, EVENTS.length);
});

e2e('durations: duration> through filter, builder, CLI and HTTP count the same events', async (t) => {
  const { dir, t0, reader, http } = await shared();
  for (const { text, ns } of DURATIONS) {
    const expected = EVENTS.filter((e) => e.durationNs > ns).length;
    t.is((await reader.query().filter(`duration>${text}`).count().run()).rows[0]!.count, expected, `filter duration>${text}`);
    t.is((await reader.query().duration('>', text).count().run()).rows[0]!.count, expected, `builder duration('>', ${text})`);
    const cli = laptime(['query', '--dir', dir, `duration>${text}`, '--agg', 'count', '--json']);
    t.is(cli.code, 0, cli.err);
    t.is(jsonLines(cli.out)[0]!.count, expected, `CLI duration>${text}`);
    const stats = await get(http.url, `/api/stats?since=30d&filter=${encodeURIComponent(`duration>${text}`)}`);
    t.is((stats.body.rows as Array<{ count: number }>).reduce((s, r) => s + r.count, 0), expected, `HTTP duration>${text}`);
  }
  t.true(t0 > 0);
});

e2e('buckets: .bucket(1d), --bucket 1d and bucket=1d give the same day buckets', async (t) => {
  const { dir, t0, reader, http } = await shared();
  const builder = (await reader.query().since('30d').at(t0).bucket('1d').count().run()).rows.map((r) => [r.time, r.count]);
  const days = new Map<number, number>();
  for (const e of EVENTS) {
    const day = Math.floor((t0 - e.ageMs) / DAY_MS) * DAY_MS;
    days.set(day, (days.get(day) ?? 0) + 1);
  }
  t.deepEqual(builder, [...days.entries()].sort((a, b) => a[0] - b[0]));
  const cli = laptime(['query', '--dir', dir, 'since:30d', '--bucket', '1d', '--agg', 'count', '--json']);
  t.is(cli.code, 0, cli.err);
  t.deepEqual(jsonLines(cli.out).map((r) => [r.time, r.count]), builder);
  const series = await get(http.url, '/api/series?name=G.f&since=30d&bucket=1d');
  t.is(series.status, 200, JSON.stringify(series.body));
  t.is(series.body.bucketMs, DAY_MS);
  t.deepEqual((series.body.points as Array<{ time: number; count: number }>).map((p) => [p.time, p.count]), builder);
  // A week is a unit too.
  t.is((await reader.query().since('30d').at(t0).bucket('1w').count().run()).rows.reduce((s, r) => s + r.count, 0), EVENTS.length);
});

e2e('--max-age is a duration, not a point in time', (t) => {
  const dir = tempDir();
  const store = open({ dir });
  store.record({ name: 'G.f', startNs: BigInt(Date.now()) * 1_000_000n, durationNs: 1 });
  return store.close().then(() => {
    const week = laptime(['retention', '--dir', dir, '--max-age', '1w']);
    t.is(week.code, 0, week.err);
    const tiny = laptime(['retention', '--dir', dir, '--max-age', '250us']);
    t.is(tiny.code, 0, tiny.err);
    const date = laptime(['retention', '--dir', dir, '--max-age', '2026-11-01']);
    t.is(date.code, 2);
    t.is(date.err, 'laptime: --max-age: invalid duration "2026-11-01" at 0: expected a duration such as 10ms, found "2026-11-01"\n');
  });
});

e2e('bad durations and times fail in all four with the input, code and position', async (t) => {
  const { dir, t0, reader, http } = await shared();
  const cases: Array<{ text: string; code: SyntaxErrorCode; expected: RegExp }> = [
    { text: '7x', code: 'BAD_TIME', expected: /^a time such as now, 1h, 7d/ },
    { text: '99999999999w', code: 'OUT_OF_RANGE', expected: /^a duration of at most 2\^64-1 ns/ },
    { text: '2026-11-22T10:00:00', code: 'BAD_TIME', expected: /^a time zone after the time/ },
    // A 4-byte character where the offset's minutes go: the engine once cut it in two and panicked,
    // which ended the process (found by fuzzing).
    { text: '2026-11-22T10:26-\u{1f600}', code: 'BAD_TIME', expected: /^an ISO-8601 time such as/ },
  ];
  for (const c of cases) {
    // The filter: position of the value inside the filter text.
    const filterError = await t.throwsAsync(reader.query().filter(`kind:call since:${c.text}`).at(t0).count().run(), { instanceOf: FilterSyntaxError });
    t.is(filterError?.code, c.code, c.text);
    t.is(filterError?.position, 16, c.text);
    t.regex(filterError?.expected ?? '', c.expected);
    t.is(filterError?.found, JSON.stringify(c.text));
    // The builder: the option and the input.
    const builderError = t.throws(() => reader.query().since(c.text), { instanceOf: FilterSyntaxError });
    t.is(builderError?.code, c.code);
    t.is(builderError?.position, 0);
    t.is(builderError?.filter, c.text);
    t.regex(builderError?.message ?? '', new RegExp(`^laptime: option "since": invalid time ${escape(JSON.stringify(c.text))} at 0: expected `));
    // The CLI: the flag and the input, exit 2.
    const flag = laptime(['stats', '--dir', dir, '--since', c.text]);
    t.is(flag.code, 2);
    t.regex(flag.err, new RegExp(`^laptime: --since: invalid time ${escape(JSON.stringify(c.text))} at 0: expected `));
    const term = laptime(['query', '--dir', dir, `kind:call since:${c.text}`]);
    t.is(term.code, 2);
    t.regex(term.err, /^laptime: invalid filter at 16: expected /);
    // HTTP: 400 naming the parameter, with the fields as data.
    const param = await get(http.url, `/api/stats?since=${encodeURIComponent(c.text)}`);
    t.is(param.status, 400);
    const e = param.body.error as Record<string, unknown>;
    t.like(e, { status: 400, code: c.code, position: 0, found: JSON.stringify(c.text) });
    t.regex(e.message as string, new RegExp(`^parameter "since": invalid time ${escape(JSON.stringify(c.text))} at 0`));
    const filter = await get(http.url, `/api/events?filter=${encodeURIComponent(`kind:call since:${c.text}`)}`);
    t.is(filter.status, 400);
    t.like(filter.body.error as Record<string, unknown>, { code: c.code, position: 16 });
  }
  // Durations: the same errors for duration>, .duration(), --bucket and bucket=.
  const bad = '10xs';
  const f = await t.throwsAsync(reader.query().filter(`duration>${bad}`).count().run(), { instanceOf: FilterSyntaxError });
  t.like(f, { code: 'BAD_DURATION', position: 9, found: '"10xs"' });
  t.like(t.throws(() => reader.query().duration('>', bad), { instanceOf: FilterSyntaxError }), { code: 'BAD_DURATION', position: 0 });
  t.like(t.throws(() => reader.query().bucket('99999999999w'), { instanceOf: FilterSyntaxError }), { code: 'OUT_OF_RANGE', position: 0 });
  const cli = laptime(['query', '--dir', dir, 'kind:call', '--bucket', bad]);
  t.is(cli.code, 2);
  t.is(cli.err, 'laptime: --bucket: invalid duration "10xs" at 0: expected a duration such as 10ms, found "10xs"\n');
  const series = await get(http.url, `/api/series?name=G.f&bucket=${bad}`);
  t.is(series.status, 400);
  t.like(series.body.error as Record<string, unknown>, { code: 'BAD_DURATION', position: 0, found: '"10xs"' });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
