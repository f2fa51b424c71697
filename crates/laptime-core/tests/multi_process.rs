//! Several processes write one store directory at once, each into its own partition; a reader sees
//! the union, and every event exactly once. A process may also run several writers
//! (`Options::writers`), each with a partition of its own and one dictionary between them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use laptime_core::{Batch, Options, Overflow, ScanFilter, Store, View};

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

fn writers(n: usize) -> Options {
    Options {
        writers: n,
        ..options()
    }
}

fn partition_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("partitions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

/// Events in the sealed segments of each partition of `view`, by partition directory name.
fn events_per_partition(view: &View) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for seg in view.segments(&ScanFilter::default()) {
        let id = view.partition_id(seg.partition()).unwrap().to_owned();
        *out.entry(id).or_insert(0) += seg.summary().rows;
    }
    out
}

#[test]
fn two_writers_in_one_process_store_every_event_once_and_are_adopted_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), writers(2)).unwrap();
    let mine: Vec<PathBuf> = store.partitions().iter().map(|p| p.to_path_buf()).collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(partition_dirs(dir.path()), {
        let mut m = mine.clone();
        m.sort();
        m
    });
    // Two producers, 300 batches each; a reader reads while they write.
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let store = store.clone();
            s.spawn(move || {
                for k in t * 1000..t * 1000 + 300 {
                    store.append(make_batch(&store, k));
                }
            });
        }
        let store = store.clone();
        s.spawn(move || {
            for _ in 0..20 {
                let by_batch = stored_batches(&store);
                for rows in by_batch.values() {
                    let mut r = rows.clone();
                    r.sort_unstable();
                    r.dedup();
                    assert_eq!(r.len(), rows.len(), "duplicate event in a live read");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    });
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!((c.accepted, c.dropped), (600 * PER_BATCH, 0));
    assert_eq!(c.written, 600 * PER_BATCH);
    let by_batch = stored_batches(&store);
    assert_eq!(by_batch.len(), 600);
    assert_whole(&by_batch);
    store.close().unwrap();

    // Both writers took a share (each producer has its own), and nothing else was written.
    let per = events_per_partition(&View::open_read_only(dir.path()).unwrap());
    assert_eq!(per.len(), 2, "{per:?}");
    assert!(per.values().all(|&n| n >= 100 * PER_BATCH), "{per:?}");
    assert_eq!(per.values().sum::<u64>(), 600 * PER_BATCH);

    // Reopened with two writers: the same two partitions are adopted, new names work in both
    // (two producer threads: each gets a writer of its own).
    let store = Store::open(dir.path(), writers(2)).unwrap();
    let reports = store.recovery_reports();
    assert!(reports.iter().all(|r| r.adopted), "{reports:?}");
    assert_eq!(partition_dirs(dir.path()).len(), 2);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let store = store.clone();
            s.spawn(move || {
                for k in (0..40u64).filter(|k| k % 2 == t) {
                    let name = store.intern(&format!("Later.call{k}")).unwrap();
                    let mut b = Batch::default();
                    b.push_call(name, 1_800_000_000_000_000_000 + k, k + 1, true);
                    store.append(b);
                }
            });
        }
    });
    store.close().unwrap();
    // One writer now: it adopts one partition and reads the other from disk; every name resolves.
    let store = Store::open(dir.path(), writers(1)).unwrap();
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    let (later, earlier): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|e| e.start_ns >= 1_800_000_000_000_000_000);
    assert_eq!(group_and_check(&earlier).len(), 600);
    assert_eq!(later.len(), 40);
    for e in &later {
        let k = e.start_ns - 1_800_000_000_000_000_000;
        assert_eq!(e.name, format!("Later.call{k}"));
        assert_eq!(e.duration_ns, k + 1);
    }
    let per = events_per_partition(&store.view().unwrap());
    assert_eq!(per.len(), 2, "both partitions took later events: {per:?}");
    store.close().unwrap();
}

#[test]
fn a_full_ring_offers_the_batch_to_the_other_writer_and_counts_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        writers: 2,
        ring_batches: 4,
        overflow: Overflow::Drop,
        ..options()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let offered = 4 * 2000 * PER_BATCH;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let store = store.clone();
            s.spawn(move || {
                for k in t * 10_000..t * 10_000 + 2000 {
                    store.append(make_batch(&store, k));
                }
            });
        }
    });
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!(c.accepted + c.dropped, offered, "{c:?}");
    assert_eq!(c.written, c.accepted, "{c:?}");
    let by_batch = stored_batches(&store);
    assert_whole(&by_batch);
    assert_eq!(by_batch.len() as u64 * PER_BATCH, c.accepted);
    store.close().unwrap();
}

/// Child of `partitions_whose_names_disagree_are_passed_over`: interns `LAPTIME_NAMES_ORDER`'s
/// names in that order, writes one call per name, and holds its partition until the store has
/// two, so the two children end up in two partitions with their ids meaning other names.
#[test]
fn names_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let names = std::env::var("LAPTIME_NAMES_ORDER").unwrap();
    let store = Store::open(&dir, options()).unwrap();
    for name in names.split(',') {
        let id = store.intern(name).unwrap();
        let mut b = Batch::default();
        b.push_call(id, start_of(name), 1000, true);
        store.append(b);
    }
    store.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while partition_dirs(Path::new(&dir)).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    store.close().unwrap();
}

/// Each name has its own start time, so an event read under a wrong name is caught.
fn start_of(name: &str) -> u64 {
    1_700_000_000_000_000_000 + name.bytes().fold(0u64, |h, b| h * 31 + u64::from(b)) % 1_000_000
}

#[test]
fn partitions_whose_names_disagree_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = ["alpha,beta,gamma", "delta,alpha"]
        .iter()
        .map(|order| {
            spawn_child(
                "names_child",
                &[
                    (CHILD_ENV, dir.path().display().to_string()),
                    ("LAPTIME_NAMES_ORDER", order.to_string()),
                ],
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dead = partition_dirs(dir.path());
    assert_eq!(dead.len(), 2);
    // Id 0 is "alpha" in one partition and "delta" in the other: two writers cannot share them.
    let store = Store::open(dir.path(), writers(2)).unwrap();
    let mine: Vec<PathBuf> = store.partitions().iter().map(|p| p.to_path_buf()).collect();
    assert_eq!(mine.len(), 2);
    let adopted = mine.iter().filter(|p| dead.contains(p)).count();
    assert_eq!(
        adopted, 1,
        "one dead partition adopted, one fresh: {mine:?}"
    );
    assert_eq!(partition_dirs(dir.path()).len(), 3);
    let check = |store: &Store, extra: &[&str]| {
        let events = store
            .view()
            .unwrap()
            .events(&ScanFilter::default())
            .unwrap();
        let mut names: Vec<String> = events.iter().map(|e| e.name.clone()).collect();
        for e in &events {
            assert_eq!(
                e.start_ns,
                start_of(&e.name),
                "event read under a wrong name: {e:?}"
            );
        }
        names.sort();
        let mut want: Vec<String> = ["alpha", "beta", "gamma", "delta", "alpha"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        want.sort();
        assert_eq!(names, want);
    };
    check(&store, &[]);
    // Old and new names from both writers of this store: two producer threads, one writer
    // each, the same names. An id meaning one name in one partition and another in the other
    // would show here as an event under the wrong name.
    let names = ["alpha", "beta", "delta", "epsilon", "zeta"];
    std::thread::scope(|s| {
        for _ in 0..2 {
            let store = store.clone();
            s.spawn(move || {
                for name in names {
                    let id = store.intern(name).unwrap();
                    let mut b = Batch::default();
                    b.push_call(id, start_of(name), 1000, true);
                    store.append(b);
                }
            });
        }
    });
    let extra: Vec<&str> = names.iter().chain(&names).copied().collect();
    store.flush().unwrap();
    check(&store, &extra);
    store.close().unwrap();
    let per = events_per_partition(&View::open_read_only(dir.path()).unwrap());
    let fresh = mine.iter().find(|p| !dead.contains(p)).unwrap();
    let fresh = fresh.file_name().unwrap().to_string_lossy();
    assert_eq!(
        per.get(&*fresh),
        Some(&5),
        "the fresh writer's events: {per:?}"
    );
    // The partition passed over is adopted by a store with one writer, and everything reads.
    let one = Store::open(dir.path(), writers(1)).unwrap();
    check(&one, &extra);
    one.close().unwrap();
    let again = Store::open(dir.path(), writers(3)).unwrap();
    check(&again, &extra);
    again.close().unwrap();
}
