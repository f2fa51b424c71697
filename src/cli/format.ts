/**
 * Output of the CLI: aligned tables, CSV, JSON lines, human durations, and the small log-scale
 * latency bars `stats` draws on a terminal. Pure functions of their input; nothing here prints.
 */

/** A table column: header, alignment, and how to turn a row into text. */
export interface Column<Row> {
  header: string;
  align?: 'left' | 'right';
  cell: (row: Row) => string;
}

/** Rows as an aligned text table with a header line; cells never contain newlines. */
export function table<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>): string {
  const cells = rows.map((r) => columns.map((c) => oneLine(c.cell(r))));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i]!))));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => (columns[i]!.align === 'right' ? pad(p, widths[i]!, true) : pad(p, widths[i]!, false)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** Rows as CSV (RFC 4180 quoting), header first. */
export function csv<Row>(rows: readonly Row[], columns: ReadonlyArray<{ header: string; value: (row: Row) => unknown }>): string {
  const line = (values: unknown[]) => values.map(csvField).join(',');
  return [line(columns.map((c) => c.header)), ...rows.map((r) => line(columns.map((c) => c.value(r))))].join('\n') + '\n';
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'bigint' ? v.toString() : typeof v === 'object' ? JSON.stringify(v, jsonReplacer) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** JSON.stringify replacer: bigints as decimal strings (JSON has no 64-bit integers). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** One JSON document per line. */
export function jsonLines(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v, jsonReplacer)).join('\n') + (values.length > 0 ? '\n' : '');
}

/** A duration in ns for people: `850ns`, `12.3µs`, `4.56ms`, `1.20s`, `2m05s`. */
export function duration(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '-';
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)}ns`;
  if (a < 1e6) return `${digits(ns / 1e3)}µs`;
  if (a < 1e9) return `${digits(ns / 1e6)}ms`;
  if (a < 60e9) return `${digits(ns / 1e9)}s`;
  const s = Math.round(ns / 1e9);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function digits(x: number): string {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A count with thousands separators. */
export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US');
}

/** A fraction as a percentage: `0.12%`, `5.0%`. */
export function percent(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  const p = x * 100;
  return p === 0 ? '0%' : p < 1 ? `${p.toFixed(2)}%` : `${p.toFixed(1)}%`;
}

/** Events per second: `1.2k/s`, `35/s`, `0.5/s`. */
export function rate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return '-';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return perSecond >= 10 ? `${perSecond.toFixed(0)}/s` : `${perSecond.toFixed(1)}/s`;
}

/** A time in epoch ms as an ISO string (UTC, milliseconds). */
export function time(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/**
 * A latency distribution drawn on a log scale shared by all rows: `─` from p50 to p99, `█` at the
 * median, `·` elsewhere. `lo`/`hi` are the scale's ends in ns.
 */
export function latencyBar(p50: number | null, p99: number | null, lo: number, hi: number, cells = 16): string {
  if (p50 === null || p99 === null || !(hi > lo) || lo <= 0) return ' '.repeat(cells);
  const at = (v: number) => Math.min(cells - 1, Math.max(0, Math.floor(((Math.log(Math.max(v, lo)) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * cells)));
  const a = at(p50);
  const b = at(p99);
  let out = '';
  for (let i = 0; i < cells; i++) out += i === a ? '█' : i > a && i <= b ? '─' : '·';
  return out;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]/g, ' ');
}

/** Display width, counting each code point as one column (enough for names and numbers). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return right ? fill + s : s + fill;
}
