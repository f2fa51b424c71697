/**
 * laptime/fastify with a real Fastify 5 app on 127.0.0.1 and a real store: the plugin's hooks
 * record route templates (prefixed plugins too), statuses, errors, aborted, streamed and
 * callback-style responses with their real durations, and extra fields.
 */
import test from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { open } from '../index';
import { annotate, fastify as laptimeFastify } from '../src/fastify';
import type { StoredEvent } from '../src/query';
import { cannotRun, hasAddon, tempDir } from './helpers/real';
import { abortAfterFirstChunk, eventsOf, send, sendAndAbort, sleep, SLACK_MS } from './helpers/http';

const real = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('fastify plugin tests need native/binding.cjs (npm run build:native)');

class BoomError extends Error {}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

const ms = (e: StoredEvent): number => e.durationNs / 1e6;
const byName = (events: StoredEvent[], name: string): StoredEvent[] => events.filter((e) => e.name === name);

real('fastify: ok, 404, thrown 500, 4xx, prefixed plugin, param route, callback, streamed and aborted requests are each recorded once with their route template and real duration', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(laptimeFastify, { store });
  app.get('/users/:id', async (req) => ({ id: (req.params as { id: string }).id }));
  app.get('/boom', async () => {
    throw new BoomError('boom');
  });
  app.get('/bad', (_req, reply) => {
    reply.code(400).send('bad request');
  });
  // Real times from each handler's start to its last write: a loaded machine fires timers late,
  // and the recorded duration must follow the real answer, not the nominal delay.
  const took = { later: 0, stream: 0 };
  app.get('/later', (_req, reply) => {
    // Callback style: the handler returns at once, the answer comes 50 ms later.
    const started = performance.now();
    setTimeout(() => {
      reply.send('late');
      took.later = performance.now() - started;
    }, 50);
  });
  app.get('/stream', (_req, reply) => {
    const started = performance.now();
    reply.send(
      Readable.from(
        (async function* () {
          for (let n = 0; n < 6; n++) {
            await sleep(10);
            yield `chunk ${n}\n`;
          }
          took.stream = performance.now() - started;
        })(),
      ),
    );
  });
  let slowArrived = 0;
  app.get('/slow', (_req, reply) => {
    slowArrived = performance.now();
    setTimeout(() => {
      if (!reply.raw.destroyed) reply.send('too late');
    }, 300);
  });
  // An encapsulated plugin with a prefix: its routes are seen by the root registration.
  await app.register(
    async (scope) => {
      scope.get('/:orderId', async (req) => (req.params as { orderId: string }).orderId);
    },
    { prefix: '/api/orders' },
  );
  const port = await listen(app);

  t.is((await send(port, '/users/42')).status, 200);
  t.is((await send(port, '/users/7?x=1')).status, 200);
  t.is((await send(port, '/no/such/path/123')).status, 404);
  t.is((await send(port, '/boom')).status, 500);
  t.is((await send(port, '/bad')).status, 400);
  t.is((await send(port, '/later')).body, 'late');
  t.is((await send(port, '/stream')).body.split('\n').length, 7);
  t.is((await send(port, '/api/orders/9')).body, '9');
  const abortedAt = await sendAndAbort(port, '/slow', 40);

  const events = await eventsOf(store, 9);
  t.is(events.length, 9, `each request recorded exactly once: ${events.map((e) => e.name).join(', ')}`);
  await sleep(350); // the /slow handler's late answer must not record a second event
  t.is((await eventsOf(store, 10, 100)).length, 9);

  const users = byName(events, 'GET /users/:id');
  t.is(users.length, 2);
  for (const e of users) {
    t.like(e, { status: 'ok', kind: 'call' });
    t.deepEqual(e.fields, { route: '/users/:id', method: 'GET', status_code: 200, status_class: '2xx' });
  }
  t.like(byName(events, 'GET (unmatched)')[0], { status: 'ok', fields: { route: '(unmatched)', status_code: 404, status_class: '4xx' } });
  t.like(byName(events, 'GET /boom')[0], { status: 'error', fields: { status_code: 500, status_class: '5xx', error: 'BoomError' } });
  const [bad] = byName(events, 'GET /bad');
  t.like(bad, { status: 'ok', fields: { status_code: 400, status_class: '4xx' } });

  const [later] = byName(events, 'GET /later');
  t.true(ms(later!) >= Math.max(49, took.later - 1) && ms(later!) < took.later + SLACK_MS, `callback-style answer after ${took.later} ms recorded as ${ms(later!)} ms`);
  const [stream] = byName(events, 'GET /stream');
  t.true(ms(stream!) >= Math.max(50, took.stream - 1) && ms(stream!) < took.stream + SLACK_MS, `six chunks 10 ms apart, ended after ${took.stream} ms, recorded as ${ms(stream!)} ms`);
  t.like(byName(events, 'GET /api/orders/:orderId')[0], { status: 'ok', fields: { route: '/api/orders/:orderId', status_code: 200 } });

  const [aborted] = byName(events, 'GET /slow');
  t.like(aborted, { status: 'ok', fields: { route: '/slow', aborted: true } });
  t.false('status_code' in aborted!.fields, 'no status: nothing was sent');
  // From the handler's start (the client's 40 ms also hold connecting) to the client's going.
  const waited = abortedAt - slowArrived;
  t.true(ms(aborted!) >= waited - 1 && ms(aborted!) < waited + SLACK_MS, `aborted ${waited} ms after the handler started, recorded as ${ms(aborted!)} ms`);
});

real('fastify: custom error classification, fields option and annotate add per-request fields', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(laptimeFastify, {
    store,
    errors: (status) => status === 404 || status >= 500,
    fields: (req) => ({ tenant: req.headers['x-tenant'] as string | undefined }),
  });
  app.get('/items/:id', async (req, reply) => {
    annotate(req, { cache: 'miss', items: 3 });
    annotate(req, { cache: 'hit' });
    return reply.code((req.params as { id: string }).id === '0' ? 404 : 200).send('x');
  });
  const port = await listen(app);
  await send(port, '/items/1', { headers: { 'x-tenant': 'acme' } });
  await send(port, '/items/0');
  await send(port, '/teapot');

  const events = await eventsOf(store, 3);
  t.is(events.length, 3);
  const [one, zero] = byName(events, 'GET /items/:id');
  t.deepEqual(one!.fields, { route: '/items/:id', method: 'GET', status_code: 200, status_class: '2xx', tenant: 'acme', cache: 'hit', items: 3 });
  t.is(one!.status, 'ok');
  t.is(zero!.status, 'error', '404 is an error under this rule');
  t.is(byName(events, 'GET (unmatched)')[0]!.status, 'error');
  t.is((await store.query().filter('tenant=acme').count().run()).rows[0]?.count, 1);
});

real('fastify: a response cut off mid-stream by the client is recorded once as aborted, with the status already sent', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(laptimeFastify, { store });
  app.get('/drip', (_req, reply) => {
    reply.send(
      Readable.from(
        (async function* () {
          yield 'first\n';
          for (let n = 0; n < 30; n++) {
            await sleep(10);
            yield 'more\n';
          }
        })(),
      ),
    );
  });
  const port = await listen(app);
  t.is(await abortAfterFirstChunk(port, '/drip'), 200);
  const events = await eventsOf(store, 1);
  await sleep(400);
  t.is((await eventsOf(store, 2, 100)).length, 1, 'recorded once');
  t.like(events[0], { name: 'GET /drip', status: 'ok', fields: { route: '/drip', status_code: 200, aborted: true } });
});

real('fastify: bad plugin options fail registration with a clear error', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await t.throwsAsync(async () => app.register(laptimeFastify, { erors: [] } as never), { message: /no option "erors"/ });
  const app2 = Fastify();
  t.teardown(() => app2.close());
  await t.throwsAsync(async () => app2.register(laptimeFastify, { errors: ['9xx'] } as never), { message: /"errors\[0\]"/ });
});
