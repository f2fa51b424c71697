/**
 * `laptime serve`: the dashboard and its JSON API over node:http. Read-only: it opens the store
 * with a {@link Reader}. Defences, because a dashboard is a way into the machine:
 * - binds to 127.0.0.1 unless told otherwise; any other address needs a token (Bearer header, or
 *   `?token=` for the page itself, which then sends the header);
 * - the Host header must name the server (no DNS rebinding from a web page);
 * - GET/HEAD only, no request bodies, URLs up to 4 KiB, a per-client rate limit;
 * - `/metrics` (Prometheus text format, src/metrics.ts) is behind the same checks as the API;
 * - a Content-Security-Policy that allows only the server's own scripts and styles (the page
 *   writes every user string with textContent, so a function named `<img onerror=…>` is text).
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { openReader, type Reader } from '../reader';
import { openFleet } from '../fleet';
import type { DashboardSource } from './api';
import { safeJson } from '../json';
import { METRICS_CONTENT_TYPE, metricsText } from '../metrics';
import { answer, ApiError } from './api';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Store directory. */
  dir: string;
  /** Read a fleet through its coordinator (`laptime-fleet coordinate`) instead of `dir`. */
  coordinator?: string;
  /** Bearer token the coordinator requires. */
  coordinatorToken?: string;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 7070; 0 picks a free one). */
  port?: number;
  /** Required for every request when set; mandatory when `host` is not a loopback address. */
  token?: string;
  /**
   * More names clients may reach the server by (the Host header), e.g. the host name a Prometheus
   * server scrapes: `name:<port>` (or `name` alone on port 80) is accepted besides the bind
   * address, localhost and the loopback addresses. Anything else is refused (421): no DNS rebinding.
   */
  allowedHosts?: readonly string[];
  /** Requests per second per client (default 50), with bursts of twice that. */
  rateLimit?: number;
  /** Clock for relative times (tests). */
  now?: () => number;
}

/** A running dashboard. */
export interface Dashboard {
  /** Base URL, with the token when one is set. */
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const MAX_URL = 4096;

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Files the page needs, read once: name -> [content type, bytes]. */
function assets(): Map<string, [string, Buffer]> {
  // Static files of the page live in /dashboard at the package root (plain browser JS, no build).
  const here = path.join(__dirname, '..', '..', 'dashboard');
  const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return new Map<string, [string, Buffer]>([
    ['/', ['text/html; charset=utf-8', readFileSync(path.join(here, 'index.html'))]],
    ['/app.js', ['text/javascript; charset=utf-8', readFileSync(path.join(here, 'app.js'))]],
    ['/style.css', ['text/css; charset=utf-8', readFileSync(path.join(here, 'style.css'))]],
    ['/uPlot.iife.min.js', ['text/javascript; charset=utf-8', readFileSync(path.join(uplotDir, 'uPlot.iife.min.js'))]],
    ['/uPlot.min.css', ['text/css; charset=utf-8', readFileSync(path.join(uplotDir, 'uPlot.min.css'))]],
  ]);
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Start the dashboard; resolves once it listens. */
export async function serve(options: ServeOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token;
  const extraHosts = [...(options.allowedHosts ?? [])];
  for (const name of extraHosts) {
    if (typeof name !== 'string' || !/^[a-z0-9.-]+$/i.test(name) || name.length > 253) {
      throw new TypeError(`laptime: allowed host names are DNS names such as metrics.example.com, got ${JSON.stringify(name)}`);
    }
  }
  if (!LOOPBACK.has(host) && (token === undefined || token === '')) {
    throw new TypeError(`laptime: --token is required when binding to ${host} (anyone who can reach it could read the store)`);
  }
  if (token !== undefined && token.length < 16) throw new RangeError('laptime: the token must be at least 16 characters');
  // A local store's reader is closed with the server; a fleet holds nothing open.
  const local: Reader | null = options.coordinator === undefined ? openReader(options.dir) : null;
  const reader: DashboardSource = local ?? openFleet(options.coordinator!, options.coordinatorToken === undefined ? {} : { token: options.coordinatorToken });
  const files = assets();
  const rate = options.rateLimit ?? 50;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const now = options.now ?? Date.now;
  let port = options.port ?? 7070;

  const send = (res: ServerResponse, status: number, type: string, body: Buffer | string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };
  const fail = (res: ServerResponse, status: number, message: string, details: Record<string, unknown> = {}, extra: Record<string, string> = {}) =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify({ error: { status, message, ...details } }), extra);

  const allowed = (req: IncomingMessage): boolean => {
    // A client's bucket refills `rate` tokens per second up to twice that.
    const who = req.socket.remoteAddress ?? '?';
    const t = Date.now();
    const b = buckets.get(who) ?? { tokens: rate * 2, at: t };
    b.tokens = Math.min(rate * 2, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(who, b);
    if (buckets.size > 10_000) buckets.clear(); // bounded memory under a scan of many clients
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };

  const server = createServer((req, res) => {
    void (async () => {
      const rawUrl = req.url ?? '/';
      if (rawUrl.length > MAX_URL) return fail(res, 414, `URL longer than ${MAX_URL} bytes`);
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, `method ${req.method} not allowed; the API is read-only (GET)`, {}, { Allow: 'GET, HEAD' });
      if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) return fail(res, 413, 'requests carry no body');
      const hostHeader = (req.headers.host ?? '').toLowerCase();
      const names = [host, 'localhost', '127.0.0.1', '[::1]', ...extraHosts];
      const okHosts = new Set(names.flatMap((h) => (port === 80 ? [`${h}:80`, h] : [`${h}:${port}`])).map((h) => h.toLowerCase()));
      if (!okHosts.has(hostHeader)) return fail(res, 421, `Host "${hostHeader}" is not this server`);
      if (!allowed(req)) return fail(res, 429, 'too many requests; slow down', {}, { 'Retry-After': '1' });
      const url = new URL(rawUrl, `http://${hostHeader}`);
      if (token !== undefined) {
        const auth = req.headers.authorization;
        const given = auth?.startsWith('Bearer ') ? auth.slice(7) : (url.searchParams.get('token') ?? '');
        if (!sameToken(given, token)) return fail(res, 401, 'missing or wrong token', {}, { 'WWW-Authenticate': 'Bearer' });
      }
      if (url.pathname.startsWith('/api/')) {
        try {
          const body = await answer(reader, url.pathname, url.searchParams, now(), { loopback: LOOPBACK.has(host) });
          // Exact JSON that is also safe when a person `curl`s it onto a terminal.
          return send(res, 200, 'application/json; charset=utf-8', safeJson(body));
        } catch (err) {
          if (err instanceof ApiError) return fail(res, err.status, err.message, err.details);
          return fail(res, 500, `the query failed: ${(err as Error).message?.replace(/^laptime: /, '') ?? String(err)}`);
        }
      }
      if (url.pathname === '/metrics') {
        // Prometheus scrapes pass the same checks as the API (Host, rate limit, Bearer token).
        try {
          return send(res, 200, METRICS_CONTENT_TYPE, await metricsText(reader, { now }));
        } catch (err) {
          return send(res, 500, 'text/plain; charset=utf-8', `the metrics query failed: ${(err as Error).message?.replace(/^laptime: /, '') ?? String(err)}\n`);
        }
      }
      const asset = files.get(url.pathname === '/index.html' ? '/' : url.pathname);
      if (asset === undefined) return fail(res, 404, `no such page: ${url.pathname}`);
      return send(res, 200, asset[0], asset[1]);
    })().catch((err: unknown) => {
      if (!res.headersSent) fail(res, 500, String(err));
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        local?.close();
      }),
  };
}
