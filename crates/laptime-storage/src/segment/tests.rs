use super::*;
use crate::dictionary::Dictionary;
use crate::event::{Batch, Level, Value};
use crate::page::{encode_page, ColumnSet, FieldKeys, PageColumns, PageScratch};

fn page_of(seed: u64, rows: u64) -> PageColumns {
    let mut b = Batch::default();
    for i in 0..rows {
        let start = 1_000_000 + (seed * 7919 + i * 104_729) % 1_000_000;
        if i % 10 == 9 {
            b.push_log((i % 3) as u32, start, Level::Info, &format!("message {i}"));
        } else {
            b.push_call((i % 5) as u32, start, 1 + (i * 31) % 9000, i % 17 != 0);
        }
        if i % 4 == 0 {
            b.add_field(7, Value::Str(format!("/route/{}", i % 6)));
            b.add_field(8, Value::I64(i as i64 - 50));
        }
    }
    let mut cols = PageColumns::default();
    cols.append_batch(&b, 0, b.len());
    cols
}

/// Segment 42 of partition 1 with `pages` pages, not sealed yet, and the pages' columns.
fn filled_segment(path: &std::path::Path, pages: u64) -> (SegmentWriter, Vec<PageColumns>) {
    let mut w = SegmentWriter::create(
        path,
        SegmentIdentity {
            id: 42,
            partition: 1,
        },
    )
    .unwrap();
    let mut expected = Vec::new();
    for p in 0..pages {
        let mut cols = page_of(p, 100 + p * 10);
        let mut buf = Vec::new();
        let meta = encode_page(
            &mut cols,
            p * 1000,
            &Dictionary::new(),
            &mut buf,
            &mut PageScratch::default(),
        );
        w.append_page(&buf, meta).unwrap();
        expected.push(cols);
    }
    (w, expected)
}

fn write_segment(path: &std::path::Path, pages: u64) -> Vec<PageColumns> {
    let (mut w, expected) = filled_segment(path, pages);
    w.finish().unwrap();
    expected
}

#[test]
fn sealed_segment_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let expected = write_segment(&path, 5);
    let r = SegmentReader::open(&path).unwrap();
    assert_eq!(r.id(), 42);
    assert_eq!(r.pages().len(), 5);
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    for (entry, want) in r.pages().iter().zip(&expected) {
        r.read_page(entry, ColumnSet::ALL, &mut scratch, &mut cols)
            .unwrap();
        assert_eq!(&cols, want);
        let meta = r.page_meta(entry).unwrap();
        assert_eq!(meta.zone(), entry.zone);
        assert_eq!(entry.zone.rows as usize, want.len());
        let calls: u64 = meta.names.iter().map(|s| s.calls).sum();
        let logs: u64 = meta.names.iter().map(|s| s.logs).sum();
        assert_eq!(calls + logs, want.len() as u64);
    }
}

/// The metas of a segment's pages, read one by one and absorbed into one.
fn absorbed(r: &SegmentReader) -> crate::page::PageMeta {
    let mut all = crate::page::PageMeta::default();
    for p in r.pages() {
        all.absorb(&r.page_meta(p).unwrap()).unwrap();
    }
    all
}

/// The summary in the footer is every page's meta absorbed: per name the same calls, errors,
/// logs and sketch (so the same percentiles) as merging the pages one by one.
#[test]
fn the_footer_summary_is_the_pages_metas_absorbed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    write_segment(&path, 6);
    let r = SegmentReader::open(&path).unwrap();
    let summary = r.summary();
    assert_eq!(**summary, absorbed(&r));
    let rows: u64 = r.pages().iter().map(|p| u64::from(p.zone.rows)).sum();
    assert_eq!(summary.rows, rows);
    for s in &summary.names {
        let mut merged = crate::sketch::LatencySketch::new();
        let mut calls = 0;
        for p in r.pages() {
            // Read as a query reads it: the sketches decoded on demand.
            let meta = r.page_meta_deferred(p).unwrap();
            if let Some(ps) = meta.name_stats(s.name) {
                assert!(ps.sketch().is_none());
                merged.merge(&ps.decoded_sketch().unwrap());
                calls += ps.calls;
            }
        }
        assert_eq!(s.calls, calls);
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(s.sketch().unwrap().quantile(q), merged.quantile(q));
        }
    }
}

/// A segment sealed with the older footer (offsets and lengths only) opens with the same pages,
/// zones and summary, read from its page metas.
#[test]
fn a_segment_with_the_older_footer_opens_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    write_segment(&path, 5);
    let r = SegmentReader::open(&path).unwrap();
    let mut raws = Vec::new();
    for p in r.pages() {
        let mut raw = Vec::new();
        r.raw_page(p, &mut raw).unwrap();
        raws.push(raw);
    }
    let old = dir.path().join(file_name(43));
    std::fs::write(&old, crate::fuzzing::segment_bytes_v1(43, &raws)).unwrap();
    let o = SegmentReader::open(&old).unwrap();
    assert_eq!(o.pages().len(), r.pages().len());
    for (a, b) in o.pages().iter().zip(r.pages()) {
        assert_eq!((a.offset, a.header, a.zone), (b.offset, b.header, b.zone));
    }
    assert_eq!(o.summary(), r.summary());
}

/// Write `path` again with a footer built from `pages` and `summary` (checksum made valid): what
/// a footer that lies looks like.
fn refooter(path: &std::path::Path, pages: &[PageEntry], summary: &crate::page::PageMeta) {
    let bytes = std::fs::read(path).unwrap();
    let end = pages.last().map_or(HEADER_LEN as u64, |p| p.end()) as usize;
    let mut out = bytes[..end].to_vec();
    let f = footer::encode(pages, summary);
    out.extend_from_slice(&f);
    out.extend_from_slice(&(end as u64).to_le_bytes());
    out.extend_from_slice(&(f.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&f).to_le_bytes());
    out.extend_from_slice(&TRAILER_MAGIC);
    std::fs::write(path, out).unwrap();
}

/// Opening reads no page, so a damaged page meta is found when the meta is read: as damage of
/// that page (the others still read), and by a footer whose zone or summary disagrees with the
/// pages.
#[test]
fn page_metas_are_checked_when_read_and_against_the_footer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    write_segment(&path, 3);
    let r = SegmentReader::open(&path).unwrap();
    let (pages, summary) = (r.pages().to_vec(), (**r.summary()).clone());
    drop(r);

    // A flipped bit inside the second page's meta: the segment opens, that meta fails.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = pages[1].offset as usize + crate::page::PAGE_HEADER_LEN + 2;
    bytes[at] ^= 0x10;
    let flipped = dir.path().join(file_name(44));
    std::fs::write(&flipped, &bytes).unwrap();
    let r = SegmentReader::open(&flipped).unwrap();
    let e = r.page_meta(&r.pages()[1]).unwrap_err();
    assert!(e.to_string().contains("page meta checksum mismatch"), "{e}");
    assert!(r.page_meta(&r.pages()[0]).is_ok() && r.page_meta(&r.pages()[2]).is_ok());

    // A footer whose zone of page 3 says other times than its meta.
    let mut lying = pages.clone();
    lying[2].zone.min_start += 1;
    refooter(&path, &lying, &summary);
    let r = SegmentReader::open(&path).unwrap();
    let e = r.page_meta(&r.pages()[2]).unwrap_err();
    assert!(
        e.to_string().contains("differs from the segment footer"),
        "{e}"
    );
    drop(r);

    // A summary counting other rows than the pages: the footer is refused at open.
    let mut wrong = summary.clone();
    wrong.rows += 1;
    wrong.names[0].logs += 1;
    refooter(&path, &pages, &wrong);
    let e = SegmentReader::open(&path).unwrap_err();
    assert!(e.to_string().contains("summary row count differs"), "{e}");
}

/// The reader a writer makes of the segment it just sealed is the one opening the file gives:
/// same identity, length and page entries (offsets, headers, metas), and it reads the same pages.
#[test]
fn a_sealed_writer_becomes_the_reader_opening_the_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let (mut w, _) = filled_segment(&path, 4);
    let len = w.finish().unwrap();
    let made = w.into_sealed_reader().unwrap();
    let opened = SegmentReader::open(&path).unwrap();
    assert_eq!(len, std::fs::metadata(&path).unwrap().len());
    assert_eq!(
        (made.id(), made.partition(), made.len()),
        (opened.id(), opened.partition(), opened.len())
    );
    assert_eq!(made.pages().len(), opened.pages().len());
    assert_eq!(made.summary(), opened.summary());
    let mut scratch = ReadScratch::default();
    let (mut a, mut b) = (PageColumns::default(), PageColumns::default());
    for (m, o) in made.pages().iter().zip(opened.pages()) {
        assert_eq!(
            (m.offset, m.end(), m.cols_offset()),
            (o.offset, o.end(), o.cols_offset())
        );
        assert_eq!((m.header, m.zone), (o.header, o.zone));
        assert_eq!(made.page_meta(m).unwrap(), opened.page_meta(o).unwrap());
        made.read_page(m, ColumnSet::ALL, &mut scratch, &mut a)
            .unwrap();
        opened
            .read_page(o, ColumnSet::ALL, &mut scratch, &mut b)
            .unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn partial_columns_decode_only_what_was_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let expected = write_segment(&path, 1);
    let r = SegmentReader::open(&path).unwrap();
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    let which = ColumnSet {
        starts: false,
        names: false,
        durations: true,
        codes: false,
        messages: false,
        fields: FieldKeys::ALL,
    };
    r.read_page(&r.pages()[0], which, &mut scratch, &mut cols)
        .unwrap();
    assert_eq!(cols.durations, expected[0].durations);
    assert_eq!(cols.fields, expected[0].fields);
    assert!(cols.starts.is_empty() && cols.codes.is_empty() && cols.messages.is_empty());
}

#[test]
fn only_the_field_keys_asked_for_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let expected = write_segment(&path, 1);
    let r = SegmentReader::open(&path).unwrap();
    let mut scratch = ReadScratch::default();
    let keys: Vec<u32> = expected[0].fields.iter().map(|f| f.key).collect();
    assert!(keys.len() >= 2, "the test page has several field columns");
    let decode = |fields: FieldKeys| {
        let mut cols = PageColumns::default();
        let which = ColumnSet {
            fields,
            ..ColumnSet::CORE
        };
        r.read_page(&r.pages()[0], which, &mut ReadScratch::default(), &mut cols)
            .unwrap();
        cols
    };
    for &key in &keys {
        let one = decode(FieldKeys::NONE.with(key));
        let want: Vec<_> = expected[0].fields.iter().filter(|f| f.key == key).collect();
        assert_eq!(one.fields.iter().collect::<Vec<_>>(), want, "key {key}");
        assert_eq!(
            one.durations, expected[0].durations,
            "the dense columns as asked"
        );
    }
    // Two keys, then a key no column has: nothing more.
    let two = decode(FieldKeys::NONE.with(keys[0]).with(keys[1]).with(keys[1]));
    assert_eq!(two.fields.len(), 2);
    assert!(decode(FieldKeys::NONE.with(u32::MAX)).fields.is_empty());
    assert!(decode(FieldKeys::NONE).fields.is_empty());
    let mut all = PageColumns::default();
    r.read_page(&r.pages()[0], ColumnSet::ALL, &mut scratch, &mut all)
        .unwrap();
    assert_eq!(all.fields, expected[0].fields);
}

#[test]
fn field_keys_cover_their_subsets_and_widen_to_every_key_past_four() {
    let some = FieldKeys::NONE.with(3).with(7);
    assert!(some.wants(3) && some.wants(7) && !some.wants(5));
    assert!(some.covers(&FieldKeys::NONE.with(7)));
    assert!(some.covers(&FieldKeys::NONE));
    assert!(!some.covers(&FieldKeys::NONE.with(5)));
    assert!(!some.covers(&FieldKeys::ALL));
    assert!(FieldKeys::ALL.covers(&some) && FieldKeys::ALL.wants(12_345));
    assert!(!FieldKeys::NONE.any() && some.any());
    let five = some.with(9).with(11).with(13);
    assert_eq!(five, FieldKeys::ALL, "a fifth key means every key");
}

#[test]
fn unsealed_segment_recovers_whole_pages_and_cuts_the_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let mut w = SegmentWriter::create(
        &path,
        SegmentIdentity {
            id: 42,
            partition: 1,
        },
    )
    .unwrap();
    let mut ends = vec![HEADER_LEN as u64];
    for p in 0..3 {
        let mut cols = page_of(p, 64);
        let mut buf = Vec::new();
        let meta = encode_page(
            &mut cols,
            p * 64,
            &Dictionary::new(),
            &mut buf,
            &mut PageScratch::default(),
        );
        w.append_page(&buf, meta).unwrap();
        ends.push(w.len());
    }
    drop(w);
    let full = std::fs::read(&path).unwrap();
    for cut in (HEADER_LEN..full.len()).step_by(7) {
        std::fs::write(&path, &full[..cut]).unwrap();
        let rec = recover_active(&path).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut as u64).count() - 1;
        assert_eq!(rec.pages.len(), whole, "cut at {cut}");
        assert_eq!(rec.valid_len, ends[whole]);
        assert_eq!(rec.cut.is_some(), cut as u64 != ends[whole]);
    }
}

#[test]
fn damaged_sealed_segments_are_errors_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let expected = write_segment(&path, 2);
    let full = std::fs::read(&path).unwrap();
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    for pos in 0..full.len() {
        let mut bytes = full.clone();
        bytes[pos] ^= 0x21;
        std::fs::write(&path, &bytes).unwrap();
        let Ok(r) = SegmentReader::open(&path) else {
            continue;
        };
        for (entry, want) in r.pages().iter().zip(&expected) {
            if r.read_page(entry, ColumnSet::ALL, &mut scratch, &mut cols)
                .is_ok()
            {
                assert_eq!(
                    &cols, want,
                    "byte {pos} flipped yet the page decoded differently"
                );
            }
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            any::<bool>().prop_map(Value::Bool),
            ".{0,12}".prop_map(Value::Str),
        ]
    }

    /// (name, start, duration, code, message, fields) rows of arbitrary shape.
    type Row = (u32, u64, u64, u8, Option<String>, Vec<(u32, Value)>);

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        proptest::collection::vec(
            (
                0u32..40,
                any::<u64>(),
                any::<u64>(),
                0u8..=7,
                proptest::option::of(".{0,16}"),
                proptest::collection::vec((0u32..6, value()), 0..3),
            ),
            1..300,
        )
    }

    fn page_from(rows: &[Row]) -> PageColumns {
        let mut b = Batch::default();
        for (name, start, dur, code, msg, fields) in rows {
            let code = crate::Code::from_byte(*code).unwrap();
            b.push(*name, *start, *dur, code);
            if let Some(m) = msg {
                b.messages.push((b.len() as u32 - 1, m.clone()));
            }
            for (k, v) in fields {
                b.add_field(*k, v.clone());
            }
        }
        let mut cols = PageColumns::default();
        cols.append_batch(&b, 0, b.len());
        cols
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whole segments of random pages (any names, times, durations, codes, messages and
        /// fields, including extremes) read back exactly, sealed and recovered unsealed alike.
        #[test]
        fn segments_round_trip(pages in proptest::collection::vec(rows(), 1..5)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(file_name(7));
            let mut w = SegmentWriter::create(&path, SegmentIdentity { id: 7, partition: 1 }).unwrap();
            let mut expected = Vec::new();
            let mut seq = 0;
            for rows in &pages {
                let mut cols = page_from(rows);
                let mut buf = Vec::new();
                let meta = encode_page(&mut cols, seq, &Dictionary::new(), &mut buf, &mut PageScratch::default());
                prop_assert_eq!(meta.rows as usize, rows.len());
                seq += rows.len() as u64;
                w.append_page(&buf, meta).unwrap();
                expected.push(cols);
            }
            drop(w);
            let rec = recover_active(&path).unwrap();
            prop_assert_eq!(rec.pages.len(), pages.len());
            prop_assert!(rec.cut.is_none());
            let who = SegmentIdentity { id: 7, partition: 1 };
            let mut w = SegmentWriter::resume(&path, who, rec.valid_len, rec.pages, rec.summary).unwrap();
            w.finish().unwrap();
            let r = SegmentReader::open(&path).unwrap();
            prop_assert_eq!(&**r.summary(), &absorbed(&r));
            let mut scratch = ReadScratch::default();
            let mut cols = PageColumns::default();
            for (entry, want) in r.pages().iter().zip(&expected) {
                r.read_page(entry, ColumnSet::ALL, &mut scratch, &mut cols).unwrap();
                // NaN != NaN: compare floats by bits.
                prop_assert_eq!(format!("{:?}", cols.fields), format!("{:?}", want.fields));
                prop_assert_eq!(&cols.starts, &want.starts);
                prop_assert_eq!(&cols.durations, &want.durations);
                prop_assert_eq!(&cols.names, &want.names);
                prop_assert_eq!(&cols.codes, &want.codes);
                prop_assert_eq!(&cols.message_rows, &want.message_rows);
                prop_assert_eq!(&cols.messages, &want.messages);
                prop_assert!(cols.starts.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
}
