//! Acknowledged means readable (invariant 10, ARCHITECTURE.md): once `flush()` returned, a [`Reader`] sees the
//! events, whether their writer still runs, was SIGKILLed, or is being taken over by another writer,
//! without waiting for a page to seal. Children are spawned as in crash.rs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use laptime_core::verify::{verify, CheckedKind};
use laptime_core::{Options, Reader, ScanFilter, Store, SyncPolicy, View};

const CHILD_DIR: &str = "LAPTIME_READERS_CHILD_DIR";

fn child_options(page_rows: usize) -> Options {
    Options {
        sync: SyncPolicy::Always,
        page_rows,
        // Pages seal only when full: what is not in a full page stays in the WAL alone.
        page_max_age: Duration::from_secs(3600),
        segment_max_bytes: 1 << 20,
        ..Options::default()
    }
}

/// The child: writes batches `first..first+count`, acknowledging each after `flush()`, then waits to
/// be killed.
#[test]
fn readers_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let var = |k: &str| -> u64 {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("child env")
    };
    let (first, count, rows) = (
        var("LAPTIME_READERS_FIRST"),
        var("LAPTIME_READERS_COUNT"),
        var("LAPTIME_READERS_ROWS"),
    );
    let mut opts = child_options(rows as usize);
    opts.wal_file_bytes = var("LAPTIME_READERS_WAL_BYTES");
    opts.sync = match std::env::var("LAPTIME_READERS_SYNC").as_deref() {
        Ok("none") => SyncPolicy::None,
        Ok("interval") => SyncPolicy::Interval(Duration::from_secs(60)),
        _ => SyncPolicy::Always,
    };
    let store = Store::open(&dir, opts).expect("child open");
    // On a line of its own: the test harness's "test readers_child ... " has no newline.
    println!();
    for k in first..first + count {
        store.append(make_batch(&store, k));
        store.flush().expect("flush");
        println!("ACK {k}");
    }
    println!("DONE");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Run one child per (first, count, page rows), all at once so each holds a partition of its own,
/// writing batches `first..first+count` into `dir`; once all acknowledged everything, SIGKILL them.
/// Returns the acknowledged batches.
fn write_and_kill(dir: &std::path::Path, writers: &[(u64, u64, usize)]) -> BTreeSet<u64> {
    write_and_kill_with(dir, writers, "always", Options::default().wal_file_bytes)
}

/// [`write_and_kill`] with a WAL file per page (`wal_file_bytes` 0), each removed once its page
/// is synced: the WAL then starts where the last page ended.
fn write_and_kill_wal_per_page(
    dir: &std::path::Path,
    writers: &[(u64, u64, usize)],
) -> BTreeSet<u64> {
    write_and_kill_with(dir, writers, "always", 0)
}

/// [`write_and_kill`] with the children's sync policy (`always`, `interval` (60 s, so never during
/// the test) or `none`) and `Options::wal_file_bytes`.
fn write_and_kill_with(
    dir: &std::path::Path,
    writers: &[(u64, u64, usize)],
    sync: &str,
    wal_file_bytes: u64,
) -> BTreeSet<u64> {
    let mut children: Vec<Child> = writers
        .iter()
        .map(|(first, count, rows)| {
            spawn_child(
                "readers_child",
                &[
                    (CHILD_DIR, dir.display().to_string()),
                    ("LAPTIME_READERS_FIRST", first.to_string()),
                    ("LAPTIME_READERS_COUNT", count.to_string()),
                    ("LAPTIME_READERS_ROWS", rows.to_string()),
                    ("LAPTIME_READERS_SYNC", sync.to_string()),
                    ("LAPTIME_READERS_WAL_BYTES", wal_file_bytes.to_string()),
                ],
            )
        })
        .collect();
    let mut acked = BTreeSet::new();
    for child in &mut children {
        let stdout = child.stdout.take().expect("child stdout");
        let mut done = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(k) = line.strip_prefix("ACK ") {
                acked.insert(k.parse::<u64>().expect("batch number"));
            } else if line == "DONE" {
                done = true;
                break;
            }
        }
        if !done {
            child.kill().ok();
            let status = child.wait().expect("wait child");
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).ok();
            panic!("child ended before acknowledging everything ({status}): {err}");
        }
    }
    for child in &mut children {
        child.kill().expect("kill child");
        child.wait().expect("wait child");
    }
    acked
}

fn reader_batches(snap: &View) -> BTreeMap<u64, Vec<u64>> {
    let events = snap.events(&ScanFilter::default()).expect("read events");
    group_and_check(&events)
}

/// Each batch whole and exactly once, and exactly the batches in `want`.
fn assert_exactly(by_batch: &BTreeMap<u64, Vec<u64>>, want: &BTreeSet<u64>) {
    assert_whole(by_batch);
    let got: BTreeSet<u64> = by_batch.keys().copied().collect();
    assert_eq!(&got, want, "batches seen differ from the acknowledged ones");
}

#[test]
fn a_reader_sees_every_acknowledged_event_of_killed_writers() {
    let dir = tempfile::tempdir().unwrap();
    // Two dead partitions: one whose events are partly in sealed pages (120-row pages, 50-event
    // batches) and partly only in its WAL, one whose events are only in its WAL.
    let acked = write_and_kill(dir.path(), &[(0, 7, 120), (100, 5, 1 << 20)]);
    assert_eq!(acked.len(), 12);

    let reader = Reader::open(dir.path(), None).unwrap();
    let snap = reader.view().unwrap();
    assert_eq!(snap.partitions(), 2);
    assert_exactly(&reader_batches(&snap), &acked);
    // A second snapshot (cached parsing) sees the same; so does a one-off read-only snapshot.
    assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
    assert_exactly(
        &reader_batches(&View::open_read_only(dir.path()).unwrap()),
        &acked,
    );
    // Reading changed nothing; for verify the killed writers' WALs are notes, not damage.
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert_eq!(report.damaged().count(), 0, "{report:?}");
    let wal_notes = report
        .files
        .iter()
        .filter(|f| f.kind == CheckedKind::Wal && f.finding.as_ref().is_some_and(|n| !n.damage))
        .count();
    assert!(wal_notes >= 2, "{report:?}");
}

#[test]
fn flush_makes_events_visible_to_a_reader_at_once_in_every_sync_mode() {
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(Duration::from_secs(60)),
        SyncPolicy::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            Options {
                sync,
                page_rows: 1 << 20,
                page_max_age: Duration::from_secs(3600),
                ..Options::default()
            },
        )
        .unwrap();
        let reader = Reader::open(dir.path(), None).unwrap();
        let mut want = BTreeSet::new();
        for k in 0..4 {
            store.append(make_batch(&store, k));
            store.flush().unwrap();
            want.insert(k);
            // No sleep, no poll: the flush's answer means the events are readable.
            assert_exactly(&reader_batches(&reader.view().unwrap()), &want);
        }
        store.close().unwrap();
        assert_exactly(&reader_batches(&reader.view().unwrap()), &want);
    }
}

/// Snapshots taken over and over while `work` runs: none holds an event twice, none misses an event
/// an earlier one held. Returns how many snapshots were taken.
fn watch_while(dir: &std::path::Path, work: impl FnOnce()) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, stop) = (dir.to_path_buf(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let reader = Reader::open(&dir, None).unwrap();
            let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
            let mut snapshots = 0usize;
            loop {
                let last = stop.load(Ordering::Acquire);
                let by_batch = reader_batches(&reader.view().expect("snapshot"));
                let mut now = BTreeSet::new();
                for (k, rows) in &by_batch {
                    for &i in rows {
                        assert!(
                            now.insert((*k, i)),
                            "snapshot {snapshots}: event {i} of batch {k} seen twice"
                        );
                    }
                }
                let lost: Vec<_> = seen.difference(&now).take(3).collect();
                assert!(
                    lost.is_empty(),
                    "snapshot {snapshots}: events seen before are gone: {lost:?}"
                );
                seen = now;
                snapshots += 1;
                if last {
                    return snapshots;
                }
            }
        })
    };
    work();
    stop.store(true, Ordering::Release);
    watcher.join().expect("watcher")
}

#[test]
fn snapshots_stay_exact_while_a_writer_adopts_seals_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = write_and_kill(dir.path(), &[(0, 9, 120)]);
    // Before anyone adopts the dead partition, its acknowledged events are all there.
    let reader = Reader::open(dir.path(), None).unwrap();
    assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
    let opts = Options {
        sync: SyncPolicy::Always,
        page_rows: 120,
        page_max_age: Duration::from_millis(2),
        segment_max_bytes: 1 << 20,
        ..Options::default()
    };
    let snapshots = watch_while(dir.path(), || {
        for round in 0..3u64 {
            let base = 1000 * (round + 1);
            // A live writer in another process seals pages while the reader reads; then it dies.
            acked.extend(write_and_kill(dir.path(), &[(base, 9, 120)]));
            // Adopted here: recovery replays its WAL while the reader reads it, then this writer
            // seals by age, compacts and closes.
            let store = Store::open(dir.path(), opts.clone()).unwrap();
            assert!(store.recovery_report().adopted);
            for k in base + 100..base + 150 {
                store.append(make_batch(&store, k));
                store.flush().unwrap();
                acked.insert(k);
                if k % 10 == 0 {
                    store.compact().unwrap();
                }
            }
            store.compact().unwrap();
            store.close().unwrap();
        }
    });
    eprintln!("{snapshots} snapshots taken");
    assert!(snapshots > 10, "only {snapshots} snapshots taken");
    assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
}

#[test]
fn a_flipped_bit_in_a_middle_wal_record_of_a_dead_writer_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    write_and_kill(dir.path(), &[(0, 4, 1 << 20)]);
    let part = only_partition(dir.path());
    let wal = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .expect("a WAL file");
    let clean = verify(dir.path(), |_, _| {}).unwrap();
    assert_eq!(clean.damaged().count(), 0, "{clean:?}");

    // Records: 32-byte file header, then 4 records of equal size; flip a bit in the second's payload.
    let mut bytes = std::fs::read(&wal).unwrap();
    let record = (bytes.len() - 32) / 4;
    let second = 32 + record;
    bytes[second + 40] ^= 0x10;
    std::fs::write(&wal, &bytes).unwrap();
    let report = verify(dir.path(), |_, _| {}).unwrap();
    let damaged: Vec<_> = report.damaged().collect();
    assert_eq!(damaged.len(), 1, "{report:?}");
    assert_eq!(damaged[0].path, wal);
    let finding = damaged[0].finding.as_ref().unwrap();
    assert_eq!(finding.offset, Some(second as u64));

    // A torn last record (a crash mid-append) is only a note.
    bytes[second + 40] ^= 0x10;
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&wal, &bytes).unwrap();
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert_eq!(report.damaged().count(), 0, "{report:?}");
    let wal_check = report.files.iter().find(|f| f.path == wal).unwrap();
    assert!(wal_check.finding.as_ref().is_some_and(|f| !f.damage));
}

#[test]
fn a_segment_the_manifest_names_but_that_is_gone_is_damage_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    for k in 0..3 {
        store.append(make_batch(&store, k));
    }
    store.close().unwrap();
    let part = only_partition(dir.path());
    let seg = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lts"))
        .expect("a segment");
    assert_eq!(
        reader_batches(&Reader::open(dir.path(), None).unwrap().view().unwrap()).len(),
        3
    );
    std::fs::remove_file(&seg).unwrap();
    // Still named after the reader read the manifest again: its events are lost, and that is
    // reported. (A reader that opened it before keeps reading it through its open file.)
    let reader = Reader::open(dir.path(), None).unwrap();
    match reader.view() {
        Err(laptime_core::Error::Corrupt { path, reason, .. }) => {
            assert_eq!(path, seg);
            assert!(reason.contains("missing"), "{reason}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(snap) => panic!(
            "{} events, the missing segment hidden",
            snap.events(&ScanFilter::default()).unwrap().len()
        ),
    }
}

/// The last page of a dead writer is damaged; the events after it are only in its WAL, which
/// starts where that page ended. The page's events are lost (and said to be), the WAL's are not.
#[test]
fn a_damaged_last_page_costs_only_itself_not_the_wal_after_it() {
    let dir = tempfile::tempdir().unwrap();
    // 50-event batches, 120-row pages: pages hold events 0..240, the WAL 240..350.
    let acked = write_and_kill_wal_per_page(dir.path(), &[(0, 7, 120)]);
    assert_eq!(acked.len(), 7);
    let seg = first_segment(&only_partition(dir.path()));
    let mut bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    assert_eq!(pages.len(), 2, "two full pages");
    // A bit of the second page's columns (events 120..240).
    let last = bytes.len() - 5;
    bytes[last] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();

    // Batches 0 and 1 are in the first page, 5 and 6 only in the WAL; 2..4 touch the lost page.
    let check = |by_batch: &BTreeMap<u64, Vec<u64>>, who: &str| {
        for k in [0, 1, 5, 6] {
            assert_eq!(
                by_batch.get(&k).map(Vec::len),
                Some(PER_BATCH as usize),
                "{who}: batch {k} should be whole: {:?}",
                by_batch.keys().collect::<Vec<_>>()
            );
        }
    };
    let reader = Reader::open(dir.path(), None).unwrap();
    let events = reader
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    check(&group_and_check(&events), "reader");
    let report = verify(dir.path(), |_, _| {}).unwrap();
    assert!(report.damaged().count() > 0, "{report:?}");

    let store = Store::open(dir.path(), child_options(120)).unwrap();
    check(&stored_batches(&store), "writer");
    let report = store.recovery_report();
    let lost: Vec<String> = report
        .cuts
        .iter()
        .map(|c| c.reason.clone())
        .chain(report.salvaged.iter().map(|(_, why)| why.clone()))
        .collect();
    assert!(
        lost.iter().any(|r| r.contains("lost")),
        "recovery says what was lost: {lost:?}"
    );
    store.close().unwrap();
}

/// A segment file of partition `part` (the first the directory lists).
fn first_segment(part: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .expect("a segment")
}

/// The only partition directory of store `root`.
fn only_partition(root: &std::path::Path) -> std::path::PathBuf {
    let mut parts: Vec<_> = std::fs::read_dir(root.join("partitions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    parts.remove(0)
}

/// A WAL file copied in from another store's partition, named so its seqs continue this
/// partition's WAL, must not add its events here (they would be invented, under wrong names).
#[test]
fn a_wal_file_from_another_partition_is_set_aside() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    // Ours: batches 0..4, seqs 0..200, all in wal-0. Theirs: pages of 200 rows, so its WAL after
    // the first page starts at seq 200.
    let acked = write_and_kill(ours.path(), &[(0, 4, 1 << 20)]);
    write_and_kill_wal_per_page(theirs.path(), &[(100, 6, 200)]);
    let (our_part, their_part) = (only_partition(ours.path()), only_partition(theirs.path()));
    let foreign = their_part.join("wal-00000000000000c8.log");
    assert!(foreign.exists(), "their WAL continues at seq 200");
    std::fs::copy(&foreign, our_part.join("wal-00000000000000c8.log")).unwrap();

    let reader = Reader::open(ours.path(), None).unwrap();
    assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
    let report = verify(ours.path(), |_, _| {}).unwrap();
    assert!(
        report.damaged().any(|f| f
            .finding
            .as_ref()
            .is_some_and(|x| x.reason.contains("not of this one"))),
        "{report:?}"
    );
    let store = Store::open(ours.path(), child_options(1 << 20)).unwrap();
    let got: BTreeSet<u64> = stored_batches(&store).keys().copied().collect();
    assert_eq!(got, acked);
    assert!(
        store
            .recovery_report()
            .cuts
            .iter()
            .any(|c| c.reason.contains("not of this one")),
        "{:?}",
        store.recovery_report()
    );
    store.close().unwrap();
}

/// `kill -9` after `flush()` resolved loses nothing in any sync mode (the OS still holds what was
/// written; only power loss separates the modes): readers see it, and so does the next writer.
#[test]
fn kill_9_keeps_acknowledged_events_in_every_sync_mode() {
    for sync in ["always", "interval", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let acked = write_and_kill_with(
            dir.path(),
            &[(0, 7, 120), (100, 5, 1 << 20)],
            sync,
            Options::default().wal_file_bytes,
        );
        assert_eq!(acked.len(), 12, "{sync}");
        let reader = Reader::open(dir.path(), None).unwrap();
        assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
        let store = Store::open(dir.path(), child_options(120)).unwrap();
        let got: BTreeSet<u64> = stored_batches(&store).keys().copied().collect();
        assert_eq!(got, acked, "{sync}: the next writer");
        store.close().unwrap();
    }
}

/// When the machine dies, pages the writer appended since the segment's last sync may be lost;
/// their events must still be in the WAL, which goes only once the pages holding them are synced
/// (a segment is synced when a WAL file is about to go, not after every page). Simulated: a killed
/// writer's active segment cut back to its first page, as a machine crash may leave it. A reader
/// and a reopened store see every acknowledged batch once.
#[test]
fn pages_lost_with_the_machine_are_replayed_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    // 50-event batches, 120-row pages: two pages sealed, the rest in the active page.
    let acked = write_and_kill(dir.path(), &[(0, 7, 120)]);
    let seg = first_segment(&only_partition(dir.path()));
    let bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    assert_eq!(pages.len(), 2, "two full pages");
    std::fs::write(&seg, &bytes[..pages[1]]).unwrap();

    let reader = Reader::open(dir.path(), None).unwrap();
    assert_exactly(&reader_batches(&reader.view().unwrap()), &acked);
    let store = Store::open(dir.path(), child_options(120)).unwrap();
    assert_exactly(&stored_batches(&store), &acked);
    store.close().unwrap();
    let store = Store::open(dir.path(), child_options(120)).unwrap();
    assert_exactly(&stored_batches(&store), &acked);
    store.close().unwrap();
}
