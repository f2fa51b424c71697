/** Standard-decorator-only uses of @capture(): fields and private methods (skipped in the legacy run). */
import { freshStore } from './helpers/setup';
import test from 'ava';
import { MODE } from './helpers/mode';
import { rowsOf } from './helpers/fake-native';

const standard = MODE === 'standard' ? test.serial : test.skip;
// Required, not imported (not even its types), so the legacy run never compiles it.
interface WidgetClass {
  new (): { handler(x: number): number; renamed(x: number): Promise<number>; notAFunction: number; callSecret(x: number): number };
  tool(s: string): string;
}
const load = (): { Widget: WidgetClass } => require('./fixtures/standard-only') as { Widget: WidgetClass };

standard('decorated function-valued fields are timed and named Class.field', async (t) => {
  const store = freshStore(t);
  const { Widget } = load();
  const w = new Widget();
  t.is(w.handler(4), 8, 'arrow keeps its lexical this');
  t.is(w.handler.name, 'handler');
  t.is(await w.renamed(5), 5);
  t.is(w.notAFunction, 42, 'non-function values pass through');
  t.is(Widget.tool('a'), 'A');
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => r.name),
    ['Widget.handler', 'Widget.renamedField', 'Widget.tool'],
  );
});

standard('decorated private methods', async (t) => {
  const store = freshStore(t);
  const { Widget } = load();
  t.is(new Widget().callSecret(1), 2);
  await store.flush();
  t.deepEqual(
    rowsOf(store.path).map((r) => r.name),
    ['Widget.#secret'],
  );
});
