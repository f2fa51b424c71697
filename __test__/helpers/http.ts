/** A small HTTP client for the middleware tests: plain node:http on 127.0.0.1, no agent reuse. */
import * as http from 'node:http';
import type { Store } from '../../src/store';
import type { StoredEvent } from '../../src/query';

export interface Reply {
  status: number;
  body: string;
  /** Client-side ms from sending to the end of the body. */
  ms: number;
}

/** GET (or `method`) `path` and read the whole answer. */
export function send(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sends a request and destroys the connection after `ms` (before the server answers). Resolves
 * with the `performance.now()` of the destroy.
 */
export function sendAndAbort(port: number, path: string, ms: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false });
    req.on('error', () => undefined);
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve(performance.now());
    }, ms);
  });
}

/** Waits until `store` holds `n` events (the response 'close' runs just after the client got its answer). */
export async function eventsOf(store: Store, n: number, timeoutMs = 5000): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await store.flush();
    const events = (await store.events(undefined, { limit: 1000, order: 'oldest' })).events;
    if (events.length >= n || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Slack above a real delay a recorded duration may show on a shared, noisy 2-core machine (the
 * event loop's delay in emitting 'finish' and 'close' when the whole suite runs at once).
 */
export const SLACK_MS = 60;

/** Sends a request, waits for the first chunk of the answer, then destroys the connection. */
export function abortAfterFirstChunk(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', () => undefined);
    req.on('close', () => resolve(0));
    req.end();
    setTimeout(() => reject(new Error('no first chunk within 5 s')), 5000).unref();
  });
}
