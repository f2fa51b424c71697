/**
 * The JS-side batch: a struct of typed arrays that captured calls write into, handed to the addon
 * in one `append` when full, on a timer, or at exit (see ARCHITECTURE.md, "A captured call"). Fixed size, reused:
 * a flood costs no allocation on the plain path (invariant 4). Events with fields or a message also
 * add `[row,...]` fragments to the rare-path extras, capped in characters so they stay bounded too.
 */

/** Extras beyond this many characters hand the batch over early. */
export const MAX_EXTRA_CHARS = 1 << 20;

export class Batch {
  readonly names: Uint32Array;
  readonly starts: Float64Array;
  readonly durations: Float64Array;
  readonly codes: Uint8Array;
  readonly capacity: number;
  /** Rows in use. */
  length = 0;
  private messages = '';
  private fields = '';
  private extraChars = 0;
  private readonly onFull: () => void;

  /** `onFull` must empty the batch (and must not throw). */
  constructor(capacity: number, onFull: () => void) {
    this.capacity = capacity;
    this.names = new Uint32Array(capacity);
    this.starts = new Float64Array(capacity);
    this.durations = new Float64Array(capacity);
    this.codes = new Uint8Array(capacity);
    this.onFull = onFull;
  }

  /** The plain path: four typed-array stores and a length check. */
  add(name: number, start: number, duration: number, code: number): void {
    const i = this.length;
    this.names[i] = name;
    this.starts[i] = start;
    this.durations[i] = duration;
    this.codes[i] = code;
    if ((this.length = i + 1) === this.capacity) this.onFull();
  }

  /**
   * A row with fields and/or a message. Each of `fieldTails` is the part of a field entry after the
   * row number: `,keyId,"tag",value]`. `message` is a JSON string literal or null.
   */
  addWithExtras(
    name: number,
    start: number,
    duration: number,
    code: number,
    fieldTails: readonly string[],
    message: string | null,
  ): void {
    const row = this.length;
    const head = `[${row}`;
    let chars = 0;
    for (let k = 0; k < fieldTails.length; k++) {
      const part = head + fieldTails[k];
      this.fields = this.fields === '' ? part : `${this.fields},${part}`;
      chars += part.length + 1;
    }
    if (message !== null) {
      const part = `${head},${message}]`;
      this.messages = this.messages === '' ? part : `${this.messages},${part}`;
      chars += part.length + 1;
    }
    this.extraChars += chars;
    this.names[row] = name;
    this.starts[row] = start;
    this.durations[row] = duration;
    this.codes[row] = code;
    if ((this.length = row + 1) === this.capacity || this.extraChars >= MAX_EXTRA_CHARS) this.onFull();
  }

  /** The extras argument of `append`, or null when no row has any. */
  extrasJson(): string | null {
    if (this.extraChars === 0) return null;
    return `{"m":[${this.messages}],"f":[${this.fields}]}`;
  }

  /** Forget all rows (after they were handed over or dropped). */
  clear(): void {
    this.length = 0;
    if (this.extraChars !== 0) {
      this.messages = '';
      this.fields = '';
      this.extraChars = 0;
    }
  }
}
