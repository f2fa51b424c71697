/**
 * laptime/nest: a real NestJS app, compiled here with tsc and emitDecoratorMetadata (its own
 * tsconfig, as Nest apps are built), run with plain node and the built package on each HTTP
 * platform (Express, Fastify), with LaptimeInterceptor global; the stored rows are read back from
 * its store.
 * Plus the interceptor on a non-HTTP context (timed to the end of the handler's observable).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { Observable, lastValueFrom } from 'rxjs';
import { open } from '../index';
import { LaptimeInterceptor } from '../src/nest';
import type { StoredEvent } from '../src/query';
import { cannotRun, hasAddon, tempDir } from './helpers/real';
import { eventsOf, send, sleep, SLACK_MS } from './helpers/http';

const root = path.join(__dirname, '..');
const appDir = path.join(__dirname, 'fixtures', 'nest-app');
const built = fs.existsSync(path.join(root, 'src', 'nest.js'));
const real = hasAddon && built ? test : test.skip;
const realSerial = hasAddon && built ? test.serial : test.skip;
if (!hasAddon) cannotRun('NestJS tests need native/binding.cjs (npm run build:native)');
else if (!built) cannotRun('NestJS tests need the build (npm run build:ts)');

const ms = (e: StoredEvent): number => e.durationNs / 1e6;
const byName = (events: StoredEvent[], name: string): StoredEvent[] => events.filter((e) => e.name === name);

// One build directory per run: both decorator-mode runs may compile at the same time.
const out = path.join(appDir, `build-${process.pid}`);
let compiled: Promise<string> | null = null;

/** Compiles the app once per run; resolves with the path of its main.js. */
function compile(): Promise<string> {
  compiled ??= new Promise((resolve, reject) => {
    const tsc = spawn(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(appDir, 'tsconfig.json'), '--outDir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    tsc.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    tsc.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    tsc.on('close', (code) => (code === 0 ? resolve(path.join(out, '__test__', 'fixtures', 'nest-app', 'main.js')) : reject(new Error(`tsc failed (${code}):\n${output}`))));
  });
  return compiled;
}

test.after.always('remove the build', () => fs.rmSync(out, { recursive: true, force: true }));

for (const platform of ['express', 'fastify'] as const) {
  // Serial: two apps at once on a 2-core machine blur the timing bounds.
  realSerial(`nest (${platform} platform): the interceptor records Controller.method with route template, status and real duration for ok, thrown, HttpException, callback, streamed and aborted requests`, async (t) => {
    const main = await compile();
    t.regex(fs.readFileSync(main, 'utf8'), /"design:paramtypes", \[UsersService\]/, 'tsc emitted the constructor metadata Nest injects by');

    const dir = tempDir();
    const child = spawn(process.execPath, [main, dir, platform], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    t.teardown(() => child.kill());
    const deadline = Date.now() + 30_000;
    while (!/listening \d+/.test(stdout)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the app did not start:\n${stdout}\n${stderr}`);
      await sleep(20);
    }
    const port = Number(/listening (\d+)/.exec(stdout)![1]);

    const ok = await send(port, '/users/42', { headers: { 'x-tenant': 'acme' } });
    t.deepEqual(JSON.parse(ok.body), { id: '42', name: 'user 42' }, 'the injected service answered');
    t.is((await send(port, '/users/boom')).status, 500);
    t.is((await send(port, '/users/missing')).status, 404);
    t.is((await send(port, '/users/limited')).status, 429);
    t.is((await send(port, '/users/later')).body, 'late');
    t.is((await send(port, '/users/stream')).body.split('\n').length, 7);
    t.is((await send(port, '/no/such/route')).status, 404);
    // Abort 40 ms after the handler started (it says so on stdout).
    const slow = http.request({ host: '127.0.0.1', port, path: '/users/slow', agent: false });
    slow.on('error', () => undefined);
    slow.end();
    while (!stdout.includes('slow started')) await sleep(1);
    await sleep(40);
    slow.destroy();
    await sleep(350); // the slow handler's late return must not record a second event
    child.stdin.write('exit\n');
    t.is(await exited, 0, stderr);
    t.regex(stdout, /closed/);

    const store = open({ dir });
    t.teardown(() => store.close());
    const events = await eventsOf(store, 7);
    t.is(events.length, 7, `one row per routed request (an unmatched path never reaches interceptors): ${events.map((e) => e.name).join(', ')}`);

    t.like(byName(events, 'UsersController.byId')[0], {
      status: 'ok',
      fields: { route: '/users/:id', method: 'GET', status_code: 200, status_class: '2xx', tenant: 'acme', cache: 'hit', items: 3 },
    });
    t.like(byName(events, 'UsersController.boom')[0], { status: 'error', fields: { route: '/users/boom', status_code: 500, status_class: '5xx', error: 'BoomError' } });
    // HttpException statuses: 404 is not an error by default, 429 is under the app's rule.
    t.like(byName(events, 'UsersController.missing')[0], { status: 'ok', fields: { status_code: 404, status_class: '4xx', error: 'NotFoundException' } });
    t.like(byName(events, 'UsersController.limited')[0], { status: 'error', fields: { status_code: 429, error: 'HttpException' } });

    // The real times the app measured from each handler's start to its last write.
    const took = (what: string): number => Number(new RegExp(`^${what} took ([\\d.]+)$`, 'm').exec(stdout)?.[1] ?? NaN);
    const [later] = byName(events, 'UsersController.later');
    t.true(ms(later!) >= Math.max(49, took('later') - 1) && ms(later!) < took('later') + SLACK_MS, `callback-style answer after ${took('later')} ms recorded as ${ms(later!)} ms`);
    const [stream] = byName(events, 'UsersController.stream');
    t.true(ms(stream!) >= Math.max(50, took('stream') - 1) && ms(stream!) < took('stream') + SLACK_MS, `six chunks 10 ms apart, ended after ${took('stream')} ms, recorded as ${ms(stream!)} ms`);
    t.like(stream, { status: 'ok', fields: { status_code: 200 } });

    const [aborted] = byName(events, 'UsersController.slow');
    t.like(aborted, { status: 'ok', fields: { route: '/users/slow', aborted: true } });
    t.false('status_code' in aborted!.fields, 'no status: nothing was sent');
    // At least the 40 ms after the handler started (the pipe only adds), far from its 300 ms.
    t.true(ms(aborted!) >= 39 && ms(aborted!) < 40 + SLACK_MS, `aborted 40 ms after the handler started, recorded as ${ms(aborted!)} ms`);
  });
}

/** An ExecutionContext of a non-HTTP call (what Nest gives interceptors of microservice handlers). */
function rpcContext(): ExecutionContext {
  class OrdersHandler {
    place(): void {}
  }
  return { getType: () => 'rpc', getClass: () => OrdersHandler, getHandler: () => OrdersHandler.prototype.place } as unknown as ExecutionContext;
}

real('nest: a non-HTTP call is timed to the end of its observable; an error counts', async (t) => {
  const store = open({ dir: tempDir() });
  t.teardown(() => store.close());
  const interceptor = new LaptimeInterceptor({ store });
  const later = (value: number, fail: boolean): CallHandler => ({
    handle: () =>
      new Observable<number>((sub) => {
        const timer = setTimeout(() => (fail ? sub.error(new RangeError('no stock')) : (sub.next(value), sub.complete())), 30);
        return () => clearTimeout(timer);
      }),
  });
  t.is(await lastValueFrom(interceptor.intercept(rpcContext(), later(7, false))), 7);
  await t.throwsAsync(lastValueFrom(interceptor.intercept(rpcContext(), later(0, true))), { instanceOf: RangeError });
  const events = await eventsOf(store, 2);
  t.deepEqual(
    events.map((e) => [e.name, e.status, e.fields.error]),
    [
      ['OrdersHandler.place', 'ok', undefined],
      ['OrdersHandler.place', 'error', 'RangeError'],
    ],
  );
  for (const e of events) t.true(ms(e) >= 29 && ms(e) < 30 + SLACK_MS, `${ms(e)} ms`);
  t.throws(() => new LaptimeInterceptor({ stor: store } as never), { message: /LaptimeInterceptor has no option "stor"/ });
});
