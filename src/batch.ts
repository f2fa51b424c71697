/**
 * The JS-side batch: a struct of typed arrays that captured calls write into, handed to the addon
 * in one `append` when full, on a timer, or at exit (see ARCHITECTURE.md, "A captured call"). Fixed size, reused:
 * a flood costs no allocation on the plain path (invariant 4).
 *
 * Fields and log messages are columns too: one entry per field (row, key id, type tag, number) in
 * typed arrays that grow when needed, with the text of string values and messages handed over as
 * one string whose pieces the numbers measure (UTF-16 units). Staging a field is a few array stores and
 * a string append, no encoding: per-call attributes stay cheap (issue 12). Extras beyond a bound
 * hand the batch over early, so memory stays bounded too.
 */
import { I64_MAX, I64_MIN } from './fields';
import type { NativeFieldColumns } from './native';


// Type tags of field entries; the addon reads the same numbers (crates/laptime-node/src/fields.rs).
/** A whole number, exact in the f64. */
export const TAG_I64 = 0;
export const TAG_F64 = 1;
/** 1 or 0. */
export const TAG_BOOL = 2;
/** Text; the number is its length in the batch text. */
export const TAG_STR = 3;
/** A 64-bit whole number beyond 2^53, written as decimal text (the number is its length). */
export const TAG_I64_TEXT = 4;
/** The row's log message (key 0); the number is its length in the batch text. */
export const TAG_MESSAGE = 5;
/** The value of an earlier field entry of the batch; the number is that entry's index. */
export const TAG_AGAIN = 6;

/** Field entries or text characters beyond these hand the batch over early. */
export const MAX_FIELDS = 1 << 16;
export const MAX_TEXT_CHARS = 1 << 20;

/** Batch contents ever handed over or dropped, over all batches: a memo's entries are valid only for the generation they were made in. */
let generations = 0;

/**
 * The string values one staging client (a call site, a sink) sent last, by slot (the position of
 * a key in its fields), with the entries that carry them. A value equal to the last one of its slot
 * is staged as a reference to that entry: low-cardinality attributes (routes, tenants, methods)
 * repeat from call to call, and then cost no text in the hand-over.
 */
export class TextMemo {
  readonly values: string[] = [];
  readonly entries: number[] = [];
  readonly generations: number[] = [];
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** The four dense columns of `capacity` rows, in JS arrays or in an addon slot's memory. */
export interface Rows {
  readonly names: Uint32Array;
  readonly starts: Float64Array;
  readonly durations: Float64Array;
  readonly codes: Uint8Array;
}

/** Rows in JS's own memory (handed over by copying, `append`). */
export function ownRows(capacity: number): Rows {
  return { names: new Uint32Array(capacity), starts: new Float64Array(capacity), durations: new Float64Array(capacity), codes: new Uint8Array(capacity) };
}

/**
 * Rows in the memory of an addon slot (`newSlot`): start offsets, durations, name ids and codes
 * of `capacity` rows, in that order (the addon reads the same layout, crates/laptime-node/src/slots.rs).
 */
export function slotRows(memory: ArrayBuffer, capacity: number): Rows {
  return {
    starts: new Float64Array(memory, 0, capacity),
    durations: new Float64Array(memory, 8 * capacity, capacity),
    names: new Uint32Array(memory, 16 * capacity, capacity),
    codes: new Uint8Array(memory, 20 * capacity, capacity),
  };
}

export class Batch {
  // Not readonly: the store points them at the next slot's memory after each hand-over (useRows).
  names: Uint32Array;
  starts: Float64Array;
  durations: Float64Array;
  codes: Uint8Array;
  readonly capacity: number;
  /** Rows in use. */
  length = 0;
  fieldRows: Uint32Array;
  fieldKeys: Uint32Array;
  fieldTags: Uint8Array;
  fieldNums: Float64Array;
  /** Field entries in use (the staged ones of the next row included). */
  fieldCount = 0;
  /** String values and messages, in entry order (joined at hand-over: appending to an array is cheaper than to a string). */
  private pieces: string[] = [];
  /** Characters in `pieces`. */
  textChars = 0;
  /** First entry staged for the next row. */
  private rowFieldStart = 0;
  /** Changes whenever entries are forgotten (see {@link TextMemo}). */
  private generation = ++generations;
  private readonly onFull: () => void;

  /** `onFull` must empty the batch (and must not throw). */
  constructor(capacity: number, onFull: () => void) {
    this.capacity = capacity;
    const rows = ownRows(capacity);
    this.names = rows.names;
    this.starts = rows.starts;
    this.durations = rows.durations;
    this.codes = rows.codes;
    const entries = Math.min(capacity, 1024);
    this.fieldRows = new Uint32Array(entries);
    this.fieldKeys = new Uint32Array(entries);
    this.fieldTags = new Uint8Array(entries);
    this.fieldNums = new Float64Array(entries);
    this.onFull = onFull;
  }

  /**
   * The plain path, a row without fields: four typed-array stores and a length check. Only for
   * rows nothing was staged for (see {@link Batch.addStaged}).
   */
  add(name: number, start: number, duration: number, code: number): void {
    const i = this.length;
    this.names[i] = name;
    this.starts[i] = start;
    this.durations[i] = duration;
    this.codes[i] = code;
    if ((this.length = i + 1) === this.capacity) this.onFull();
  }

  /** Commit a row with the fields and message staged since the last one (possibly none). */
  addStaged(name: number, start: number, duration: number, code: number): void {
    const i = this.length;
    this.names[i] = name;
    this.starts[i] = start;
    this.durations[i] = duration;
    this.codes[i] = code;
    this.length = i + 1;
    this.rowFieldStart = this.fieldCount;
    if (this.length === this.capacity || this.fieldCount >= MAX_FIELDS || this.textChars >= MAX_TEXT_CHARS) this.onFull();
  }

  /**
   * Stage field `key` = `value` for the next row. Returns false, staging nothing, for a value no
   * column holds (not a string, boolean, number, or bigint within 64 bits).
   */
  field(key: number, value: unknown): boolean {
    switch (typeof value) {
      case 'string':
        this.entry(key, TAG_STR, value.length);
        this.pieces.push(value);
        this.textChars += value.length;
        return true;
      case 'number':
        this.entry(key, Number.isSafeInteger(value) ? TAG_I64 : TAG_F64, value);
        return true;
      case 'boolean':
        this.entry(key, TAG_BOOL, value ? 1 : 0);
        return true;
      case 'bigint':
        if (value >= SAFE_MIN && value <= SAFE_MAX) {
          this.entry(key, TAG_I64, Number(value));
          return true;
        }
        if (value < I64_MIN || value > I64_MAX) return false;
        {
          const digits = value.toString();
          this.entry(key, TAG_I64_TEXT, digits.length);
          this.pieces.push(digits);
          this.textChars += digits.length;
        }
        return true;
      default:
        return false;
    }
  }

  /**
   * Stage field `key` = the string `value` for the next row, as a reference to the entry `memo`
   * remembers for `slot` when that carried the same string in this batch.
   */
  text(key: number, value: string, memo: TextMemo, slot: number): void {
    if (slot < memo.values.length) {
      if (memo.values[slot] === value && memo.generations[slot] === this.generation) {
        this.entry(key, TAG_AGAIN, memo.entries[slot]!);
        return;
      }
      memo.values[slot] = value;
      memo.entries[slot] = this.fieldCount;
      memo.generations[slot] = this.generation;
    } else if (slot === memo.values.length) {
      memo.values.push(value);
      memo.entries.push(this.fieldCount);
      memo.generations.push(this.generation);
    }
    this.entry(key, TAG_STR, value.length);
    this.pieces.push(value);
    this.textChars += value.length;
  }

  /** Stage the log message of the next row. */
  message(text: string): void {
    this.entry(0, TAG_MESSAGE, text.length);
    this.pieces.push(text);
    this.textChars += text.length;
  }

  /** Forget what was staged since the last committed row (its commit failed before `add`). */
  unstage(): void {
    if (this.fieldCount === this.rowFieldStart) return;
    this.generation = ++generations;
    for (let k = this.rowFieldStart; k < this.fieldCount; k++) {
      const tag = this.fieldTags[k]!;
      if (tag === TAG_STR || tag === TAG_I64_TEXT || tag === TAG_MESSAGE) this.textChars -= this.pieces.pop()!.length;
    }
    this.fieldCount = this.rowFieldStart;
  }

  /** The field columns for `append`, or null when no row has any. */
  fieldColumns(): NativeFieldColumns | null {
    if (this.rowFieldStart === 0) return null;
    return { rows: this.fieldRows, keys: this.fieldKeys, tags: this.fieldTags, nums: this.fieldNums, count: this.rowFieldStart, text: this.pieces.join('') };
  }

  /** Write the next rows into `rows` (of this batch's capacity); only while the batch is empty. */
  useRows(rows: Rows): void {
    this.names = rows.names;
    this.starts = rows.starts;
    this.durations = rows.durations;
    this.codes = rows.codes;
  }

  /** Forget all rows (after they were handed over or dropped). */
  clear(): void {
    this.length = 0;
    if (this.fieldCount !== 0) {
      this.generation = ++generations;
      this.fieldCount = 0;
      this.rowFieldStart = 0;
      this.pieces = [];
      this.textChars = 0;
    }
  }

  private entry(key: number, tag: number, num: number): void {
    const k = this.fieldCount;
    if (k === this.fieldRows.length) this.grow();
    this.fieldRows[k] = this.length;
    this.fieldKeys[k] = key;
    this.fieldTags[k] = tag;
    this.fieldNums[k] = num;
    this.fieldCount = k + 1;
  }

  /** Double the field columns (rows with many fields); bounded by MAX_FIELDS plus one row's worth. */
  private grow(): void {
    const size = this.fieldRows.length * 2;
    const rows = new Uint32Array(size);
    rows.set(this.fieldRows);
    const keys = new Uint32Array(size);
    keys.set(this.fieldKeys);
    const tags = new Uint8Array(size);
    tags.set(this.fieldTags);
    const nums = new Float64Array(size);
    nums.set(this.fieldNums);
    this.fieldRows = rows;
    this.fieldKeys = keys;
    this.fieldTags = tags;
    this.fieldNums = nums;
  }
}
