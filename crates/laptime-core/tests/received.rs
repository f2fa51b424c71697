//! Received batches (`Store::append_received`, the fleet's indexers): a batch sent again is
//! recognised by its origin's seqs, after a clean close and after the process is SIGKILLed at any
//! point, whether its origin is still only in the WAL or already in `ORIGINS`; overlaps are
//! refused without storing anything; a damaged `ORIGINS` is set aside and reported.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;

use laptime_core::{Batch, Options, Received, ScanFilter, Store, SyncPolicy, View};

const CHILD_DIR: &str = "LAPTIME_RECEIVED_CHILD_DIR";
const BASE: u64 = 1_700_000_000_000_000_000;

/// Events `first..end` of `source` as a batch for `store`: one call each, start = BASE + seq.
fn received(store: &Store, source: &str, first: u64, end: u64) -> Batch {
    let name = store.intern(&format!("{source}.call")).unwrap();
    let mut b = Batch::default();
    for seq in first..end {
        b.push_call(name, BASE + seq, seq + 1, true);
    }
    b.set_origin(source, first, end).unwrap();
    b
}

/// (name, start) of every stored event, sorted, with a check that none is there twice.
fn stored(dir: &Path) -> Vec<(String, u64)> {
    let mut events: Vec<(String, u64)> = View::open_read_only(dir)
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.start_ns - BASE))
        .collect();
    events.sort();
    let before = events.len();
    events.dedup();
    assert_eq!(before, events.len(), "an event is stored twice");
    events
}

fn seqs(source: &str, range: std::ops::Range<u64>) -> Vec<(String, u64)> {
    range.map(|s| (format!("{source}.call"), s)).collect()
}

#[test]
fn a_batch_sent_again_is_recognised_before_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.append_received(received(&store, "a", 0, 10)).unwrap(),
        Received::Taken
    );
    assert_eq!(
        store
            .append_received(received(&store, "a", 10, 20))
            .unwrap(),
        Received::Taken
    );
    assert_eq!(
        store.append_received(received(&store, "b", 5, 7)).unwrap(),
        Received::Taken
    );
    assert_eq!(
        store.append_received(received(&store, "a", 0, 10)).unwrap(),
        Received::Duplicate
    );
    assert_eq!(
        store
            .append_received(received(&store, "a", 15, 25))
            .unwrap(),
        Received::Overlap { stored_to: 20 }
    );
    // A gap is allowed (the sender's retention removed events before it shipped them).
    assert_eq!(
        store
            .append_received(received(&store, "a", 30, 40))
            .unwrap(),
        Received::Taken
    );
    assert!(
        store.append_received(Batch::default()).is_err(),
        "a batch without origin"
    );
    store.close().unwrap();

    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.received().into_iter().collect::<Vec<_>>(),
        [("a".into(), 40), ("b".into(), 7)]
    );
    assert_eq!(
        store
            .append_received(received(&store, "a", 30, 40))
            .unwrap(),
        Received::Duplicate
    );
    assert_eq!(
        store.append_received(received(&store, "b", 0, 7)).unwrap(),
        Received::Duplicate
    );
    assert_eq!(
        store.append_received(received(&store, "b", 7, 9)).unwrap(),
        Received::Taken
    );
    store.close().unwrap();
    let mut want = seqs("a", 0..20);
    want.extend(seqs("a", 30..40));
    want.extend(seqs("b", 5..9));
    want.sort();
    assert_eq!(stored(dir.path()), want);
}

/// Child: receive batches of 50 from source "s" and print `ACK <end>` after each flush, until
/// killed. Pages of `LAPTIME_RECEIVED_PAGE_ROWS` rows: small ones seal (origins reach `ORIGINS`,
/// WAL files are released), big ones do not (origins only in the WAL).
#[test]
fn received_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let page_rows: usize = std::env::var("LAPTIME_RECEIVED_PAGE_ROWS")
        .unwrap()
        .parse()
        .unwrap();
    let opts = Options {
        page_rows,
        sync: SyncPolicy::Always,
        ..Options::default()
    };
    let store = Store::open(&dir, opts).unwrap();
    let mut next = store.received().get("s").copied().unwrap_or(0);
    loop {
        let r = store
            .append_received(received(&store, "s", next, next + 50))
            .unwrap();
        assert_eq!(r, Received::Taken);
        store.flush().unwrap();
        next += 50;
        println!("ACK {next}");
    }
}

/// Run the child until it acknowledged at least `min` events, SIGKILL it; returns the last ack.
fn run_and_kill(dir: &Path, page_rows: usize, min: u64) -> u64 {
    let mut child = common::spawn_child(
        "received_child",
        &[
            (CHILD_DIR, dir.display().to_string()),
            ("LAPTIME_RECEIVED_PAGE_ROWS", page_rows.to_string()),
        ],
    );
    let stdout = child.stdout.take().unwrap();
    let mut acked = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = n.parse().unwrap();
            if acked >= min {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked >= min, "the child stopped early");
    acked
}

/// After a kill: everything acknowledged is stored once; sending every batch again from 0
/// stores nothing twice and fills in exactly what was not acknowledged.
fn check_after_kill(dir: &Path, acked: u64) {
    let store = Store::open(dir, Options::default()).unwrap();
    let have = store.received().get("s").copied().unwrap_or(0);
    assert!(
        have >= acked,
        "acknowledged up to {acked}, the store says {have}"
    );
    let mut taken = 0;
    for first in (0..have + 100).step_by(50) {
        match store
            .append_received(received(&store, "s", first, first + 50))
            .unwrap()
        {
            Received::Duplicate => assert!(first + 50 <= have),
            Received::Taken => taken += 1,
            other => panic!("{other:?} at {first}"),
        }
    }
    assert_eq!(taken, 2, "only the two batches past what was stored");
    store.close().unwrap();
    assert_eq!(stored(dir), seqs("s", 0..have + 100));
}

#[test]
fn sigkill_while_origins_are_only_in_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    // Pages of 1M rows never seal here: every origin is only in the WAL.
    let acked = run_and_kill(dir.path(), 1 << 20, 2_000);
    assert!(!dir
        .path()
        .join("partitions")
        .read_dir()
        .unwrap()
        .flatten()
        .any(|p| p.path().join("ORIGINS").exists()));
    check_after_kill(dir.path(), acked);
}

#[test]
fn sigkill_while_pages_seal_and_the_wal_is_released() {
    let dir = tempfile::tempdir().unwrap();
    // Pages of 64 rows seal every batch or two: origins move to ORIGINS, WAL files go.
    let acked = run_and_kill(dir.path(), 64, 3_000);
    check_after_kill(dir.path(), acked);
    // Twice more, on the same store: the recovered partition is adopted and goes on.
    let acked = run_and_kill(dir.path(), 64, acked + 1_000);
    check_after_kill(dir.path(), acked);
}

#[test]
fn a_damaged_origins_file_is_set_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 16,
            ..Options::default()
        },
    )
    .unwrap();
    store
        .append_received(received(&store, "x", 0, 100))
        .unwrap();
    store.close().unwrap();
    let part = dir
        .path()
        .join("partitions")
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let file = part.join("ORIGINS");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[6] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let cuts = &store.recovery_report().cuts;
    assert!(
        cuts.iter()
            .any(|c| c.file.ends_with("ORIGINS") && c.reason.contains("stored again")),
        "{cuts:?}"
    );
    assert!(part
        .join("quarantine")
        .read_dir()
        .unwrap()
        .flatten()
        .any(|f| f.file_name().to_string_lossy().starts_with("ORIGINS")));
    assert_eq!(
        stored(dir.path()).len(),
        100,
        "the events themselves are untouched"
    );
    store.close().unwrap();
}

/// With several writers, received batches go to the first one's partition; after a reopen the
/// partition holding their origins may be any writer's (here the second's, by directory order),
/// and a batch sent again is still recognised.
#[test]
fn a_batch_sent_again_is_recognised_whichever_writer_holds_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let first = store.partitions()[0].to_path_buf();
    assert_eq!(
        store.append_received(received(&store, "a", 0, 10)).unwrap(),
        Received::Taken
    );
    store.close().unwrap();
    // An empty partition whose name sorts first: the next store's first writer adopts it, so the
    // partition with the origins becomes its second writer's.
    let earlier = dir.path().join("partitions").join("0000000000000000");
    std::fs::create_dir(&earlier).unwrap();
    let two = Options {
        writers: 2,
        ..Options::default()
    };
    let store = Store::open(dir.path(), two.clone()).unwrap();
    assert_eq!(store.partitions(), vec![earlier.as_path(), first.as_path()]);
    assert_eq!(
        store.append_received(received(&store, "a", 0, 10)).unwrap(),
        Received::Duplicate
    );
    assert_eq!(
        store.append_received(received(&store, "a", 5, 15)).unwrap(),
        Received::Overlap { stored_to: 10 }
    );
    assert_eq!(
        store
            .append_received(received(&store, "a", 10, 20))
            .unwrap(),
        Received::Taken
    );
    store.close().unwrap();
    let store = Store::open(dir.path(), two).unwrap();
    assert_eq!(
        store
            .append_received(received(&store, "a", 10, 20))
            .unwrap(),
        Received::Duplicate
    );
    store.close().unwrap();
    assert_eq!(stored(dir.path()), seqs("a", 0..20));
}
