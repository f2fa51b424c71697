//! Write N events of R1-full into a laptime store and the same events as CSV, for benchmarks that
//! compare laptime with another engine on identical data (bench/query-vs-duckdb.mts).
//!
//! `cargo run --release -p laptime-core --example r1_export -- <events> <store-dir> <csv-file> [epoch-ms]`
//!
//! `epoch-ms` moves R1's start of time (default 2023-11-14) so the events are recent; `-` as the
//! CSV file skips the CSV.
//!
//! CSV columns: `name,start,dur,is_call,err,route,tier,msg` (`route`/`tier` empty when absent, `msg`
//! a log's message, quoted, empty for a call). Prints
//! one JSON line: events, start range, bytes of the store's files, seconds spent writing the store.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use laptime_core::{Options, Overflow, Store, SyncPolicy};
use laptime_workload::{bytes_under, R1Config, R1Interned, R1};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (n, store_dir, csv_path, epoch) = match args.as_slice() {
        [n, dir, csv] => (n, dir, csv, None),
        [n, dir, csv, epoch_ms] => (n, dir, csv, Some(epoch_ms.parse::<u64>()? * 1_000_000)),
        _ => return Err("usage: r1_export <events> <store-dir> <csv-file|-> [epoch-ms]".into()),
    };
    let n: usize = n.parse()?;
    let store = Store::open(
        store_dir,
        Options {
            sync: SyncPolicy::None,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(60),
            },
            segment_max_bytes: 256 << 20,
            ..Options::default()
        },
    )?;
    let defaults = R1Config::default();
    let mut r1 = R1::new(R1Config {
        full: true,
        epoch_ns: epoch.unwrap_or(defaults.epoch_ns),
        ..defaults
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s))?;
    let names = r1.names().to_vec();
    let (routes, tiers) = r1.field_values();
    let (routes, tiers) = (routes.to_vec(), tiers.to_vec());
    let mut csv = if csv_path == "-" {
        None
    } else {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(csv_path)?);
        writeln!(w, "name,start,dur,is_call,err,route,tier,msg")?;
        Some(w)
    };

    let mut store_time = Duration::ZERO;
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = n;
    while left > 0 {
        let take = left.min(1 << 20);
        chunk.clear();
        r1.fill(take, &mut chunk);
        let t = Instant::now();
        for b in interned.batches(&chunk, 4096) {
            store.append(b);
        }
        store_time += t.elapsed();
        for e in &chunk {
            first = first.min(e.start_ns);
            last = last.max(e.start_ns);
            let Some(csv) = csv.as_mut() else { continue };
            let name = &names[e.name as usize];
            let route = e.route.map_or("", |r| routes[usize::from(r)].as_str());
            let tier = e.tier.map_or("", |t| tiers[usize::from(t)].as_str());
            // A log's message quoted (quotes doubled); a call has none (an empty field: NULL).
            let msg = e.log.as_ref().map_or(String::new(), |l| {
                format!("\"{}\"", l.message().replace('"', "\"\""))
            });
            writeln!(
                csv,
                "{name},{},{},{},{},{route},{tier},{msg}",
                e.start_ns,
                e.duration_ns,
                u8::from(e.log.is_none()),
                u8::from(!e.ok),
            )?;
        }
        left -= take;
    }
    if let Some(csv) = csv.as_mut() {
        csv.flush()?;
    }
    let t = Instant::now();
    let dropped = store.counters().dropped;
    store.close()?;
    store_time += t.elapsed();
    println!(
        "{{\"events\":{n},\"dropped\":{dropped},\"firstStartNs\":\"{first}\",\"lastStartNs\":\"{last}\",\"storeBytes\":{},\"storeSeconds\":{:.3}}}",
        bytes_under(Path::new(store_dir))?,
        store_time.as_secs_f64()
    );
    Ok(())
}
