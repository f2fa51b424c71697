//! Events per second from a store through Kafka into one indexer, on this machine.
//!
//! `cargo run --release -p laptime-fleet --example pipeline_throughput -- <brokers> <events>`
//!
//! Writes `<events>` R1-full events into a fresh source store (not timed), creates a topic of 6
//! partitions, ships the store (`pipeline::Shipper`, timed until Kafka acknowledged every
//! message), then one indexer of a fresh group stores them (`pipeline::Indexer`, timed until every
//! event is stored and committed after `flush`). Everything runs in this process; the broker(s)
//! are wherever `<brokers>` points. Prints one JSON line.

use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{create_topic, ConsumerConfig, Producer, ProducerConfig, TopicSpec};
use laptime_fleet::pipeline::{IndexConfig, Indexer, ShipConfig, Shipper};
use laptime_storage::{Options, Overflow, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Interned, R1};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, n] = args.as_slice() else {
        return Err("usage: pipeline_throughput <brokers> <events>".into());
    };
    let n: u64 = n.parse()?;
    let tmp = tempfile::tempdir()?;
    let (src, dst) = (tmp.path().join("source"), tmp.path().join("indexer"));

    let store = Store::open(
        &src,
        Options {
            sync: SyncPolicy::None,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(60),
            },
            ..Options::default()
        },
    )?;
    let mut r1 = R1::new(R1Config {
        full: true,
        ..R1Config::default()
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s))?;
    let mut chunk = Vec::new();
    let mut left = n;
    while left > 0 {
        let take = left.min(1 << 20);
        chunk.clear();
        r1.fill(take as usize, &mut chunk);
        for b in interned.batches(&chunk, 4096) {
            store.append(b);
        }
        left -= take;
    }
    store.close()?;

    let topic = format!("laptime-throughput-{}", std::process::id());
    let replication = brokers.split(',').count().min(3) as i32;
    create_topic(
        brokers,
        &TopicSpec::new(&topic, 6, replication),
        Duration::from_secs(60),
    )?;

    let t = Instant::now();
    let producer = Producer::connect(&ProducerConfig::new(brokers.as_str(), topic.as_str()))?;
    let mut shipper = Shipper::new(ShipConfig::new(&src), producer)?;
    while shipper.stats().events < n {
        shipper.ship_pending()?;
    }
    let ship_s = t.elapsed().as_secs_f64();
    let shipped = shipper.stats();
    drop(shipper);

    let t = Instant::now();
    let consumer = ConsumerConfig::new(brokers.as_str(), format!("{topic}-group"), topic.as_str());
    let mut indexer = Indexer::start(IndexConfig::new(&dst), &consumer, Options::default())?;
    let stats = indexer.stats_handle();
    let stop = Arc::new(AtomicBool::new(false));
    // When the first event was stored: the group join before it is not storing.
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut first = None;
            while stats.get().events < n {
                if first.is_none() && stats.get().messages > 0 {
                    first = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            stop.store(true, Ordering::Relaxed);
            first
        })
    };
    indexer.run(&stop)?; // ends with flush + commit
    let index_s = t.elapsed().as_secs_f64();
    let first = watcher.join().ok().flatten().unwrap_or(t);
    let storing_s = first.elapsed().as_secs_f64();
    let indexed = indexer.stats();
    println!(
        "{{\"events\":{n},\"messages\":{},\"message_bytes\":{},\"bytes_per_event\":{:.2},\"ship_s\":{ship_s:.3},\"ship_events_per_s\":{:.0},\"index_s\":{index_s:.3},\"index_events_per_s\":{:.0},\"storing_s\":{storing_s:.3},\"storing_events_per_s\":{:.0},\"stored\":{},\"duplicates\":{},\"peak_rss_mib\":{:.0}}}",
        shipped.messages,
        shipped.bytes,
        shipped.bytes as f64 / n as f64,
        n as f64 / ship_s,
        n as f64 / index_s,
        n as f64 / storing_s,
        indexed.events,
        indexed.duplicates,
        peak_rss_mib()
    );
    Ok(())
}
