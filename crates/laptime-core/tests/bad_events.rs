//! Invariant 11 at the core's hand-over: `Store::append` refuses only the events of a batch that
//! name an id the store never interned, counts them in `rejected`, and writes their neighbours
//! (with each one's fields and message still on it).

use laptime_core::{Batch, Level, Options, Rejections, ScanFilter, Store, Value};

#[test]
fn append_keeps_the_valid_events_of_a_batch_with_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let good = store.intern("good").unwrap();
    let key = store.intern("k").unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let mut batch = Batch::default();
    for i in 0..1000u64 {
        // Every 100th event names an id nobody interned; every 250th carries an unknown key.
        let name = if i % 100 == 7 { 50_000 } else { good };
        let row = batch.push_call(name, t0 + i, 10 + i, true);
        let k = if i % 250 == 3 { 60_000 } else { key };
        batch.add_field_at(row, k, Value::I64(i as i64)).unwrap();
    }
    let row = batch.push_log(good, t0 + 5_000, Level::Warn, "kept with its message");
    batch
        .add_field_at(row, key, Value::Str("last".into()))
        .unwrap();
    let (_, rejected) = store.append_checked(batch, Rejections::default());
    assert_eq!(rejected.count, 14, "10 unknown names + 4 unknown keys");
    assert_eq!(
        rejected.first.as_deref(),
        Some("event 7 has name id 50000, which was never interned")
    );
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!(
        (c.accepted, c.written, c.rejected, c.dropped),
        (987, 987, 14, 0)
    );
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    assert_eq!(events.len(), 987);
    for e in &events {
        assert_eq!(e.name, "good");
        if e.message.is_some() {
            assert_eq!(e.message.as_deref(), Some("kept with its message"));
            assert_eq!(e.fields, vec![("k".to_owned(), Value::Str("last".into()))]);
            continue;
        }
        // Each kept call still carries its own field: i = duration - 10.
        let i = (e.duration_ns - 10) as i64;
        assert_ne!(i % 100, 7);
        assert_ne!(i % 250, 3);
        assert_eq!(e.fields, vec![("k".to_owned(), Value::I64(i))]);
        assert_eq!(e.start_ns, t0 + i as u64);
    }
    // The plain `append` refuses the same way.
    let mut bad = Batch::default();
    bad.push_call(99_999, t0, 1, true);
    bad.push_call(good, t0, 1, false);
    store.append(bad);
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!((c.written, c.rejected), (988, 15));
    store.close().unwrap();
}

#[test]
fn remove_rows_renumbers_messages_and_fields() {
    let mut b = Batch::default();
    for i in 0..5u64 {
        let row = b.push_log(1, i, Level::Info, &format!("m{i}"));
        b.add_field_at(row, 2, Value::I64(i as i64)).unwrap();
    }
    b.remove_rows(&[true, false, true, false, true]);
    assert_eq!(b.starts(), &[1, 3]);
    assert_eq!(b.messages(), &[(0, "m1".to_owned()), (1, "m3".to_owned())]);
    let f: Vec<_> = b.fields().map(|f| (f.row, f.value.to_value())).collect();
    assert_eq!(f, vec![(0, Value::I64(1)), (1, Value::I64(3))]);
    b.remove_rows(&[]);
    assert_eq!(b.len(), 2, "an empty mask keeps every row");
}

#[test]
fn an_event_too_big_for_a_wal_record_is_refused_alone_and_big_batches_are_split() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let log = store.intern("log").unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let mut batch = Batch::default();
    batch.push_log(log, t0, Level::Info, "before");
    // 70 MB: more than one WAL record holds; it used to stop the writer for good.
    batch.push_log(log, t0 + 1, Level::Info, &"x".repeat(70_000_000));
    batch.push_log(log, t0 + 2, Level::Info, "after");
    // Three 12 MB events: each fits, together they exceed a record and go as several.
    for i in 0..3 {
        batch.push_log(log, t0 + 3 + i, Level::Info, &"y".repeat(12_000_000));
    }
    let (_, rejected) = store.append_checked(batch, Rejections::default());
    assert_eq!(rejected.count, 1);
    assert!(
        rejected
            .first
            .as_deref()
            .unwrap()
            .starts_with("event 1 carries 70000000 bytes"),
        "{:?}",
        rejected.first
    );
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!((c.written, c.rejected, c.dropped), (5, 1, 0));
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    let sizes: Vec<usize> = events
        .iter()
        .map(|e| e.message.as_ref().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![6, 5, 12_000_000, 12_000_000, 12_000_000]);
    store.close().unwrap();
}

/// A producer's events in its own form: here a batch and the events the producer refused, with
/// a count of the raw batches dropped (built or not) to see that their memory is released.
/// What each raw batch was told it had refused: count and first reason.
type Told = std::sync::Arc<std::sync::Mutex<Vec<(u64, Option<String>)>>>;

struct Raw {
    batch: Batch,
    refused: Rejections,
    released: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    told: Told,
}

impl laptime_core::RawBatch for Raw {
    fn events(&self) -> usize {
        self.batch.len() + self.refused.count as usize
    }
    fn heap_bytes(&self) -> usize {
        self.batch.len() * 32
    }
    fn build(&mut self, _spare: Batch) -> (Batch, Rejections) {
        (
            std::mem::take(&mut self.batch),
            std::mem::take(&mut self.refused),
        )
    }
    fn refused(&mut self, refused: &Rejections) {
        self.told
            .lock()
            .unwrap()
            .push((refused.count, refused.first.clone()));
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.released
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn raw_batches_are_built_and_checked_by_the_writer() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let good = store.intern("good").unwrap();
    let released = Arc::new(AtomicUsize::new(0));
    let told: Told = Arc::default();
    let t0 = 1_700_000_000_000_000_000u64;
    let raw = |names: &[u32], refused: u64| {
        let mut batch = Batch::default();
        for (i, &name) in names.iter().enumerate() {
            batch.push_call(name, t0 + i as u64, 10 + i as u64, true);
        }
        let mut r = Rejections::default();
        for _ in 0..refused {
            r.add(|| "durationsMs[3] = -1 is not a duration".to_owned());
        }
        Box::new(Raw {
            batch,
            refused: r,
            released: Arc::clone(&released),
            told: Arc::clone(&told),
        })
    };
    // 6 events: 2 refused by the producer's conversion, 1 with a name never interned.
    store.append_raw(raw(&[good, good, 77_777, good], 2));
    // Every event refused: nothing written, nothing breaks.
    store.append_raw(raw(&[88_888], 0));
    store.flush().unwrap();
    let c = store.counters();
    assert_eq!(
        (c.accepted, c.written, c.rejected, c.dropped),
        (3, 3, 4, 0),
        "refused events move from accepted to rejected"
    );
    assert_eq!(
        *told.lock().unwrap(),
        vec![
            (3, Some("durationsMs[3] = -1 is not a duration".to_owned())),
            (
                1,
                Some("event 0 has name id 88888, which was never interned".to_owned())
            )
        ],
        "each raw batch is told its refusals, the producer's own first"
    );
    assert_eq!(released.load(Ordering::SeqCst), 2);
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.name == "good"));
    store.close().unwrap();
}
