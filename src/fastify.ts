/**
 * `laptime/fastify`: a Fastify plugin recording one event per request through Fastify's hooks,
 * timed from `onRequest` to `onResponse` (the response finished) or `onRequestAbort` (the client
 * went away first), named `GET /users/:id` after `request.routeOptions.url`. Only Fastify's types
 * are used: nothing here loads fastify.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { annotate, checkOptions, HttpRecorder, UNMATCHED, type HttpOptions } from './http';
import { perf } from './time';

export { annotate, UNMATCHED };
export type { ErrorRule, HttpFields, HttpFieldValue, HttpOptions, StatusClass } from './http';

/** Options of the {@link fastify} plugin. */
export type FastifyOptions = HttpOptions<FastifyRequest, FastifyReply>;

/** Per-request state, in a request decoration (stable object shape). */
interface State {
  t0: number;
  reply: FastifyReply;
  error: unknown;
  done: boolean;
}

const OPTIONS = ['store', 'errors', 'fields'];
/** What Fastify itself reads from register() options and may pass along to the plugin. */
const FASTIFY_OPTIONS = ['prefix', 'logLevel', 'logSerializers'];

/**
 * Fastify plugin: register it once, on the root instance; its hooks apply to every route (it is
 * not encapsulated), the 404 handler included (route `(unmatched)`). Records name
 * `GET /users/:id`, fields `route`, `method`, `status`, `status_class`, `aborted`, and the class of
 * an error a handler threw.
 *
 * @example
 * import Fastify from 'fastify';
 * import * as laptime from 'laptime/fastify';
 * const app = Fastify();
 * await app.register(laptime.fastify, { errors: ['5xx'] });
 * app.get('/users/:id', async (req) => ({ id: (req.params as { id: string }).id }));
 */
export function fastify(instance: FastifyInstance, options: FastifyOptions, done: (err?: Error) => void): void {
  const where = 'laptime/fastify plugin';
  let recorder: HttpRecorder<FastifyRequest, FastifyReply>;
  try {
    recorder = new HttpRecorder<FastifyRequest, FastifyReply>(checkOptions<FastifyOptions>(options, where, OPTIONS, FASTIFY_OPTIONS), where);
  } catch (err) {
    done(err as Error);
    return;
  }
  // One slot per registration, so two registrations (two stores) do not share state.
  const kState = Symbol('laptime.request');
  instance.decorateRequest(kState as unknown as string, null);
  const stateOf = (request: FastifyRequest): State | null => (request as unknown as Record<symbol, State | null>)[kState] ?? null;

  const finish = (request: FastifyRequest, aborted: boolean): void => {
    const state = stateOf(request);
    if (state === null || state.done) return;
    state.done = true;
    const t1 = perf.now();
    const reply = state.reply;
    const raw = reply.raw;
    const route = request.routeOptions?.url ?? UNMATCHED;
    const method = request.method;
    recorder.record(recorder.nameOf(method, route), state.t0, t1, request, reply, {
      route,
      method,
      status: aborted && !raw.headersSent ? 0 : reply.statusCode,
      aborted,
      error: state.error,
    });
  };

  instance.addHook('onRequest', (request, reply, next) => {
    (request as unknown as Record<symbol, State>)[kState] = { t0: perf.now(), reply, error: undefined, done: false };
    next();
  });
  instance.addHook('onError', (request, _reply, error, next) => {
    const state = stateOf(request);
    if (state !== null) state.error = error;
    next();
  });
  instance.addHook('onResponse', (request, _reply, next) => {
    finish(request, false);
    next();
  });
  instance.addHook('onRequestAbort', (request, next) => {
    finish(request, true);
    next();
  });
  done();
}

// Hooks of a plugin marked so are added to the instance it is registered on (Fastify's
// encapsulation skipped, as fastify-plugin does), so the root registration sees every route.
Object.defineProperty(fastify, Symbol.for('skip-override'), { value: true });
Object.defineProperty(fastify, Symbol.for('fastify.display-name'), { value: 'laptime' });
