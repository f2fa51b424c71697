/**
 * Prometheus: serve laptime's per-function figures at /metrics from your own node:http server.
 * Run with `npm run example:prometheus`. Writes into a temporary store, records a few hundred
 * calls, answers one scrape on 127.0.0.1 and prints it, then stops.
 */
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { capture, metricsHandler, open } from '../index';

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-prometheus-'));
  const store = open({ dir });
  const checkout = capture((items: number) => {
    if (items > 8) throw new Error('cart too large');
    return items * 3;
  }, { name: 'Cart.checkout', store });
  for (let i = 0; i < 300; i++) {
    try {
      checkout(i % 10);
    } catch {
      // Failed calls are recorded as errors.
    }
  }
  await store.flush();

  // Any (req, res) server works: node:http here, Express's app.get('/metrics', handler) alike.
  const handler = metricsHandler(store, { windowMs: 5 * 60_000 });
  const server = http.createServer((req, res) => (req.url === '/metrics' ? handler(req, res) : res.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  process.stdout.write(text);
  server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
