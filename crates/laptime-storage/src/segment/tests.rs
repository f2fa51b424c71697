use super::*;
use crate::dictionary::Dictionary;
use crate::event::{Batch, Level, NameId, Value};
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
    filled_segment_fed(path, pages, false)
}

/// [`filled_segment`], its rollup fed while the pages seal (as the partition writer does) when
/// `fed`; else `finish` builds it from the pages.
fn filled_segment_fed(
    path: &std::path::Path,
    pages: u64,
    fed: bool,
) -> (SegmentWriter, Vec<PageColumns>) {
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
        let watcher: Option<&mut dyn crate::page::SealWatcher> =
            if fed { Some(w.rollup_mut()) } else { None };
        let meta = encode_page(
            &mut cols,
            p * 1000,
            &Dictionary::new(),
            &mut buf,
            &mut PageScratch::default(),
            watcher,
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
    let f = footer::encode(pages, summary, None);
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
            None,
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
                let meta = encode_page(&mut cols, seq, &Dictionary::new(), &mut buf, &mut PageScratch::default(), None);
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

/// A sealed [`filled_segment_fed`]. Returns the pages' columns.
fn rolled_segment(path: &std::path::Path, pages: u64, fed: bool) -> Vec<PageColumns> {
    let (mut w, expected) = filled_segment_fed(path, pages, fed);
    w.finish().unwrap();
    expected
}

/// Per name, the counts and sketch of the rows of `pages` whose field `key` is one of `values`.
fn expected_by_name(
    pages: &[PageColumns],
    key: NameId,
    values: &[&str],
) -> (Vec<crate::page::NameStats>, u64) {
    let mut by_name: std::collections::BTreeMap<
        NameId,
        (u64, u64, u64, crate::sketch::LatencySketch),
    > = Default::default();
    let mut rows = 0;
    for cols in pages {
        for f in cols.fields.iter().filter(|f| f.key == key) {
            let crate::page::FieldValues::Str(strings) = &f.values else {
                continue;
            };
            for (i, &row) in f.rows.iter().enumerate() {
                if !values.contains(&strings.get(i)) {
                    continue;
                }
                rows += 1;
                let r = row as usize;
                let t = by_name.entry(cols.names[r]).or_default();
                match cols.codes[r] {
                    c @ (0 | 1) => {
                        t.0 += 1;
                        t.1 += u64::from(c);
                        t.3.insert(cols.durations[r]);
                    }
                    _ => t.2 += 1,
                }
            }
        }
    }
    let stats = by_name
        .into_iter()
        .map(|(name, (calls, errors, logs, sketch))| {
            crate::page::NameStats::new(name, calls, errors, logs, sketch)
        })
        .collect();
    (stats, rows)
}

#[test]
fn a_rollup_holds_the_events_of_each_listed_value_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let pages = rolled_segment(&path, 6, true);
    let r = SegmentReader::open(&path).unwrap();
    let mut seen = 0;
    // `page_of` gives every fourth row a route, of three values.
    for v in [0, 2, 4] {
        let value = format!("/route/{v}");
        let meta = r
            .rollup_meta(7, &|x| x == value)
            .unwrap()
            .expect("route is rolled up");
        let (want, rows) = expected_by_name(&pages, 7, &[&value]);
        assert!(rows > 0);
        assert_eq!(meta.names, want, "{value}");
        assert_eq!(meta.rows, rows);
        // The meta says every event has the key, with this value alone.
        let Some(crate::page::KeyValues::Listed { values, .. }) = meta.values_of(7) else {
            panic!("the key is listed");
        };
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].value, value);
        assert_eq!(values[0].calls + values[0].logs, rows);
        // Other keys are present, their values unknown.
        assert!(meta.has_key(8));
        assert_eq!(meta.values_of(8), Some(&crate::page::KeyValues::Unlisted));
        seen += rows;
    }
    // Taken together: the union of the values; none: an empty meta.
    let (want, rows) = expected_by_name(&pages, 7, &["/route/2", "/route/4"]);
    let both = r
        .rollup_meta(7, &|x| x == "/route/2" || x == "/route/4")
        .unwrap()
        .unwrap();
    assert_eq!((both.names, both.rows), (want, rows));
    let none = r.rollup_meta(7, &|_| false).unwrap().unwrap();
    assert_eq!(none.rows, 0);
    let with_key: u64 = pages
        .iter()
        .flat_map(|c| c.fields.iter().filter(|f| f.key == 7))
        .map(|f| f.rows.len() as u64)
        .sum();
    assert_eq!(seen, with_key);
    // Integers are not listed: no rollup of them.
    assert!(r.rollup_meta(8, &|_| true).unwrap().is_none());
    assert!(r.rollup_meta(99, &|_| true).unwrap().is_none());
}

#[test]
fn a_rollup_rebuilt_from_the_pages_equals_the_one_fed_while_they_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dir.path().join("fed.lts");
    let rebuilt = dir.path().join("rebuilt.lts");
    rolled_segment(&fed, 5, true);
    rolled_segment(&rebuilt, 5, false);
    let fed = std::fs::read(&fed).unwrap();
    assert_eq!(&fed[fed.len() - 8..], b"LTSGEND3");
    assert_eq!(fed, std::fs::read(&rebuilt).unwrap());
}

#[test]
fn a_segment_without_listed_keys_has_no_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let mut w = SegmentWriter::create(
        path.as_path(),
        SegmentIdentity {
            id: 42,
            partition: 1,
        },
    )
    .unwrap();
    let mut b = Batch::default();
    for i in 0..200u64 {
        b.push_call(1, 1_000 + i, 5 + i, true);
        // A hundred values: more than are listed.
        b.add_field(7, Value::Str(format!("u{}", i % 100)));
    }
    let mut cols = PageColumns::default();
    cols.append_batch(&b, 0, b.len());
    let mut buf = Vec::new();
    let meta = encode_page(
        &mut cols,
        0,
        &Dictionary::new(),
        &mut buf,
        &mut PageScratch::default(),
        Some(w.rollup_mut()),
    );
    w.append_page(&buf, meta).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[bytes.len() - 8..], b"LTSGEND2");
    let r = SegmentReader::open(&path).unwrap();
    assert!(r.rollup_meta(7, &|_| true).unwrap().is_none());
}

#[test]
fn a_damaged_rollup_is_an_error_and_the_pages_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let pages = rolled_segment(&path, 4, true);
    let good = std::fs::read(&path).unwrap();
    let r = SegmentReader::open(&path).unwrap();
    let region = r.pages().last().unwrap().end() as usize;
    drop(r);
    // A byte of the directory (just after the magic), then one of the last value's meta (the
    // region runs from the pages' end to the footer).
    for at in [region + 5, footer_start(&good) - 10] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let r = SegmentReader::open(&path).expect("the footer is intact");
        let err = (0..6)
            .map(|v| {
                let value = format!("/route/{v}");
                r.rollup_meta(7, &|x| x == value)
            })
            .find_map(|m| m.err());
        let err = err.expect("a damaged rollup is an error");
        assert!(matches!(err, crate::Error::Corrupt { .. }), "{err}");
        let mut scratch = ReadScratch::default();
        let mut cols = PageColumns::default();
        for (entry, want) in r.pages().iter().zip(&pages) {
            r.read_page(entry, ColumnSet::ALL, &mut scratch, &mut cols)
                .unwrap();
            assert_eq!(&cols, want);
        }
        // Salvage keeps every page and calls none of it damage.
        let s = salvage(&path).unwrap();
        assert_eq!(s.pages.len(), pages.len());
        assert!(s.damage.is_empty(), "{:?}", s.damage);
    }
}

/// Offset of the footer of the sealed segment `bytes`.
fn footer_start(bytes: &[u8]) -> usize {
    let t = &bytes[bytes.len() - TRAILER_LEN..];
    u64::from_le_bytes(t[..8].try_into().unwrap()) as usize
}

#[test]
fn salvage_stops_at_the_rollup_when_the_footer_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(42));
    let pages = rolled_segment(&path, 4, true);
    let mut bytes = std::fs::read(&path).unwrap();
    let footer = footer_start(&bytes);
    bytes[footer + 1] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    assert!(SegmentReader::open(&path).is_err());
    let s = salvage(&path).unwrap();
    assert_eq!(s.pages.len(), pages.len());
    assert!(s.damage.is_empty(), "{:?}", s.damage);
}

#[test]
fn a_builder_past_its_memory_bound_drops_its_largest_key() {
    let mut cols = PageColumns::default();
    let mut b = Batch::default();
    // 200 calls for each of 40 values by 5 names, their durations over hundreds of buckets:
    // the forty-valued key's tallies hold most of the memory.
    for i in 0..40_000u64 {
        b.push_call((i % 5) as u32, 1_000 + i, 1 + i * 7919 % 1_000_000, true);
        b.add_field(7, Value::Str(format!("v{}", (i / 5) % 40)));
        b.add_field(9, Value::Str(format!("t{}", i % 2)));
    }
    cols.append_batch(&b, 0, b.len());
    let strings = crate::page::StringFields::of(&cols);
    let meta = crate::page::PageMeta::compute(&cols, 0);
    let mut whole = rollup_build::RollupBuilder::with_max_bytes(usize::MAX);
    whole.add_page(&cols, &strings.dicts, &meta);
    whole.count_pending();
    let all = whole.tally_bytes();
    // Room for the two-valued key but not for the forty-valued one.
    let mut bounded = rollup_build::RollupBuilder::with_max_bytes(all / 2);
    bounded.add_page(&cols, &strings.dicts, &meta);
    bounded.count_pending();
    assert!(bounded.tally_bytes() <= all / 2);
    let mut summary = crate::page::PageMeta::default();
    summary.absorb(&meta).unwrap();
    let region = bounded.encode(&summary).expect("a key is left");
    let end = region.bytes.len() as u64;
    let directory =
        rollup::RollupDirectory::decode(&region.bytes[..region.directory_len], 0, end).unwrap();
    assert!(directory.values_of(7).is_none());
    assert_eq!(directory.values_of(9).map(<[_]>::len), Some(2));
}
