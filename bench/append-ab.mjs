#!/usr/bin/env node
// The addon's `append` of full batches, two builds side by side in one process (issue 14): each
// round hands one 4095-row batch to a store of each build, in alternating order, and times the
// call alone (the rows are written before the clock starts). Prints ns per row (quartiles over
// 600 rounds, the first 50 left out as warm-up) and each store's counters after a flush.
//
//   node bench/append-ab.mjs OLD.node NEW.node
//
// e.g. OLD = a copy of native/laptime.linux-x64-gnu.node built from the parent commit, NEW = the
// current build (target/release/liblaptime_node.so). The stores are fresh temp directories.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const files = process.argv.slice(2);
if (files.length !== 2) {
  console.error('usage: node bench/append-ab.mjs OLD.node NEW.node');
  process.exit(2);
}
const load = (file) => {
  const m = { exports: {} };
  process.dlopen(m, path.resolve(file));
  return m.exports;
};
const builds = files.map((file, i) => ({ label: i === 0 ? 'old' : 'new', file, addon: load(file), perRow: [] }));
const ROWS = 4095;
const names = new Uint32Array(ROWS + 1);
const starts = new Float64Array(ROWS + 1);
const durations = new Float64Array(ROWS + 1);
const codes = new Uint8Array(ROWS + 1);
for (const b of builds) {
  b.dir = mkdtempSync(path.join(os.tmpdir(), 'laptime-append-ab-'));
  b.store = b.addon.NativeStore.open(b.dir, {});
  b.id = b.store.intern('append-ab');
}
for (let round = 0; round < 600; round++) {
  for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
    for (let i = 0; i < ROWS; i++) {
      names[i] = b.id;
      starts[i] = performance.now();
      durations[i] = 0.0001 * (i & 7);
      codes[i] = 0;
    }
    const t0 = performance.now();
    const refused = b.store.append(names, starts, durations, codes, ROWS, performance.timeOrigin, null);
    b.perRow.push(((performance.now() - t0) * 1e6) / ROWS);
    if (refused !== null) throw new Error(refused);
  }
  // Let the writers keep up, as between the loops of the micro benchmarks.
  if (round % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 3));
}
const q = (values, p) => {
  const s = values.slice(50).sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) * p)].toFixed(2);
};
console.log(`append of ${ROWS}-row batches, ns per row (p25 / p50 / p75), load ${os.loadavg()[0].toFixed(2)}`);
for (const b of builds) {
  await b.store.flush();
  const c = b.store.counters();
  console.log(`${b.label} (${b.file}): ${q(b.perRow, 0.25)} / ${q(b.perRow, 0.5)} / ${q(b.perRow, 0.75)}; written ${c.written}, dropped ${c.dropped}, rejected ${c.rejected}`);
  await b.store.close();
  rmSync(b.dir, { recursive: true, force: true });
}
