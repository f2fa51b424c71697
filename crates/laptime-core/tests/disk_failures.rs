//! A failing disk does not stop recording for good (invariant 3, ARCHITECTURE.md): the failure is reported
//! (flush fails with a typed error), the failed file is abandoned and never written again,
//! producers keep running (the ring takes batches and counts what it drops), and once the disk
//! allows it the writer goes on in new files by itself: flush and close succeed again without a
//! reopen, and a reopen finds every acknowledged event exactly once.
#![cfg(feature = "failpoints")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use laptime_core::testing::{fail_syncs_under, fail_writes_under, fail_writes_with, heal_under};
use laptime_core::{CounterSnapshot, Error, ErrorCode, Options, Push, Store, SyncPolicy};

fn partition_of(store: &Store) -> PathBuf {
    store.recovery_report().partition.clone()
}

/// Files of the partition whose names start with `prefix`.
fn files(dir: &Path, prefix: &str) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

/// Flush until it succeeds (the writer retries with backoff); panics after `limit`.
fn flush_until_ok(store: &Store, limit: Duration) {
    let t = Instant::now();
    loop {
        match store.flush() {
            Ok(()) => return,
            Err(e) if t.elapsed() < limit => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the writer did not resume within {limit:?}: {e}"),
        }
    }
}

/// Once the ring is drained every accepted event is written, discarded or lost.
fn assert_counted(c: &CounterSnapshot, offered: u64) {
    assert_eq!(c.accepted + c.dropped, offered, "{c:?}");
    assert_eq!(c.written + c.discarded + c.lost, c.accepted, "{c:?}");
}

/// Reopen `dir` and check that exactly `acked` batches (and nothing else) are stored, each whole
/// and once.
fn reopen_and_check(dir: &Path, opts: &Options, acked: &BTreeSet<u64>) {
    let store = Store::open(dir, opts.clone()).unwrap();
    let by_batch = stored_batches(&store);
    assert_whole(&by_batch);
    let stored: BTreeSet<u64> = by_batch.keys().copied().collect();
    assert_eq!(&stored, acked, "batches after reopen");
    store.close().unwrap();
}

fn always() -> Options {
    Options {
        sync: SyncPolicy::Always,
        page_rows: 100,
        // A WAL file per page, each removed after a segment sync: the tests reach those syncs.
        wal_file_bytes: 0,
        ..Options::default()
    }
}

#[test]
fn failed_wal_fsync_abandons_the_file_and_recording_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = always();
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    let part = partition_of(&store);
    store.append(make_batch(&store, 0));
    store.flush().unwrap();
    let wal_before = files(&part, "wal-");

    let root = dir.path().canonicalize().unwrap();
    fail_syncs_under(Some(&root));
    store.append(make_batch(&store, 1));
    let err = store.flush().unwrap_err();
    assert!(matches!(err, Error::WriterFailed { .. }), "{err}");
    assert!(err.to_string().contains("fdatasync"), "{err}");
    // Producers are not refused while the writer waits; the ring takes what fits.
    let mut offered = 2 * PER_BATCH;
    for k in 2..6 {
        assert_eq!(store.append(make_batch(&store, k)), Push::Accepted);
        offered += PER_BATCH;
    }
    assert!(store.flush().is_err(), "still failing: no pretending");
    heal_under(&root);

    // Without a reopen, recording goes on.
    flush_until_ok(&store, Duration::from_secs(5));
    store.append(make_batch(&store, 6));
    offered += PER_BATCH;
    store.flush().unwrap();
    let c = store.counters();
    assert_counted(&c, offered);
    assert_eq!((c.dropped, c.lost), (0, 0), "{c:?}");
    assert_eq!(c.durable, c.written, "{c:?}");
    // The WAL file whose fsync failed was abandoned and, once its events were in a durable page,
    // removed.
    let wal_after = files(&part, "wal-");
    assert!(
        wal_before.is_disjoint(&wal_after),
        "{wal_before:?} {wal_after:?}"
    );
    assert_whole(&stored_batches(&store));
    store.close().unwrap();
    reopen_and_check(dir.path(), &opts, &(0..7).collect());
}

/// A torn write (ENOSPC after half a record) of the WAL, or of `names.log` when the batch brings
/// new names: the batch is kept in memory and stored once writing works again.
#[test]
fn failed_wal_or_names_write_keeps_the_batch_and_resumes() {
    for new_names in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = always();
        let store = Store::open(dir.path(), opts.clone()).unwrap();
        let part = partition_of(&store);
        // Batches 0..7 use every name; batch 7 then brings none, batch 3 + 7 * 2 neither.
        let before = if new_names { 3 } else { 7 };
        for k in 0..before {
            store.append(make_batch(&store, k));
        }
        store.flush().unwrap();
        let names_before = std::fs::read(part.join("names.log")).unwrap();

        let root = dir.path().canonicalize().unwrap();
        fail_writes_under(Some(&root));
        store.append(make_batch(&store, before));
        let err = store.flush().unwrap_err();
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert!(err.is_disk_full());
        // The error names the file that failed: the torn one, or, when the flush arrived after
        // that failure, a file its fresh try (resume) failed on, a page of the segment.
        let failed_file = if new_names { "names.log" } else { "wal-" };
        let text = err.to_string();
        assert!(text.contains(failed_file) || text.contains("seg-"), "{err}");
        heal_under(&root);
        flush_until_ok(&store, Duration::from_secs(5));
        for k in before + 1..before + 3 {
            store.append(make_batch(&store, k));
        }
        store.flush().unwrap();
        let c = store.counters();
        assert_counted(&c, (before + 3) * PER_BATCH);
        // The batch whose write was torn was still in memory: it was stored after all.
        assert_eq!(c.lost, 0, "{c:?}");
        if new_names {
            // names.log was replaced by a new file (no torn record inside).
            let names_after = std::fs::read(part.join("names.log")).unwrap();
            assert_ne!(names_after[..names_before.len()], names_before[..]);
        }
        store.close().unwrap();
        reopen_and_check(dir.path(), &opts, &(0..before + 3).collect());
    }
}

/// The segment file itself fails (a page write, then a page fsync): its good pages are copied into
/// a new segment, the failed file is removed, and nothing is doubled or lost.
#[test]
fn failed_segment_write_and_sync_copy_good_pages_forward() {
    for fail_sync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = always();
        let store = Store::open(dir.path(), opts.clone()).unwrap();
        let part = partition_of(&store);
        // Four full pages (two batches each) in the active segment.
        for k in 0..8 {
            store.append(make_batch(&store, k));
        }
        store.flush().unwrap();
        let segs = files(&part, "seg-");
        assert_eq!(segs.len(), 1, "{segs:?}");
        let seg = segs.into_iter().next().unwrap();

        if fail_sync {
            fail_syncs_under(Some(&seg));
        } else {
            fail_writes_under(Some(&seg));
        }
        // The WAL takes these; sealing their page fails.
        store.append(make_batch(&store, 8));
        store.append(make_batch(&store, 9));
        // Only that file fails, so the writer may already have gone on in a new segment by the
        // time this flush is answered (its retry needs no healing); if not, the error names it.
        if let Err(err) = store.flush() {
            assert!(err.to_string().contains(&*seg.to_string_lossy()), "{err}");
            assert_eq!(err.is_disk_full(), !fail_sync, "{err}");
        }
        heal_under(&seg);

        flush_until_ok(&store, Duration::from_secs(5));
        assert!(!seg.exists(), "the failed segment is removed once copied");
        let c = store.counters();
        assert_counted(&c, 10 * PER_BATCH);
        assert_eq!(c.lost, 0, "{c:?}");
        let by_batch = stored_batches(&store);
        assert_whole(&by_batch);
        assert_eq!(by_batch.len(), 10);
        store.append(make_batch(&store, 10));
        store.close().unwrap();
        reopen_and_check(dir.path(), &opts, &(0..11).collect());
    }
}

/// How a test makes the disk fail, and what the flush caller must learn from it.
struct Fault {
    inject: fn(&Path),
    code: ErrorCode,
    errno: i32,
    /// The io::ErrorKind std names it by (EIO has no named kind).
    kind: Option<std::io::ErrorKind>,
}

/// A writer failure keeps its kind across the thread: `flush()` and `write_failure()` say EACCES
/// for a write refused with EACCES, EIO for a failed fsync, ENOSPC for a full disk (code, OS error
/// number and io::ErrorKind), not just "writer failed"; once healed, the failure is gone.
#[test]
fn writer_failure_keeps_its_kind_across_the_thread() {
    use std::io::ErrorKind;
    let faults = [
        Fault {
            inject: |d| fail_writes_with(d, 13),
            code: ErrorCode::PermissionDenied,
            errno: 13,
            kind: Some(ErrorKind::PermissionDenied),
        },
        Fault {
            inject: |d| fail_writes_with(d, 5),
            code: ErrorCode::Io,
            errno: 5,
            kind: None,
        },
        Fault {
            inject: |d| fail_syncs_under(Some(d)),
            code: ErrorCode::Io,
            errno: 5,
            kind: None,
        },
        Fault {
            inject: |d| fail_writes_under(Some(d)),
            code: ErrorCode::NoSpace,
            errno: 28,
            kind: Some(ErrorKind::StorageFull),
        },
    ];
    for (i, fault) in faults.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), always()).unwrap();
        store.append(make_batch(&store, 0));
        store.flush().unwrap();
        assert!(store.write_failure().is_none());

        let root = dir.path().canonicalize().unwrap();
        (fault.inject)(&root);
        store.append(make_batch(&store, 1));
        let err = store.flush().unwrap_err();
        let what = format!("fault {i}: {err}");
        assert_eq!(err.code(), fault.code, "{what}");
        assert_eq!(err.raw_os_error(), Some(fault.errno), "{what}");
        let kind = std::io::Error::from_raw_os_error(fault.errno).kind();
        assert_eq!(err.io_kind(), Some(kind), "{what}");
        if let Some(named) = fault.kind {
            assert_eq!(kind, named, "{what}");
        }
        assert_eq!(
            err.is_disk_full(),
            fault.code == ErrorCode::NoSpace,
            "{what}"
        );
        match &err {
            Error::WriterFailed { code, errno, .. } => {
                assert_eq!((*code, *errno), (fault.code, Some(fault.errno)), "{what}")
            }
            Error::DiskFull { errno, .. } => {
                assert_eq!(fault.code, ErrorCode::NoSpace, "{what}");
                assert_eq!(*errno, Some(fault.errno), "{what}");
            }
            other => panic!("not a writer failure: {other}"),
        }
        let now = store.write_failure().expect("the writer is failing");
        assert_eq!(now.code(), fault.code, "{what}");
        assert_eq!(now.raw_os_error(), Some(fault.errno), "{what}");
        // Commands answered by the failing writer carry the kind too.
        assert_eq!(store.compact().unwrap_err().code(), fault.code, "{what}");

        heal_under(&root);
        flush_until_ok(&store, Duration::from_secs(5));
        assert!(store.write_failure().is_none(), "{what}");
        store.close().unwrap();
    }
}

/// A store closed while the disk still fails reports it, and counts what it could not keep.
#[test]
fn close_while_failing_reports_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = always();
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    store.append(make_batch(&store, 0));
    store.flush().unwrap();
    let root = dir.path().canonicalize().unwrap();
    fail_writes_under(Some(&root));
    store.append(make_batch(&store, 1));
    assert!(store.flush().unwrap_err().is_disk_full());
    store.append(make_batch(&store, 2));
    let err = store.close().unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    heal_under(&root);
    reopen_and_check(dir.path(), &opts, &[0].into_iter().collect());
}

/// A real full disk: a small tmpfs filled by another file while the store writes with
/// `SyncPolicy::Always`. Needs root to mount; elsewhere it says so and checks nothing.
#[test]
fn real_full_disk_is_survived_without_reopening() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!(
            "real_full_disk_is_survived_without_reopening: SKIPPED, cannot mount a tmpfs here \
             (not root?)"
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.path().to_owned());
    let store_dir = mnt.path().join("store");
    let opts = Options {
        sync: SyncPolicy::Always,
        page_rows: 1000,
        ..Options::default()
    };
    let store = Store::open(&store_dir, opts.clone()).unwrap();
    let mut acked = BTreeSet::new();
    let mut offered = 0u64;
    let mut k = 0u64;
    let mut send = |store: &Store, k: &mut u64| {
        store.append(make_batch(store, *k));
        offered += PER_BATCH;
        *k += 1;
        *k - 1
    };
    for _ in 0..40 {
        let b = send(&store, &mut k);
        store.flush().unwrap();
        acked.insert(b);
    }

    // Fill the disk to the last byte.
    let filler = mnt.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut small = vec![0u8; 512];
        loop {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        while !small.is_empty() {
            match f.write(&small) {
                Ok(0) | Err(_) => {
                    small.truncate(small.len() / 2);
                }
                Ok(_) => {}
            }
        }
    }
    // Writing on: the first flush that needs space fails, clearly.
    let mut failure = None;
    let mut unacked = BTreeSet::new();
    for _ in 0..200 {
        let b = send(&store, &mut k);
        match store.flush() {
            Ok(()) => {
                acked.insert(b);
            }
            Err(e) => {
                unacked.insert(b);
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a full disk must fail a flush");
    assert!(matches!(failure, Error::DiskFull { .. }), "{failure}");
    assert_eq!(failure.code(), ErrorCode::NoSpace, "{failure}");
    assert_eq!(failure.code().as_str(), "ENOSPC");
    assert_eq!(failure.raw_os_error(), Some(28), "{failure}");
    assert!(
        failure.to_string().to_lowercase().contains("space"),
        "{failure}"
    );
    // Still full: producers go on, flush keeps failing.
    for _ in 0..3 {
        unacked.insert(send(&store, &mut k));
        assert!(store.flush().unwrap_err().is_disk_full());
    }
    std::fs::remove_file(&filler).unwrap();

    // Without reopening: recording resumes, flush and close succeed.
    flush_until_ok(&store, Duration::from_secs(5));
    for _ in 0..20 {
        let b = send(&store, &mut k);
        store.flush().unwrap();
        acked.insert(b);
    }
    let c = store.counters();
    assert_counted(&c, offered);
    eprintln!("real full disk counters: {c:?}");
    store.close().unwrap();

    // Every acknowledged batch exactly once; the ones handed over while the disk was full were
    // kept in memory and written once space came back (none was lost or dropped).
    assert_eq!(c.lost + c.dropped, 0, "{c:?}");
    let all: BTreeSet<u64> = acked.union(&unacked).copied().collect();
    reopen_and_check(&store_dir, &opts, &all);
}

/// The process dies (abort) while the writer waits for a failing disk, after a torn WAL write and
/// a failed page fsync: reopening finds every acknowledged batch exactly once.
#[test]
fn crash_while_failing_then_recovery() {
    if let Ok(dir) = std::env::var("LAPTIME_DISK_CHILD_DIR") {
        let dir = PathBuf::from(dir);
        let store = Store::open(&dir, always()).unwrap();
        for k in 0..5 {
            store.append(make_batch(&store, k));
        }
        store.flush().unwrap();
        let root = dir.canonicalize().unwrap();
        if std::env::var("LAPTIME_DISK_CHILD_SYNC").is_ok() {
            fail_syncs_under(Some(&root));
        } else {
            fail_writes_under(Some(&root));
        }
        store.append(make_batch(&store, 5));
        store.append(make_batch(&store, 6));
        assert!(store.flush().is_err());
        store.append(make_batch(&store, 7));
        assert!(store.flush().is_err());
        std::process::abort();
    }
    for sync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut env = vec![(
            "LAPTIME_DISK_CHILD_DIR",
            dir.path().to_string_lossy().into_owned(),
        )];
        if sync {
            env.push(("LAPTIME_DISK_CHILD_SYNC", "1".into()));
        }
        let out = spawn_child("crash_while_failing_then_recovery", &env)
            .wait_with_output()
            .unwrap();
        assert!(
            !out.status.success(),
            "the child must abort: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let store = Store::open(dir.path(), always()).unwrap();
        let by_batch = stored_batches(&store);
        assert_whole(&by_batch);
        // 0..5 were acknowledged; 5..8 never were and may or may not have reached the disk.
        for k in 0..5 {
            assert!(by_batch.contains_key(&k), "acknowledged batch {k} lost");
        }
        assert!(by_batch.keys().all(|k| *k < 8), "{:?}", by_batch.keys());
        let report = store.recovery_report().clone();
        eprintln!("recovery after a crash while failing (sync failure: {sync}): {report:?}");
        store.close().unwrap();
    }
}
