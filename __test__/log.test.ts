/** log, logger() and store.log: log events with levels, messages and fields; never throwing. */
import { freshStore } from './helpers/setup';
import test from 'ava';
import { log, logger } from '../index';
import { rowsOf } from './helpers/fake-native';

test.serial('levels map to codes 2..7, messages and fields are stored', async (t) => {
  const store = freshStore(t);
  log.trace('t');
  log.debug('d', { n: 1 });
  log.info('i', { route: '/users', ok: true, ratio: 0.5, big: 1234567890123456789n, huge: 12345678901234567890n });
  log.warn('w');
  log.error('e', { code: 'E42' });
  log.fatal('f');
  await store.flush();
  const rows = rowsOf(store.path);
  t.deepEqual(
    rows.map((r) => [r.name, r.code, r.message, r.durationNs]),
    [
      ['log', 2, 't', 0n],
      ['log', 3, 'd', 0n],
      ['log', 4, 'i', 0n],
      ['log', 5, 'w', 0n],
      ['log', 6, 'e', 0n],
      ['log', 7, 'f', 0n],
    ],
  );
  t.deepEqual(rows[1]!.fields, { n: 1 });
  t.like(rows[2]!.fields, { route: '/users', ok: true, ratio: 0.5 });
  t.is(typeof rows[2]!.fields.big, 'number', 'an i64 field');
  t.is(rows[2]!.fields.huge, '12345678901234567890', 'beyond i64: its text');
  t.deepEqual(rows[4]!.fields, { code: 'E42' });
});

test.serial('named loggers, store.log and store.logger()', async (t) => {
  const store = freshStore(t);
  logger('audit').info('a');
  store.log.warn('b');
  store.logger('jobs').error('c');
  const { info } = logger('detached');
  info('methods work detached');
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => r.name),
    ['audit', 'log', 'jobs', 'detached'],
  );
  t.throws(() => logger(''), { instanceOf: TypeError });
});

test.serial('odd values never throw: converted, skipped or replaced', async (t) => {
  const store = freshStore(t);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const hostile = {
    toString() {
      throw new Error('no');
    },
  };
  t.notThrows(() => {
    log.info(42 as never, { obj: { a: [1, 2n] }, nul: null, und: undefined, nan: Number.NaN, inf: -Infinity, sym: Symbol('s'), fn: () => 1, cyclic, hostile, huge: 2n ** 70n });
    log.info('lone \ud800 surrogate', { key: 'value \udfff' });
    log.info(hostile as never);
    log.info('no fields', null as never);
  });
  await store.flush();
  const rows = rowsOf(store.path);
  t.is(rows[0]!.message, '42');
  t.like(rows[0]!.fields, { obj: '{"a":[1,"2"]}', sym: 'Symbol(s)', huge: '1180591620717411303424' });
  t.true(Number.isNaN(rows[0]!.fields.nan as number));
  t.is(rows[0]!.fields.inf, -Infinity, 'non-finite numbers are stored as they are');
  t.false('nul' in rows[0]!.fields);
  t.false('und' in rows[0]!.fields);
  t.is(rows[1]!.message, 'lone \ufffd surrogate');
  t.is(rows[1]!.fields.key, 'value \ufffd');
  t.is(rows.length, 3, 'a message that cannot be turned into text is an internal error, not a throw');
  t.is(rows[2]!.message, 'no fields');
});
