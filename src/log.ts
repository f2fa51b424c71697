/**
 * `log` and `logger()`: log events into the default store, next to the captured calls.
 */
import { defaultStoreOrNull } from './default-store';
import { createLogger, type Logger } from './logger';
import { show } from './describe';

/**
 * Logger writing events named `log` into the default store. Never throws.
 *
 * @example
 * import { log } from 'laptime';
 * log.info('cache warmed', { entries: 1200, ms: 35.2 });
 * log.error('payment failed', { orderId: 'A-17', retry: true });
 */
export const log: Logger = createLogger('log', defaultStoreOrNull);

/**
 * A logger writing events under `name` into the default store.
 *
 * @example
 * import { logger } from 'laptime';
 * const audit = logger('audit');
 * audit.warn('login from new device', { userId: 42 });
 */
export function logger(name: string): Logger {
  if (typeof name !== 'string' || name === '') throw new TypeError(`laptime: logger name must be a non-empty string, got ${show(name)}`);
  return createLogger(name, defaultStoreOrNull);
}
