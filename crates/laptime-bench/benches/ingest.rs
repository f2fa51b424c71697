//! Ingest end to end: producer threads -> ring -> writer -> WAL -> sealed pages on disk, R1 core
//! events. An iteration counts only events that ended in sealed pages (the store is closed inside
//! the timed region); drops are counted and printed. Run: `cargo bench -p laptime-bench --bench ingest`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use laptime_core::{Batch, Options, Overflow, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Interned, R1};

const EVENTS: usize = 2_000_000;
const BATCH: usize = 4096;

struct Run {
    sealed: u64,
    dropped: u64,
    elapsed: Duration,
}

fn batches(store: &Store) -> Vec<Batch> {
    let mut r1 = R1::new(R1Config::default());
    let interned = R1Interned::new(&r1, |s| store.intern(s)).expect("intern");
    let mut events = Vec::with_capacity(EVENTS);
    r1.fill(EVENTS, &mut events);
    interned.batches(&events, BATCH)
}

fn ingest_once(producers: usize, sync: SyncPolicy, overflow: Overflow) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        Options {
            sync,
            overflow,
            ..Options::default()
        },
    )
    .expect("open");
    let all = batches(&store);
    // Split the batches among producers before the clock starts.
    let mut shares: Vec<Vec<Batch>> = (0..producers).map(|_| Vec::new()).collect();
    for (i, b) in all.into_iter().enumerate() {
        shares[i % producers].push(b);
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        for share in shares {
            let store = store.clone();
            s.spawn(move || {
                for b in share {
                    store.append(b);
                }
            });
        }
    });
    let counters_before_close = store.counters();
    store.close().expect("close");
    let elapsed = start.elapsed();
    // Close sealed everything that was accepted.
    Run {
        sealed: counters_before_close.accepted,
        dropped: counters_before_close.dropped,
        elapsed,
    }
}

fn bench_ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest_r1_core");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS as u64));
    let block = Overflow::Block {
        timeout: Duration::from_secs(10),
    };
    let configs = [
        ("1p_sync_none", 1, SyncPolicy::None),
        ("2p_sync_none", 2, SyncPolicy::None),
        (
            "1p_sync_interval",
            1,
            SyncPolicy::Interval(Duration::from_millis(100)),
        ),
        (
            "2p_sync_interval",
            2,
            SyncPolicy::Interval(Duration::from_millis(100)),
        ),
    ];
    for (label, producers, sync) in configs {
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let run = ingest_once(producers, sync, block);
                    assert_eq!(run.dropped, 0, "backpressure run dropped events");
                    assert_eq!(run.sealed, EVENTS as u64);
                    total += run.elapsed;
                }
                total
            })
        });
    }
    group.finish();

    // The default (never block) policy: how much a producer that outruns the writer loses.
    for producers in [1, 2] {
        let run = ingest_once(producers, SyncPolicy::None, Overflow::Drop);
        println!(
            "drop policy, {producers} producer(s), sync none: {} of {} events stored, {} dropped, {:.1} M stored events/s",
            run.sealed,
            EVENTS,
            run.dropped,
            run.sealed as f64 / run.elapsed.as_secs_f64() / 1e6
        );
    }
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
