//! `verify` reads every checksum and names damage by file and offset without changing anything;
//! `Store::maintain` compacts or applies retention to idle partitions and leaves busy ones alone.

use std::path::{Path, PathBuf};

use laptime_core::verify::{verify, CheckedKind};
use laptime_core::{
    Batch, Maintained, Maintenance, Options, Retention, ScanFilter, Store, SyncPolicy, View,
};

fn small_pages() -> Options {
    Options {
        page_rows: 64,
        sync: SyncPolicy::None,
        ..Options::default()
    }
}

/// A closed store of `n` events in several small segments (each open and close seals one).
fn store_of(dir: &Path, n: u64) {
    for chunk in 0..n / 100 {
        let store = Store::open(dir, small_pages()).unwrap();
        let id = store.intern("f").unwrap();
        let mut b = Batch::default();
        for i in 0..100 {
            b.push_call(id, 1_000 + chunk * 100 + i, 50 + i, i % 7 != 0);
        }
        store.append(b);
        store.close().unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(dir.join("partitions")).unwrap() {
        for f in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.file_name().unwrap().to_string_lossy().starts_with("seg-") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn verify_passes_a_sound_store_and_names_a_damaged_page() {
    let dir = tempfile::tempdir().unwrap();
    store_of(dir.path(), 2_000);
    let mut calls = 0;
    let report = verify(dir.path(), |done, total| {
        assert!(done <= total);
        calls += 1;
    })
    .unwrap();
    assert!(calls > 0);
    assert_eq!(report.partitions, 1);
    assert_eq!(report.damaged().count(), 0, "{report:#?}");
    assert!(report.pages() >= 2_000 / 64);
    assert!(report.files.iter().any(|f| f.kind == CheckedKind::Names));
    assert!(report.files.iter().any(|f| f.kind == CheckedKind::Manifest));

    // Flip one byte near the end of the first segment's first page (inside its columns).
    let seg = &segments(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let before = bytes.clone();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    std::fs::write(seg, &bytes).unwrap();
    let report = verify(dir.path(), |_, _| {}).unwrap();
    let damaged: Vec<_> = report.damaged().collect();
    assert_eq!(damaged.len(), 1, "{report:#?}");
    assert_eq!(&damaged[0].path, seg);
    let finding = damaged[0].finding.as_ref().unwrap();
    assert!(finding.offset.is_some(), "{finding:?}");
    // verify changed nothing.
    assert_eq!(std::fs::read(seg).unwrap(), bytes);
    std::fs::write(seg, before).unwrap();
    assert_eq!(verify(dir.path(), |_, _| {}).unwrap().damaged().count(), 0);

    let missing = verify(&dir.path().join("nope"), |_, _| {}).unwrap_err();
    assert!(
        missing.to_string().contains("no laptime store"),
        "{missing}"
    );
}

#[test]
fn maintain_compacts_idle_partitions_and_skips_busy_ones() {
    let dir = tempfile::tempdir().unwrap();
    store_of(dir.path(), 3_000);
    let before = segments(dir.path()).len();
    assert!(before > 2, "{before} segments");
    let events = |d: &Path| {
        View::open_read_only(d)
            .unwrap()
            .events(&ScanFilter::default())
            .unwrap()
    };
    let all = events(dir.path());

    let done = Store::maintain(dir.path(), small_pages(), Maintenance::Compact).unwrap();
    assert_eq!(done.len(), 1);
    match &done[0].1 {
        Maintained::Compacted(r) => assert!(r.inputs >= 2, "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert!(segments(dir.path()).len() < before);
    assert_eq!(events(dir.path()), all, "compaction keeps every event once");

    // A writer holding the partition: left alone.
    let store = Store::open(dir.path(), small_pages()).unwrap();
    let busy = Store::maintain(dir.path(), small_pages(), Maintenance::Compact).unwrap();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].1, Maintained::Busy);
    store.close().unwrap();

    // Retention by size drops the oldest segments of idle partitions.
    let limited = Options {
        retention: Retention {
            max_age: None,
            max_bytes: Some(1),
        },
        ..small_pages()
    };
    let done = Store::maintain(dir.path(), limited, Maintenance::Retention).unwrap();
    match &done[0].1 {
        Maintained::Retained(r) => assert!(r.segments >= 1, "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert!(events(dir.path()).len() < all.len());
}
