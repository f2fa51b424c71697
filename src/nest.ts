/**
 * `laptime/nest`: a NestJS interceptor recording each handled call as `Controller.method`. For
 * HTTP (Express or Fastify platform) it is timed to the end of the response, with the route
 * template, method, status and status class; an `HttpException`'s status is recorded. Other
 * contexts (microservices, websockets) are timed to the end of the handler's observable.
 *
 * Nest's types are used, not its code; rxjs (always present with Nest) is loaded by this subpath
 * only, never by the root `laptime` import.
 */
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Observable, finalize, tap } from 'rxjs';
import { CallRecorder } from './calls';
import { annotate, checkOptions, errorOf, HttpRecorder, noteError, storeOption, UNMATCHED, type HttpOptions } from './http';
import { perf } from './time';

export { annotate, UNMATCHED };
export type { ErrorRule, HttpFields, HttpFieldValue, HttpOptions, StatusClass } from './http';

/** The request as the interceptor reads it: Express's (`route`, `baseUrl`) or Fastify's (`routeOptions`, `raw`). */
export interface NestRequestLike {
  method?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  routeOptions?: { url?: string };
  raw?: IncomingMessage;
}

/** Options of {@link LaptimeInterceptor}. `fields` gets the platform's request and response objects. */
export type NestOptions = HttpOptions<object, object>;

const OPTIONS = ['store', 'errors', 'fields'];

/** `Controller.method` by handler function (handlers are fixed at startup). */
const names = new WeakMap<object, string>();

function nameOf(context: ExecutionContext): string {
  const handler = context.getHandler();
  let name = names.get(handler);
  if (name === undefined) {
    name = `${context.getClass().name}.${handler.name}`;
    names.set(handler, name);
  }
  return name;
}

/** The status an HttpException carries (err.getStatus()), or 0. */
function exceptionStatus(err: unknown): number {
  try {
    const getStatus = (err as { getStatus?: unknown } | null)?.getStatus;
    if (typeof getStatus === 'function') {
      const status: unknown = getStatus.call(err);
      if (typeof status === 'number' && Number.isInteger(status)) return status;
    }
  } catch {
    // Not an HttpException after all.
  }
  return 0;
}

function routeOf(req: NestRequestLike): string {
  const route = req.route;
  if (route !== undefined && route !== null) return (req.baseUrl ?? '') + (typeof route.path === 'string' ? route.path : String(route.path));
  const url = req.routeOptions?.url;
  return typeof url === 'string' && url !== '' ? url : UNMATCHED;
}

/**
 * Global interceptor recording every controller call as `Controller.method`, with fields `route`
 * (template), `method`, `status`, `status_class` and `aborted` for HTTP. It starts timing when Nest
 * calls interceptors (after middleware and guards) and stops when the response finished.
 *
 * @example
 * import { NestFactory } from '@nestjs/core';
 * import { LaptimeInterceptor } from 'laptime/nest';
 * const app = await NestFactory.create(AppModule);
 * app.useGlobalInterceptors(new LaptimeInterceptor());
 */
export class LaptimeInterceptor implements NestInterceptor {
  readonly #http: HttpRecorder<object, object>;
  readonly #calls: CallRecorder;

  constructor(options?: NestOptions) {
    const where = 'LaptimeInterceptor';
    const opts = checkOptions<NestOptions>(options, where, OPTIONS);
    this.#http = new HttpRecorder<object, object>(opts, where);
    this.#calls = new CallRecorder(storeOption(opts.store, where), where);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const t0 = perf.now();
    const name = nameOf(context);
    if (context.getType() === 'http') {
      const http = context.switchToHttp();
      const req = http.getRequest<NestRequestLike & object>();
      const reply = http.getResponse<object>();
      const res = ('raw' in reply ? (reply as { raw: ServerResponse }).raw : reply) as ServerResponse;
      if (typeof res?.on === 'function') {
        this.#track(name, t0, req, reply, res);
        return next.handle().pipe(tap({ error: (err: unknown) => noteError(req, err) }));
      }
    }
    // Not HTTP (or no response object): timed to the end of the handler's observable.
    let error: unknown;
    let failed = false;
    return next.handle().pipe(
      tap({
        error: (err: unknown) => {
          error = err;
          failed = true;
        },
      }),
      finalize(() => this.#calls.record(name, t0, perf.now(), failed, error, null)),
    );
  }

  /** Records once, when the response closes (after 'finish', or alone when the client went away). */
  #track(name: string, t0: number, req: NestRequestLike & object, reply: object, res: ServerResponse): void {
    const recorder = this.#http;
    res.on('close', () => {
      const t1 = perf.now();
      const aborted = !res.writableFinished;
      const error = errorOf(req);
      // Nothing sent (client gone first): the exception's own status, if it carries one.
      const status = aborted && !res.headersSent ? exceptionStatus(error) : res.statusCode;
      recorder.record(name, t0, t1, req, reply, {
        route: routeOf(req),
        method: req.method ?? req.raw?.method ?? 'GET',
        status,
        aborted,
        error,
      });
    });
  }
}
