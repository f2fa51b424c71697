//! Helpers shared by the integration tests: deterministic event batches and child processes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use laptime_core::{Batch, Event, Store};

/// Events per test batch.
pub const PER_BATCH: u64 = 50;

/// The events of batch `k`: identifiable by their start time alone.
pub fn batch_events(k: u64) -> Vec<(String, u64, u64, bool)> {
    (0..PER_BATCH)
        .map(|i| {
            let name = format!("Service{}.method{}", k % 7, i % 3);
            let start = 1_700_000_000_000_000_000 + k * 1_000_000 + i;
            let dur = (k * 7919 + i * 104_729) % 5_000_000 + 1;
            let ok = !(k + i).is_multiple_of(13);
            (name, start, dur, ok)
        })
        .collect()
}

/// Build batch `k` for `store`.
pub fn make_batch(store: &Store, k: u64) -> Batch {
    let mut b = Batch::with_capacity(PER_BATCH as usize);
    for (name, start, dur, ok) in batch_events(k) {
        let id = store.intern(&name).expect("intern");
        b.push_call(id, start, dur, ok);
    }
    b
}

/// Which batch an event belongs to, and its index in it.
pub fn batch_of(e: &Event) -> (u64, u64) {
    let off = e.start_ns - 1_700_000_000_000_000_000;
    (off / 1_000_000, off % 1_000_000)
}

/// Group events by batch, checking each event equals what `batch_events` made. Panics with a
/// description of the first mismatch.
pub fn group_and_check(events: &[Event]) -> BTreeMap<u64, Vec<u64>> {
    let mut by_batch: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for e in events {
        let (k, i) = batch_of(e);
        assert!(i < PER_BATCH, "event index {i} out of range: {e:?}");
        let (name, start, dur, ok) = &batch_events(k)[i as usize];
        assert_eq!(&e.name, name, "wrong name for {e:?}");
        assert_eq!(e.start_ns, *start);
        assert_eq!(e.duration_ns, *dur, "wrong duration for {e:?}");
        assert!(e.code.is_call());
        assert_eq!(
            e.code == laptime_core::Code::CallOk,
            *ok,
            "wrong status for {e:?}"
        );
        by_batch.entry(k).or_default().push(i);
    }
    by_batch
}

/// All events of `store`, grouped by batch and checked (see [`group_and_check`]).
pub fn stored_batches(store: &Store) -> BTreeMap<u64, Vec<u64>> {
    let events = store
        .view()
        .expect("snapshot")
        .events(&laptime_core::ScanFilter::default())
        .expect("read events");
    group_and_check(&events)
}

/// Every batch holds each of its events exactly once.
pub fn assert_whole(by_batch: &BTreeMap<u64, Vec<u64>>) {
    for (k, rows) in by_batch {
        let mut r = rows.clone();
        r.sort_unstable();
        r.dedup();
        assert_eq!(r.len(), rows.len(), "batch {k} has duplicate events");
        assert_eq!(rows.len() as u64, PER_BATCH, "batch {k} is partial");
    }
}

/// Re-run this test binary as a child running only test `name` with `env` set.
pub fn spawn_child(name: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// Page boundaries of a segment file: offsets where "LTPG" starts a page, from the header on.
pub fn page_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 32;
    while at + 28 <= bytes.len() && &bytes[at..at + 4] == b"LTPG" {
        out.push(at);
        let meta = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let cols = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
        at += 28 + meta + cols;
    }
    out
}

/// Every kind of aggregate a query can ask for, each percentile of interest once: what the
/// differential and merge tests draw their aggregate lists from.
pub fn every_aggregate() -> Vec<laptime_core::query::Aggregate> {
    use laptime_core::query::Aggregate;
    vec![
        Aggregate::Count,
        Aggregate::Calls,
        Aggregate::Logs,
        Aggregate::Rate,
        Aggregate::Errors,
        Aggregate::ErrorRate,
        Aggregate::Sum,
        Aggregate::Mean,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Stddev,
        Aggregate::Percentile(0.01),
        Aggregate::Percentile(0.5),
        Aggregate::Percentile(0.9),
        Aggregate::Percentile(0.99),
        Aggregate::Percentile(1.0),
    ]
}

/// Options with small pages (64 events), so a few batches make several pages.
pub fn small_pages() -> laptime_core::Options {
    laptime_core::Options {
        page_rows: 64,
        ..laptime_core::Options::default()
    }
}

/// Write batches `k0..k0+n` in one open/close cycle with [`small_pages`]: one small segment each time.
pub fn write_segment(dir: &std::path::Path, k0: u64, n: u64) {
    let store = Store::open(dir, small_pages()).unwrap();
    for k in k0..k0 + n {
        store.append(make_batch(&store, k));
    }
    store.close().unwrap();
}

/// Bytes of every segment file of the store at `dir`.
pub fn segment_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("partitions"))
        .unwrap()
        .flat_map(|p| std::fs::read_dir(p.unwrap().path()).unwrap())
        .map(|f| f.unwrap())
        .filter(|f| f.file_name().to_string_lossy().starts_with("seg-"))
        .map(|f| f.metadata().unwrap().len())
        .sum()
}
