//! A newcomer's tour: record timings of a few functions, read per-function stats back, and look at
//! the counters. Run: `cargo run -p laptime-core --example quickstart --release`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use laptime_core::query::{AggValue, Aggregate, GroupBy, GroupValue, Query};
use laptime_core::{Options, Queries, Store};

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn fmt_ns(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{:.1}µs", ns as f64 / 1e3),
        _ => format!("{:.1}ms", ns as f64 / 1e6),
    }
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("laptime-quickstart-{}", std::process::id()));
    let store = Store::open(&dir, Options::default())?;
    let fib_id = store.intern("Math.fib")?;
    let parse_id = store.intern("Config.parse")?;

    // One recorder per thread: it batches events and hands them to the writer thread.
    let mut rec = store.recorder();
    for i in 0..10_000u32 {
        let start = now_ns();
        let t = Instant::now();
        let _ = fib(10 + i % 8);
        rec.call(fib_id, start, t.elapsed().as_nanos() as u64, true);

        let start = now_ns();
        let t = Instant::now();
        let ok = "42".parse::<u32>().is_ok() && i % 50 != 0;
        rec.call(parse_id, start, t.elapsed().as_nanos() as u64, ok);
    }
    rec.submit();
    store.flush()?;

    // Per-function stats are one query: group by name, counts and percentiles from the sketches.
    let stats = store.view()?.query(&Query {
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Calls,
            Aggregate::Errors,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.9),
            Aggregate::Percentile(0.99),
            Aggregate::Rate,
        ],
        ..Query::default()
    })?;
    println!(
        "{:<14} {:>7} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "function", "calls", "errors", "p50", "p90", "p99", "calls/s"
    );
    for row in &stats.rows {
        let name = match &row.key[0] {
            GroupValue::Str(s) => s.to_string(),
            other => other.to_string(),
        };
        let v = &row.values;
        let count = |a: &AggValue| a.as_f64().map_or(0, |x| x as u64);
        let ns = |a: &AggValue| match a {
            AggValue::Nanos(n) => fmt_ns(*n),
            _ => "-".to_string(),
        };
        let rate = v[5].as_f64().map_or("-".to_string(), |r| format!("{r:.0}"));
        println!(
            "{:<14} {:>7} {:>6} {:>10} {:>10} {:>10} {:>12}",
            name,
            count(&v[0]),
            count(&v[1]),
            ns(&v[2]),
            ns(&v[3]),
            ns(&v[4]),
            rate
        );
    }
    let c = store.counters();
    println!(
        "accepted {}, written {}, dropped {}, {} bytes on disk in {}",
        c.accepted,
        c.written,
        c.dropped,
        c.bytes_on_disk,
        dir.display()
    );
    store.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
