//! Lost, stale, foreign and duplicated files: recovery (and readers) must never delete or hide a
//! file whose contents verify, never count an event twice, and say what they set aside
//! (invariant 9, ARCHITECTURE.md). Each test damages a cleanly closed store of three segments, then looks
//! at it with a read-only `Reader` first (no writer has repaired anything yet) and then reopens it
//! for writing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use laptime_core::{Maintained, Maintenance, Options, Reader, RecoveryReport, ScanFilter, Store};

const BATCHES_PER_SEGMENT: u64 = 10;

fn options() -> Options {
    Options {
        page_rows: 64,
        ..Options::default()
    }
}

/// Batches `k0..k0+n` written in one open/close cycle (one segment of several pages).
fn write_cycle(root: &Path, k0: u64, n: u64) {
    let store = Store::open(root, options()).unwrap();
    for k in k0..k0 + n {
        store.append(make_batch(&store, k));
    }
    store.close().unwrap();
}

/// A store of three segments holding batches `k0..k0+30`; returns its only partition.
fn three_segments(root: &Path, k0: u64) -> PathBuf {
    for c in 0..3 {
        write_cycle(root, k0 + c * BATCHES_PER_SEGMENT, BATCHES_PER_SEGMENT);
    }
    let parts = partitions(root);
    assert_eq!(parts.len(), 1);
    assert_eq!(segments(&parts[0]).len(), 3);
    parts[0].clone()
}

/// A store of three segments of one page (one batch) each, batches 0..3; returns its partition.
fn one_page_segments(root: &Path) -> PathBuf {
    for k in 0..3 {
        write_cycle(root, k, 1);
    }
    partitions(root)[0].clone()
}

fn partitions(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("partitions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn segments(part: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("seg-") && n.ends_with(".lts")
        })
        .collect();
    out.sort();
    out
}

fn quarantined(part: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(part.join("quarantine")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Events a read-only reader sees, grouped by batch and checked.
fn read_only(root: &Path) -> BTreeMap<u64, Vec<u64>> {
    let reader = Reader::open(root, None).unwrap();
    let events = reader
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    group_and_check(&events)
}

/// What `verify` calls damage, as one string per damaged file (empty when it finds none).
fn verify_damage(root: &Path) -> Vec<String> {
    let report = laptime_core::verify::verify(root, |_, _| {}).unwrap();
    report
        .damaged()
        .map(|f| {
            format!(
                "{}: {}",
                f.path.display(),
                f.finding.as_ref().map_or("", |x| x.reason.as_str())
            )
        })
        .collect()
}

/// `verify` reports damage mentioning `what` before recovery, and none after it.
fn assert_verify_sees(root: &Path, what: &str) {
    let found = verify_damage(root);
    assert!(
        found.iter().any(|d| d.contains(what)),
        "verify should report {what:?}: {found:?}"
    );
}

/// The report set a file aside for a reason mentioning `why`.
fn assert_quarantined(report: &RecoveryReport, why: &str) {
    assert!(
        report.quarantined.iter().any(|(_, w)| w.contains(why)),
        "expected a file quarantined for {why:?}: {report:?}"
    );
}

/// The first and third segments' batches are whole and the middle one (batches 10..20) kept a
/// number of events within `kept`.
fn assert_middle_kept(seen: &BTreeMap<u64, Vec<u64>>, kept: std::ops::Range<usize>, who: &str) {
    for k in (0..10).chain(20..30) {
        assert_eq!(
            seen.get(&k).map(Vec::len),
            Some(PER_BATCH as usize),
            "{who}: batch {k}"
        );
    }
    let middle: usize = (10..20).filter_map(|k| seen.get(&k)).map(Vec::len).sum();
    assert!(
        kept.contains(&middle),
        "{who}: {middle} events of the damaged segment kept, expected {kept:?}"
    );
}

/// Reopen for writing: the recovery report and the events then stored.
fn reopen(root: &Path) -> (RecoveryReport, BTreeMap<u64, Vec<u64>>) {
    let store = Store::open(root, options()).unwrap();
    let report = store.recovery_report().clone();
    let seen = stored_batches(&store);
    store.close().unwrap();
    (report, seen)
}

fn assert_exactly(seen: &BTreeMap<u64, Vec<u64>>, batches: impl Iterator<Item = u64>, what: &str) {
    assert_whole(seen);
    let want: Vec<u64> = batches.collect();
    let got: Vec<u64> = seen.keys().copied().collect();
    assert_eq!(got, want, "{what}: batches seen");
}

/// Bytes of every file that held events before: after recovery each is still in the partition or
/// in its quarantine, byte for byte.
fn contents(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn assert_kept(part: &Path, before: &[Vec<u8>]) {
    let mut now: Vec<Vec<u8>> = contents(&segments(part));
    now.extend(
        quarantined(part)
            .iter()
            .filter(|p| p.is_file())
            .map(|p| std::fs::read(p).unwrap()),
    );
    for (i, b) in before.iter().enumerate() {
        assert!(
            now.iter().any(|n| n == b),
            "segment {i} that verified is gone (neither in the partition nor in quarantine)"
        );
    }
}

#[test]
fn a_missing_manifest_hides_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let before = contents(&segments(&part));
    std::fs::remove_file(part.join("MANIFEST")).unwrap();
    assert_exactly(&read_only(dir.path()), 0..30, "reader, manifest missing");
    assert_verify_sees(dir.path(), "MANIFEST is missing");
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, manifest missing");
    assert!(report.manifest_rebuilt.is_some(), "{report:?}");
    assert!(report.removed.is_empty(), "{report:?}");
    assert_kept(&part, &before);
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    // And the rebuilt manifest is right for the next open.
    assert_exactly(&reopen(dir.path()).1, 0..30, "second reopen");
}

/// Every read is bounded: a MANIFEST that is a symlink to an endless device is refused, not read
/// (it once drove a reader to 13 GB).
#[cfg(unix)]
#[test]
fn a_manifest_pointing_at_an_endless_device_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    std::fs::remove_file(part.join("MANIFEST")).unwrap();
    std::os::unix::fs::symlink("/dev/urandom", part.join("MANIFEST")).unwrap();
    assert_exactly(
        &read_only(dir.path()),
        0..30,
        "reader, manifest is /dev/urandom",
    );
    assert_verify_sees(dir.path(), "MANIFEST");
    let (_, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, manifest was /dev/urandom");
    assert!(!part.join("MANIFEST").is_symlink());
}

#[test]
fn a_stale_manifest_loses_no_later_segment() {
    let dir = tempfile::tempdir().unwrap();
    write_cycle(dir.path(), 0, BATCHES_PER_SEGMENT);
    let part = partitions(dir.path())[0].clone();
    let stale = std::fs::read(part.join("MANIFEST")).unwrap();
    write_cycle(dir.path(), 10, BATCHES_PER_SEGMENT);
    write_cycle(dir.path(), 20, BATCHES_PER_SEGMENT);
    let before = contents(&segments(&part));
    std::fs::write(part.join("MANIFEST"), stale).unwrap();
    assert_exactly(&read_only(dir.path()), 0..30, "reader, stale manifest");
    assert_verify_sees(dir.path(), "a stale MANIFEST");
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, stale manifest");
    assert_eq!(report.adopted_segments.len(), 2, "{report:?}");
    assert_kept(&part, &before);
}

#[test]
fn a_manifest_from_another_store_is_not_trusted() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let part_a = three_segments(a.path(), 0);
    let part_b = three_segments(b.path(), 100);
    let before = contents(&segments(&part_a));
    std::fs::copy(part_b.join("MANIFEST"), part_a.join("MANIFEST")).unwrap();
    assert_exactly(&read_only(a.path()), 0..30, "reader, foreign manifest");
    assert_verify_sees(a.path(), "MANIFEST belongs to partition");
    let (report, seen) = reopen(a.path());
    assert_exactly(&seen, 0..30, "writer, foreign manifest");
    assert!(
        report
            .manifest_rebuilt
            .as_deref()
            .is_some_and(|r| r.contains("belongs to partition")),
        "{report:?}"
    );
    assert_kept(&part_a, &before);
}

#[test]
fn a_segment_from_another_store_is_set_aside() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let part_a = three_segments(a.path(), 0);
    let part_b = three_segments(b.path(), 100);
    // Under a name no segment of A has, and under the name of one of A's own (replacing it).
    let foreign = &segments(&part_b)[1];
    std::fs::copy(foreign, part_a.join("seg-00000000000000a0.lts")).unwrap();
    assert_exactly(&read_only(a.path()), 0..30, "reader, foreign segment added");
    assert_verify_sees(a.path(), "written by partition");
    let (report, seen) = reopen(a.path());
    assert_exactly(&seen, 0..30, "writer, foreign segment added");
    assert_quarantined(&report, "written by partition");

    let replaced = segments(&part_a)[0].clone();
    std::fs::copy(&segments(&part_b)[0], &replaced).unwrap();
    let seen = read_only(a.path());
    assert!(
        seen.keys().all(|k| *k < 100),
        "a foreign event was read: {seen:?}"
    );
    let (report, seen) = reopen(a.path());
    assert_exactly(&seen, 10..30, "writer, a segment replaced by a foreign one");
    assert_quarantined(&report, "written by partition");
}

#[test]
fn a_duplicated_segment_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let first = segments(&part)[0].clone();
    std::fs::copy(&first, part.join("seg-00000000000000b0.lts")).unwrap();
    assert_exactly(&read_only(dir.path()), 0..30, "reader, duplicated segment");
    assert_verify_sees(dir.path(), "a copy under another name");
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, duplicated segment");
    assert_quarantined(&report, "a copy under another name");
    // Also when the manifest is gone too (no hint which one is the original).
    std::fs::copy(&first, part.join("seg-00000000000000b1.lts")).unwrap();
    std::fs::remove_file(part.join("MANIFEST")).unwrap();
    assert_exactly(
        &read_only(dir.path()),
        0..30,
        "reader, duplicate and no manifest",
    );
    assert_exactly(
        &reopen(dir.path()).1,
        0..30,
        "writer, duplicate and no manifest",
    );
}

#[test]
fn a_missing_segment_is_reported_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    std::fs::remove_file(&segments(&part)[1]).unwrap();
    let err = Reader::open(dir.path(), None)
        .unwrap()
        .view()
        .and_then(|s| s.events(&ScanFilter::default()));
    // A reader either reads what is there or says what is missing; never a silent partial answer
    // that looks whole. (The writer's recovery below reports it.)
    if let Ok(events) = err {
        let seen = group_and_check(&events);
        assert!(seen.keys().all(|k| !(10..20).contains(k)));
    }
    assert_verify_sees(
        dir.path(),
        "named by the MANIFEST but missing: 500 events lost",
    );
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, (0..10).chain(20..30), "writer, segment missing");
    assert!(
        report
            .quarantined
            .iter()
            .any(|(_, why)| why.contains("missing") && why.contains("500 events lost")),
        "{report:?}"
    );
}

#[test]
fn a_directory_or_symlink_loop_in_a_segments_place_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    std::fs::create_dir(part.join("seg-00000000000000c0.lts")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        "seg-00000000000000c1.lts",
        part.join("seg-00000000000000c1.lts"),
    )
    .unwrap();
    assert_exactly(&read_only(dir.path()), 0..30, "reader, directory and loop");
    assert_verify_sees(dir.path(), "not a regular file");
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, directory and loop");
    let odd = report
        .quarantined
        .iter()
        .filter(|(_, why)| why.contains("not a regular file"))
        .count();
    assert_eq!(odd, if cfg!(unix) { 2 } else { 1 }, "{report:?}");
}

#[test]
fn a_truncated_segment_keeps_its_intact_pages() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let seg = segments(&part)[1].clone();
    let bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    assert!(pages.len() >= 4, "{} pages", pages.len());
    // Cut in the middle of the third page: the first two are whole.
    let cut = pages[2] + 40;
    std::fs::write(&seg, &bytes[..cut]).unwrap();
    let expect_at_least = 2 * 64;
    let check = |seen: &BTreeMap<u64, Vec<u64>>, who: &str| {
        assert_middle_kept(seen, expect_at_least..500, who)
    };
    check(&read_only(dir.path()), "reader");
    assert_verify_sees(dir.path(), "not sealed");
    let (report, seen) = reopen(dir.path());
    check(&seen, "writer");
    assert!(!report.quarantined.is_empty(), "{report:?}");
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    // The copy is a proper sealed segment: a second reopen reads the same.
    let (_, again) = reopen(dir.path());
    assert_eq!(again, seen);
}

/// A flipped bit in a page's header or meta: readers lose that page (and say so) until repair,
/// which computes the meta again from the page's columns (they verify against the checksum the
/// footer's directory holds) and loses nothing.
#[test]
fn a_flipped_bit_in_a_page_header_or_meta_is_rebuilt_by_repair() {
    for (what, at) in [("header", 26usize), ("meta", 40usize)] {
        let dir = tempfile::tempdir().unwrap();
        let part = three_segments(dir.path(), 0);
        let seg = segments(&part)[1].clone();
        let mut bytes = std::fs::read(&seg).unwrap();
        let pages = page_offsets(&bytes);
        bytes[pages[2] + at] ^= 0x10;
        std::fs::write(&seg, &bytes).unwrap();
        let check = |seen: &BTreeMap<u64, Vec<u64>>, who: &str| {
            assert_middle_kept(seen, 500 - 64..500, &format!("{what}, {who}"))
        };
        // Opening reads the footer only: the page is found damaged when read, by readers and
        // the writer alike.
        check(&read_only(dir.path()), "reader");
        assert_verify_sees(dir.path(), "checksum");
        let (_, seen) = reopen(dir.path());
        check(&seen, "writer");
        let report = repair(dir.path());
        assert_quarantined(&report, "metas rebuilt from intact columns (no event lost)");
        assert_middle_kept(
            &read_only(dir.path()),
            500..501,
            &format!("{what}, repaired"),
        );
        assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
        // The original, damage and all, is in quarantine.
        assert!(quarantined(&part)
            .iter()
            .any(|q| std::fs::read(q).ok() == Some(bytes.clone())));
    }
}

/// The meta and column lengths of the page at `page` in `bytes` (a segment file), from its header.
fn section_lens(bytes: &[u8], page: usize) -> (usize, usize) {
    let at = |o: usize| u32::from_le_bytes(bytes[page + o..page + o + 4].try_into().unwrap());
    (at(8) as usize, at(16) as usize)
}

/// Flip a bit in the middle of the columns of the page at `page` in `bytes` (a segment file).
fn flip_in_columns(bytes: &mut [u8], page: usize) {
    let (meta_len, cols_len) = section_lens(bytes, page);
    bytes[page + 28 + meta_len + cols_len / 2] ^= 0x04;
}

/// Columns that fail their checksum cannot be read or rebuilt: the page is lost, with a report.
/// So is a page whose meta is damaged in a file whose footer is damaged too (no directory says
/// what its rows and seqs were).
#[test]
fn a_page_without_intact_columns_or_directory_is_lost_and_reported() {
    for (what, footer) in [("columns", false), ("meta and footer", true)] {
        let dir = tempfile::tempdir().unwrap();
        let part = three_segments(dir.path(), 0);
        let seg = segments(&part)[1].clone();
        let mut bytes = std::fs::read(&seg).unwrap();
        let pages = page_offsets(&bytes);
        if footer {
            bytes[pages[2] + 40] ^= 0x10;
            // The footer starts where the last page ends.
            let last = *pages.last().unwrap();
            let (meta_len, cols_len) = section_lens(&bytes, last);
            bytes[last + 28 + meta_len + cols_len + 2] ^= 0x01;
        } else {
            flip_in_columns(&mut bytes, pages[2]);
        }
        std::fs::write(&seg, &bytes).unwrap();
        let report = repair(dir.path());
        assert_quarantined(&report, "not intact");
        assert!(
            report
                .quarantined
                .iter()
                .all(|(_, why)| !why.contains("rebuilt")),
            "{what}: {report:?}"
        );
        assert_middle_kept(&read_only(dir.path()), 500 - 64..500, what);
        assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    }
}

/// `laptime repair` of the store at `root`: its report.
fn repair(root: &Path) -> RecoveryReport {
    let done = Store::maintain(root, options(), Maintenance::Repair).unwrap();
    let Maintained::Repaired(report) = &done[0].1 else {
        panic!("{done:?}")
    };
    (**report).clone()
}

#[test]
fn a_damaged_segment_header_keeps_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let seg = segments(&part)[2].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[20] ^= 0x01; // the partition id
    std::fs::write(&seg, &bytes).unwrap();
    assert_exactly(&read_only(dir.path()), 0..30, "reader, header flipped");
    let (_, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, header flipped");
}

#[test]
fn lost_names_files_are_damage_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    for n in ["names.log", "names.copy.log"] {
        std::fs::remove_file(part.join(n)).unwrap();
    }
    assert_verify_sees(dir.path(), "both names files are missing");
    // Every page carries the names it refers to: readers and recovery name every event again.
    assert_exactly(&read_only(dir.path()), 0..30, "reader, names files lost");
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, names files lost");
    let rebuilt = report.names_rebuilt.as_deref().unwrap_or_default();
    assert!(rebuilt.contains("0 are lost"), "{report:?}");
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    assert_exactly(&read_only(dir.path()), 0..30, "reader after recovery");
}

#[test]
fn names_files_cut_short_in_both_copies_come_back_from_pages() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    // Both copies keep only their file header: every record is cut off.
    for n in ["names.log", "names.copy.log"] {
        let bytes = std::fs::read(part.join(n)).unwrap();
        assert!(bytes.len() > 32);
        std::fs::write(part.join(n), &bytes[..32]).unwrap();
    }
    assert_exactly(&read_only(dir.path()), 0..30, "reader, names cut");
    let (_, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, names cut");
}

#[test]
fn a_flipped_bit_in_page_columns_costs_readers_only_that_page() {
    use laptime_core::query::{self, Aggregate, Precision, Query};
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let seg = segments(&part)[1].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let page = page_offsets(&bytes)[2];
    flip_in_columns(&mut bytes, page);
    std::fs::write(&seg, &bytes).unwrap();

    // The segment still opens (headers and metas are sound); its damaged page is skipped when read.
    let reader = Reader::open(dir.path(), None).unwrap();
    let snap = reader.view().unwrap();
    let events = snap.events(&ScanFilter::default()).unwrap();
    let seen = group_and_check(&events);
    let lost = 1500 - events.len();
    assert!((1..=64).contains(&lost), "{lost} events unreadable");
    for k in (0..10).chain(20..30) {
        assert_eq!(
            seen.get(&k).map(Vec::len),
            Some(PER_BATCH as usize),
            "batch {k}"
        );
    }
    let damaged = snap.damaged_pages();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].file, seg);
    assert_eq!(damaged[0].rows as usize, lost);

    // A query that must decode pages (exact percentiles) says what it skipped.
    let q = Query {
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.5)],
        precision: Precision::Exact,
        ..Query::default()
    };
    let r = query::run(&reader.view().unwrap(), &q).unwrap();
    assert_eq!(r.stats.pages_damaged, 1, "{:?}", r.stats);
    assert_eq!(r.stats.rows_lost as usize, lost);

    // verify names the page; a writer reads around it too.
    assert_verify_sees(dir.path(), "checksum");
    let (_, seen_after) = reopen(dir.path());
    assert_eq!(seen_after, seen);

    // repair checks every page, rewrites the segment without the damaged one (the original goes to
    // quarantine) and says what was lost; afterwards the store verifies clean and reads the same.
    let done = Store::maintain(dir.path(), options(), Maintenance::Repair).unwrap();
    let Maintained::Repaired(report) = &done[0].1 else {
        panic!("{done:?}")
    };
    assert!(
        report
            .quarantined
            .iter()
            .any(|(_, why)| why.contains("intact pages kept") && why.contains("checksum")),
        "{report:?}"
    );
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    let snap = Reader::open(dir.path(), None).unwrap().view().unwrap();
    assert_eq!(
        group_and_check(&snap.events(&ScanFilter::default()).unwrap()),
        seen
    );
    assert!(snap.damaged_pages().is_empty());
    // Repairing a sound store changes nothing.
    let again = Store::maintain(dir.path(), options(), Maintenance::Repair).unwrap();
    let Maintained::Repaired(report) = &again[0].1 else {
        panic!("{again:?}")
    };
    assert!(
        report.quarantined.is_empty() && report.salvaged.is_empty(),
        "{report:?}"
    );
}

#[test]
fn a_segment_whose_only_page_is_damaged_is_set_aside_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let part = one_page_segments(dir.path());
    let seg = segments(&part)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let page = page_offsets(&bytes)[0];
    flip_in_columns(&mut bytes, page);
    std::fs::write(&seg, &bytes).unwrap();
    let found = verify_damage(dir.path());
    assert!(found.iter().all(|d| !d.contains("missing")), "{found:?}");
    assert_verify_sees(dir.path(), "checksum");
    let (_, seen) = reopen(dir.path());
    assert_exactly(&seen, 1..3, "writer, the only page of a segment damaged");
    let report = repair(dir.path());
    assert!(report.removed.is_empty(), "{report:?}");
    assert_quarantined(&report, "0 intact pages kept");
    assert!(quarantined(&part)
        .iter()
        .any(|q| std::fs::read(q).ok() == Some(bytes.clone())));
}

/// Found by the fault campaign: a stale MANIFEST names a segment that a later rewrite replaced
/// (compaction deleted it, or repair moved it to quarantine after copying its intact pages). The
/// other files hold its events, so readers read the files as they are instead of refusing the
/// whole store, and a writer recovers the same.
#[test]
fn a_stale_manifest_naming_a_rewritten_segment_hides_nothing() {
    // Compaction: the inputs are gone, the output holds every event.
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let stale = std::fs::read(part.join("MANIFEST")).unwrap();
    Store::maintain(dir.path(), options(), Maintenance::Compact).unwrap();
    assert!(segments(&part).len() < 3, "{:?}", segments(&part));
    std::fs::write(part.join("MANIFEST"), &stale).unwrap();
    assert_exactly(
        &read_only(dir.path()),
        0..30,
        "reader, manifest older than compaction",
    );
    let (report, seen) = reopen(dir.path());
    assert_exactly(&seen, 0..30, "writer, manifest older than compaction");
    // Its events are all in the compaction's output: nothing was lost, and none is said to be.
    assert!(
        report
            .quarantined
            .iter()
            .all(|(_, why)| !why.contains("lost")),
        "{report:?}"
    );

    // Repair: a page of the middle segment is damaged, the segment is rewritten without it and
    // the original quarantined; then the manifest from before is put back.
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let stale = std::fs::read(part.join("MANIFEST")).unwrap();
    let seg = segments(&part)[1].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let page = page_offsets(&bytes)[2];
    let meta_len = u32::from_le_bytes(bytes[page + 8..page + 12].try_into().unwrap()) as usize;
    bytes[page + 28 + meta_len + 3] ^= 0x04;
    std::fs::write(&seg, &bytes).unwrap();
    Store::maintain(dir.path(), options(), Maintenance::Repair).unwrap();
    assert!(!seg.exists());
    std::fs::write(part.join("MANIFEST"), &stale).unwrap();
    let check =
        |seen: &BTreeMap<u64, Vec<u64>>, who: &str| assert_middle_kept(seen, 500 - 64..500, who);
    check(
        &read_only(dir.path()),
        "reader, manifest older than a repair",
    );
    check(
        &reopen(dir.path()).1,
        "writer, manifest older than a repair",
    );
}

/// Found by the fault campaign (CI of 2026-12-04, seed 0x1a971e10, cycle 70): a segment whose only
/// page was damaged went to quarantine whole (nothing to rewrite), then a MANIFEST from before was
/// put back. It names a file that is gone and no unnamed file hints that it is stale, so every
/// reader, and a writer's reads, refused the whole store for events whose loss had been reported
/// when the file was moved. A named file found in quarantine means the manifest is stale.
#[test]
fn a_stale_manifest_naming_a_quarantined_segment_hides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let part = one_page_segments(dir.path());
    let stale = std::fs::read(part.join("MANIFEST")).unwrap();
    let seg = segments(&part)[1].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let page = page_offsets(&bytes)[0];
    flip_in_columns(&mut bytes, page);
    std::fs::write(&seg, &bytes).unwrap();
    assert_quarantined(&repair(dir.path()), "0 intact pages kept");
    assert!(!seg.exists());
    std::fs::write(part.join("MANIFEST"), &stale).unwrap();

    assert_exactly(
        &read_only(dir.path()),
        [0, 2].into_iter(),
        "reader, manifest naming a quarantined segment",
    );
    assert_verify_sees(dir.path(), "moved it to quarantine/");
    let (report, seen) = reopen(dir.path());
    assert_exactly(
        &seen,
        [0, 2].into_iter(),
        "writer, manifest naming a quarantined segment",
    );
    assert_quarantined(&report, "stale manifest");
    assert!(
        report
            .quarantined
            .iter()
            .all(|(_, why)| !why.contains("lost)")),
        "the loss is not reported a second time: {report:?}"
    );
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());

    // A file of that name in quarantine that is not the named segment (another length) does not
    // make the manifest stale: the segment is missing, and said to be.
    let dir = tempfile::tempdir().unwrap();
    let part = one_page_segments(dir.path());
    let seg = segments(&part)[1].clone();
    std::fs::create_dir_all(part.join("quarantine")).unwrap();
    std::fs::write(
        part.join("quarantine").join(seg.file_name().unwrap()),
        b"not it",
    )
    .unwrap();
    std::fs::remove_file(&seg).unwrap();
    assert_verify_sees(dir.path(), "named by the MANIFEST but missing");
    assert_quarantined(&reopen(dir.path()).0, "events lost)");
}

/// Found by the fault campaign (seed 0x1a971e10, cycle 36): with the MANIFEST gone, `repair` took a
/// sealed segment whose last page was damaged for the segment a writer goes on writing (a torn
/// tail), cut the page off and reported neither the file nor its lost events. A sealed file that
/// fails its checks is damage, not a torn tail: its intact pages are rewritten and the loss named.
#[test]
fn without_a_manifest_a_damaged_last_page_of_a_sealed_segment_is_reported_by_repair() {
    let dir = tempfile::tempdir().unwrap();
    let part = three_segments(dir.path(), 0);
    let seg = segments(&part).last().unwrap().clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    let page = *pages.last().unwrap();
    let meta_len = u32::from_le_bytes(bytes[page + 8..page + 12].try_into().unwrap()) as usize;
    let cols_len = u32::from_le_bytes(bytes[page + 16..page + 20].try_into().unwrap()) as usize;
    bytes[page + 28 + meta_len + cols_len / 2] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    std::fs::remove_file(part.join("MANIFEST")).unwrap();

    let done = Store::maintain(dir.path(), options(), Maintenance::Repair).unwrap();
    let Maintained::Repaired(report) = &done[0].1 else {
        panic!("{done:?}")
    };
    let named = |p: &PathBuf| p.file_name() == seg.file_name();
    assert!(
        report.quarantined.iter().any(|(p, _)| named(p))
            || report.salvaged.iter().any(|(p, _)| named(p)),
        "the damaged sealed segment is reported: {report:?}"
    );
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());
    let seen = read_only(dir.path());
    // Every batch but the ones of the damaged page is still there.
    let complete = (0..30u64)
        .filter(|k| seen.get(k).map(Vec::len) == Some(PER_BATCH as usize))
        .count();
    assert!(complete >= 28, "{complete} of 30 batches complete");
}

/// A partition whose own files are not segments yet (a new writer: names, manifest, no sealed
/// segment) must not take on the identity of a foreign segment planted in it: the fault campaign
/// found that it did, wrote on as the other partition, and a second foreign file then made every
/// segment it had written look foreign (493,350 acknowledged events set aside).
#[test]
fn a_partition_without_segments_keeps_its_identity_next_to_a_foreign_one() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    Store::open(a.path(), options()).unwrap().close().unwrap();
    let part_a = partitions(a.path())[0].clone();
    assert!(segments(&part_a).is_empty(), "{:?}", segments(&part_a));
    let part_b = three_segments(b.path(), 100);
    let part_c = three_segments(c.path(), 200);
    std::fs::copy(
        &segments(&part_b)[0],
        part_a.join("seg-00000000000000a0.lts"),
    )
    .unwrap();
    assert!(read_only(a.path()).is_empty(), "a foreign event was read");
    write_cycle(a.path(), 0, 10);
    assert_exactly(
        &read_only(a.path()),
        0..10,
        "reader, after a foreign segment",
    );
    assert!(
        quarantined(&part_a).len() == 1,
        "the foreign segment is set aside: {:?}",
        quarantined(&part_a)
    );
    // A second foreign file, from a third partition, must not make A's own segment look foreign.
    std::fs::copy(
        &segments(&part_c)[0],
        part_a.join("seg-00000000000000f0.lts"),
    )
    .unwrap();
    assert_exactly(
        &read_only(a.path()),
        0..10,
        "reader, second foreign segment",
    );
    let (report, seen) = reopen(a.path());
    assert_exactly(&seen, 0..10, "writer, second foreign segment");
    assert_quarantined(&report, "written by partition");
}

/// A partition directory renamed (all its files name another partition) is not taken for that
/// partition: its segments are set aside and reported, never read under a name that may already
/// be in use in the store, and nothing is deleted.
#[test]
fn a_renamed_partition_directory_is_set_aside_not_adopted() {
    let a = tempfile::tempdir().unwrap();
    let part = three_segments(a.path(), 0);
    let renamed = part.with_file_name("00000000000000aa");
    std::fs::rename(&part, &renamed).unwrap();
    let seen = read_only(a.path());
    assert!(
        seen.is_empty(),
        "events read under another identity: {seen:?}"
    );
    let (report, seen) = reopen(a.path());
    assert!(seen.is_empty(), "{seen:?}");
    assert_quarantined(&report, "written by partition");
    assert_eq!(quarantined(&renamed).len(), 3, "{report:?}");
}

/// A page meta rebuilt by repair is the meta the writer made, indexes included: the same names,
/// counts, sketches, listed values, value filter and message index, so queries skip and answer
/// from it as before the damage.
#[test]
fn a_rebuilt_page_meta_equals_the_one_written_indexes_included() {
    use laptime_core::filter;
    use laptime_core::query::{self, Aggregate, GroupBy, Query};
    let dir = tempfile::tempdir().unwrap();
    six_pages_with_fields(dir.path());
    let metas = |root: &Path| -> Vec<laptime_core::PageMeta> {
        let reader = Reader::open(root, None).unwrap();
        let view = reader.view().unwrap();
        view.pages(&ScanFilter::default())
            .iter()
            .map(|p| view.page_meta_with_sketches(p).unwrap().as_ref().clone())
            .collect()
    };
    let written = metas(dir.path());
    assert_eq!(written.len(), 6);
    let part = partitions(dir.path())[0].clone();
    let seg = segments(&part)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    // Deep in page 3's meta: its value index or message index.
    let (meta_len, _) = section_lens(&bytes, pages[3]);
    bytes[pages[3] + 28 + meta_len - 20] ^= 0x08;
    std::fs::write(&seg, &bytes).unwrap();
    let report = repair(dir.path());
    assert_quarantined(&report, "metas rebuilt from intact columns (no event lost)");
    assert_eq!(metas(dir.path()), written);
    assert_eq!(verify_damage(dir.path()), Vec::<String>::new());

    let reader = Reader::open(dir.path(), None).unwrap();
    let run = |text: &str| {
        let q = Query {
            filter: filter::parse(text).unwrap(),
            group_by: vec![GroupBy::Name],
            aggregates: vec![Aggregate::Count],
            ..Query::default()
        };
        query::run(&reader.view().unwrap(), &q).unwrap().stats
    };
    let s = run("request:req-1777");
    assert_eq!((s.rows_matched, s.pages_decoded), (1, 1), "{s:?}");
    let s = run(r#"message~"retry 1770 after""#);
    assert_eq!((s.rows_matched, s.pages_decoded), (1, 1), "{s:?}");
    let s = run("tenant:initech");
    assert_eq!(s.rows_matched, 1_000, "{s:?}");

    // The rebuilt meta names the page's names as the written one did: with both names files
    // gone, a reader still names every event from the pages' metas, `S.page3` (which only the
    // rebuilt page uses) included.
    let part = partitions(dir.path())[0].clone();
    for file in ["names.log", "names.copy.log"] {
        std::fs::remove_file(part.join(file)).unwrap();
    }
    let events = Reader::open(dir.path(), None)
        .unwrap()
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    assert_eq!(events.len(), 3_000);
    for e in &events {
        let i = (e.start_ns - 1_700_000_000_000_000_000) / 1_000;
        let want = match (i % 10, i / 500, i % 7) {
            (0, _, _) => "S.f0".to_string(),
            (_, 3, 6) => "S.page3".to_string(),
            (_, _, f) => format!("S.f{f}"),
        };
        assert_eq!(e.name, want, "event {i}");
    }
}

/// One segment of six pages of 500 events: calls of 7 functions and a log every tenth event
/// ("retry <i> after timeout"), each with a `tenant` (one of three, two pages each) and a
/// distinct `request` id. On page 3 the seventh function is `S.page3`, a name no other page has.
fn six_pages_with_fields(root: &Path) {
    use laptime_core::{Batch, Level, Value};
    let opts = Options {
        page_rows: 500,
        ..Options::default()
    };
    let store = Store::open(root, opts).unwrap();
    let names: Vec<u32> = (0..7)
        .map(|i| store.intern(&format!("S.f{i}")).unwrap())
        .collect();
    let page3 = store.intern("S.page3").unwrap();
    let tenant = store.intern("tenant").unwrap();
    let request = store.intern("request").unwrap();
    for page in 0..6u64 {
        let mut b = Batch::default();
        for i in page * 500..(page + 1) * 500 {
            let start = 1_700_000_000_000_000_000 + i * 1_000;
            let row = if i % 10 == 0 {
                b.push_log(
                    names[0],
                    start,
                    Level::Warn,
                    &format!("retry {i} after timeout"),
                )
            } else {
                let name = match (page, i % 7) {
                    (3, 6) => page3,
                    (_, f) => names[f as usize],
                };
                b.push_call(name, start, 1_000 + i * 37 % 5_000, i % 13 != 0)
            };
            let t = ["acme", "globex", "initech"][(page % 3) as usize];
            b.add_field_at(row, tenant, Value::Str(t.into())).unwrap();
            b.add_field_at(row, request, Value::Str(format!("req-{i}")))
                .unwrap();
        }
        store.append(b);
    }
    store.close().unwrap();
}

/// A page whose meta is damaged cannot say what its index rules out: a filtered query keeps it
/// for the workers, which count it damaged with its rows, instead of skipping it quietly; the
/// other pages are still ruled out by their indexes (segment summaries cannot: a request id is
/// not listed, and filters do not merge).
#[test]
fn a_filtered_query_counts_a_page_whose_meta_is_damaged() {
    use laptime_core::filter;
    use laptime_core::query::{self, Aggregate, Query};
    let dir = tempfile::tempdir().unwrap();
    six_pages_with_fields(dir.path());
    let part = partitions(dir.path())[0].clone();
    let seg = segments(&part)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let pages = page_offsets(&bytes);
    bytes[pages[3] + 40] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let reader = Reader::open(dir.path(), None).unwrap();
    // (filter, rows matched, pages the indexes ruled out): req-1777 was on the damaged page.
    for (text, matched, ruled_out) in [
        ("request:req-1777", 0, 5),
        ("request:req-1", 1, 4),
        (r#"message~"retry 270 after""#, 1, 4),
    ] {
        let q = Query {
            filter: filter::parse(text).unwrap(),
            aggregates: vec![Aggregate::Count],
            ..Query::default()
        };
        let s = query::run(&reader.view().unwrap(), &q).unwrap().stats;
        assert_eq!((s.pages_damaged, s.rows_lost), (1, 500), "{text}: {s:?}");
        assert_eq!(s.rows_matched, matched, "{text}: {s:?}");
        assert_eq!(
            (s.pages_skipped, s.pages_skipped_by_index),
            (ruled_out, ruled_out),
            "{text}: {s:?}"
        );
    }
}

/// WAL files of the partition of `store`.
fn wal_files(store: &Store) -> Vec<PathBuf> {
    let part = store.recovery_report().partition.clone();
    let mut files: Vec<PathBuf> = std::fs::read_dir(part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .collect();
    files.sort();
    files
}

/// A WAL file lasts `wal_file_bytes`, not a page: with the default (16 MiB) a writer sealing
/// page after page keeps writing one file; with 0 it starts one at every page and removes each
/// once the pages holding its events are synced, so no more than two are ever left. Every event
/// is stored either way, and a clean close leaves no WAL.
#[test]
fn wal_files_rotate_by_size_and_go_once_their_pages_are_synced() {
    for (wal_file_bytes, most_files) in [(Options::default().wal_file_bytes, 1), (0, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            sync: laptime_core::SyncPolicy::Always,
            page_rows: 2 * PER_BATCH as usize,
            wal_file_bytes,
            ..Options::default()
        };
        let store = Store::open(dir.path(), opts.clone()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..40 {
            store.append(make_batch(&store, k));
            store.flush().unwrap();
            let files = wal_files(&store);
            assert!(
                files.len() <= most_files,
                "wal_file_bytes {wal_file_bytes}: {files:?}"
            );
            seen.extend(files);
        }
        // 20 pages sealed: one file all along, or a new one at every page.
        let expected = if wal_file_bytes == 0 { 20..=21 } else { 1..=1 };
        assert!(
            expected.contains(&seen.len()),
            "wal_file_bytes {wal_file_bytes}: {} files in all",
            seen.len()
        );
        let by_batch = stored_batches(&store);
        assert_whole(&by_batch);
        assert_eq!(by_batch.len(), 40);
        let part = store.recovery_report().partition.clone();
        store.close().unwrap();
        assert!(
            std::fs::read_dir(&part).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal-")),
            "a clean close leaves no WAL"
        );
        let store = Store::open(dir.path(), opts).unwrap();
        assert_eq!(stored_batches(&store).len(), 40);
        store.close().unwrap();
    }
}

/// The WAL stays within the disk budget: with `retention.max_bytes` set, a WAL file lasts at most
/// a sixteenth of it (here 2 MiB budget: 128 KiB files), whatever `wal_file_bytes` says.
#[test]
fn a_wal_file_lasts_at_most_a_sixteenth_of_the_disk_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 2u64 << 20;
    let opts = Options {
        page_rows: 4 * PER_BATCH as usize,
        retention: laptime_core::Retention {
            max_age: None,
            max_bytes: Some(budget),
        },
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut largest = 0;
    for k in 0..2_000 {
        store.append(make_batch(&store, k));
        if k % 50 == 49 {
            store.flush().unwrap();
            for f in wal_files(&store) {
                largest = largest.max(std::fs::metadata(&f).map_or(0, |m| m.len()));
                seen.insert(f);
            }
        }
    }
    // A file is closed at the first page sealed after it reached the size: one page more at most.
    assert!(seen.len() > 1, "{seen:?}");
    assert!(
        largest < budget / 16 + (64 << 10),
        "a WAL file of {largest} bytes"
    );
    store.close().unwrap();
}
