//! Several processes write one store directory at once, each into its own partition; a reader sees
//! the union, and every event exactly once.

mod common;

use std::time::Duration;

use common::*;
use laptime_core::{Options, Overflow, ScanFilter, Store, View};

const CHILD_ENV: &str = "LAPTIME_MULTI_CHILD_DIR";

fn options() -> Options {
    Options {
        page_rows: 500,
        page_max_age: Duration::from_millis(20),
        overflow: Overflow::Block {
            timeout: Duration::from_secs(10),
        },
        ..Options::default()
    }
}

#[test]
fn multi_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let first: u64 = std::env::var("LAPTIME_MULTI_FIRST")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(&dir, options()).unwrap();
    for k in first..first + 200 {
        store.append(make_batch(&store, k));
        if k % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!(c.dropped, 0);
    store.close().unwrap();
}

#[test]
fn three_processes_write_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = [0u64, 1000, 2000]
        .iter()
        .map(|first| {
            spawn_child(
                "multi_child",
                &[
                    (CHILD_ENV, dir.path().display().to_string()),
                    ("LAPTIME_MULTI_FIRST", first.to_string()),
                ],
            )
        })
        .collect();
    // Read while they write: a live snapshot must never fail or show an event twice.
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(10));
        if let Ok(snap) = View::open_read_only(dir.path()) {
            let events = snap.events(&ScanFilter::default()).unwrap();
            let by_batch = group_and_check(&events);
            for rows in by_batch.values() {
                let mut r = rows.clone();
                r.sort_unstable();
                r.dedup();
                assert_eq!(r.len(), rows.len(), "duplicate event in a live read");
            }
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let snap = store.view().unwrap();
    assert!(
        snap.partitions() >= 3,
        "each writer needs its own partition"
    );
    let events = snap.events(&ScanFilter::default()).unwrap();
    let by_batch = group_and_check(&events);
    assert_eq!(by_batch.len(), 600);
    assert!(by_batch.values().all(|v| v.len() as u64 == PER_BATCH));
    store.close().unwrap();
}

#[test]
fn same_path_twice_in_one_process_shares_one_engine() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path(), options()).unwrap();
    let b = Store::open(dir.path(), options()).unwrap();
    a.append(make_batch(&a, 1));
    b.append(make_batch(&b, 2));
    b.flush().unwrap();
    assert_eq!(a.counters().written, 2 * PER_BATCH);
    assert_eq!(a.recovery_report().partition, b.recovery_report().partition);
    let events = a.view().unwrap().events(&ScanFilter::default()).unwrap();
    assert_eq!(events.len() as u64, 2 * PER_BATCH);
    drop(b);
    a.close().unwrap();
}
