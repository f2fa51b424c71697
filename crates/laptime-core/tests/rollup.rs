//! Segment value rollups (issue 15): a filter on a few-valued key is answered from the sealed
//! segments' rollups with the same rows as from their pages, and stays so through compaction, a
//! damaged rollup and a crash in the middle of a segment (whose rollup is then rebuilt from its
//! pages when it seals).

mod common;

use std::path::Path;
use std::time::Duration;

use common::spawn_child;
use laptime_core::filter;
use laptime_core::query::{self, Aggregate, GroupBy, Precision, Query, QueryResult};
use laptime_core::verify::verify;
use laptime_core::{Batch, Level, Maintenance, Options, ScanFilter, Store, Value, View};

const NAMES: [&str; 12] = [
    "Api.get",
    "Api.put",
    "Db.query",
    "Db.exec",
    "Cache.get",
    "Cache.set",
    "Auth.check",
    "Auth.login",
    "Queue.push",
    "Queue.pop",
    "Mail.send",
    "Pdf.render",
];
const ROUTES: [&str; 7] = ["/a", "/b", "/c", "/orders/:id", "/search", "/x y", "/ünï"];
const TIERS: [&str; 3] = ["free", "pro", "enterprise"];
const CHILD_ENV: &str = "LAPTIME_ROLLUP_CHILD_DIR";

fn options() -> Options {
    Options {
        page_rows: 400,
        ..Options::default()
    }
}

/// For the child that crashes: pages sealed soon after their events come.
fn crash_options() -> Options {
    Options {
        page_max_age: Duration::from_millis(5),
        ..options()
    }
}

/// Events `from..to` of a deterministic stream: names, routes and tiers drawn from a small LCG,
/// users many-valued, a few logs.
fn write(store: &Store, from: u64, to: u64) {
    let mut b = Batch::default();
    for i in from..to {
        let r = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 20;
        let name = store.intern(NAMES[(r % 12) as usize]).expect("intern");
        let start = 1_700_000_000_000_000_000 + i * 1_000_000;
        if r % 29 == 0 {
            b.push_log(name, start, Level::Warn, "slow");
        } else {
            b.push_call(name, start, 1_000 + (r >> 8) % 5_000_000, r % 31 != 0);
        }
        if r % 3 != 0 {
            let route = store.intern("route").expect("intern");
            b.add_field(route, Value::Str(ROUTES[((r >> 4) % 7) as usize].into()));
        }
        if r % 5 != 0 {
            let tier = store.intern("tier").expect("intern");
            b.add_field(tier, Value::Str(TIERS[((r >> 12) % 3) as usize].into()));
        }
        let user = store.intern("user").expect("intern");
        b.add_field(user, Value::Str(format!("u{}", (r >> 16) % 5_000)));
        if b.len() == 1_000 {
            store.append(std::mem::take(&mut b));
        }
    }
    store.append(b);
    store.flush().expect("flush");
}

/// Filters a rollup can answer (or help with), and one it cannot.
const FILTERS: [&str; 9] = [
    "route:/orders/:id",
    "kind:call route:/search",
    "route!=/a",
    "route:in(/b,/ünï)",
    // After the `in`: the bufferpool holds /b's meta as read and, apart, as this equality plans.
    "route:/b",
    "route:\"/x y\" status:error",
    "tier:pro route:/c",
    "route:/a name:Db.*",
    "route:/nowhere",
];

fn queries() -> Vec<Query> {
    let mut out = Vec::new();
    for text in FILTERS {
        for (group_by, precision) in [
            (vec![GroupBy::Name], Precision::Auto),
            (vec![GroupBy::Name], Precision::Exact),
            (vec![GroupBy::Field("route".into())], Precision::Auto),
            (vec![GroupBy::Field("tier".into())], Precision::Auto),
            (vec![GroupBy::Time(3_600_000_000_000)], Precision::Auto),
            (vec![], Precision::Auto),
        ] {
            out.push(Query {
                filter: filter::parse(text).expect("parse"),
                group_by,
                aggregates: vec![
                    Aggregate::Count,
                    Aggregate::Errors,
                    Aggregate::Logs,
                    Aggregate::Sum,
                    Aggregate::Min,
                    Aggregate::Max,
                    Aggregate::Percentile(0.5),
                    Aggregate::Percentile(0.99),
                ],
                precision,
                ..Query::default()
            });
        }
    }
    out
}

/// Every query's rows with the view's indexes and rollups equal those without, the first time
/// and again (from what the bufferpool kept of the rollups); returns the pages answered from an
/// index (rollups included) over all queries.
fn same_answers(store: &Store) -> u64 {
    let view = store.view().expect("view");
    let plain = store.view().expect("view").without_indexes();
    let mut from_index = 0;
    for q in queries() {
        let with: QueryResult = query::run(&view, &q).expect("query");
        let again: QueryResult = query::run(&view, &q).expect("query");
        let without = query::run(&plain, &q).expect("query");
        assert_eq!(
            format!("{:?}", with.rows),
            format!("{:?}", without.rows),
            "{q:?}"
        );
        assert_eq!(
            format!("{:?}", again.rows),
            format!("{:?}", without.rows),
            "again: {q:?}"
        );
        assert!(with.stats.pages_decoded <= without.stats.pages_decoded);
        from_index += with.stats.pages_from_index;
    }
    from_index
}

/// `route = /orders/:id`, count and p99 by name: the bench's query shape. Returns its stats.
fn route_by_name(view: &View) -> laptime_core::query::QueryStats {
    let q = Query {
        filter: filter::parse("kind:call route:/orders/:id").expect("parse"),
        group_by: vec![GroupBy::Name],
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
        ..Query::default()
    };
    query::run(view, &q).expect("query").stats
}

/// The route query over `view` decodes no page: every page is answered from a rollup.
fn assert_answered_from_rollups(view: &View, what: &str) {
    let s = route_by_name(view);
    assert_eq!(
        (s.pages_decoded, s.pages_from_index),
        (0, s.pages_total),
        "{what}: {s:?}"
    );
}

/// Where the meta of `value` lies in the rollup `region` (offset from its start, length).
fn value_meta(region: &[u8], value: &str) -> (usize, usize) {
    fn varint(region: &[u8], pos: &mut usize) -> usize {
        let mut v = 0usize;
        let mut shift = 0;
        loop {
            let b = region[*pos];
            *pos += 1;
            v |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                return v;
            }
        }
    }
    let mut pos = 4;
    let _version = varint(region, &mut pos);
    let mut metas = Vec::new();
    for _ in 0..varint(region, &mut pos) {
        let _key = varint(region, &mut pos);
        for _ in 0..varint(region, &mut pos) {
            let len = varint(region, &mut pos);
            let text = String::from_utf8(region[pos..pos + len].to_vec()).expect("utf-8");
            pos += len;
            let meta_len = varint(region, &mut pos);
            pos += 4;
            metas.push((text, meta_len));
        }
    }
    let mut at = pos;
    for (text, len) in metas {
        if text == value {
            return (at, len);
        }
        at += len;
    }
    panic!("{value} is not rolled up");
}

/// Segment files of the store's one partition.
fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("partitions"))
        .expect("partitions")
        .flat_map(|p| std::fs::read_dir(p.expect("entry").path()).expect("partition"))
        .map(|f| f.expect("file").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seg-"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn sealed_segments_answer_from_their_rollups_with_the_pages_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three sealed segments, then events in the active one.
    for part in 0..3 {
        let store = Store::open(dir.path(), options()).expect("open");
        write(&store, part * 20_000, (part + 1) * 20_000);
        store.close().expect("close");
    }
    let store = Store::open(dir.path(), options()).expect("open");
    write(&store, 60_000, 66_000);
    let view = store.view().expect("view");
    assert!(same_answers(&store) > 0);
    let s = route_by_name(&view);
    // The three sealed segments come from their rollups; the active one's pages are decoded.
    let sealed: u64 = 3 * 20_000u64.div_ceil(400);
    assert_eq!(s.pages_from_index, sealed, "{s:?}");
    assert!(s.pages_decoded > 0 && s.pages_decoded < 20, "{s:?}");

    // Compaction merges the three (and their rollups, built again from the merged pages).
    store.close().expect("close");
    let store = Store::open(dir.path(), options()).expect("open");
    let report = store.compact().expect("compact");
    assert!(report.outputs >= 1, "{report:?}");
    let view = store.view().expect("view");
    same_answers(&store);
    let s = route_by_name(&view);
    assert_eq!(s.pages_decoded, 0, "every segment sealed: {s:?}");
    assert_eq!(s.pages_from_index, s.pages_total, "{s:?}");
    store.close().expect("close");
}

/// A byte of a segment's rollup damaged: its directory, or the meta of the route asked for.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Directory,
    AskedValue,
}

#[test]
fn a_damaged_rollup_leaves_its_segment_to_its_pages_and_repair_rebuilds_it() {
    for damage in [Damage::Directory, Damage::AskedValue] {
        let dir = tempfile::tempdir().expect("tempdir");
        for part in 0..2 {
            let store = Store::open(dir.path(), options()).expect("open");
            write(&store, part * 20_000, (part + 1) * 20_000);
            store.close().expect("close");
        }
        let files = segments(dir.path());
        assert_eq!(files.len(), 2);
        let mut bytes = std::fs::read(&files[0]).expect("read");
        assert_eq!(&bytes[bytes.len() - 8..], b"LTSGEND3");
        // The rollup region runs from the pages' end to the footer (layout in
        // `segment::rollup`).
        let region = bytes
            .windows(4)
            .rposition(|w| w == b"LTRU")
            .expect("a rollup region");
        let at = match damage {
            Damage::Directory => region + 6,
            Damage::AskedValue => {
                let (offset, len) = value_meta(&bytes[region..], "/orders/:id");
                region + offset + len / 2
            }
        };
        bytes[at] ^= 0x10;
        std::fs::write(&files[0], &bytes).expect("write");

        let store = Store::open(dir.path(), options()).expect("open");
        same_answers(&store);
        let view = store.view().expect("view");
        let pages: Vec<u64> = view
            .segments(&ScanFilter::default())
            .iter()
            .map(|seg| seg.page_count() as u64)
            .collect();
        let s = route_by_name(&view);
        // The damaged segment's pages answer (none of them is damaged); the other's rollup does.
        assert_eq!(s.pages_decoded, pages[0], "{damage:?}: {s:?}");
        assert_eq!(s.pages_from_index, pages[1], "{damage:?}: {s:?}");
        assert_eq!(s.pages_damaged, 0, "{damage:?}: {s:?}");
        store.close().expect("close");

        // `verify` names the file; `repair` writes the segment again, its rollup built anew from
        // its sound pages, and everything is answered from rollups again.
        let report = verify(dir.path(), |_, _| {}).expect("verify");
        let damaged: Vec<_> = report.damaged().map(|f| f.path.clone()).collect();
        assert_eq!(damaged, [files[0].clone()], "{damage:?}: {report:?}");
        Store::maintain(dir.path(), options(), Maintenance::Repair).expect("repair");
        let report = verify(dir.path(), |_, _| {}).expect("verify");
        assert_eq!(report.damaged().count(), 0, "{damage:?}: {report:?}");
        let store = Store::open(dir.path(), options()).expect("open");
        same_answers(&store);
        let view = store.view().expect("view");
        assert_eq!(
            view.events(&ScanFilter::default()).expect("events").len(),
            40_000
        );
        assert_answered_from_rollups(&view, &format!("{damage:?}"));
        store.close().expect("close");
    }
}

/// The child: writes 12,000 events, waits until their pages are sealed into the active segment,
/// and dies without closing.
#[test]
fn rollup_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir), crash_options()).expect("child open");
    write(&store, 0, 12_000);
    while store.counters().sealed < 12_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::abort();
}

#[test]
fn a_segment_resumed_after_a_crash_seals_with_a_rollup_of_every_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = spawn_child(
        "rollup_crash_child",
        &[(CHILD_ENV, dir.path().to_string_lossy().into_owned())],
    )
    .wait_with_output()
    .expect("child");
    assert!(
        !out.status.success(),
        "the child must abort: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Recovery resumes the active segment; the writer adds pages and seals it at close.
    let store = Store::open(dir.path(), options()).expect("open");
    assert_eq!(
        store
            .view()
            .expect("view")
            .events(&Default::default())
            .expect("events")
            .len(),
        12_000
    );
    write(&store, 12_000, 20_000);
    store.close().expect("close");
    let store = Store::open(dir.path(), options()).expect("open");
    let view = store.view().expect("view");
    same_answers(&store);
    assert_answered_from_rollups(&view, "resumed segment");
    store.close().expect("close");
}
