//! Shipped messages (`laptime_core::ship`, the fleet's unit of transfer): sealed pages of a real
//! store travel as bytes and arrive as the same events in a store with other ids; batches from
//! outside any store are cut into pages with consecutive seqs; damaged, edited, truncated and
//! out-of-order messages are refused with where and why, never half read.

use laptime_core::ship::{decode_message, encode_batch_message, encode_message, ShipMessage};
use laptime_core::{Batch, Event, Level, Options, ScanFilter, Store, Value, ValueRef, View};
use tempfile::TempDir;

const BASE: u64 = 1_700_000_000_000_000_000;
const NAMES: [&str; 4] = [
    "Orders.place",
    "Orders.charge",
    "log",
    "näme \"quoted\"\n\u{1F600}",
];

/// Events with every kind of value: calls ok and failed, logs with messages, fields of each type.
fn fill(store: &Store, n: u64) {
    let ids: Vec<_> = NAMES.iter().map(|n| store.intern(n).unwrap()).collect();
    let route = store.intern("route").unwrap();
    let items = store.intern("items").unwrap();
    let ratio = store.intern("ratio").unwrap();
    let cached = store.intern("cached").unwrap();
    let mut b = Batch::with_capacity(n as usize);
    for i in 0..n {
        // Starts out of order inside a batch: pages sort rows by start.
        let start = BASE + (i * 7919) % (n * 3) * 1_000;
        let row = match i % 4 {
            2 => b.push_log(ids[2], start, Level::Warn, &format!("disk {i}% full")),
            k => b.push_call(ids[k as usize], start, i * 13 + 1, i % 5 != 0),
        };
        b.add_field_ref_at(
            row,
            route,
            ValueRef::Str(if i % 3 == 0 { "/a" } else { "/b\u{0}\"x" }),
        )
        .unwrap();
        if i % 2 == 0 {
            b.add_field_ref_at(row, items, ValueRef::I64(i as i64 - 50))
                .unwrap();
            b.add_field_ref_at(row, ratio, ValueRef::F64(i as f64 / 3.0))
                .unwrap();
        } else {
            b.add_field_ref_at(row, cached, ValueRef::Bool(i % 3 == 1))
                .unwrap();
        }
    }
    store.append(b);
}

fn sorted(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by(|a, b| {
        (a.start_ns, &a.name, a.duration_ns).cmp(&(b.start_ns, &b.name, b.duration_ns))
    });
    events
}

fn small_pages() -> Options {
    Options {
        page_rows: 64,
        ..Options::default()
    }
}

/// The sealed pages of every partition of `dir`, as raw bytes, in seq order.
fn sealed_pages(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let view = View::open_read_only(dir).unwrap();
    let mut pages = view.pages(&ScanFilter::default());
    pages.retain(|p| p.is_sealed());
    pages.sort_by_key(|p| (p.partition(), p.zone().first_seq));
    pages
        .iter()
        .map(|p| {
            let mut bytes = Vec::new();
            assert!(view.raw_page(p, &mut bytes).unwrap());
            bytes
        })
        .collect()
}

fn message_of(pages: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = pages.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    encode_message("0123456789abcdef", &refs, &mut out);
    out
}

#[test]
fn sealed_pages_of_a_store_arrive_as_the_same_events_in_another_store() {
    let src = TempDir::new().unwrap();
    let store = Store::open(src.path(), small_pages()).unwrap();
    fill(&store, 1000);
    store.close().unwrap();
    let expected = sorted(
        View::open_read_only(src.path())
            .unwrap()
            .events(&ScanFilter::default())
            .unwrap(),
    );
    assert_eq!(expected.len(), 1000);

    let pages = sealed_pages(src.path());
    assert!(
        pages.len() >= 16,
        "1000 events in pages of 64: {}",
        pages.len()
    );
    let msg = decode_message(&message_of(&pages)).unwrap();
    assert_eq!(msg.source, "0123456789abcdef");
    assert_eq!(
        (msg.first_seq(), msg.end_seq(), msg.rows()),
        (0, 1000, 1000)
    );
    let carried: Vec<Event> = msg.pages.iter().flat_map(|p| p.events()).collect();
    assert_eq!(sorted(carried), expected);

    // A receiving store whose ids differ: names interned in another order, others first.
    let dst = TempDir::new().unwrap();
    let receiver = Store::open(dst.path(), Options::default()).unwrap();
    for n in ["other.a", "cached", "other.b", "Orders.charge"] {
        receiver.intern(n).unwrap();
    }
    for page in &msg.pages {
        let batch = page.to_batch(|name| receiver.intern(name)).unwrap();
        receiver.append(batch);
    }
    receiver.flush().unwrap();
    let got = sorted(
        receiver
            .view()
            .unwrap()
            .events(&ScanFilter::default())
            .unwrap(),
    );
    assert_eq!(got, expected);
    assert!(got.iter().any(|e| e
        .fields
        .iter()
        .any(|(k, v)| k == "route" && *v == Value::Str("/b\u{0}\"x".into()))));
}

#[test]
fn a_batch_from_outside_a_store_is_cut_into_pages_with_consecutive_seqs() {
    let names: Vec<String> = vec!["ingest.call".into(), "tenant".into(), "log".into()];
    let mut b = Batch::with_capacity(50);
    for i in 0..50u64 {
        let row = if i % 10 == 9 {
            b.push_log(2, BASE + i, Level::Error, "boom")
        } else {
            b.push_call(0, BASE + 1000 - i, i, i % 7 != 0)
        };
        b.add_field_ref_at(
            row,
            1,
            ValueRef::Str(if i < 25 { "acme" } else { "globex" }),
        )
        .unwrap();
    }
    let mut bytes = Vec::new();
    encode_batch_message("ingest-7", 1_000, &names, &b, 7, &mut bytes).unwrap();
    let msg: ShipMessage = decode_message(&bytes).unwrap();
    assert_eq!(msg.pages.len(), 8, "50 events in pages of 7");
    assert_eq!((msg.first_seq(), msg.end_seq()), (1_000, 1_050));
    let events = sorted(msg.pages.iter().flat_map(|p| p.events()).collect());
    assert_eq!(events.len(), 50);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.message.as_deref() == Some("boom"))
            .count(),
        5
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.fields == [("tenant".to_owned(), Value::Str("globex".into()))])
            .count(),
        25
    );

    let mut out = Vec::new();
    let bad = encode_batch_message("ingest-7", 0, &names[..1], &b, 7, &mut out).unwrap_err();
    assert!(bad.to_string().contains("beyond the 1 names"), "{bad}");
    assert!(encode_batch_message("s", 0, &names, &Batch::default(), 7, &mut out).is_err());
}

/// Re-seal an edited message: a valid envelope checksum around edited contents.
fn reseal(mut body: Vec<u8>) -> Vec<u8> {
    body.truncate(body.len() - 4);
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

#[test]
fn damaged_edited_truncated_and_out_of_order_messages_are_refused_with_where() {
    let src = TempDir::new().unwrap();
    let store = Store::open(src.path(), small_pages()).unwrap();
    fill(&store, 200);
    store.close().unwrap();
    let pages = sealed_pages(src.path());
    assert!(pages.len() >= 4);
    let good = message_of(&pages);
    assert!(decode_message(&good).is_ok());

    // Any flipped byte, any truncation: refused (the envelope checksum), never a panic.
    for at in (0..good.len()).step_by(7) {
        let mut m = good.clone();
        m[at] ^= 0x20;
        assert!(decode_message(&m).is_err(), "flip at {at}");
    }
    for len in (0..good.len()).step_by(13) {
        assert!(decode_message(&good[..len]).is_err(), "cut at {len}");
    }

    // Edits behind a valid envelope checksum are caught by the pages' own checks, naming the page.
    let page1_at = {
        let first = 4 + 1 + 1 + "0123456789abcdef".len() + 1;
        first + 4 + pages[0].len()
    };
    let mut m = good.clone();
    let inside = page1_at + 4 + pages[1].len() - 10;
    m[inside] ^= 1;
    let e = decode_message(&reseal(m)).unwrap_err();
    assert_eq!(e.page, Some(1), "{e}");
    assert!(e.to_string().contains("page 1 of the message"), "{e}");

    let gap = message_of(&[pages[0].clone(), pages[2].clone()]);
    let e = decode_message(&gap).unwrap_err();
    assert!(e.reason.contains("consecutive seqs"), "{e}");

    let mut empty = Vec::new();
    encode_message("src", &[], &mut empty);
    assert!(decode_message(&empty)
        .unwrap_err()
        .reason
        .contains("at least one page"));
    let mut unnamed = Vec::new();
    encode_message("", &[&pages[0]], &mut unnamed);
    assert!(decode_message(&unnamed)
        .unwrap_err()
        .reason
        .contains("source id"));
    let mut long = Vec::new();
    encode_message(&"x".repeat(300), &[&pages[0]], &mut long);
    assert!(decode_message(&long)
        .unwrap_err()
        .reason
        .contains("source id"));

    let mut trailing = good.clone();
    trailing.truncate(trailing.len() - 4);
    trailing.extend_from_slice(b"junk0000");
    let e = decode_message(&reseal(trailing)).unwrap_err();
    assert!(e.reason.contains("trailing bytes"), "{e}");

    let mut version = good.clone();
    version[4] = 9;
    assert!(decode_message(&reseal(version))
        .unwrap_err()
        .reason
        .contains("version"));
}
