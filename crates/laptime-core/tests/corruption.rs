//! Damaged files: every byte flip and truncation of a store's files (segments, WAL, names,
//! manifest) ends in a clean open that reads back only events that were written, or in a clear
//! error. Never a panic, never an event that was not written.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use laptime_core::{Error, Options, ScanFilter, Store, SyncPolicy};

const CHILD_ENV: &str = "LAPTIME_CORRUPT_CHILD_DIR";

fn options() -> Options {
    Options {
        sync: SyncPolicy::Always,
        page_rows: 200,
        page_max_age: Duration::from_secs(60),
        // A WAL file per page, released as pages are synced: damage to a page can then lose
        // events the WAL no longer holds, which these tests need.
        wal_file_bytes: 0,
        ..Options::default()
    }
}

/// Child: write 30 batches, then die without closing, leaving a WAL, an unsealed segment and names.
#[test]
fn corrupt_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir, options()).unwrap();
    for k in 100..130 {
        store.append(make_batch(&store, k));
    }
    store.flush().unwrap();
    std::process::abort();
}

const REOPEN_ENV: &str = "LAPTIME_CORRUPT_REOPEN_DIR";

/// Child: open a damaged store (printing what recovery cut), write batches 200..210, flush (they
/// are acknowledged), then die without closing.
#[test]
fn reopen_child() {
    let Ok(dir) = std::env::var(REOPEN_ENV) else {
        return;
    };
    let store = Store::open(&dir, options()).unwrap();
    for c in &store.recovery_report().cuts {
        println!("cut: {}", c.reason);
    }
    for k in 200..210 {
        store.append(make_batch(&store, k));
    }
    store.flush().unwrap();
    std::process::abort();
}

/// A damaged last page of a segment loses events whose WAL records were already released, so the
/// WAL's events start past the end of the intact pages. Recovery must number them as their WAL
/// records do: renumbered into the gap (as a release build did, a debug build tripped an
/// assertion), the events written after that recovery went to the WAL under seqs it already
/// held, and the next crash's recovery could not tell them apart.
#[test]
fn events_written_after_a_lost_range_survive_the_next_crash() {
    let base = pristine();
    let mut gaps = 0;
    for file in files(base.path()) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("seg-") {
            continue;
        }
        let rel = file.strip_prefix(base.path()).unwrap().to_owned();
        let bytes = std::fs::read(&file).unwrap();
        let Some(&last) = page_offsets(&bytes).last() else {
            continue;
        };
        let copy = tempfile::tempdir().unwrap();
        copy_dir(base.path(), copy.path());
        let mut damaged = bytes.clone();
        damaged[last + 40] ^= 0x5a; // inside the last page's meta
        std::fs::write(copy.path().join(&rel), &damaged).unwrap();
        let out = spawn_child(
            "reopen_child",
            &[(REOPEN_ENV, copy.path().display().to_string())],
        )
        .wait_with_output()
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && !stdout.contains("panicked"),
            "{name}: the child should have aborted after writing: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !stdout.contains("in no intact page and no WAL record") {
            continue; // this page's events were still in the WAL: no gap to test
        }
        gaps += 1;
        let events = open_and_read(copy.path()).unwrap();
        let by_batch = group_and_check(&events);
        for k in 200..210 {
            assert_eq!(
                by_batch.get(&k).map(Vec::len),
                Some(PER_BATCH as usize),
                "{name}: batch {k}, acknowledged after the recovery, is not whole: {stdout}"
            );
        }
        for (k, rows) in &by_batch {
            let mut seen = rows.clone();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), rows.len(), "{name}: batch {k} has events twice");
        }
    }
    assert!(
        gaps > 0,
        "no damaged last page made a gap: the test proves nothing"
    );
}

/// A store with one sealed segment (batches 0..20) and crashed state (batches 100..130).
fn pristine() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    for k in 0..20 {
        store.append(make_batch(&store, k));
    }
    store.close().unwrap();
    let out = spawn_child(
        "corrupt_child",
        &[(CHILD_ENV, dir.path().display().to_string())],
    )
    .wait_with_output()
    .unwrap();
    assert!(!out.status.success(), "child should have aborted");
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(dir.join("partitions")).unwrap() {
        for f in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() && f.file_name().unwrap() != "LOCK" {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Open the damaged store and read everything; Ok(events) or the error. Panics are failures.
fn open_and_read(dir: &Path) -> Result<Vec<laptime_core::Event>, Error> {
    let store = Store::open(dir, options())?;
    let events = store.view()?.events(&ScanFilter::default());
    let closed = store.close();
    let events = events?;
    closed?;
    Ok(events)
}

fn check(dir: &Path, what: &str, written: &HashSet<(u64, u64)>, outcomes: &mut [usize; 2]) {
    let result = catch_unwind(AssertUnwindSafe(|| open_and_read(dir)));
    match result {
        Err(_) => panic!("{what}: panicked"),
        Ok(Err(e)) => {
            // A clear error names a file or an option; it must not be an empty shrug.
            assert!(!e.to_string().is_empty());
            outcomes[1] += 1;
        }
        Ok(Ok(events)) => {
            for e in &events {
                let id = batch_of(e);
                assert!(
                    written.contains(&id),
                    "{what}: read back an event never written: {e:?}"
                );
            }
            group_and_check(&events);
            outcomes[0] += 1;
        }
    }
}

#[test]
fn flipped_bytes_and_truncations_never_panic_or_invent_data() {
    let base = pristine();
    let written: HashSet<(u64, u64)> = (0..20)
        .chain(100..130)
        .flat_map(|k| (0..PER_BATCH).map(move |i| (k, i)))
        .collect();
    // Sanity: the pristine store reads back exactly what was written.
    {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(base.path(), copy.path());
        let events = open_and_read(copy.path()).unwrap();
        assert_eq!(events.len(), written.len());
    }
    let mut outcomes = [0usize; 2];
    let mut cases = 0;
    for file in files(base.path()) {
        let rel = file.strip_prefix(base.path()).unwrap().to_owned();
        let len = std::fs::metadata(&file).unwrap().len() as usize;
        // Every byte of small files, a spread of positions in big ones.
        let step = (len / 150).max(1);
        let mut positions: Vec<usize> = (0..len).step_by(step).collect();
        positions.extend(len.saturating_sub(40)..len);
        positions.dedup();
        for &pos in &positions {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(base.path(), copy.path());
            let target = copy.path().join(&rel);
            let mut bytes = std::fs::read(&target).unwrap();
            bytes[pos] ^= 0x5a;
            std::fs::write(&target, &bytes).unwrap();
            check(
                copy.path(),
                &format!("{} byte {pos} flipped", rel.display()),
                &written,
                &mut outcomes,
            );
            cases += 1;
        }
        for &cut in positions.iter().step_by(3) {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(base.path(), copy.path());
            let target = copy.path().join(&rel);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .unwrap();
            f.set_len(cut as u64).unwrap();
            check(
                copy.path(),
                &format!("{} cut at {cut}", rel.display()),
                &written,
                &mut outcomes,
            );
            cases += 1;
        }
    }
    eprintln!(
        "{cases} damaged stores: {} opened cleanly, {} refused with an error",
        outcomes[0], outcomes[1]
    );
    assert!(cases > 500);
}

#[test]
fn torn_wal_tail_is_cut_and_reported() {
    let base = pristine();
    let wal = files(base.path())
        .into_iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .expect("a WAL file");
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let store = Store::open(base.path(), options()).unwrap();
    let report = store.recovery_report().clone();
    assert!(
        report.cuts.iter().any(|c| c.file == wal && c.bytes > 0),
        "cut not reported: {report:?}"
    );
    let by_batch = stored_batches(&store);
    // The last batch lost its tail record; every batch present is whole.
    assert_whole(&by_batch);
    assert!(by_batch.contains_key(&0) && by_batch.contains_key(&100));
    store.close().unwrap();
}

#[test]
fn damaged_manifest_is_rebuilt_from_the_segments() {
    let base = pristine();
    let manifest = files(base.path())
        .into_iter()
        .find(|f| f.file_name().unwrap() == "MANIFEST")
        .expect("a manifest");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[2] ^= 0xff;
    std::fs::write(&manifest, &bytes).unwrap();
    let store = Store::open(base.path(), options()).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.manifest_rebuilt.is_some(), "{report:?}");
    let by_batch = stored_batches(&store);
    assert_eq!(by_batch.len(), 50, "every batch survives a lost manifest");
    assert_whole(&by_batch);
    store.close().unwrap();
}
