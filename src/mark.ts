/**
 * Markers (deploys, config changes, incidents): one log event at the moment of the call, so time
 * charts can show what changed when. A marker is an ordinary `info` log event named
 * {@link MARK_NAME}, with the label as its message and the given fields: no event kind of its own,
 * so every reader (queries, `laptime query name:laptime.mark`, exports) sees it as it is.
 */
import { defaultStore } from './default-store';
import { show } from './describe';
import { isFieldValue, type FieldValue } from './fields';
import { Store } from './store';

/** Name marker events are stored under (a log event, level info). */
export const MARK_NAME = 'laptime.mark';

/** Longest marker label, characters: a label is a short headline, not a log message. */
export const MAX_MARK_LABEL = 1024;

/** Options of {@link mark}. */
export interface MarkOptions {
  /** Store to write to (default: the default store, opened if needed). */
  store?: Store;
}

/**
 * Record a marker now, e.g. a deploy: an `info` log event named `laptime.mark` whose message is
 * `label` and whose fields are `fields`. The dashboard draws each marker in range as a vertical line
 * on the latency chart, labelled with `label` and the `version` field when there is one.
 *
 * Throws TypeError for a label that is not a non-empty string (at most 1024 characters) or for
 * fields that are not string, number, boolean or 64-bit bigint values; it never throws for the
 * store's sake (like a logger, a closed or disabled store counts the event as lost).
 *
 * @example
 * import { mark } from 'laptime';
 * mark('deploy', { version: '1.4.2', commit: 'a1b2c3d' });
 * mark('feature flag on', { flag: 'new-checkout' }, { store });
 */
export function mark(label: string, fields?: Readonly<Record<string, FieldValue>>, options?: MarkOptions): void {
  if (typeof label !== 'string' || label.trim() === '') throw new TypeError(`laptime: mark() needs a label (a non-empty string), got ${show(label)}`);
  if (label.length > MAX_MARK_LABEL) throw new TypeError(`laptime: mark() label is ${label.length} characters; at most ${MAX_MARK_LABEL}`);
  if (fields !== undefined) {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new TypeError(`laptime: mark() fields must be an object of key/values, got ${show(fields)}`);
    for (const key of Object.keys(fields)) {
      if (key === '') throw new TypeError('laptime: mark() field keys must be non-empty');
      if (!isFieldValue(fields[key])) {
        throw new TypeError(`laptime: mark() field "${key}" must be a string, number, boolean or bigint within 64 bits, got ${show(fields[key])}`);
      }
    }
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`laptime: mark() options must be an object such as { store }, got ${show(options)}`);
  let store: Store;
  if (options === undefined || options.store === undefined) {
    store = defaultStore();
  } else {
    if (!(options.store instanceof Store)) throw new TypeError(`laptime: mark() option "store" must be a Store from open(), got ${show(options.store)}`);
    store = options.store;
  }
  store.logger(MARK_NAME).info(label, fields);
}
