//! A billion events on one node (issue 14): write N R1-full events with one writer, then, in a
//! fresh process, open the store and time the questions a dashboard asks, with the process's peak
//! memory. BENCHMARKS.md "A billion events" has the figures.
//!
//! ```text
//! cargo run --release -p laptime-core --example billion -- write <events> <dir>
//! cargo run --release -p laptime-core --example billion -- read <dir> [bufferpool-MiB]
//! ```
//!
//! `write` counts an event when it is stored: after `close()` a reader counts the store's events
//! and the run fails if they differ from what was handed over minus what was dropped (0 with
//! `Overflow::Block`). `read` prints one line per measurement; set `LAPTIME_DROP_CACHES=1` (root)
//! to drop the kernel's page cache before each first run, so "cold" means read from disk.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use laptime_core::query::{
    AggValue, Aggregate, EventsRequest, GroupBy, Precision, Query, SortOrder,
};
use laptime_core::{Options, Overflow, Queries, Reader, Store, SyncPolicy};
use laptime_workload::{bytes_under, R1Config, R1Interned, R1};

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", n, dir] => write(n.parse()?, Path::new(dir)),
        ["read", dir] => read(Path::new(dir), 64),
        ["read", dir, mib] => read(Path::new(dir), mib.parse()?),
        _ => {
            Err("usage: billion write <events> <dir> | billion read <dir> [bufferpool-MiB]".into())
        }
    }
}

fn write(n: usize, dir: &Path) -> Res<()> {
    let store = Store::open(
        dir,
        Options {
            sync: SyncPolicy::None,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(60),
            },
            segment_max_bytes: 256 << 20,
            ..Options::default()
        },
    )?;
    let mut r1 = R1::new(R1Config {
        full: true,
        ..R1Config::default()
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s))?;
    let started = Instant::now();
    let mut generating = Duration::ZERO;
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = n;
    let mut last_report = Instant::now();
    while left > 0 {
        let take = left.min(1 << 20);
        let g = Instant::now();
        chunk.clear();
        r1.fill(take, &mut chunk);
        generating += g.elapsed();
        for b in interned.batches(&chunk, 4096) {
            store.append(b);
        }
        left -= take;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "billion: {} of {n} handed over in {:.0} s",
                n - left,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let dropped = store.counters().dropped;
    store.close()?;
    let wall = started.elapsed();
    let stored = count(dir)?;
    let bytes = bytes_under(dir)?;
    println!("events handed over   {n}");
    println!("dropped              {dropped}");
    println!("stored (counted back) {stored}");
    println!(
        "write wall time      {:.1} s ({:.2} M stored events/s; the R1 generator took {:.1} s of it on the same thread)",
        wall.as_secs_f64(),
        stored as f64 / wall.as_secs_f64() / 1e6,
        generating.as_secs_f64()
    );
    println!(
        "bytes on disk        {bytes} ({:.2} B/event)",
        bytes as f64 / stored as f64
    );
    println!("peak RSS (writer)    {} MiB", peak_rss_kib() / 1024);
    if stored + dropped != n as u64 {
        return Err(format!("{n} handed over, {dropped} dropped, but {stored} stored").into());
    }
    Ok(())
}

fn count(dir: &Path) -> Res<u64> {
    let reader = Reader::open(dir, None)?;
    let r = reader.view()?.query(&Query {
        aggregates: vec![Aggregate::Count],
        ..Query::default()
    })?;
    Ok(r.rows.first().map_or(0, |row| count_of(&row.values[0])))
}

fn count_of(v: &AggValue) -> u64 {
    match v {
        AggValue::Count(c) => *c,
        _ => 0,
    }
}

/// Runs `f` once cold (page cache dropped when allowed), then three times warm; prints both.
fn timed<T>(what: &str, mut f: impl FnMut() -> Res<T>) -> Res<T> {
    let cold = drop_caches();
    let t = Instant::now();
    let mut out = f()?;
    let first = t.elapsed();
    let mut warm = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        out = f()?;
        warm.push(t.elapsed());
    }
    warm.sort();
    println!(
        "{what:<58} first {:>9.1} ms ({}), warm median {:>9.1} ms, RSS {} MiB",
        first.as_secs_f64() * 1e3,
        if cold {
            "page cache dropped"
        } else {
            "page cache as found"
        },
        warm[1].as_secs_f64() * 1e3,
        rss_kib() / 1024
    );
    Ok(out)
}

fn read(dir: &Path, pool_mib: usize) -> Res<()> {
    println!("store                {} bytes", bytes_under(dir)?);
    println!("bufferpool           {pool_mib} MiB");
    let cold = drop_caches();
    let t = Instant::now();
    let reader = Reader::open(dir, Some(pool_mib << 20))?;
    let view = reader.view()?;
    println!(
        "open + first view    {:.1} ms ({}), RSS {} MiB",
        t.elapsed().as_secs_f64() * 1e3,
        if cold {
            "page cache dropped"
        } else {
            "page cache as found"
        },
        rss_kib() / 1024
    );
    let by_function = |precision: Precision| Query {
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.9),
            Aggregate::Percentile(0.99),
        ],
        precision,
        ..Query::default()
    };
    let total = timed("count of all events", || Ok(view.query(&Query::default())?))?;
    println!(
        "events               {:?}",
        total.rows.first().map(|r| &r.values)
    );
    let sketch = timed("p50/p90/p99 by function, all events, sketch", || {
        Ok(view.query(&by_function(Precision::Auto))?)
    })?;
    println!("functions            {}", sketch.rows.len());
    timed("p50/p90/p99 by function, all events, exact", || {
        Ok(view.query(&by_function(Precision::Exact))?)
    })?;
    // The busiest function, and the last minute of the store's event time: R1's clock runs at 1M
    // events/s, so a billion events span 16.7 minutes and a 1-hour window would be all of them.
    let busiest = sketch
        .rows
        .iter()
        .max_by_key(|r| count_of(&r.values[0]))
        .map(|r| r.key[0].to_string())
        .ok_or("no functions")?;
    let span = view
        .query(&Query {
            aggregates: vec![Aggregate::Rate],
            ..Query::default()
        })?
        .span
        .ok_or("no calls")?;
    let last = span.last_ns;
    let since_ms = (last - 60_000_000_000) / 1_000_000;
    // The newest tenth of the time range, as `npm run bench:query` asks.
    let newest_tenth_ms = (last - (last - span.first_ns) / 10) / 1_000_000;
    for precision in [Precision::Auto, Precision::Exact] {
        let q = Query {
            filter: format!("since:{newest_tenth_ms}").parse()?,
            ..by_function(precision)
        };
        let label = format!("p50/p90/p99 by function, newest 10%, {precision:?}");
        let r = timed(&label, || Ok(view.query(&q)?))?;
        println!("  -> {:?}", r.stats);
    }
    let one = |precision: Precision, window: bool| -> Res<Query> {
        let filter = if window {
            format!("name:{busiest} since:{since_ms}")
        } else {
            format!("name:{busiest}")
        };
        Ok(Query {
            filter: filter.parse()?,
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
            precision,
            ..Query::default()
        })
    };
    for (label, precision, window) in [
        (
            "one function's p99, all time, sketch",
            Precision::Auto,
            false,
        ),
        (
            "one function's p99, all time, exact",
            Precision::Exact,
            false,
        ),
        (
            "one function's p99, last minute, sketch",
            Precision::Auto,
            true,
        ),
        (
            "one function's p99, last minute, exact",
            Precision::Exact,
            true,
        ),
    ] {
        let q = one(precision, window)?;
        let r = timed(&format!("{label} ({busiest})"), || Ok(view.query(&q)?))?;
        println!("  -> {:?}", r.rows.first().map(|r| &r.values));
    }
    // One route of R1-full's 50 (on 30 % of the events): a field filter that every page may hold.
    let route = Query {
        filter: "route:\"/api/v2/invoices/:id/status\"".parse()?,
        group_by: vec![GroupBy::Name],
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
        ..Query::default()
    };
    let r = timed("route filter, count and p99 by function, sketch", || {
        Ok(view.query(&route)?)
    })?;
    println!("  -> {} functions, {:?}", r.rows.len(), r.stats);
    let by_route = Query {
        group_by: vec![GroupBy::Field("route".into())],
        aggregates: vec![Aggregate::Count, Aggregate::Errors, Aggregate::ErrorRate],
        ..Query::default()
    };
    let r = timed("count and error rate by route, all events", || {
        Ok(view.query(&by_route)?)
    })?;
    println!("  -> {} groups, {:?}", r.rows.len(), r.stats);
    let quiet = sketch
        .rows
        .iter()
        .min_by_key(|r| count_of(&r.values[0]))
        .map(|r| r.key[0].to_string())
        .ok_or("no functions")?;
    for name in [&busiest, &quiet] {
        let req = EventsRequest {
            filter: format!("name:{name}").parse()?,
            limit: 100,
            order: SortOrder::NewestFirst,
            ..EventsRequest::default()
        };
        let page = timed(&format!("newest 100 events of {name}"), || {
            Ok(laptime_core::query::events(&view, &req)?)
        })?;
        println!("  -> {} events", page.events.len());
    }
    println!("peak RSS (reader)    {} MiB", peak_rss_kib() / 1024);
    Ok(())
}

/// Drop the kernel's page cache when `LAPTIME_DROP_CACHES=1` and allowed (root); true if done.
fn drop_caches() -> bool {
    if std::env::var("LAPTIME_DROP_CACHES").as_deref() != Ok("1") {
        return false;
    }
    // Failure (not root) only means the cache stays as found; the output says which.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}
