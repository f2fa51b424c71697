//! Writer scaling (issue 14): what a second writer thread gives when producers outrun one.
//! Measured in one process and one run, the configurations alternating:
//!
//! - `1 writer, 1 producer`: one store, one thread appending prebuilt batches;
//! - `1 writer, 2 producers`: one store, two threads appending;
//! - `2 writers, 1 producer` and `2 writers, 2 producers`: one store opened with
//!   `Options::writers = 2` (two partitions, two writer threads, batches to them in turn);
//! - `2 stores, 2 producers`: two stores of one writer each, one producer each: the ceiling of
//!   any design that gives one process several writer threads, since they share nothing.
//!
//! Batches are generated before the clock starts, so producers cost only the hand-over. The clock
//! stops when `close()` returned for every store (every event in sealed pages on disk); stored
//! events are counted back with a reader. CPU time (user + system, whole process) says how busy
//! the two cores were.
//!
//! `cargo run --release -p laptime-bench --example writer_scaling -- [events-per-producer] [rounds]`

use std::path::Path;
use std::time::{Duration, Instant};

use laptime_core::query::{AggValue, Query};
use laptime_core::{Batch, Options, Overflow, Queries, Reader, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Interned, R1};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn options(writers: usize) -> Options {
    Options {
        writers,
        sync: SyncPolicy::None,
        overflow: Overflow::Block {
            timeout: Duration::from_secs(60),
        },
        ..Options::default()
    }
}

fn batches(store: &Store, seed: u64, events: usize) -> Res<Vec<Batch>> {
    let mut r1 = R1::new(R1Config {
        seed,
        ..R1Config::default()
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s))?;
    let mut out = Vec::with_capacity(events);
    r1.fill(events, &mut out);
    Ok(interned.batches(&out, 4096))
}

fn stored(dir: &Path) -> Res<u64> {
    let r = Reader::open(dir, None)?.view()?.query(&Query::default())?;
    Ok(match r.rows.first().map(|row| &row.values[0]) {
        Some(AggValue::Count(c)) => *c,
        _ => 0,
    })
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

struct Sample {
    events_per_s: f64,
    cpu_busy: f64,
}

/// `stores` stores of `writers` writers each, `producers` threads spread over them round-robin,
/// `per_producer` events each.
fn run(stores: usize, writers: usize, producers: usize, per_producer: usize) -> Res<Sample> {
    let dirs: Vec<tempfile::TempDir> = (0..stores)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let opened: Vec<Store> = dirs
        .iter()
        .map(|d| Store::open(d.path(), options(writers)))
        .collect::<Result<_, _>>()?;
    let mut work = Vec::new();
    for p in 0..producers {
        let store = opened[p % stores].clone();
        let share = batches(&store, 1 + p as u64, per_producer)?;
        work.push((store, share));
    }
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (store, share) in work {
            s.spawn(move || {
                for b in share {
                    store.append(b);
                }
            });
        }
    });
    let mut dropped = 0;
    for store in opened {
        dropped += store.counters().dropped;
        store.close()?;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut total = 0;
    for d in &dirs {
        total += stored(d.path())?;
    }
    let offered = (producers * per_producer) as u64;
    if total != offered || dropped != 0 {
        return Err(format!("{offered} offered, {dropped} dropped, {total} stored").into());
    }
    Ok(Sample {
        events_per_s: total as f64 / wall,
        cpu_busy: cpu / wall,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_producer: usize = args.first().map_or(Ok(4_000_000), |a| a.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(5), |a| a.parse())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("writer scaling: {per_producer} R1 core events per producer, {rounds} rounds, {cores} cores, sync none, batches of 4096 prebuilt");
    // (label, stores, writers per store, producers)
    let configs = [
        ("1 writer, 1 producer", 1, 1, 1),
        ("1 writer, 2 producers", 1, 1, 2),
        ("2 writers, 1 producer", 1, 2, 1),
        ("2 writers, 2 producers", 1, 2, 2),
        ("2 stores, 2 producers", 2, 1, 2),
    ];
    // LAPTIME_WRITER_SCALING_ONLY=<label> runs one configuration alone (to profile it).
    let only = std::env::var("LAPTIME_WRITER_SCALING_ONLY").ok();
    let configs: Vec<_> = configs
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.0 == o))
        .collect();
    if configs.is_empty() {
        return Err(format!("no configuration is labelled {only:?}").into());
    }
    let mut samples: Vec<Vec<Sample>> = configs.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Rotate the order each round so no configuration always runs first.
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let (_, stores, writers, producers) = configs[i];
            samples[i].push(run(stores, writers, producers, per_producer)?);
        }
    }
    let base = median(samples[0].iter().map(|s| s.events_per_s).collect());
    for ((label, ..), s) in configs.iter().zip(&samples) {
        let rates: Vec<f64> = s.iter().map(|x| x.events_per_s).collect();
        let (lo, hi) = (
            rates.iter().copied().fold(f64::MAX, f64::min),
            rates.iter().copied().fold(0.0, f64::max),
        );
        let m = median(rates);
        println!(
            "{label:<24} {:>6.2} M stored events/s (rounds {:.2}-{:.2}), {:.2}x one writer, CPU busy {:.2} of {cores} cores",
            m / 1e6,
            lo / 1e6,
            hi / 1e6,
            m / base,
            median(s.iter().map(|x| x.cpu_busy).collect())
        );
    }
    Ok(())
}
