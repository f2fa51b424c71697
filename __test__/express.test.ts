/**
 * laptime/express with a real Express 5 app (and a plain node:http server) on 127.0.0.1 and a real
 * store: route templates (mounted routers too), statuses, error classification, aborted and
 * streamed responses, durations against the real delays, extra fields.
 */
import test from 'ava';
import express from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from '../index';
import { annotate, express as laptimeExpress, expressErrors, expressRoute, handler } from '../src/express';
import type { StoredEvent } from '../src/query';
import { cannotRun, hasAddon, tempDir } from './helpers/real';
import { abortAfterFirstChunk, eventsOf, send, sendAndAbort, sleep, SLACK_MS } from './helpers/http';

const real = hasAddon ? test : test.skip;
if (!hasAddon) cannotRun('express middleware tests need native/binding.cjs (npm run build:native)');

class BoomError extends Error {}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const ms = (e: StoredEvent): number => e.durationNs / 1e6;
const byName = (events: StoredEvent[], name: string): StoredEvent[] => events.filter((e) => e.name === name);

real('express: ok, 404, thrown 500, 4xx, mounted router, param route, callback, streamed and aborted requests are each recorded once with their route template and real duration', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = express();
  app.use(laptimeExpress({ store }));
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  app.get('/boom', () => {
    throw new BoomError('boom');
  });
  app.get('/bad', (_req, res) => {
    res.status(400).send('bad request');
  });
  // Real times from each handler's start to its last write: a loaded machine fires timers late,
  // and the recorded duration must follow the real answer, not the nominal delay.
  const took = { later: 0, stream: 0 };
  app.get('/later', (_req, res) => {
    // Callback style: the handler returns at once, the answer comes 50 ms later.
    const started = performance.now();
    setTimeout(() => {
      res.send('late');
      took.later = performance.now() - started;
    }, 50);
  });
  app.get('/stream', (_req, res) => {
    const started = performance.now();
    let n = 0;
    const timer = setInterval(() => {
      res.write(`chunk ${n}\n`);
      if (++n === 6) {
        clearInterval(timer);
        res.end();
        took.stream = performance.now() - started;
      }
    }, 10);
  });
  let slowArrived = 0;
  app.get('/slow', (_req, res) => {
    slowArrived = performance.now();
    setTimeout(() => {
      if (!res.destroyed) res.send('too late');
    }, 300);
  });
  const orders = express.Router();
  orders.get('/:orderId', (req, res) => {
    res.send(req.params.orderId);
  });
  orders.get('/:orderId/fail', (_req, _res, next) => {
    next(new BoomError('in a router'));
  });
  app.use('/api/orders', orders);
  app.use(expressErrors());
  const server = http.createServer(app);
  const port = await listen(server);
  t.teardown(() => server.close());

  t.is((await send(port, '/users/42')).status, 200);
  t.is((await send(port, '/users/7?x=1')).status, 200);
  t.is((await send(port, '/no/such/path/123')).status, 404);
  t.is((await send(port, '/boom')).status, 500);
  t.is((await send(port, '/bad')).status, 400);
  const late = await send(port, '/later');
  t.is(late.body, 'late');
  const streamed = await send(port, '/stream');
  t.is(streamed.body.split('\n').length, 7);
  t.is((await send(port, '/api/orders/9')).body, '9');
  t.is((await send(port, '/api/orders/9/fail')).status, 500);
  const abortedAt = await sendAndAbort(port, '/slow', 40);

  const events = await eventsOf(store, 10);
  t.is(events.length, 10, `each request recorded exactly once: ${events.map((e) => e.name).join(', ')}`);
  await sleep(350); // the /slow handler's late answer must not record a second event
  t.is((await eventsOf(store, 11, 100)).length, 10);

  const users = byName(events, 'GET /users/:id');
  t.is(users.length, 2);
  for (const e of users) {
    t.like(e, { status: 'ok', kind: 'call' });
    t.deepEqual(e.fields, { route: '/users/:id', method: 'GET', status_code: 200, status_class: '2xx' });
  }
  const [missing] = byName(events, 'GET (unmatched)');
  t.like(missing, { status: 'ok', fields: { route: '(unmatched)', status_code: 404, status_class: '4xx' } });
  const [boom] = byName(events, 'GET /boom');
  t.like(boom, { status: 'error', fields: { status_code: 500, status_class: '5xx', error: 'BoomError' } });
  const [bad] = byName(events, 'GET /bad');
  t.like(bad, { status: 'ok', fields: { status_code: 400, status_class: '4xx' } });
  t.false('error' in bad!.fields);

  const [later] = byName(events, 'GET /later');
  t.true(ms(later!) >= Math.max(49, took.later - 1) && ms(later!) < took.later + SLACK_MS, `callback-style answer after ${took.later} ms recorded as ${ms(later!)} ms`);
  const [stream] = byName(events, 'GET /stream');
  t.true(ms(stream!) >= Math.max(50, took.stream - 1) && ms(stream!) < took.stream + SLACK_MS, `six chunks 10 ms apart, ended after ${took.stream} ms, recorded as ${ms(stream!)} ms`);
  t.like(stream, { status: 'ok', fields: { status_code: 200 } });

  t.like(byName(events, 'GET /api/orders/:orderId')[0], { status: 'ok', fields: { route: '/api/orders/:orderId', status_code: 200 } });
  // The error left the mounted router (Express resets the mount path then): the template keeps it.
  t.like(byName(events, 'GET /api/orders/:orderId/fail')[0], { status: 'error', fields: { route: '/api/orders/:orderId/fail', status_code: 500, error: 'BoomError' } });

  const [aborted] = byName(events, 'GET /slow');
  t.like(aborted, { status: 'ok', fields: { route: '/slow', aborted: true } });
  t.false('status_code' in aborted!.fields, 'no status: nothing was sent');
  // From the handler's start (the client's 40 ms also hold connecting) to the client's going.
  const waited = abortedAt - slowArrived;
  t.true(ms(aborted!) >= waited - 1 && ms(aborted!) < waited + SLACK_MS, `aborted ${waited} ms after the handler started, recorded as ${ms(aborted!)} ms`);

  // The route is a column: latency per route without parsing names.
  const perRoute = await store.query().groupBy('route').count().run();
  t.is(perRoute.rows.find((r) => r.route === '/users/:id')?.count, 2);
});

real('express: custom error classification, fields option and annotate add per-request fields', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = express();
  app.use(
    laptimeExpress({
      store,
      errors: [404, '5xx'],
      fields: (req) => ({ tenant: req.headers['x-tenant'] as string | undefined, route: 'ignored: built-in' }),
    }),
  );
  app.get('/items/:id', (req, res) => {
    annotate(req, { cache: 'miss', items: 3 });
    annotate(req, { cache: 'hit' });
    res.status(req.params.id === '0' ? 404 : 200).send('x');
  });
  const server = http.createServer(app);
  const port = await listen(server);
  t.teardown(() => server.close());
  await send(port, '/items/1', { headers: { 'x-tenant': 'acme' } });
  await send(port, '/items/0');
  await send(port, '/teapot');

  const events = await eventsOf(store, 3);
  t.is(events.length, 3);
  const [one, zero] = byName(events, 'GET /items/:id');
  t.deepEqual(one!.fields, { route: '/items/:id', method: 'GET', status_code: 200, status_class: '2xx', tenant: 'acme', cache: 'hit', items: 3 });
  t.is(one!.status, 'ok');
  t.is(zero!.status, 'error', '404 listed as an error');
  t.false('tenant' in zero!.fields, 'undefined values are left out');
  t.is(byName(events, 'GET (unmatched)')[0]!.status, 'error');
  t.deepEqual((await store.query().filter('tenant=acme').count().run()).rows[0]?.count, 1);

  // A function rule sees the status and the thrown value.
  const store2 = open({ dir: tempDir() });
  t.teardown(() => store2.close());
  const seen: Array<[number, unknown]> = [];
  const app2 = express();
  app2.use(laptimeExpress({ store: store2, errors: (status, error) => (seen.push([status, error]), status === 418) }));
  app2.get('/tea', (_req, res) => res.status(418).end());
  app2.get('/fine', (_req, res) => res.status(503).end());
  const server2 = http.createServer(app2);
  const port2 = await listen(server2);
  t.teardown(() => server2.close());
  await send(port2, '/tea');
  await send(port2, '/fine');
  const events2 = await eventsOf(store2, 2);
  t.is(byName(events2, 'GET /tea')[0]!.status, 'error');
  t.is(byName(events2, 'GET /fine')[0]!.status, 'ok', '503 is not an error under this rule');
  t.deepEqual(seen.sort(), [
    [418, undefined],
    [503, undefined],
  ]);
});

real('express: a throwing fields function or errors rule costs only the extras, never the request or its event', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = express();
  app.use(
    laptimeExpress({
      store,
      fields: () => {
        throw new Error('fields broke');
      },
      errors: () => {
        throw new Error('rule broke');
      },
    }),
  );
  app.get('/ok', (_req, res) => res.send('ok'));
  app.get('/down', (_req, res) => res.status(503).send('down'));
  const server = http.createServer(app);
  const port = await listen(server);
  t.teardown(() => server.close());
  t.is((await send(port, '/ok')).body, 'ok');
  t.is((await send(port, '/down')).status, 503);
  const events = await eventsOf(store, 2);
  t.deepEqual(
    events.map((e) => [e.name, e.status, e.fields.status_code]),
    [
      ['GET /ok', 'ok', 200],
      ['GET /down', 'error', 503],
    ],
    'recorded with the built-in fields; the default rule decided',
  );
  await sleep(10); // warnings are emitted on the next tick
  t.true(warnings.some((m) => /option "fields" threw \(Error: fields broke\)/.test(m)), warnings.join('\n'));
  t.true(warnings.some((m) => /option "errors" threw \(Error: rule broke\)/.test(m)), warnings.join('\n'));
});

real('plain node:http: handler() records with the route option, or (unmatched)', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const server = http.createServer(
    handler(
      (req, res) => {
        if (req.url === '/health') res.end('ok');
        else setTimeout(() => ((res.statusCode = 502), res.end()), 20);
      },
      { store, route: (req) => (req.url === '/health' ? '/health' : '(unmatched)') },
    ),
  );
  const port = await listen(server);
  t.teardown(() => server.close());
  await send(port, '/health');
  await send(port, '/other/1', { method: 'POST' });
  const events = await eventsOf(store, 2);
  t.like(byName(events, 'GET /health')[0], { status: 'ok', fields: { route: '/health', status_code: 200 } });
  const [other] = byName(events, 'POST (unmatched)');
  t.like(other, { status: 'error', fields: { method: 'POST', status_code: 502, status_class: '5xx' } });
  t.true(ms(other!) >= 19, `${ms(other!)} ms`);
});

real('express: a response cut off mid-stream by the client is recorded once as aborted, with the status already sent', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const app = express();
  app.use(laptimeExpress({ store }));
  let writes = 0;
  app.get('/drip', (_req, res) => {
    res.write('first\n');
    const timer = setInterval(() => {
      if (res.destroyed || ++writes === 30) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
      } else res.write('more\n');
    }, 10);
  });
  const server = http.createServer(app);
  const port = await listen(server);
  t.teardown(() => server.close());
  t.is(await abortAfterFirstChunk(port, '/drip'), 200);
  const events = await eventsOf(store, 1);
  await sleep(100);
  t.is((await eventsOf(store, 2, 100)).length, 1, 'recorded once');
  t.like(events[0], { name: 'GET /drip', status: 'ok', fields: { route: '/drip', status_code: 200, status_class: '2xx', aborted: true } });
  t.true(writes < 30, 'the handler saw the connection go');
});

test('bad options get a clear error naming the option', (t) => {
  t.throws(() => laptimeExpress({ erors: [] } as never), { message: /no option "erors"/ });
  t.throws(() => laptimeExpress({ errors: [404, '6xx'] } as never), { message: /"errors\[1\]".*'1xx'..'5xx'.*"6xx"/ });
  t.throws(() => laptimeExpress({ errors: 'all' } as never), { message: /option "errors" must be/ });
  t.throws(() => laptimeExpress({ fields: { a: 1 } } as never), { message: /option "fields" must be a function/ });
  t.throws(() => laptimeExpress({ store: {} } as never), { message: /option "store" must be a Store/ });
  t.throws(() => laptimeExpress({ route: '/x' } as never), { message: /option "route" must be a function/ });
  t.throws(() => handler('x' as never), { message: /handler\(\) needs a request listener/ });
  t.throws(() => annotate(null as never, {}), { message: /req must be the request object/ });
  t.throws(() => annotate({}, 'x' as never), { message: /fields must be an object/ });
});

test('expressRoute: mount path plus route path; unmatched without a route', (t) => {
  const req = (fields: object) => fields as Parameters<typeof expressRoute>[0];
  t.is(expressRoute(req({ baseUrl: '/api', route: { path: '/users/:id' } })), '/api/users/:id');
  t.is(expressRoute(req({ baseUrl: '' })), '(unmatched)');
  t.is(expressRoute(req({ route: { path: /^\/re$/ } })), '/^\\/re$/');
});
