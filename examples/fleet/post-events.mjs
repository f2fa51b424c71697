// Ingest traffic of the fleet demo: every 200 ms, a batch of cron-job calls and log lines POSTed
// to `laptime ingest` (argv[2], e.g. http://127.0.0.1:4318) as NDJSON, the way a service in
// another language would send them. Prints a line per refusal; runs until killed.
const url = `${process.argv[2]}/v1/events`;
const jobs = ['cron.reindex', 'cron.invoices', 'cron.cleanup'];
let sent = 0;
for (;;) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const lines = [];
  for (let i = 0; i < 50; i++) {
    const job = jobs[i % jobs.length];
    lines.push(JSON.stringify({ name: job, start: String(now - BigInt(i) * 1_000_000n), duration_ms: 5 + ((sent + i) % 40) * 2.5, ok: (sent + i) % 97 !== 0, fields: { host: `worker-${i % 4}` } }));
  }
  lines.push(JSON.stringify({ name: 'cron', start: String(now), level: 'info', message: `batch ${sent / 50} done`, fields: { jobs: 50 } }));
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
    if (r.status !== 202) console.error(`post-events: ${r.status} ${await r.text()}`);
  } catch (e) {
    console.error(`post-events: ${e.cause ?? e}`);
  }
  sent += 50;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
