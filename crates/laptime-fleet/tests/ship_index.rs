//! Stores to Kafka to indexers, for real: two source stores are shipped (`pipeline::Shipper`)
//! into a topic on the brokers of `LAPTIME_KAFKA_BOOTSTRAP`, two indexers of one consumer group
//! store what they get (`pipeline::Indexer`), and together they hold every event exactly once.
//! Then both sources lose their cursors and send everything again: the indexers drop every copy
//! (their stores know each source's seqs), and still hold every event once.

mod kafka_env;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{ConsumerConfig, Producer, ProducerConfig};
use laptime_fleet::pipeline::{IndexConfig, Indexer, ShipConfig, Shipper, StatsHandle};
use laptime_storage::{Batch, Options, Store, ValueRef};

const BASE: u64 = 1_700_000_000_000_000_000;
const PER_SOURCE: u64 = 30_000;

/// A source store of `PER_SOURCE` events, each identified by (name, start); sealed on close.
fn source(dir: &std::path::Path, k: u64) {
    let store = Store::open(
        dir,
        Options {
            page_rows: 2048,
            ..Options::default()
        },
    )
    .unwrap();
    let names: Vec<_> = (0..5)
        .map(|i| store.intern(&format!("Svc{k}.op{i}")).unwrap())
        .collect();
    let route = store.intern("route").unwrap();
    for chunk in 0..PER_SOURCE / 1000 {
        let mut b = Batch::with_capacity(1000);
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let row = b.push_call(
                names[(i % 5) as usize],
                BASE + k * 1_000_000_000 + i,
                i % 977 + 1,
                i % 31 != 0,
            );
            b.add_field_ref_at(
                row,
                route,
                ValueRef::Str(if i % 2 == 0 { "/a" } else { "/b" }),
            )
            .unwrap();
        }
        store.append(b);
    }
    store.close().unwrap();
}

fn ship_all(bs: &str, topic: &str, dir: &std::path::Path) -> u64 {
    let producer = Producer::connect(&ProducerConfig::new(bs, topic)).unwrap();
    let mut shipper = Shipper::new(ShipConfig::new(dir), producer).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while shipper.stats().events < PER_SOURCE {
        shipper.ship_pending().unwrap();
        assert!(
            Instant::now() < deadline,
            "shipping stalled: {:?}",
            shipper.stats()
        );
    }
    assert_eq!(shipper.stats().missed, 0);
    shipper.stats().events
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_stores_through_kafka_into_two_indexers_exactly_once_even_when_sent_twice() {
    let Some(bs) = kafka_env::bootstrap("ship_index") else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-si", 6);

    let sources: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (k, d) in sources.iter().enumerate() {
        source(d.path(), k as u64);
    }
    let source_dirs: Vec<&std::path::Path> = sources.iter().map(|d| d.path()).collect();
    let want = kafka_env::stored_events(&source_dirs);
    assert_eq!(want.len() as u64, 2 * PER_SOURCE);

    // Two indexers of one group, running until told to stop.
    let group = kafka_env::unique("laptime-si-group");
    let stores: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut stats: Vec<StatsHandle> = Vec::new();
    let mut threads = Vec::new();
    for d in &stores {
        let consumer = ConsumerConfig::new(&bs, &group, &topic);
        let mut indexer =
            Indexer::start(IndexConfig::new(d.path()), &consumer, Options::default()).unwrap();
        stats.push(indexer.stats_handle());
        let stop = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            indexer.run(&stop).unwrap();
            indexer.stats()
        }));
    }
    let total = |f: fn(&laptime_fleet::pipeline::IndexStats) -> u64| {
        stats.iter().map(|s| f(&s.get())).sum::<u64>()
    };

    for d in &source_dirs {
        assert_eq!(ship_all(&bs, &topic, d), PER_SOURCE);
    }
    wait_until("the indexers to store every event", 120, || {
        total(|s| s.events) == 2 * PER_SOURCE
    });

    // Both sources lose their cursors and send everything again.
    for d in &source_dirs {
        std::fs::remove_dir_all(d.join("ship")).unwrap();
        assert_eq!(ship_all(&bs, &topic, d), PER_SOURCE);
    }
    wait_until("the indexers to drop every copy", 120, || {
        total(|s| s.duplicates) == 2 * PER_SOURCE
    });
    stop.store(true, Ordering::Relaxed);
    let finals: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!("ship_index: indexers {finals:?}");
    assert_eq!(finals.iter().map(|s| s.events).sum::<u64>(), 2 * PER_SOURCE);
    assert!(finals
        .iter()
        .all(|s| s.overlaps == 0 && s.bad_messages == 0));
    // Which member gets which source is the group's choice (a source is one key, one partition).

    let store_dirs: Vec<&std::path::Path> = stores.iter().map(|d| d.path()).collect();
    let got = kafka_env::stored_events(&store_dirs);
    let twice: Vec<_> = got.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
}
