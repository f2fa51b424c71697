/**
 * Output of the CLI: aligned tables, CSV, JSON lines, human durations, and the small log-scale
 * latency bars `stats` draws on a terminal. Pure functions of their input; nothing here prints.
 */
import { jsonReplacer, safeJson, UNSAFE } from '../json';

export { jsonReplacer, safeJson };

/**
 * Characters a terminal acts on instead of showing: C0 controls, DEL, C1 controls (0x80-0x9f: 0x9b
 * is CSI, 0x9d OSC), bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and
 * marks (U+061C, U+200E, U+200F), and the line and paragraph separators U+2028/U+2029. Store
 * content (names, fields, messages) and user input can hold any of them.
 */
const UNSAFE_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `s` safe to print for people: every character a terminal would act on (see UNSAFE) is shown as
 * its escape (`\x1b`, `\x9b`, `\u202e`, `\n`), so stored strings cannot clear the screen, set the
 * window title, plant hyperlinks or reorder a line. With `keepNewlines`, `\n` stays a line break
 * (for multi-line text the CLI itself composes, such as help and error lines).
 */
export function printable(s: string, keepNewlines = false): string {
  return s.replace(keepNewlines ? UNSAFE_EXCEPT_NEWLINE : UNSAFE, escapeChar);
}

/** A table column: header, alignment, and how to turn a row into text. */
export interface Column<Row> {
  header: string;
  align?: 'left' | 'right';
  cell: (row: Row) => string;
}

/** Rows as an aligned text table with a header line; cells are {@link printable}, so one line each. */
export function table<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>): string {
  const cells = rows.map((r) => columns.map((c) => printable(c.cell(r))));
  const headers = columns.map((c) => printable(c.header));
  // A loop, not Math.max(...cells): spreading a million rows into arguments overflows the stack.
  const widths = headers.map((h) => width(h));
  for (const row of cells) for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i]!, width(row[i]!));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => (columns[i]!.align === 'right' ? pad(p, widths[i]!, true) : pad(p, widths[i]!, false)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/**
 * Rows as CSV (RFC 4180 quoting), header first. CSV is data: values stay exact by default, so a
 * spreadsheet or script reads back what was stored. With `forTerminal` (stdout is a TTY, so a
 * person reads it) every field is {@link printable} instead.
 */
export function csv<Row>(rows: readonly Row[], columns: ReadonlyArray<{ header: string; value: (row: Row) => unknown }>, forTerminal = false): string {
  const field = (v: unknown) => csvField(v, forTerminal);
  const line = (values: unknown[]) => values.map(field).join(',');
  return [line(columns.map((c) => c.header)), ...rows.map((r) => line(columns.map((c) => c.value(r))))].join('\n') + '\n';
}

function csvField(v: unknown, forTerminal: boolean): string {
  if (v === null || v === undefined) return '';
  const raw = typeof v === 'bigint' ? v.toString() : typeof v === 'object' ? JSON.stringify(v, jsonReplacer) : String(v);
  const s = forTerminal ? printable(raw) : raw;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One JSON document per line ({@link safeJson}). */
export function jsonLines(values: readonly unknown[]): string {
  let out = '';
  for (const v of values) out += safeJson(v) + '\n';
  return out;
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

/** Display width, counting each code point as one column (enough for names and numbers). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return right ? fill + s : s + fill;
}
