/**
 * The JS batch's repeated strings (issue 12): a string value equal to the last one a client staged
 * in the same slot goes over as a reference to that entry (TAG_AGAIN) instead of text. The columns
 * are decoded here by the addon's rules (crates/laptime-node/src/fields.rs): a reference must name
 * an earlier field entry of the same hand-over, so clearing and unstaging must invalidate memos.
 */
import test from 'ava';
import { Batch, TAG_AGAIN, TAG_BOOL, TAG_F64, TAG_I64, TAG_I64_TEXT, TAG_MESSAGE, TAG_STR, TextMemo } from '../src/batch';

type Decoded = Array<[row: number, key: number, value: string | number | boolean]>;

/** The fields of the batch's hand-over, resolved as the addon resolves them; throws where it would refuse. */
function decode(batch: Batch): { fields: Decoded; again: number } {
  const cols = batch.fieldColumns();
  if (cols === null) return { fields: [], again: 0 };
  const out: Decoded = [];
  const valueOf: Array<string | number | boolean | null> = [];
  let at = 0;
  let again = 0;
  for (let i = 0; i < cols.count; i++) {
    const [row, key, tag, num] = [cols.rows[i]!, cols.keys[i]!, cols.tags[i]!, cols.nums[i]!];
    let value: string | number | boolean | null;
    if (tag === TAG_STR || tag === TAG_I64_TEXT || tag === TAG_MESSAGE) {
      value = cols.text.slice(at, at + num);
      at += num;
    } else if (tag === TAG_AGAIN) {
      if (!(Number.isInteger(num) && num >= 0 && num < i) || valueOf[num] === null) throw new Error(`entry ${i} names ${num}, not an earlier field entry`);
      value = valueOf[num]!;
      again++;
    } else if (tag === TAG_BOOL) value = num === 1;
    else if (tag === TAG_I64 || tag === TAG_F64) value = num;
    else throw new Error(`entry ${i}: unknown tag ${tag}`);
    valueOf.push(tag === TAG_MESSAGE ? null : value);
    if (tag !== TAG_MESSAGE) out.push([row, key, value!]);
  }
  if (at !== cols.text.length) throw new Error(`text has ${cols.text.length} units, entries use ${at}`);
  return { fields: out, again };
}

test('a repeated string is sent once per hand-over, then referenced', (t) => {
  const batch = new Batch(100, () => {});
  const memo = new TextMemo();
  const routes = ['/a', '/a', '/b', '/b', '/b', '/a'];
  routes.forEach((route, i) => {
    batch.text(7, route, memo, 0);
    batch.field(8, i);
    batch.addStaged(1, i, 1, 0);
  });
  const { fields, again } = decode(batch);
  t.deepEqual(
    fields.filter(([, key]) => key === 7).map(([row, , v]) => [row, v]),
    routes.map((r, i) => [i, r]),
  );
  t.is(again, 3, 'the second /a, the second and third /b');
  t.is(batch.fieldColumns()!.text, '/a/b/a');
});

test('equal strings made separately are still recognised, other slots and memos are separate', (t) => {
  const batch = new Batch(100, () => {});
  const site1 = new TextMemo();
  const site2 = new TextMemo();
  const built = (s: string) => [...s].join('');
  for (let i = 0; i < 4; i++) {
    batch.text(1, built('tenant-acme'), site1, 0);
    batch.text(2, built('tenant-acme'), site1, 1);
    batch.text(1, 'x', site2, 0);
    batch.addStaged(1, i, 1, 0);
  }
  const { fields, again } = decode(batch);
  t.is(again, 9);
  t.true(fields.every(([, key, v]) => (key === 1 || key === 2 ? v === 'tenant-acme' || v === 'x' : false)));
  t.deepEqual(fields.slice(0, 3).map(([, , v]) => v), ['tenant-acme', 'tenant-acme', 'x']);
});

test('after a hand-over (clear) or an unstage, no reference points at a forgotten entry', (t) => {
  const batch = new Batch(100, () => {});
  const memo = new TextMemo();
  batch.text(1, 'same', memo, 0);
  batch.addStaged(1, 0, 1, 0);
  batch.clear();
  batch.text(1, 'same', memo, 0);
  batch.addStaged(1, 1, 1, 0);
  t.deepEqual(decode(batch), { fields: [[0, 1, 'same']], again: 0 }, 'the first entry after a clear carries its text');

  // A row whose staging failed is unstaged: the memo's entry for it is gone.
  batch.text(1, 'other', memo, 0);
  batch.unstage();
  batch.text(1, 'other', memo, 0);
  batch.addStaged(1, 2, 1, 0);
  batch.text(1, 'other', memo, 0);
  batch.addStaged(1, 3, 1, 0);
  t.deepEqual(decode(batch), { fields: [[0, 1, 'same'], [1, 1, 'other'], [2, 1, 'other']], again: 1 });
});

test('a full batch hands over mid-pattern and every row keeps its values', (t) => {
  const handed: Decoded[] = [];
  let rows = 0;
  const batch: Batch = new Batch(7, () => {
    const { fields } = decode(batch);
    handed.push(fields.map(([row, key, v]) => [row + rows, key, v]));
    rows += batch.length;
    batch.clear();
  });
  const memo = new TextMemo();
  const want: Decoded = [];
  for (let i = 0; i < 50; i++) {
    const tenant = i % 3 === 0 ? 'globex' : 'acme';
    const route = i < 25 ? '/users/:id' : `/orders/${i % 2}`;
    batch.text(1, tenant, memo, 0);
    batch.text(2, route, memo, 1);
    batch.addStaged(1, i, 1, 0);
    want.push([i, 1, tenant], [i, 2, route]);
  }
  batch.clear();
  t.deepEqual(handed.flat(), want.slice(0, handed.flat().length));
  t.is(handed.length, 7);
});
