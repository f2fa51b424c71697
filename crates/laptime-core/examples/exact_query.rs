//! Time "p50/p90/p99 by function" over a store written by `r1_export`, for profiling and for
//! before/after comparisons of the query engine (BENCHMARKS.md, exact percentiles).
//!
//! `cargo run --release -p laptime-core --example exact_query -- <store-dir> <exact|sketch|sizes> [runs] [filter]`
//!
//! Runs the query `runs` times (default 5) after one warm-up and prints one JSON line: each run's
//! ms, the median, the process's peak RSS (VmHWM) and a checksum of the answer so two builds can
//! be checked to agree, and the pages skipped, answered from meta and decoded. `filter` (default
//! `kind:call`) narrows the calls, e.g. `"kind:call release=r50"` for a selective filter.
//!
//! `LAPTIME_EVICT_MIB=64` writes 64 MiB elsewhere before each run: each run starts with cold CPU
//! caches, as a query after another engine's does. `LAPTIME_PAUSE_MS=20` sleeps that long before
//! each run; `LAPTIME_COUNT_P99=1` asks for count and p99 instead of p50/p90/p99;
//! `LAPTIME_GROUP_BY_FIELD=route` groups by that field instead of the function;
//! `LAPTIME_TIME_BUCKET_MS=100` also groups by 100 ms time buckets; `LAPTIME_COUNT_ONLY=1` asks
//! for the count alone.
//!
//! `exact_query <store-dir> sizes` instead prints what a page's meta and its index for planning
//! (what the bufferpool keeps of it for filters) hold on the heap, averaged over the pages.

use std::error::Error;
use std::time::Instant;

use laptime_core::query::{Aggregate, GroupBy, Precision, Query};
use laptime_core::{Queries, Reader, ScanFilter, Store};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, mode, runs, filter) = match args.as_slice() {
        [dir, mode] => (dir, mode, 5, "kind:call"),
        [dir, mode, runs] => (dir, mode, runs.parse::<usize>()?, "kind:call"),
        [dir, mode, runs, filter] => (dir, mode, runs.parse::<usize>()?, filter.as_str()),
        _ => {
            return Err(
                "usage: exact_query <store-dir> <exact|sketch|sizes> [runs] [filter]".into(),
            )
        }
    };
    let reader = Reader::open(dir, None)?;
    let precision = match mode.as_str() {
        "exact" => Precision::Exact,
        "sketch" => Precision::Auto,
        "sizes" => return print_sizes(&reader),
        other => return Err(format!("mode must be exact, sketch or sizes, not {other}").into()),
    };
    let query = Query {
        filter: filter.parse()?,
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.9),
            Aggregate::Percentile(0.99),
        ],
        precision,
        ..Query::default()
    };
    // LAPTIME_GROUP_BY_FIELD=route: group by that field instead of the name, as the bench's "calls
    // and p50/p99 by route".
    let query = match std::env::var("LAPTIME_GROUP_BY_FIELD") {
        Ok(key) => Query {
            group_by: vec![GroupBy::Field(key)],
            ..query
        },
        Err(_) => query,
    };
    // LAPTIME_COUNT_P99=1: count and p99 by function, as `npm run bench:query`'s filter cases.
    let query = match std::env::var_os("LAPTIME_COUNT_P99") {
        Some(_) => Query {
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
            ..query
        },
        None => query,
    };
    // LAPTIME_COUNT_ONLY=1: the count alone (what grouping costs without any duration state).
    let query = match std::env::var_os("LAPTIME_COUNT_ONLY") {
        Some(_) => Query {
            aggregates: vec![Aggregate::Count],
            ..query
        },
        None => query,
    };
    // LAPTIME_TIME_BUCKET_MS=n: also group by time buckets n ms wide (many small groups, as the
    // dashboard's latency-over-time chart of every function).
    let query = match std::env::var("LAPTIME_TIME_BUCKET_MS") {
        Ok(ms) => {
            let mut group_by = query.group_by.clone();
            group_by.push(GroupBy::Time(ms.parse::<u64>()? * 1_000_000));
            Query { group_by, ..query }
        }
        Err(_) => query,
    };
    // LAPTIME_PAUSE_MS=n: sleep n ms before each run (the machine idles between another engine's
    // query and laptime's in the bench).
    let pause_ms: Option<u64> = std::env::var("LAPTIME_PAUSE_MS")
        .ok()
        .map(|s| s.parse())
        .transpose()?;
    // LAPTIME_EVICT_MIB=n: write n MiB elsewhere before each run, so the run starts with the CPU
    // caches holding none of the store's metas (as after another engine's query).
    let evict_mib: usize = std::env::var("LAPTIME_EVICT_MIB")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(0);
    let mut junk = vec![0u8; evict_mib << 20];
    // LAPTIME_OPEN_STORE=1: query the view of a store opened for writing (as the Node bench's
    // `open()` does) instead of a reader's.
    let store = match std::env::var_os("LAPTIME_OPEN_STORE") {
        Some(_) => Some(Store::open(dir, laptime_core::Options::default())?),
        None => None,
    };
    let mut view_ms = Vec::with_capacity(runs + 1);
    let mut times = Vec::with_capacity(runs);
    let mut checksum = 0u64;
    let mut groups = 0usize;
    let mut stats = None;
    for run in 0..=runs {
        for b in junk.iter_mut().step_by(64) {
            *b = b.wrapping_add(1);
        }
        if let Some(ms) = pause_ms {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let t_view = Instant::now();
        let view = match &store {
            Some(store) => store.view()?,
            None => reader.view()?,
        };
        view_ms.push(t_view.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let result = view.query(&query)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if run == 0 {
            groups = result.rows.len();
            for row in &result.rows {
                for v in &row.values {
                    let x = v.as_f64().unwrap_or(-1.0) as u64;
                    checksum = checksum.rotate_left(7) ^ x;
                }
            }
        } else {
            times.push(ms);
        }
        stats = Some(result.stats);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    view_ms.sort_by(f64::total_cmp);
    let view_median = view_ms.get(view_ms.len() / 2).copied().unwrap_or(f64::NAN);
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let runs_ms: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
    let pages = stats.map_or_else(String::new, |s| {
        format!(
            ",\"pages\":{{\"total\":{},\"skipped\":{},\"skippedByIndex\":{},\"fromMeta\":{},\"decoded\":{}}},\"rowsMatched\":{}",
            s.pages_total, s.pages_skipped, s.pages_skipped_by_index, s.pages_from_meta, s.pages_decoded, s.rows_matched
        )
    });
    println!(
        "{{\"mode\":\"{mode}\",\"runsMs\":[{}],\"medianMs\":{median:.3},\"viewMedianMs\":{view_median:.3},\"peakRssKiB\":{peak_kib},\"groups\":{groups},\"checksum\":\"{checksum:016x}\"{pages}}}",
        runs_ms.join(",")
    );
    Ok(())
}

/// Heap bytes of each page's meta and of its index for planning, averaged over the pages.
fn print_sizes(reader: &Reader) -> Result<(), Box<dyn Error>> {
    let view = reader.view()?;
    let pages = view.pages(&ScanFilter::default());
    let (mut metas, mut indexes) = (0usize, 0usize);
    for page in &pages {
        let meta = view.page_meta(page)?;
        metas += meta.heap_bytes();
        indexes += meta.index.for_planning().heap_bytes();
    }
    let n = pages.len().max(1);
    println!(
        "{{\"pages\":{},\"metaBytesPerPage\":{},\"planningIndexBytesPerPage\":{}}}",
        pages.len(),
        metas / n,
        indexes / n
    );
    Ok(())
}
