/**
 * `laptime/express`: one event per HTTP request for Express 5 (`app.use(express())`) and for plain
 * `node:http` handlers (`handler(fn)`), timed from the request's arrival at the middleware to the
 * end of its response, named `GET /users/:id` after the route template. Nothing here loads express:
 * the request and response are used through their `node:http` shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { annotate, checkOptions, checkRouteOption, errorOf, HttpRecorder, noteError, UNMATCHED, type HttpOptions } from './http';
import { perf } from './time';

export { annotate, UNMATCHED };
export type { ErrorRule, HttpFields, HttpFieldValue, HttpOptions, StatusClass } from './http';

/** The parts of an Express request read here (Express sets them while routing). */
export interface ExpressRequestLike extends IncomingMessage {
  /** Mount path of the router that answered. */
  baseUrl?: string;
  /** Path as received, before routers cut their mount path off. */
  originalUrl?: string;
  /** The route that matched, if one did. */
  route?: { path?: unknown };
}

/** Options of {@link express}. */
export interface ExpressOptions extends HttpOptions<ExpressRequestLike, ServerResponse> {
  /** Route template of a request, instead of Express's `req.baseUrl + req.route.path`. */
  route?: (req: ExpressRequestLike) => string;
}

/** Options of {@link handler} (plain `node:http`). */
export interface HandlerOptions extends HttpOptions<IncomingMessage, ServerResponse> {
  /** Route template of a request. Default: every request is `(unmatched)` (a raw URL would explode cardinality). */
  route?: (req: IncomingMessage) => string;
}

/** Express middleware signature (structural, so no Express types are needed). */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
/** Express error-middleware signature. */
export type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

const OPTIONS = ['store', 'errors', 'fields', 'route'];

/**
 * Express 5 middleware recording each request: name `GET /users/:id` (route template read when the
 * response finished, mount path included; `(unmatched)` when no route matched), fields `route`,
 * `method`, `status`, `status_class`, `aborted` (client went away first). Install it first; add
 * {@link expressErrors} after your routes to also record the class of thrown errors.
 *
 * @example
 * import express from 'express';
 * import * as laptime from 'laptime/express';
 * const app = express();
 * app.use(laptime.express());
 * app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
 * app.use(laptime.expressErrors());
 */
export function express(options?: ExpressOptions): Middleware {
  const where = 'laptime.express()';
  const opts = checkOptions<ExpressOptions>(options, where, OPTIONS);
  const routeOf = checkRouteOption<ExpressRequestLike>(opts.route, where) ?? expressRoute;
  const recorder = new HttpRecorder<ExpressRequestLike, ServerResponse>(opts, where);
  return function laptimeExpress(req: ExpressRequestLike, res: ServerResponse, next: (err?: unknown) => void): void {
    track(recorder, routeOf, req, res, perf.now());
    next();
  };
}

/**
 * Express error middleware that notes what a handler threw (its class goes to the `error` field)
 * and passes it on unchanged. Add it after your routes, before your own error handlers.
 *
 * @example
 * app.use(laptime.expressErrors());
 * app.use((err, req, res, next) => res.status(500).json({ error: 'internal' }));
 */
export function expressErrors(): ErrorMiddleware {
  // Four parameters: Express tells error middleware by its arity.
  return function laptimeExpressErrors(err: unknown, req: IncomingMessage, _res: ServerResponse, next: (err?: unknown) => void): void {
    noteError(req, err);
    next(err);
  };
}

/**
 * Wraps a `node:http` request listener so each request is recorded like {@link express} does. The
 * route is `options.route(req)` or `(unmatched)`. A synchronous throw is noted and rethrown.
 *
 * @example
 * import http from 'node:http';
 * import { handler } from 'laptime/express';
 * http.createServer(handler((req, res) => res.end('ok'), { route: (req) => (req.url === '/health' ? '/health' : '(unmatched)') }));
 */
export function handler<Req extends IncomingMessage, Res extends ServerResponse>(fn: (req: Req, res: Res) => unknown, options?: HandlerOptions): (req: Req, res: Res) => unknown {
  const where = 'laptime handler()';
  if (typeof fn !== 'function') throw new TypeError(`laptime: ${where} needs a request listener function (req, res) => ..., got ${typeof fn}`);
  const opts = checkOptions<HandlerOptions>(options, where, OPTIONS);
  const routeOf = checkRouteOption<IncomingMessage>(opts.route, where) ?? unmatched;
  const recorder = new HttpRecorder<IncomingMessage, ServerResponse>(opts, where);
  return function laptimeHandler(this: unknown, req: Req, res: Res): unknown {
    track(recorder, routeOf, req, res, perf.now());
    try {
      return fn.call(this, req, res);
    } catch (err) {
      noteError(req, err);
      throw err;
    }
  };
}

function unmatched(): string {
  return UNMATCHED;
}

/**
 * Records `req` once, when its response closes. Node emits 'close' on a response one tick after
 * 'finish' when it completed, or alone when the connection went first: one listener tells both.
 */
function track<Req extends IncomingMessage>(recorder: HttpRecorder<Req, ServerResponse>, routeOf: (req: Req) => string, req: Req, res: ServerResponse, t0: number): void {
  res.on('close', () => {
    const t1 = perf.now();
    const aborted = !res.writableFinished;
    let route: string;
    try {
      route = routeOf(req);
      if (typeof route !== 'string' || route === '') route = UNMATCHED;
    } catch {
      route = UNMATCHED;
    }
    const method = req.method ?? 'GET';
    recorder.record(recorder.nameOf(method, route), t0, t1, req, res, {
      route,
      method,
      status: aborted && !res.headersSent ? 0 : res.statusCode,
      aborted,
      error: errorOf(req),
    });
  });
}

/**
 * Express's route template: the answering router's mount path plus the route's path. An error
 * forwarded out of a mounted router has the mount path reset by Express; then the mount prefix is
 * the part of the URL before the segments the route's path matched.
 */
export function expressRoute(req: ExpressRequestLike): string {
  const route = req.route;
  if (route === undefined || route === null) return UNMATCHED;
  const path = typeof route.path === 'string' ? route.path : String(route.path);
  const base = req.baseUrl ?? '';
  if (base === '' && errorOf(req) !== undefined && req.originalUrl !== undefined && /^[^*{(]*$/.test(path)) {
    return mountPrefix(req.originalUrl, path) + path;
  }
  return base + path;
}

/** The URL segments before the last ones `path` (a route path without wildcards) matched. */
function mountPrefix(url: string, path: string): string {
  const q = url.indexOf('?');
  let pathname = q < 0 ? url : url.slice(0, q);
  while (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);
  const urlSegments = pathname.split('/');
  const routeSegments = path === '/' ? 1 : path.split('/').length - (path.endsWith('/') ? 1 : 0);
  const keep = urlSegments.length - routeSegments + 1;
  return keep > 1 ? urlSegments.slice(0, keep).join('/') : '';
}
