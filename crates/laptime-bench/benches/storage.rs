//! Bytes per event on disk for R1 core and R1-full next to the entropy floor, and scan speed
//! (decode pages into columns). Run: `cargo bench -p laptime-bench --bench storage`.
//! `LAPTIME_BENCH_EVENTS` overrides the size (default 10M, R1's ingest size in BENCHMARKS.md).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use laptime_core::{
    ColumnSet, Options, Overflow, PageColumns, ScanFilter, Store, SyncPolicy, View,
};
use laptime_workload::{entropy_floor, R1Config, R1Interned, R1};

fn events() -> usize {
    std::env::var("LAPTIME_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000)
}

fn dir_bytes(path: &std::path::Path, prefix: &str) -> u64 {
    let mut total = 0;
    for p in std::fs::read_dir(path.join("partitions")).expect("partitions") {
        for f in std::fs::read_dir(p.expect("entry").path()).expect("partition") {
            let f = f.expect("entry");
            if f.file_name().to_string_lossy().starts_with(prefix) {
                total += f.metadata().expect("stat").len();
            }
        }
    }
    total
}

/// Write `n` R1 events (core or full) into a fresh store and close it; returns the directory.
fn build(n: usize, full: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        Options {
            sync: SyncPolicy::None,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(30),
            },
            segment_max_bytes: 256 << 20,
            ..Options::default()
        },
    )
    .expect("open");
    let cfg = R1Config {
        full,
        ..R1Config::default()
    };
    let mut r1 = R1::new(cfg);
    let interned = R1Interned::new(&r1, |s| store.intern(s)).expect("intern");
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = n;
    while left > 0 {
        let take = left.min(1 << 20);
        chunk.clear();
        r1.fill(take, &mut chunk);
        for b in interned.batches(&chunk, 4096) {
            store.append(b);
        }
        left -= take;
    }
    let c = store.counters();
    assert_eq!(c.dropped, 0);
    store.close().expect("close");
    dir
}

fn report_sizes(n: usize) {
    let floor = entropy_floor(&R1Config::default());
    println!(
        "R1 entropy floor (seed 1): {:.2} + {:.2} + {:.2} bits = {:.2} B/event",
        floor.name_bits,
        floor.gap_bits,
        floor.duration_given_name_bits,
        floor.bytes_per_event()
    );
    for full in [false, true] {
        let dir = build(n, full);
        let seg = dir_bytes(dir.path(), "seg-");
        let all = seg + dir_bytes(dir.path(), "names") + dir_bytes(dir.path(), "MANIFEST");
        let per = all as f64 / n as f64;
        println!(
            "R1 {} {n} events: {all} bytes on disk = {per:.3} B/event ({:.2}x the core floor)",
            if full { "full" } else { "core" },
            per / floor.bytes_per_event()
        );
    }
}

fn bench_scan(c: &mut Criterion) {
    let n = events();
    report_sizes(n);
    let dir = build(n, false);
    let snap = View::open_read_only(dir.path()).expect("snapshot");
    let pages = snap.pages(&ScanFilter::default());
    let mut group = c.benchmark_group("scan_r1_core");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    for (label, which) in [
        ("core_columns", ColumnSet::CORE),
        (
            "durations_only",
            ColumnSet {
                starts: false,
                names: false,
                durations: true,
                codes: false,
                messages: false,
                fields: laptime_core::FieldKeys::NONE,
            },
        ),
    ] {
        group.bench_function(label, |b| {
            let mut scratch = laptime_core::ReadScratch::default();
            let mut cols = PageColumns::default();
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut rows = 0usize;
                    for p in &pages {
                        snap.read(p, which, &mut scratch, &mut cols).expect("read");
                        rows += cols.durations.len().max(cols.starts.len());
                    }
                    assert_eq!(rows, n);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
