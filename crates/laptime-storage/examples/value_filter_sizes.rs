//! Compares the structures of `page::value_filter` (issue 15): encoded bytes per value, false
//! positives over 1M absent values, build and query time, for pages of 16 to 65536 distinct
//! values. The table in that module's documentation comes from this program.
//!
//! `cargo run --release -p laptime-storage --example value_filter_sizes`

use std::hint::black_box;
use std::time::{Duration, Instant};

use laptime_storage::page::value_filter::{hash_value, FilterKind, ValueFilter};

const ABSENT: usize = 1_000_000;

fn main() {
    // Values like real ids: "user-<i>" present, "user-<10M + j>" absent (near misses of the
    // present ones, not random bytes).
    let absent_values: Vec<String> = (0..ABSENT)
        .map(|j| format!("user-{}", 10_000_000 + j))
        .collect();
    let start = Instant::now();
    let absent: Vec<u64> = absent_values
        .iter()
        .map(|v| hash_value(black_box(v.as_bytes())))
        .collect();
    let hash_ns = start.elapsed().as_nanos() as f64 / ABSENT as f64;

    println!(
        "{:>5}  {:<9} {:>6}  {:>10}  {:>12}  {:>14}  {:>8}",
        "n", "structure", "bytes", "bits/value", "FP measured", "build ns/value", "query ns"
    );
    for n in [16usize, 256, 4096, 65536] {
        let present: Vec<u64> = (0..n)
            .map(|i| hash_value(format!("user-{i}").as_bytes()))
            .collect();
        let kinds: [(&str, Option<FilterKind>); 4] = [
            ("bloom10", Some(FilterKind::Bloom10)),
            ("fuse8", Some(FilterKind::Fuse8)),
            ("list16", Some(FilterKind::List16)),
            ("build()", None),
        ];
        for (label, kind) in kinds {
            let make = || match kind {
                Some(k) => ValueFilter::build_as(&present, k),
                None => Some(ValueFilter::build(&present)),
            };
            let Some(filter) = make() else {
                println!("{n:>5}  {label:<9} could not be built");
                continue;
            };
            assert!(
                present.iter().all(|&h| filter.may_contain(h)),
                "a false negative"
            );
            let mut bytes = Vec::new();
            filter.encode(&mut bytes);
            let build_ns = per_value_ns(n, || {
                black_box(make());
            });
            let start = Instant::now();
            let hits = absent
                .iter()
                .filter(|&&h| filter.may_contain(black_box(h)))
                .count();
            let query_ns = start.elapsed().as_nanos() as f64 / ABSENT as f64;
            let chosen = match kind {
                None => format!("   ({:?})", filter.kind()),
                Some(_) => String::new(),
            };
            println!(
                "{n:>5}  {label:<9} {:>6}  {:>10.2}  {:>10.4} %  {:>14.1}  {:>8.1}{chosen}",
                bytes.len(),
                bytes.len() as f64 * 8.0 / n as f64,
                hits as f64 * 100.0 / ABSENT as f64,
                build_ns,
                query_ns,
            );
        }
    }
    println!("hash_value: {hash_ns:.1} ns per value (values of 12-13 bytes)");
}

/// Nanoseconds per value of `build`, repeated for at least 200 ms.
fn per_value_ns(n: usize, mut build: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds == 0 || start.elapsed() < Duration::from_millis(200) {
        build();
        rounds += 1;
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds) / n as f64
}
