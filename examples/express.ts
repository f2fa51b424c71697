/**
 * Express 5: one line records every request, named by its route template (`GET /users/:id`), from
 * its arrival until its response finished. Run with `npm run example:express`: starts an app on
 * 127.0.0.1, sends a few requests, prints the stats per route and per status, and stops.
 */
import express from 'express';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from '../index';
import * as laptime from '../src/express';

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-express-'));
  const store = open({ dir });

  const app = express();
  app.use(laptime.express({ store })); // first, so it sees every request
  app.get('/users/:id', (req, res) => {
    laptime.annotate(req, { plan: Number(req.params.id) % 3 === 0 ? 'pro' : 'free' });
    res.json({ id: req.params.id });
  });
  app.post('/orders', (_req, res) => {
    setTimeout(() => res.status(201).json({ ok: true }), 5); // answered later: timed until then
  });
  app.get('/fail', () => {
    throw new RangeError('out of stock');
  });
  app.use(laptime.expressErrors()); // after the routes: records the class of thrown errors
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.message });
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  for (let i = 0; i < 30; i++) await (await fetch(`${base}/users/${i}`)).text();
  for (let i = 0; i < 10; i++) await (await fetch(`${base}/orders`, { method: 'POST' })).text();
  for (let i = 0; i < 4; i++) await (await fetch(`${base}/fail`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${base}/wp-login.php?probe=${i}`)).text();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.flush();

  const { rows } = await store.stats();
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(18)} ${String(r.count).padStart(3)} calls ${String(r.errors).padStart(2)} errors  p50 ${((r.p50 ?? 0) / 1e6).toFixed(2)} ms\n`);
  }
  const byStatus = await store.query().groupBy('route').groupBy('status_code').count().run();
  process.stdout.write(`by route and status: ${JSON.stringify(byStatus.rows)}\n`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
