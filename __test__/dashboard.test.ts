/// <reference lib="dom" />
/**
 * `laptime serve`: the JSON API's answers and defences over real HTTP, and the dashboard in real
 * headless Chromium (Debian's `chromium`, driven by playwright-core; .ci/run installs it) on a store
 * of R1 events: table rows, a chart that drew, event search, a screenshot that is not blank, and
 * hostile names and values shown as text.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { open, openReader } from '../index';
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
    '/api/stats': ['filter', 'since', 'until'],
    '/api/series': ['name', 'filter', 'since', 'until', 'bucket'],
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
