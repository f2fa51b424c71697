//! Readers: a snapshot taken while the writer goes on sees every event at most once and never
//! loses one it saw before; reading a store far larger than the bufferpool stays within its budget.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use laptime_core::{ColumnSet, Options, Overflow, ScanFilter, Store, View};

#[test]
fn snapshots_during_writes_are_consistent_and_grow() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 256,
            page_max_age: Duration::from_millis(2),
            overflow: Overflow::Block {
                timeout: Duration::from_secs(10),
            },
            ..Options::default()
        },
    )
    .unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 0..2000 {
                store.append(make_batch(&store, k));
                if k % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            store.flush().unwrap();
            done.store(true, Ordering::Release);
        });
        let mut seen = 0usize;
        let mut snapshots = 0;
        while !done.load(Ordering::Acquire) || snapshots < 3 {
            let events = store
                .view()
                .unwrap()
                .events(&ScanFilter::default())
                .unwrap();
            let by_batch = group_and_check(&events);
            for rows in by_batch.values() {
                let mut r = rows.clone();
                r.sort_unstable();
                r.dedup();
                assert_eq!(r.len(), rows.len(), "an event seen twice in one snapshot");
            }
            assert!(events.len() >= seen, "a later snapshot lost events");
            seen = events.len();
            snapshots += 1;
        }
        assert!(snapshots >= 3);
    });
    assert_eq!(store.counters().dropped, 0);
    let by_batch = stored_batches(&store);
    assert_eq!(by_batch.len(), 2000);
    assert_whole(&by_batch);
    store.close().unwrap();
}

#[test]
fn reading_through_a_small_bufferpool_stays_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 1000,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(10),
            },
            ..Options::default()
        },
    )
    .unwrap();
    for k in 0..2000 {
        store.append(make_batch(&store, k));
    }
    store.close().unwrap();
    let pool = std::sync::Arc::new(laptime_core::BufferPool::new(2 << 20));
    let snap = View::open_read_only_with_pool(dir.path(), pool.clone()).unwrap();
    let pages = snap.pages(&ScanFilter::default());
    assert!(pages.len() >= 100);
    let mut rows = 0;
    for _ in 0..2 {
        for p in &pages {
            let cols = snap.page(p, ColumnSet::ALL).unwrap();
            rows += cols.len();
            let stats = pool.stats();
            assert!(stats.used <= stats.budget, "{stats:?}");
        }
    }
    assert_eq!(rows, 2 * 2000 * PER_BATCH as usize);
    let stats = pool.stats();
    assert!(
        stats.evictions > 0,
        "a store larger than the pool must evict: {stats:?}"
    );
    // Repeated reads of one page hit the cache.
    let before = pool.stats().hits;
    for _ in 0..5 {
        snap.page(&pages[0], ColumnSet::CORE).unwrap();
    }
    assert!(pool.stats().hits >= before + 4);
}
