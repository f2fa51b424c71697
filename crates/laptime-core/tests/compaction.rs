//! Compaction and retention: merging keeps every event exactly once, also when the process dies at
//! each step of it (fail points), and retention drops whole segments, oldest first.
#![cfg(feature = "failpoints")]

mod common;

use std::time::Duration;

use common::*;
use laptime_core::{Options, Retention, ScanFilter, Store};

const CHILD_ENV: &str = "LAPTIME_COMPACT_CHILD_DIR";

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("partitions"))
        .unwrap()
        .flat_map(|p| std::fs::read_dir(p.unwrap().path()).unwrap())
        .filter(|f| {
            let f = f.as_ref().unwrap().file_name();
            let f = f.to_string_lossy();
            f.starts_with("seg-") && f.ends_with(".lts")
        })
        .count()
}

fn assert_batches(store: &Store, want: impl Iterator<Item = u64>) {
    let by_batch = stored_batches(store);
    assert_eq!(
        by_batch.keys().copied().collect::<Vec<_>>(),
        want.collect::<Vec<_>>()
    );
    assert_whole(&by_batch);
}

#[test]
fn compaction_merges_small_segments_and_keeps_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        write_segment(dir.path(), i * 10, 10);
    }
    assert_eq!(segment_files(dir.path()), 8);
    let store = Store::open(dir.path(), small_pages()).unwrap();
    let report = store.compact().unwrap();
    assert_eq!(report.inputs, 8);
    assert_eq!(report.outputs, 1);
    assert_eq!(report.events, 80 * PER_BATCH);
    assert_eq!(segment_files(dir.path()), 1);
    assert_batches(&store, 0..80);
    store.close().unwrap();
    // And after reopening.
    let store = Store::open(dir.path(), small_pages()).unwrap();
    assert_batches(&store, 0..80);
    store.close().unwrap();
}

#[test]
fn compact_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir, small_pages()).unwrap();
    let _ = store.compact();
    // Only reached when the fail point did not fire.
    std::process::exit(3);
}

#[test]
fn a_crash_at_any_step_of_compaction_loses_and_duplicates_nothing() {
    for point in ["compaction-before-manifest", "compaction-before-delete"] {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            write_segment(dir.path(), i * 10, 10);
        }
        let out = spawn_child(
            "compact_child",
            &[
                (CHILD_ENV, dir.path().display().to_string()),
                ("LAPTIME_FAILPOINT", point.to_string()),
            ],
        )
        .wait_with_output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("fail point {point} reached")),
            "{point}: child did not stop there: {stderr}"
        );
        let store = Store::open(dir.path(), small_pages()).unwrap();
        assert_batches(&store, 0..50);
        // The file the manifest does not name holds events the named ones hold too: recovery
        // moves it aside (never deletes a file that verifies) and counts nothing twice.
        let report = store.recovery_report();
        assert!(
            report
                .quarantined
                .iter()
                .any(|(_, why)| why.contains("its events are also in")),
            "{point}: recovery should set the duplicate aside: {report:?}"
        );
        assert!(report.removed.is_empty(), "{point}: {report:?}");
        // Compaction still works afterwards.
        store.compact().unwrap();
        assert_batches(&store, 0..50);
        store.close().unwrap();
    }
}

#[test]
fn retention_by_size_drops_the_oldest_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        write_segment(dir.path(), i * 10, 10);
    }
    let total: u64 = segment_bytes(dir.path());
    let opts = Options {
        retention: Retention {
            max_bytes: Some(total / 2),
            max_age: None,
        },
        ..small_pages()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let report = store.enforce_retention().unwrap();
    assert!(report.segments >= 3, "{report:?}");
    let kept = 6 - report.segments as u64;
    assert_batches(&store, (6 - kept) * 10..60);
    store.close().unwrap();
}

#[test]
fn retention_by_age_drops_segments_older_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // common::make_batch events start in 2023; these two segments are years old.
    write_segment(dir.path(), 0, 10);
    write_segment(dir.path(), 10, 10);
    let opts = Options {
        retention: Retention {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: None,
        },
        ..small_pages()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    // Fresh events, recorded now.
    let id = store.intern("Fresh.call").unwrap();
    let mut b = laptime_core::Batch::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    b.push_call(id, now, 5, true);
    store.append(b);
    store.flush().unwrap();
    let report = store.enforce_retention().unwrap();
    assert_eq!(report.segments, 2);
    assert_eq!(report.events, 20 * PER_BATCH);
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].name, "Fresh.call");
    store.close().unwrap();
}
