//! A store's feeds (`laptime_core::ship::Feed`): a shipper sees every sealed page once, resumes
//! from its durable cursor, never sees the unsealed tail, is not disturbed by compaction (which
//! leaves unshipped pages alone), counts what retention removed before it was shipped, and refuses
//! a damaged cursor instead of guessing.

mod common;

use std::path::Path;

use common::*;
use laptime_core::ship::{decode_message, Feed, Shipment};
use laptime_core::{Event, Options, Retention, ScanFilter, Store, View};

/// Ship until nothing is pending (at most `max_rows` per message), committing each shipment;
/// returns the events shipped and the shipments.
fn drain(feed: &mut Feed, max_rows: u64) -> (Vec<Event>, Vec<Shipment>) {
    let mut events = Vec::new();
    let mut shipments = Vec::new();
    loop {
        let view = View::open_read_only(feed.root()).unwrap();
        let pending = feed.pending(&view, max_rows).unwrap();
        if pending.is_empty() {
            return (events, shipments);
        }
        for s in pending {
            if s.rows > 0 {
                let msg = decode_message(&s.message).unwrap();
                assert_eq!(
                    (
                        msg.source.as_str(),
                        msg.first_seq(),
                        msg.end_seq(),
                        msg.rows()
                    ),
                    (s.source.as_str(), s.first_seq, s.end_seq, s.rows)
                );
                events.extend(msg.pages.iter().flat_map(|p| p.events()));
            }
            feed.commit(&s.source, s.end_seq).unwrap();
            shipments.push(s);
        }
    }
}

fn stored(dir: &Path) -> Vec<Event> {
    View::open_read_only(dir)
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap()
}

#[test]
fn every_sealed_page_is_shipped_once_and_a_reopened_feed_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write_segment(dir.path(), i * 10, 10);
    }
    let mut feed = Feed::open(dir.path(), "kafka.events").unwrap();
    // Ship a part, then "crash" (drop the feed) and reopen: nothing committed is sent again.
    let view = View::open_read_only(dir.path()).unwrap();
    let first = feed.pending(&view, 300).unwrap();
    assert_eq!(first.len(), 1, "one partition");
    let s = &first[0];
    assert!(s.rows >= 300 && s.rows < 300 + 64, "{} rows", s.rows);
    assert_eq!((s.first_seq, s.missed, s.again), (0, 0, 0));
    let mut shipped: Vec<Event> = decode_message(&s.message)
        .unwrap()
        .pages
        .iter()
        .flat_map(|p| p.events())
        .collect();
    feed.commit(&s.source, s.end_seq).unwrap();
    // A second pending() before the commit of the next shipment returns the same shipment again.
    let view = View::open_read_only(dir.path()).unwrap();
    let again_a = feed.pending(&view, 300).unwrap();
    let again_b = feed.pending(&view, 300).unwrap();
    assert_eq!(again_a, again_b);
    drop(feed);

    let mut feed = Feed::open(dir.path(), "kafka.events").unwrap();
    assert_eq!(feed.next_seq(&s.source), s.end_seq);
    let (rest, shipments) = drain(&mut feed, 300);
    assert_eq!(shipments.first().map(|x| x.first_seq), Some(s.end_seq));
    shipped.extend(rest);
    let by_batch = group_and_check(&shipped); // panics on an event seen twice
    assert_whole(&by_batch);
    assert_eq!(by_batch.len(), 40);
    assert_eq!(shipped.len(), stored(dir.path()).len());
    assert!(shipments.iter().all(|s| s.missed == 0 && s.again == 0));

    // Another feed of the same store has its own cursors.
    let mut other = Feed::open(dir.path(), "archive").unwrap();
    let (all, _) = drain(&mut other, 1_000_000);
    assert_eq!(all.len(), shipped.len());
}

#[test]
fn a_live_writer_s_unsealed_events_wait_until_their_page_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 64,
            page_max_age: std::time::Duration::from_secs(3600),
            ..Options::default()
        },
    )
    .unwrap();
    for k in 0..3 {
        store.append(make_batch(&store, k)); // 150 events: two full pages and a tail of 22
    }
    store.flush().unwrap();
    let mut feed = Feed::open(dir.path(), "live").unwrap();
    let (events, _) = drain(&mut feed, 1000);
    assert_eq!(events.len(), 128, "only the two sealed pages");
    assert_eq!(
        stored(dir.path()).len(),
        150,
        "the tail is readable, just not shipped"
    );
    store.close().unwrap(); // seals the tail
    let (rest, _) = drain(&mut feed, 1000);
    assert_eq!(rest.len(), 22);
    let mut all = events;
    all.extend(rest);
    assert_whole(&group_and_check(&all));
}

/// (first seq, rows) of every sealed page, in seq order.
fn page_bounds(dir: &Path) -> Vec<(u64, u32)> {
    let view = View::open_read_only(dir).unwrap();
    let mut b: Vec<_> = view
        .pages(&ScanFilter::default())
        .iter()
        .filter(|p| p.is_sealed())
        .map(|p| (p.zone().first_seq, p.zone().rows))
        .collect();
    b.sort();
    b
}

#[test]
fn compaction_leaves_unshipped_pages_alone() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        write_segment(dir.path(), i * 10, 10); // 8 small segments of 500 events, pages of 64
    }
    let mut feed = Feed::open(dir.path(), "kafka").unwrap();
    let view = View::open_read_only(dir.path()).unwrap();
    let s = feed.pending(&view, 1200).unwrap().remove(0);
    feed.commit(&s.source, s.end_seq).unwrap();
    let mut shipped: Vec<Event> = decode_message(&s.message)
        .unwrap()
        .pages
        .iter()
        .flat_map(|p| p.events())
        .collect();
    drop(view);
    let cursor = s.end_seq;
    let above = |b: &[(u64, u32)]| {
        b.iter()
            .copied()
            .filter(|&(f, _)| f >= cursor)
            .collect::<Vec<_>>()
    };
    let before = page_bounds(dir.path());

    let store = Store::open(dir.path(), small_pages()).unwrap();
    let report = store.compact().unwrap();
    store.close().unwrap();
    assert!(
        report.inputs >= 2,
        "segments below the cursor were merged: {report:?}"
    );
    let after = page_bounds(dir.path());
    assert_eq!(
        above(&after),
        above(&before),
        "pages past the cursor keep their bounds"
    );
    assert!(
        after
            .iter()
            .all(|&(f, r)| f >= cursor || f + u64::from(r) <= cursor),
        "no page straddles the cursor"
    );

    let (rest, shipments) = drain(&mut feed, 1200);
    assert!(
        shipments.iter().all(|s| s.again == 0 && s.missed == 0),
        "{shipments:?}"
    );
    shipped.extend(rest);
    let by_batch = group_and_check(&shipped);
    assert_whole(&by_batch);
    assert_eq!(by_batch.len(), 80);
}

#[test]
fn without_a_feed_compaction_merges_everything_and_with_an_idle_feed_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write_segment(dir.path(), i * 10, 10);
    }
    Feed::open(dir.path(), "idle").unwrap(); // a feed that shipped nothing
    let store = Store::open(dir.path(), small_pages()).unwrap();
    assert_eq!(store.compact().unwrap().inputs, 0);
    store.close().unwrap();
    std::fs::remove_dir_all(dir.path().join("ship")).unwrap();
    let store = Store::open(dir.path(), small_pages()).unwrap();
    assert_eq!(store.compact().unwrap().inputs, 4);
    store.close().unwrap();
}

#[test]
fn events_retention_removed_before_shipping_are_counted_as_missed() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        write_segment(dir.path(), i * 10, 10);
    }
    let mut feed = Feed::open(dir.path(), "slow").unwrap();
    let total = stored(dir.path()).len() as u64;
    let bytes: u64 = segment_bytes(dir.path());
    let store = Store::open(
        dir.path(),
        Options {
            retention: Retention {
                max_bytes: Some(bytes / 2),
                max_age: None,
            },
            ..small_pages()
        },
    )
    .unwrap();
    let removed = store.enforce_retention().unwrap().events;
    store.close().unwrap();
    assert!(removed > 0);
    let (events, shipments) = drain(&mut feed, 100_000);
    let missed: u64 = shipments.iter().map(|s| s.missed).sum();
    assert_eq!(missed, removed, "{shipments:?}");
    assert_eq!(events.len() as u64 + missed, total);
}

#[test]
fn a_damaged_cursor_or_a_bad_name_is_refused_with_where() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, 2);
    let mut feed = Feed::open(dir.path(), "k").unwrap();
    let (events, shipments) = drain(&mut feed, 1000);
    assert_eq!(events.len(), 100);
    let source = shipments[0].source.clone();
    // One shipper per feed: a second open of it is refused while the first holds it.
    let e = Feed::open(dir.path(), "k").unwrap_err().to_string();
    assert!(
        e.contains("being shipped by another process") && e.contains("LOCK"),
        "{e}"
    );
    let read_before = feed.cursors().get(&source).copied();
    drop(feed);
    let file = dir
        .path()
        .join("ship")
        .join("k")
        .join(format!("{source}.cursor"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[5] ^= 0x7f;
    std::fs::write(&file, &bytes).unwrap();
    let e = Feed::open(dir.path(), "k").unwrap_err().to_string();
    assert!(
        e.contains(&format!("{source}.cursor")) && e.contains("checksum"),
        "{e}"
    );
    for bad in ["", ".hidden", "a/b", "x".repeat(65).as_str(), "sp ace"] {
        let e = Feed::open(dir.path(), bad).unwrap_err().to_string();
        assert!(e.contains("feed name"), "{bad:?}: {e}");
    }
    let nowhere = tempfile::tempdir().unwrap();
    assert!(Feed::open(nowhere.path(), "k")
        .unwrap_err()
        .to_string()
        .contains("no laptime store"));
    assert_eq!(read_before, Some(100), "the cursor read before the damage");
    std::fs::remove_file(&file).unwrap();
    let mut feed = Feed::open(dir.path(), "k").unwrap();
    assert!(feed.commit("../escape", 5).is_err());
}
