'use strict';
// Release smoke test of one built binary on its own platform (.github/workflows/release.yml): the
// package as built, without dev dependencies. Records calls through capture(), reads them back,
// checks the store and exits non-zero on any mismatch, naming it.
//   node scripts/smoke.cjs
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const laptime = require('..');

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'laptime-smoke-'));
  try {
    const store = laptime.open({ dir, sync: 'always' });
    assert.equal(store.enabled, true, 'the native binding loaded');
    laptime.setDefaultStore(store);
    const add = laptime.capture((a, b) => a + b, 'smoke.add');
    const fail = laptime.capture(() => {
      throw new Error('expected');
    }, 'smoke.fail');
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum += add(i, 1);
    for (let i = 0; i < 10; i++) assert.throws(fail);
    assert.equal(sum, 500500);
    const { rows } = await store.stats();
    assert.deepEqual(rows.map((r) => [r.name, r.count, r.errors]), [
      ['smoke.add', 1000, 0],
      ['smoke.fail', 10, 10],
    ]);
    await store.close();
    const report = await laptime.verifyStore(dir);
    assert.equal(report.damaged.length, 0, 'verify finds no damage');
    console.log(`laptime smoke test passed on ${process.platform}-${process.arch} (node ${process.version})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
