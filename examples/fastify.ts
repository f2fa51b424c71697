/**
 * Fastify 5: register the plugin once and every request is recorded, named by its route template
 * (`GET /users/:id`), from `onRequest` until the response finished. Run with
 * `npm run example:fastify`: starts an app on 127.0.0.1, sends a few requests, prints the stats
 * per route and per status, and stops.
 */
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from '../index';
import * as laptime from '../src/fastify';

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-fastify-'));
  const store = open({ dir });

  const app = Fastify();
  await app.register(laptime.fastify, { store, fields: (req) => ({ agent: req.headers['user-agent'] === 'probe' ? 'probe' : 'app' }) });
  app.get('/users/:id', async (req) => {
    const { id } = req.params as { id: string };
    laptime.annotate(req, { plan: Number(id) % 3 === 0 ? 'pro' : 'free' });
    return { id };
  });
  app.post('/orders', async (_req, reply) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return reply.code(201).send({ ok: true });
  });
  app.get('/fail', async () => {
    throw new RangeError('out of stock');
  });

  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  for (let i = 0; i < 30; i++) await (await fetch(`${base}/users/${i}`)).text();
  for (let i = 0; i < 10; i++) await (await fetch(`${base}/orders`, { method: 'POST' })).text();
  for (let i = 0; i < 4; i++) await (await fetch(`${base}/fail`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${base}/wp-login.php?probe=${i}`, { headers: { 'user-agent': 'probe' } })).text();
  await app.close();
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
