/**
 * src/native.ts is written against the binding contract; this checks, at compile time (the
 * tsc --noEmit step of each run) and at run time, that the generated loader's types and the built
 * addon satisfy it.
 */
import test from 'ava';
import type * as Generated from '../native/binding';
import type { NativeBinding } from '../src/native';
import { bindingPath, hasAddon } from './helpers/real';

type Satisfies = Pick<typeof Generated, 'NativeStore' | 'NativeReader' | 'errorCodes' | 'parseFilter' | 'parseDuration' | 'parseTime' | 'verifyPlan' | 'verifyFile' | 'maintain' | 'exportParquet' | 'readPostMortem' | 'postMortemSummary' | 'importPostMortem'> extends NativeBinding ? true : false;
const generatedTypesSatisfyContract: Satisfies = true;

test('native/binding.d.ts satisfies the contract of src/native.ts', (t) => {
  t.true(generatedTypesSatisfyContract);
});

(hasAddon ? test : test.skip)('the built addon has every method of the contract', (t) => {
  const binding = require(bindingPath) as NativeBinding;
  t.is(typeof binding.NativeStore.open, 'function');
  const proto = (binding.NativeStore as unknown as { prototype: object }).prototype;
  t.is(typeof binding.parseFilter, 'function');
  t.is(typeof binding.parseDuration, 'function');
  t.is(typeof binding.parseTime, 'function');
  for (const fn of ['readPostMortem', 'postMortemSummary', 'importPostMortem'] as const) t.is(typeof binding[fn], 'function', fn);
  for (const method of ['intern', 'append', 'newSlot', 'handOver', 'takeRefusal', 'flush', 'query', 'histogram', 'events', 'anomalies', 'compare', 'postMortem', 'postMortemSync', 'counters', 'close', 'closeSync']) t.is(typeof (proto as Record<string, unknown>)[method], 'function', method);
  t.truthy(Object.getOwnPropertyDescriptor(proto, 'path')?.get);
});
