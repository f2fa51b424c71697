/**
 * A query's answer in columns: what {@link Query.run} turns into rows. The addon sends its key
 * cells packed (a tag, a number and a shared text for all of them, see
 * crates/laptime-node/src/answer.rs), because a JS string made per key cost more than the rest of
 * a small answer; the fleet's coordinator sends rows, which become the same columns.
 */
import type { Coverage } from './coverage';
import type { NativeQueryResult, NativeQueryStats } from './native';

/** A group key's value: a string, a number (time buckets in epoch ms), a boolean, or null (no such field). */
export type KeyCell = string | number | boolean | null;

/** An answer with one array of key cells per dimension. */
export interface AnswerColumns {
  keyLabels: string[];
  valueLabels: string[];
  rowCount: number;
  /** One column per group dimension, one value per row. */
  keys: KeyCell[][];
  /** The aggregates, row after row (`valueLabels.length` a row); NaN where a row has nothing to aggregate. */
  values: Float64Array;
  span?: { firstMs: number; lastMs: number } | null;
  stats: NativeQueryStats;
  coverage?: Coverage;
}

const KEY_NULL = 0;
const KEY_STRING = 1;
const KEY_NUMBER = 2;
const KEY_BOOLEAN = 3;

/** The addon's packed answer as columns; throws if the cells do not add up (a binding bug, named). */
export function unpackAnswer(a: NativeQueryResult): AnswerColumns {
  const rows = a.rowCount;
  const cells = rows * a.keyLabels.length;
  if (a.keyTags.length !== cells || a.keyNums.length !== cells) {
    throw new Error(`laptime: the addon answered ${a.keyTags.length} key tags and ${a.keyNums.length} key numbers for ${rows} rows of ${a.keyLabels.length} keys`);
  }
  const keys: KeyCell[][] = [];
  let at = 0;
  for (let d = 0; d < a.keyLabels.length; d++) {
    const column: KeyCell[] = new Array<KeyCell>(rows);
    for (let r = 0; r < rows; r++) {
      const cell = d * rows + r;
      const num = a.keyNums[cell]!;
      switch (a.keyTags[cell]) {
        case KEY_STRING:
          column[r] = a.keyText.slice(at, at + num);
          at += num;
          break;
        case KEY_NUMBER:
          column[r] = num;
          break;
        case KEY_BOOLEAN:
          column[r] = num !== 0;
          break;
        case KEY_NULL:
          column[r] = null;
          break;
        default:
          throw new Error(`laptime: the addon answered key tag ${a.keyTags[cell]} (row ${r}, key ${a.keyLabels[d]})`);
      }
    }
    keys.push(column);
  }
  if (at !== a.keyText.length) throw new Error(`laptime: the addon answered ${a.keyText.length} units of key text, its cells use ${at}`);
  const columns: AnswerColumns = { keyLabels: a.keyLabels, valueLabels: a.valueLabels, rowCount: rows, keys, values: a.values, stats: a.stats };
  if (a.span !== undefined) columns.span = a.span;
  return columns;
}
