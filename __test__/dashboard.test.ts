/// <reference lib="dom" />
/**
 * `laptime serve`: the JSON API's answers and defences over real HTTP, and the dashboard in real
 * headless Chromium (Debian's `chromium`, driven by playwright-core; .ci/run installs it) on a store
 * of R1 events: table rows, a chart that drew, event search, a screenshot that is not blank, and
 * hostile names and values shown as text; grouping by a per-call attribute (API and page) and
 * deploy markers on the latency chart.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { capture, mark, open, openReader, setDefaultStore } from '../index';
import { main } from '../src/cli/main';
import { serve, type Dashboard } from '../src/server/http';
import { hasAddon, tempDir, cannotRun } from './helpers/real';

const ROOT = path.join(__dirname, '..');
const CHROMIUM = process.env.LAPTIME_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const api = hasAddon ? test : test.skip;
const browserTest = hasAddon && hasChromium ? test.serial : test.skip;
if (!hasAddon) cannotRun('dashboard tests need native/binding.cjs (npm run build:native)');
if (!hasChromium) {
  // CI installs Chromium (.ci/run): there a missing browser is a failure, not a skip.
  const title = `browser tests need Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)`;
  cannotRun(title);
}

/** A store of `n` R1-full events that started a minute ago (the Rust example writes them). */
function r1Store(n: number): string {
  const exe = path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'release', 'examples', 'r1_export');
  if (!existsSync(exe)) execFileSync('cargo', ['build', '--release', '-q', '-p', 'laptime-core', '--example', 'r1_export'], { cwd: ROOT, stdio: 'inherit' });
  const dir = tempDir();
  execFileSync(exe, [String(n), dir, '-', String(Date.now() - 60_000)]);
  return dir;
}

let shared: string | undefined;
function sharedR1(): string {
  shared ??= r1Store(300_000);
  return shared;
}

async function get(base: string, route: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(new URL(route, base), init);
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: res.status, body: json ? (JSON.parse(text) as Record<string, unknown>) : { text }, headers: res.headers };
}

api('API: stats, series, histogram, events, anomalies, compare answer from the store', async (t) => {
  const dir = sharedR1();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const stats = await get(d.url, '/api/stats?since=1h');
  t.is(stats.status, 200);
  const rows = stats.body.rows as Array<{ name: string; count: number; p99: number }>;
  t.is(rows.length, 200, 'R1 has 200 functions');
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const direct = await reader.query().kind('call').groupBy('name').count().run();
  t.is(rows.reduce((s, r) => s + r.count, 0), direct.rows.reduce((s, r) => s + r.count, 0));
  t.true(rows.every((r, i) => i === 0 || rows[i - 1]!.p99 >= r.p99), 'slowest first');
  const name = rows[0]!.name;
  const series = await get(d.url, `/api/series?since=1h&name=${encodeURIComponent(name)}`);
  t.is(series.status, 200);
  const points = series.body.points as Array<{ count: number; p99: number }>;
  t.true(points.length > 10, `${points.length} buckets`);
  t.is(points.reduce((s, p) => s + p.count, 0), rows[0]!.count);
  const hist = await get(d.url, `/api/histogram?since=1h&name=${encodeURIComponent(name)}`);
  t.true((hist.body.bins as unknown[]).length > 1);
  const events = await get(d.url, '/api/events?filter=status:error&limit=5');
  t.is((events.body.events as unknown[]).length, 5);
  t.is(typeof (events.body.events as Array<{ startNs: unknown }>)[0]!.startNs, 'string');
  const anomalies = await get(d.url, '/api/anomalies?since=1h');
  t.is(anomalies.status, 200);
  const compare = await get(d.url, '/api/compare?baseline=2h..1h&candidate=1h..now');
  t.is(compare.status, 200);
  t.is((compare.body.functions as Array<{ verdict: string }>)[0]!.verdict, 'insufficient_data');
  const info = await get(d.url, '/api/info');
  t.is(info.body.path, dir);
});

api('API: clear JSON errors; read-only; size, host and rate limits; security headers', async (t) => {
  const d = await serve({ dir: sharedR1(), port: 0, rateLimit: 5 });
  t.teardown(() => d.close());
  const bad = await get(d.url, '/api/stats?filter=' + encodeURIComponent('duration>10xs'));
  t.is(bad.status, 400);
  t.deepEqual(bad.body, { error: { status: 400, message: 'invalid filter at 9: expected a duration such as 10ms, found "10xs"', code: 'BAD_DURATION', position: 9, expected: 'a duration such as 10ms', found: '"10xs"' } });
  t.is((await get(d.url, '/api/series')).status, 400);
  t.regex(((await get(d.url, '/api/series')).body.error as { message: string }).message, /parameter "name" is required/);
  t.is((await get(d.url, '/api/nope')).status, 404);
  t.is((await get(d.url, '/api/stats', { method: 'POST', body: 'x' })).status, 405);
  t.is((await get(d.url, '/api/stats?x=' + 'a'.repeat(5000))).status, 414);
  const rebinding = await new Promise<number>((resolve) => {
    // fetch() will not send a forged Host header; a raw request can.
    const u = new URL(d.url);
    http.get({ host: u.hostname, port: u.port, path: '/api/info', headers: { Host: 'evil.example:80' } }, (res) => resolve(res.statusCode ?? 0));
  });
  t.is(rebinding, 421);
  const page = await get(d.url, '/');
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  t.is(page.headers.get('x-content-type-options'), 'nosniff');
  const statuses = await Promise.all(Array.from({ length: 20 }, () => get(d.url, '/api/info').then((r) => r.status)));
  t.true(statuses.includes(429), 'a burst beyond the rate limit is refused');
});

api('serve: a token is required off loopback, and then on every request', async (t) => {
  await t.throwsAsync(serve({ dir: sharedR1(), port: 0, host: '0.0.0.0' }), { message: /--token is required when binding to 0\.0\.0\.0/ });
  await t.throwsAsync(serve({ dir: sharedR1(), port: 0, token: 'short' }), { message: /at least 16 characters/ });
  const token = 'correct-horse-battery-staple';
  const d = await serve({ dir: sharedR1(), port: 0, host: '127.0.0.1', token });
  t.teardown(() => d.close());
  const base = new URL(d.url).origin;
  t.is((await get(base, '/api/info')).status, 401);
  t.is((await get(base, '/api/info', { headers: { Authorization: 'Bearer wrong-wrong-wrong-wrong' } })).status, 401);
  t.is((await get(base, '/api/info', { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  t.is((await fetch(d.url)).status, 200, 'the page URL carries the token');
  await t.throwsAsync(serve({ dir: path.join(tempDir(), 'none'), port: 0 }), { message: /no laptime store/ });
});

/** Fraction of pixels of a PNG that differ from its most common colour, measured in the browser. */
async function nonBackground(page: Page, png: Buffer): Promise<number> {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map<number, number>();
    for (let i = 0; i < data.length; i += 4) {
      const k = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    return 1 - top / (data.length / 4);
  }, png.toString('base64'));
}

let browser: Browser | undefined;
test.after.always(async () => {
  await browser?.close();
});

async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  return browser;
}

async function openDashboard(d: Dashboard): Promise<{ page: Page; errors: string[] }> {
  const page = await (await launch()).newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The 400 of a deliberately bad filter is logged by the browser; everything else is a fault.
    if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text());
  });
  await page.goto(d.url);
  await page.waitForSelector('#functions tbody tr');
  await page.waitForSelector('#series-chart canvas');
  await page.waitForFunction(() => document.body.dataset.loaded !== undefined);
  return { page, errors };
}

browserTest('dashboard in Chromium: table rows, a chart that drew, event search, a screenshot that is not blank', async (t) => {
  const d = await serve({ dir: sharedR1(), port: 0 });
  t.teardown(() => d.close());
  const { page, errors } = await openDashboard(d);
  t.is(await page.locator('#functions tbody tr').count(), 200);
  const first = await page.locator('#functions tbody tr').first().locator('td').first().textContent();
  t.is(await page.locator('#selected').textContent(), first, 'the slowest function is selected');
  // The latency chart drew lines: its canvas holds many non-transparent pixels.
  const drawn = await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#series-chart canvas')!;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
    return painted;
  });
  t.true(drawn > 2000, `${drawn} painted pixels in the latency chart`);
  // Sorting by clicking a header.
  await page.locator('#functions th[data-key="count"]').click();
  const counts = await page.locator('#functions tbody tr td:nth-child(2)').allTextContents();
  const nums = counts.map((c) => Number(c.replace(/,/g, '')));
  t.true(nums.every((n, i) => i === 0 || nums[i - 1]! >= n), 'sorted by count, descending');
  // Event search with the shared filter syntax.
  await page.fill('#events-filter', 'status:error name:Service1*');
  await page.click('#events-form button');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#events tbody tr')).every((tr) => tr.children[3]!.textContent === 'error'));
  const names = await page.locator('#events tbody tr td:nth-child(2)').allTextContents();
  t.true(names.length > 0 && names.every((n) => n.startsWith('Service1')));
  // A bad filter is reported with its position.
  await page.fill('#events-filter', 'duration>10xs');
  await page.click('#events-form button');
  await page.waitForSelector('#error:not([hidden])');
  t.regex((await page.locator('#error').textContent()) ?? '', /invalid filter at 9: expected a duration/);
  await page.fill('#events-filter', '');
  await page.click('#events-form button');
  await page.waitForSelector('#error', { state: 'hidden' });
  const png = await page.screenshot();
  const share = await nonBackground(page, png);
  t.true(share > 0.2, `only ${(share * 100).toFixed(1)}% of the screenshot differs from the background`);
  if (process.env.LAPTIME_UPDATE_SCREENSHOT === '1') {
    mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
    writeFileSync(path.join(ROOT, 'docs', 'dashboard.png'), png);
  }
  t.deepEqual(errors, []);
});

browserTest('dashboard in Chromium: hostile function names, field values and messages are shown as text', async (t) => {
  const dir = tempDir();
  const store = open({ dir });
  const hostile = '<img src=x onerror="window.__xss=1">';
  const script = '<script>window.__xss=2</script>';
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < 50; i++) store.record({ name: hostile, startNs: now - BigInt(i) * 1_000_000n, durationNs: 1000 + i, ok: i % 5 !== 0, fields: { route: script, '"><b>key': 'x' } });
  store.logger(`${script}logger`).error(hostile, { note: '<svg onload=window.__xss=3>' });
  await store.close();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const { page, errors } = await openDashboard(d);
  t.is(await page.locator('#functions tbody tr td').first().textContent(), hostile);
  t.is(await page.locator('#selected').textContent(), hostile);
  await page.fill('#events-filter', '');
  await page.click('#events-form button');
  await page.waitForFunction(() => document.querySelectorAll('#events tbody tr').length >= 50);
  const texts = await page.locator('#events tbody').textContent();
  t.true((texts ?? '').includes(script));
  t.true((texts ?? '').includes('<svg onload=window.__xss=3>'));
  t.is(await page.locator('#events img, #functions img, #events script, #events svg, #events b, #functions b').count(), 0);
  t.is(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  t.deepEqual(errors, []);
});

api('API: live data: what an application writes while the dashboard runs shows up', async (t) => {
  const dir = tempDir();
  const store = open({ dir, pageMaxAgeMs: 5 });
  t.teardown(() => store.close());
  const now = BigInt(Date.now()) * 1_000_000n;
  const record = (from: number, n: number) => {
    for (let i = from; i < from + n; i++) store.record({ name: 'live.op', startNs: now - 10_000_000_000n + BigInt(i) * 1_000_000n, durationNs: 1000 + i });
  };
  record(0, 100);
  await store.flush();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const count = async () => ((await get(d.url, '/api/stats?since=1h')).body.rows as Array<{ count: number }>)[0]?.count ?? 0;
  const until = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while ((await count()) !== n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return count();
  };
  t.is(await until(100), 100);
  record(100, 50);
  await store.flush();
  t.is(await until(150), 150, 'events written after the server started are served');
});

/** A store of one function called once a second for 10 minutes, ending 20 minutes ago; one log line. */
async function tenMinutes(): Promise<{ dir: string; calls: number }> {
  const dir = tempDir();
  const store = open({ dir });
  const end = BigInt(Date.now() - 20 * 60_000) * 1_000_000n;
  const calls = 601;
  for (let i = 0; i < calls; i++) store.record({ name: 'Tick.run', startNs: end - BigInt(calls - 1 - i) * 1_000_000_000n, durationNs: 1000 + i, fields: { route: '/t' } });
  await store.close();
  return { dir, calls };
}

api('API: every parameter of every route answers garbage with 400 naming it, never 500', async (t) => {
  const { dir } = await tenMinutes();
  const d = await serve({ dir, port: 0, rateLimit: 100_000 });
  t.teardown(() => d.close());
  const routes: Record<string, string[]> = {
    '/api/info': ['x'],
    '/api/stats': ['filter', 'since', 'until', 'group'],
    '/api/series': ['name', 'filter', 'since', 'until', 'bucket', 'group', 'top'],
    '/api/fields': ['filter', 'since', 'until', 'sample'],
    '/api/marks': ['since', 'until'],
    '/api/histogram': ['name', 'filter', 'since', 'until'],
    '/api/events': ['filter', 'limit', 'cursor', 'order'],
    '/api/anomalies': ['filter', 'since', 'until', 'bucket', 'metric'],
    '/api/compare': ['filter', 'baseline', 'candidate'],
  };
  const garbage = ['x', '-1', '0', '1e400', 'NaN', '\u0000', '%', '..', '9'.repeat(30), 'now..', '"', 'since:', '-kind', 'a'.repeat(500), '0.0000001ms', '999999d', '\u202e', ' ', '1h..2h'];
  const failures: string[] = [];
  for (const [route, params] of Object.entries(routes)) {
    for (const param of params) {
      for (const value of garbage) {
        const q = new URLSearchParams({ name: 'Tick.run', baseline: '2h..1h', candidate: '1h..now' });
        q.set(param, value);
        const r = await get(d.url, `${route}?${q}`);
        const message = (r.body.error as { message?: string } | undefined)?.message ?? '';
        if (r.status === 500 || (r.status === 400 && !message.includes(param)) || (r.status !== 200 && r.status !== 400)) {
          failures.push(`${route} ${param}=${JSON.stringify(value).slice(0, 20)}: ${r.status} ${message.slice(0, 120)}`);
        }
      }
    }
  }
  t.deepEqual(failures, []);
  const cursor = await get(d.url, '/api/events?cursor=not-a-cursor');
  t.is(cursor.status, 400);
  t.regex((cursor.body.error as { message: string }).message, /^parameter "cursor": invalid cursor/);
  const late = await get(d.url, `/api/stats?since=${'9'.repeat(20)}`);
  t.is(late.status, 400);
  t.regex((late.body.error as { message: string }).message, /^parameter "since": invalid time "9{20}" at 0: expected a time from 1970 to 2554/);
});

api('API: series buckets are bounded; the same query through the TS API stays bounded by the events', async (t) => {
  const { dir, calls } = await tenMinutes();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  for (const bucket of ['100ns', '0.0001ms', '1ms']) {
    const r = await get(d.url, `/api/series?name=Tick.run&since=1h&bucket=${bucket}`);
    t.is(r.status, 400, bucket);
    t.regex((r.body.error as { message: string }).message, /^parameter "bucket": .* cuts the range into [\d,]+ buckets; at most 10,000/);
  }
  const anomalies = await get(d.url, '/api/anomalies?since=1h&bucket=100ns');
  t.is(anomalies.status, 400);
  const ok = await get(d.url, '/api/series?name=Tick.run&since=1h&bucket=1s');
  t.is(ok.status, 200);
  t.is((ok.body.points as Array<{ count: number }>).reduce((s, p) => s + p.count, 0), calls);
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const { rows } = await reader.query().bucket('100ns').count().run();
  t.is(rows.length, calls);
});

api('API: rate is calls per second over the time calls were seen, not over the range asked for', async (t) => {
  const { dir, calls } = await tenMinutes();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  for (const since of ['1h', '6h']) {
    const r = await get(d.url, `/api/stats?since=${since}`);
    t.is(r.status, 200);
    const row = (r.body.rows as Array<{ name: string; count: number; rate: number }>)[0]!;
    t.is(row.count, calls);
    // 601 calls one second apart: seen over 600 s, whatever the range.
    t.true(Math.abs(row.rate - calls / 600) < 1e-6, `since=${since}: rate ${row.rate}`);
  }
  // The CLI's stats agree.
  let out = '';
  const code = await main(['stats', '-d', dir, '--since', '6h', '--json'], { out: (s: string) => void (out += s), err: () => {}, isTTY: false, now: () => Date.now(), sleep: async () => false });
  t.is(code, 0);
  t.true(Math.abs((JSON.parse(out.trim()) as { rate: number }).rate - calls / 600) < 1e-6, out);
});

api('API: /api/info shows the store path on loopback only', async (t) => {
  const { dir } = await tenMinutes();
  const token = 'correct-horse-battery-staple';
  const local = await serve({ dir, port: 0 });
  t.teardown(() => local.close());
  t.is((await get(local.url, '/api/info')).body.path, dir);
  const wide = await serve({ dir, port: 0, host: '0.0.0.0', token });
  t.teardown(() => wide.close());
  const port = new URL(wide.url).port;
  const info = await get(`http://127.0.0.1:${port}/`, '/api/info', { headers: { Authorization: `Bearer ${token}` } });
  t.is(info.status, 200);
  t.false('path' in info.body, JSON.stringify(info.body));
  t.is(typeof info.body.version, 'string');
});

// ---- group by a per-call attribute, and markers ----------------------------------------------

const HOSTILE = '<img src=x onerror="window.__xss=1">';
const QUOTED = `"quoted' value`;
const RTL = 'مرحبا\u202eevil';
const EMOJI = '🚀 launch';
/** Calls of db.query per tenant (`null`: no tenant field); distinct counts so the top 5 are clear. */
const TENANTS: Array<[string | null, number]> = [
  ['acme', 300],
  ['globex', 250],
  [HOSTILE, 200],
  [QUOTED, 150],
  [RTL, 120],
  [EMOJI, 90],
  [null, 60],
  ['tiny', 30],
];
const MARK_HOSTILE = '<b>rollback</b>';
const VERSION_HOSTILE = '<img src=x onerror=window.__xss=4>';

/**
 * A store with per-call attributes: `http.handle` captured with a fields function (tenant, route,
 * status_code), `db.query` recorded over the last 10 minutes with hostile tenant values (the
 * slowest function, so the page selects it), and two markers.
 */
async function groupedStore(): Promise<string> {
  const dir = tempDir();
  const store = open({ dir });
  const handle = capture((req: { tenant: string; route: string; status: number }) => req.status, {
    name: 'http.handle',
    store,
    fields: ([req]) => ({ tenant: req.tenant, route: req.route, status_code: req.status }),
  });
  for (let i = 0; i < 200; i++) handle({ tenant: ['acme', 'globex'][i % 2]!, route: i % 4 === 0 ? '/orders' : '/users/:id', status: i % 10 === 0 ? 500 : 200 });
  // Tenants spread over time by a fixed shuffle; the newest ones are the odd values, so the first
  // page of events shows them.
  const values: Array<string | null> = TENANTS.flatMap(([v, n]) => Array.from({ length: n }, () => v));
  let seed = 7;
  for (let i = values.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  values.push(...[HOSTILE, QUOTED, RTL, EMOJI].map((v) => values.splice(values.indexOf(v), 1)[0]!));
  const end = Date.now() - 5_000;
  const start = end - 600_000;
  values.forEach((tenant, i) => {
    const ms = start + Math.floor((i * (end - start)) / values.length);
    const base = 5_000_000 + 1_000_000 * (TENANTS.findIndex(([v]) => v === tenant) + 1);
    store.record({ name: 'db.query', startNs: BigInt(ms) * 1_000_000n, durationNs: base + (i % 97) * 10_000, ok: i % 50 !== 0, fields: tenant === null ? { table: 'users' } : { tenant, table: 'users' } });
  });
  mark('deploy', { version: '1.4.2', commit: 'a1b2c3d' }, { store });
  mark(MARK_HOSTILE, { version: VERSION_HOSTILE }, { store });
  await store.close();
  return dir;
}

let groupedDir: string | undefined;
async function sharedGrouped(): Promise<string> {
  groupedDir ??= await groupedStore();
  return groupedDir;
}

type Row = { name: string; group: string | number | boolean | null; count: number; errors: number; p99: number | null };
const sortKey = (r: { name: string; group: unknown }) => `${r.name}\u0000${String(r.group)}`;

api('API: group= gives one stats row per function and value, the same as groupBy in a query', async (t) => {
  const dir = await sharedGrouped();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  for (const key of ['tenant', 'status_code', 'route']) {
    const r = await get(d.url, `/api/stats?since=1h&group=${key}`);
    t.is(r.status, 200, key);
    t.is(r.body.group, key);
    const rows = (r.body.rows as Row[]).map((x) => ({ name: x.name, group: x.group, count: x.count, errors: x.errors })).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    const direct = await reader.query().kind('call').since('1h').groupBy('name').groupBy(key).count().errors().run();
    const expected = direct.rows.map((x) => ({ name: x.name, group: (x as Record<string, unknown>)[key] as Row['group'], count: x.count, errors: x.errors })).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    t.deepEqual(rows, expected, key);
  }
  const byTenant = (await get(d.url, '/api/stats?since=1h&group=tenant')).body.rows as Row[];
  const db = byTenant.filter((r) => r.name === 'db.query');
  t.deepEqual(
    db.map((r) => [r.group, r.count]).sort((a, b) => (b[1] as number) - (a[1] as number)),
    TENANTS.map(([v, n]) => [v, n]),
    'every tenant value, hostile ones intact, and calls without the field as null',
  );
  t.deepEqual(
    byTenant.filter((r) => r.name === 'http.handle').map((r) => [r.group, r.count]).sort(),
    [
      ['acme', 100],
      ['globex', 100],
    ],
  );
  // A filter still applies, and `field.` spells the same key.
  const errors = await get(d.url, `/api/stats?since=1h&group=field.status_code&filter=${encodeURIComponent('name:http.handle')}`);
  t.deepEqual((errors.body.rows as Row[]).map((r) => [r.group, r.count, r.errors]).sort(), [
    [200, 180, 0],
    [500, 20, 0],
  ]);
});

api('API: grouped series: the top values by calls, the rest as other, each with its own buckets', async (t) => {
  const dir = await sharedGrouped();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const counts = await reader.query().kind('call').name('db.query').groupBy('tenant').count().orderBy('count', 'desc').run();
  const total = counts.rows.reduce((s, r) => s + r.count, 0);
  type Series = { value: string | null; other: boolean; count: number; points: Array<{ time: number; count: number; p99: number | null }> };
  for (const top of [undefined, 2, 7, 20]) {
    const r = await get(d.url, `/api/series?since=1h&name=db.query&group=tenant${top === undefined ? '' : `&top=${top}`}`);
    t.is(r.status, 200);
    const n = top ?? 5;
    const series = r.body.series as Series[];
    const expected = counts.rows.slice(0, n).map((x) => [x.tenant, false, x.count]);
    if (n < counts.rows.length) expected.push([null, true, counts.rows.slice(n).reduce((s, x) => s + x.count, 0)]);
    t.deepEqual(
      series.map((s) => [s.value, s.other, s.count]),
      expected,
      `top=${String(top)}`,
    );
    for (const s of series) t.is(s.points.reduce((a, p) => a + p.count, 0), s.count, `top=${String(top)}: points of ${String(s.value)} add up`);
    t.is(series.reduce((a, s) => a + s.count, 0), total);
  }
  // Each series' buckets are those of its calls alone, also the other series'.
  const one = (await get(d.url, `/api/series?since=1h&name=db.query&group=tenant&top=1&bucket=1m`)).body.series as Series[];
  const bucketsOf = async (filter: string) =>
    (await reader.query().kind('call').name('db.query').filter(filter).bucket('1m').count().percentiles([50, 99]).orderBy('time', 'asc').run()).rows.map((r) => [r.time, r.count, r.p50, r.p99]);
  const pointsOf = (s: Series) => s.points.map((p) => [p.time, p.count, (p as unknown as { p50: number | null }).p50, p.p99]);
  t.deepEqual(one.map((s) => [s.value, s.other]), [
    ['acme', false],
    [null, true],
  ]);
  t.deepEqual(pointsOf(one[0]!), await bucketsOf('tenant=acme'));
  t.deepEqual(pointsOf(one[1]!), await bucketsOf('-tenant:in(acme)'));
  t.true(one[1]!.points.length >= 10, 'ten minutes of 1m buckets');
});

api('API: a bad group key or top is a 400 naming it; fields and marks answer', async (t) => {
  const dir = await sharedGrouped();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const cases: Array<[string, RegExp]> = [
    ['/api/stats?group=-tenant', /^parameter "group" must be a field key .* got "-tenant"$/],
    ['/api/stats?group=' + encodeURIComponent('a b'), /^parameter "group" must be a field key .* got "a b"$/],
    ['/api/stats?group=name', /^parameter "group": "name" is the function name, not a field; write field\.name/],
    ['/api/stats?group=p99', /^parameter "group": a field called "p99" cannot be grouped by here/],
    ['/api/series?name=db.query&group=' + encodeURIComponent('ten"ant'), /^parameter "group" must be a field key .* got "ten\\"ant"$/],
    ['/api/series?name=db.query&group=time', /^parameter "group": a field called "time" cannot be grouped by here/],
    ['/api/stats?group=__proto__', /^parameter "group": a field called "__proto__" cannot be grouped by$/],
    ['/api/series?name=db.query&group=tenant&top=0', /^parameter "top" must be a whole number in 1\.\.20, got "0"$/],
    ['/api/series?name=db.query&group=tenant&top=21', /^parameter "top" must be a whole number in 1\.\.20, got "21"$/],
    ['/api/fields?sample=0', /^parameter "sample" must be a whole number in 1\.\.10000/],
    ['/api/marks?since=7x', /^parameter "since": invalid time "7x"/],
  ];
  for (const [route, message] of cases) {
    const r = await get(d.url, route);
    t.is(r.status, 400, route);
    t.regex((r.body.error as { message: string }).message, message, route);
  }
  const fields = await get(d.url, '/api/fields?since=1h');
  t.is(fields.status, 200);
  const keys = new Map((fields.body.keys as Array<{ key: string; count: number }>).map((k) => [k.key, k.count]));
  const sampled = fields.body.sampled as number;
  t.is(sampled, 1000, 'the newest 1000 calls');
  for (const k of ['tenant', 'table', 'route', 'status_code']) t.true(keys.has(k), `${k} offered: ${[...keys.keys()].join(', ')}`);
  t.false(keys.has('version'), 'marker fields are not call fields');
  t.true([...keys.values()].every((c) => c > 0 && c <= sampled));
  const http = await get(d.url, `/api/fields?since=1h&filter=${encodeURIComponent('name:http.handle')}`);
  t.deepEqual(http.body.keys, [
    { key: 'route', count: 200 },
    { key: 'status_code', count: 200 },
    { key: 'tenant', count: 200 },
  ]);
  const marks = await get(d.url, '/api/marks?since=1h');
  t.is(marks.status, 200);
  t.deepEqual(
    (marks.body.marks as Array<{ label: string; fields: Record<string, unknown> }>).map((m) => [m.label, m.fields]),
    [
      ['deploy', { version: '1.4.2', commit: 'a1b2c3d' }],
      [MARK_HOSTILE, { version: VERSION_HOSTILE }],
    ],
  );
  t.false(marks.body.truncated as boolean);
  t.deepEqual((await get(d.url, '/api/marks?since=2h&until=1h')).body.marks, [], 'none outside the range');
});

test('mark() refuses a bad label, fields or store by name', (t) => {
  t.throws(() => mark(''), { instanceOf: TypeError, message: /mark\(\) needs a label \(a non-empty string\), got string ""/ });
  t.throws(() => mark(42 as unknown as string), { instanceOf: TypeError, message: /needs a label .* got number 42/ });
  t.throws(() => mark('x'.repeat(1025)), { instanceOf: TypeError, message: /1025 characters; at most 1024/ });
  t.throws(() => mark('deploy', { version: { major: 1 } as unknown as string }), { instanceOf: TypeError, message: /mark\(\) field "version" must be a string, number, boolean or bigint/ });
  t.throws(() => mark('deploy', ['1.4.2'] as unknown as Record<string, string>), { instanceOf: TypeError, message: /fields must be an object/ });
  t.throws(() => mark('deploy', {}, { store: {} as never }), { instanceOf: TypeError, message: /option "store" must be a Store from open\(\)/ });
});

api('mark() without a store writes to the default store', async (t) => {
  const store = open({ dir: tempDir() });
  setDefaultStore(store);
  t.teardown(async () => {
    setDefaultStore(null);
    await store.close();
  });
  mark('config reload', { attempt: 2, ok: true, seq: 2n ** 60n });
  await store.flush();
  const { events } = await store.events('name:laptime.mark');
  t.deepEqual(
    events.map((e) => [e.kind, e.level, e.message, e.fields]),
    [['log', 'info', 'config reload', { attempt: 2, ok: true, seq: 2n ** 60n }]],
  );
});

browserTest('dashboard in Chromium: group by an attribute (table column, one line per value, events column) and marker lines, hostile values as text', async (t) => {
  const dir = await sharedGrouped();
  const d = await serve({ dir, port: 0 });
  t.teardown(() => d.close());
  const { page, errors } = await openDashboard(d);
  t.is(await page.locator('#selected').textContent(), 'db.query', 'the slowest function is selected');
  // Markers: a dashed line per marker with its label and version, as text.
  await page.waitForFunction(() => document.querySelectorAll('#series-chart .mark').length === 2);
  t.deepEqual(await page.locator('#series-chart .mark-label').allTextContents(), ['deploy 1.4.2', `${MARK_HOSTILE} ${VERSION_HOSTILE}`]);
  t.is(await page.locator('#functions-group').count(), 0, 'no group column before a key is chosen');
  // The choices come from the calls' fields.
  await page.waitForSelector('#group option[value="tenant"]', { state: 'attached' });
  const choices = await page.locator('#group option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  for (const k of ['', 'tenant', 'route', 'status_code', 'table']) t.true(choices.includes(k), `choice ${k}: ${choices.join(', ')}`);
  await page.selectOption('#group', 'tenant');
  // The table gains the column with the values of the API's rows.
  const stats = (await get(d.url, '/api/stats?since=1h&group=tenant')).body.rows as Row[];
  await page.waitForFunction((n) => document.querySelector('#functions-group') !== null && document.querySelectorAll('#functions tbody tr').length === n, stats.length);
  t.is(await page.locator('#functions-group').textContent(), 'tenant');
  const shown = await page.locator('#functions tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.children[0]!.textContent, tr.children[1]!.textContent, tr.children[2]!.textContent]));
  const expected = stats.map((r) => [r.name, r.group === null ? '(none)' : String(r.group), r.count.toLocaleString('en-US')]);
  t.deepEqual(shown.map((r) => r.join('|')).sort(), expected.map((r) => r.join('|')).sort());
  // One p99 line per value among the top 5, then other, each in the legend.
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#series-chart .u-legend .u-label')).some((l) => (l.textContent ?? '').includes('other')));
  const labels = (await page.locator('#series-chart .u-legend .u-series .u-label').allTextContents()).filter((l) => l.endsWith(' · p99 ms'));
  t.deepEqual(labels, ['acme', 'globex', HOSTILE, QUOTED, RTL, 'other'].map((v) => `${v} · p99 ms`));
  // Hide the calls/s bars (a click on their legend entry, as a user would), then look for each line's colour.
  await page.locator('#series-chart .u-legend .u-series', { hasText: 'calls/s' }).click();
  await page.waitForFunction(() => document.querySelector('#series-chart .u-legend .u-series.u-off') !== null);
  const lines = await page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#series-chart canvas')!;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    // The palette's first six colours (acme .. other): pixels near each (lines are antialiased).
    const palette = [[46, 144, 250], [247, 144, 9], [18, 183, 106], [217, 45, 32], [122, 90, 248], [238, 70, 188]];
    const seen = palette.map(() => 0);
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! < 100) continue;
      palette.forEach(([r, g, b], k) => {
        if (Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) < 40) seen[k]!++;
      });
    }
    return seen.filter((n) => n >= 20).length;
  });
  t.is(lines, 6, 'six line colours drawn on the canvas');
  t.is(await page.locator('#series-chart .mark').count(), 2, 'markers stay when the chart is redrawn');
  // Events search shows the field as a column.
  await page.fill('#events-filter', 'name:db.query');
  await page.click('#events-form button');
  await page.waitForFunction(() => document.querySelector('#events-group') !== null && Array.from(document.querySelectorAll('#events tbody tr')).every((tr) => tr.children[1]!.textContent === 'db.query'));
  t.is(await page.locator('#events-group').textContent(), 'tenant');
  const reader = openReader(dir);
  t.teardown(() => reader.close());
  const newest = await reader.events('name:db.query', { limit: 50 });
  const column = await page.locator('#events tbody tr td:nth-child(3)').allTextContents();
  t.deepEqual(column, newest.events.map((e) => (e.fields.tenant === undefined ? '' : String(e.fields.tenant))));
  for (const v of [HOSTILE, QUOTED, RTL, EMOJI]) t.true(column.includes(v), `events show ${v} as text`);
  // Back to none: the columns go.
  await page.selectOption('#group', '');
  await page.waitForFunction(() => document.querySelector('#functions-group') === null && document.querySelector('#events-group') === null);
  t.is(await page.locator('#functions tbody tr').count(), 2);
  await page.selectOption('#group', 'tenant');
  await page.waitForFunction(() => document.querySelector('#functions-group') !== null && Array.from(document.querySelectorAll('#series-chart .u-legend .u-label')).some((l) => (l.textContent ?? '').includes('other')));
  t.is(await page.locator('img, b, svg, script:not([src])').count(), 0, 'no hostile markup became elements');
  t.is(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  const png = await page.screenshot();
  const share = await nonBackground(page, png);
  t.true(share > 0.2, `only ${(share * 100).toFixed(1)}% of the screenshot differs from the background`);
  t.deepEqual(errors, []);
});
