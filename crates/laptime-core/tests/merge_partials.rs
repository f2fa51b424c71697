//! Partial query results (`laptime_core::query::Partial`) merged across stores give the answer of
//! one store holding every event.
//!
//! A random dataset (names, durations, statuses, logs, fields, start times) is split at random
//! over 1 to 8 real stores; random queries (grouped by name, field or time bucket, filtered) run
//! as partials on each, travel as bytes, are merged in a random order and finished. The answer is
//! compared with the same query on one store holding all the events: group keys, order, counts,
//! sums, min/max, means, error rates and percentiles exactly (sketch merges are lossless, see
//! `query/partial.rs`), `stddev` to floating-point rounding, and approximate percentiles within
//! the sketch's 1% of the exact ones. The byte form is checked against truncation, bit flips,
//! other versions and edited bodies with valid checksums.

mod common;

use std::collections::HashMap;

use laptime_core::filter::{CmpOp, Filter, Glob, Kind, Status, Term, TimeBound};
use laptime_core::query::{
    AggValue, Aggregate, GroupBy, OrderBy, OrderKey, Partial, Precision, Query, QueryResult,
    PARTIAL_MAGIC, PARTIAL_VERSION,
};
use laptime_core::sketch::RELATIVE_ACCURACY;
use laptime_core::{Batch, Error, Level, Options, Queries, Store, SyncPolicy, Value, View};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tempfile::TempDir;

const NAMES: [&str; 4] = ["A.run", "A.stop", "B.get", "C.put"];
const ROUTES: [&str; 3] = ["/a", "/b", "/c d"];
const BASE: u64 = 1_700_000_000_000_000_000;
/// The queries' "now" (for `since:` relative bounds).
const NOW: u64 = BASE + 10_000_000_000;

#[derive(Debug, Clone)]
struct GenEvent {
    name: usize,
    start: u64,
    /// 0 ok call, 1 error call, 2 log.
    code: u8,
    duration: u64,
    route: Option<usize>,
    tier: Option<i64>,
    /// Which store gets it (modulo the number of stores).
    shard: usize,
}

#[derive(Debug, Clone)]
struct Case {
    stores: usize,
    page_rows: usize,
    /// Events per handed-over batch.
    batch: usize,
    events: Vec<GenEvent>,
}

fn duration_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        3 => 1..300u64,
        4 => 1_000..20_000_000u64,
        1 => (1u64 << 50)..(1u64 << 50) + 5_000,
    ]
}

fn event_strategy() -> impl Strategy<Value = GenEvent> {
    (
        0..NAMES.len(),
        prop_oneof![
            3 => 0..20_000_000_000u64,
            1 => 0..100u64,
        ],
        prop_oneof![6 => 0..2u8, 1 => Just(2u8)],
        duration_strategy(),
        prop::option::of(0..ROUTES.len()),
        prop::option::weighted(0.4, -1..3i64),
        0..8usize,
    )
        .prop_map(|(name, off, code, duration, route, tier, shard)| GenEvent {
            name,
            start: BASE + off,
            code,
            duration: if code == 2 { 0 } else { duration },
            route,
            tier,
            shard,
        })
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1..=8usize,
        16..64usize,
        1..40usize,
        prop::collection::vec(event_strategy(), 0..400),
    )
        .prop_map(|(stores, page_rows, batch, events)| Case {
            stores,
            page_rows,
            batch,
            events,
        })
}

fn options(page_rows: usize) -> Options {
    Options {
        page_rows,
        sync: SyncPolicy::None,
        ..Options::default()
    }
}

/// A store (kept open, so its snapshot's files stay in place) with the given events.
struct Built {
    snapshot: View,
    _store: Store,
    _dir: TempDir,
}

fn build<'a>(events: impl Iterator<Item = &'a GenEvent>, case: &Case) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(case.page_rows)).expect("open");
    let names: Vec<u32> = NAMES
        .iter()
        .map(|n| store.intern(n).expect("intern"))
        .collect();
    let route = store.intern("route").expect("intern");
    let tier = store.intern("tier").expect("intern");
    let mut batch = Batch::default();
    let handed = |store: &Store, batch: &mut Batch| {
        if !batch.is_empty() {
            let push = store.append(std::mem::take(batch));
            assert_eq!(push, laptime_core::Push::Accepted, "batch dropped");
        }
    };
    for e in events {
        let row = match e.code {
            2 => batch.push_log(names[e.name], e.start, Level::Info, "m"),
            c => batch.push_call(names[e.name], e.start, e.duration, c == 0),
        };
        if let Some(r) = e.route {
            batch
                .add_field_at(row, route, Value::Str(ROUTES[r].into()))
                .expect("field");
        }
        if let Some(t) = e.tier {
            batch.add_field_at(row, tier, Value::I64(t)).expect("field");
        }
        if batch.len() >= case.batch {
            handed(&store, &mut batch);
        }
    }
    handed(&store, &mut batch);
    store.flush().expect("flush");
    assert_eq!(store.counters().dropped, 0);
    let snapshot = store.view().expect("snapshot");
    Built {
        snapshot,
        _store: store,
        _dir: dir,
    }
}

#[derive(Debug, Clone)]
struct GenQuery {
    filter: Vec<Term>,
    group_by: Vec<GroupBy>,
    aggregates: Vec<Aggregate>,
    order: Option<(usize, bool)>,
    limit: Option<usize>,
}

fn term_strategy() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        prop::sample::select(vec!["A.*", "B.get", "*t*"]).prop_map(|g| Term::Name(Glob::new(g))),
        prop::sample::select(vec![Kind::Call, Kind::Log]).prop_map(Term::Kind),
        prop::sample::select(vec![Status::Ok, Status::Error]).prop_map(Term::Status),
        (
            prop::sample::select(vec![CmpOp::Gt, CmpOp::Le]),
            prop::sample::select(vec![100u64, 1_000_000])
        )
            .prop_map(|(op, ns)| Term::Duration(op, ns)),
        prop::sample::select(ROUTES.to_vec()).prop_map(|r| Term::Field {
            key: "route".into(),
            op: CmpOp::Eq,
            value: r.into(),
        }),
        Just(Term::Field {
            key: "tier".into(),
            op: CmpOp::Ge,
            value: "1".into(),
        }),
        Just(Term::Has("tier".into())),
        (0..20_000_000_000u64).prop_map(|o| Term::Since(TimeBound::EpochNs(BASE + o))),
        (0..20_000_000_000u64).prop_map(|o| Term::Until(TimeBound::EpochNs(BASE + o))),
        (0..10_000_000_000u64).prop_map(|ago| Term::Since(TimeBound::AgoNs(ago))),
    ];
    prop_oneof![
        4 => leaf.clone(),
        1 => leaf.prop_map(|t| Term::Not(Box::new(t))),
    ]
}

fn group_strategy() -> impl Strategy<Value = GroupBy> {
    prop_oneof![
        2 => Just(GroupBy::Name),
        1 => Just(GroupBy::Field("route".into())),
        1 => Just(GroupBy::Field("tier".into())),
        2 => prop::sample::select(vec![1_000u64, 1 << 30, 3_000_000_000, 60_000_000_000])
            .prop_map(GroupBy::Time),
    ]
}

fn all_aggregates() -> Vec<Aggregate> {
    common::every_aggregate()
}

fn query_strategy() -> impl Strategy<Value = GenQuery> {
    (
        prop::collection::vec(term_strategy(), 0..3),
        prop::collection::vec(group_strategy(), 0..=2),
        prop::sample::subsequence(all_aggregates(), 1..=16),
        prop::option::of((0..16usize, any::<bool>())),
        prop::option::weighted(0.3, 0..5usize),
    )
        .prop_map(|(filter, group_by, aggregates, order, limit)| GenQuery {
            filter,
            group_by,
            aggregates,
            order,
            limit,
        })
}

impl GenQuery {
    fn to_query(&self, precision: Precision) -> Query {
        // Order by any value but stddev: its last bits depend on the merge order, so two groups
        // with equal deviations could swap places.
        let order_by = self.order.and_then(|(i, descending)| {
            let i = i % self.aggregates.len();
            (self.aggregates[i] != Aggregate::Stddev).then_some(OrderBy {
                key: OrderKey::Aggregate(i),
                descending,
            })
        });
        Query {
            filter: Filter {
                terms: self.filter.clone(),
            },
            now_ns: NOW,
            group_by: self.group_by.clone(),
            aggregates: self.aggregates.clone(),
            order_by,
            limit: self.limit,
            precision,
            threads: 1,
        }
    }
}

/// Exactly equal, but for stddev (rounding of the Welford merge).
fn same_answer(single: &QueryResult, merged: &QueryResult, q: &Query) -> Result<(), String> {
    if single.key_labels != merged.key_labels || single.value_labels != merged.value_labels {
        return Err("labels differ".into());
    }
    if single.rows.len() != merged.rows.len() {
        return Err(format!(
            "{} rows vs {} merged",
            single.rows.len(),
            merged.rows.len()
        ));
    }
    if single.span != merged.span {
        return Err(format!(
            "span {:?} vs merged {:?}",
            single.span, merged.span
        ));
    }
    for (i, (a, b)) in single.rows.iter().zip(&merged.rows).enumerate() {
        if a.key != b.key {
            return Err(format!("row {i}: key {:?} vs merged {:?}", a.key, b.key));
        }
        for ((agg, x), y) in q.aggregates.iter().zip(&a.values).zip(&b.values) {
            let ok = match (agg, x, y) {
                (Aggregate::Stddev, AggValue::Float(x), AggValue::Float(y)) => {
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) + 1e-6
                }
                _ => x == y,
            };
            if !ok {
                return Err(format!(
                    "row {i} {:?}, {}: {x:?} vs merged {y:?}",
                    a.key,
                    agg.label()
                ));
            }
        }
    }
    if single.stats.rows_matched != merged.stats.rows_matched
        || single.stats.exact_percentiles != merged.stats.exact_percentiles
    {
        return Err(format!(
            "stats differ: {:?} vs merged {:?}",
            single.stats, merged.stats
        ));
    }
    Ok(())
}

/// Approximate percentiles within the sketch's relative error of the exact ones.
fn within_sketch_bound(exact: &QueryResult, approx: &QueryResult, q: &Query) -> Result<(), String> {
    let by_key: HashMap<String, &Vec<AggValue>> = exact
        .rows
        .iter()
        .map(|r| (format!("{:?}", r.key), &r.values))
        .collect();
    for row in &approx.rows {
        let want = by_key
            .get(&format!("{:?}", row.key))
            .ok_or_else(|| format!("group {:?} has no exact counterpart", row.key))?;
        for ((agg, got), want) in q.aggregates.iter().zip(&row.values).zip(want.iter()) {
            if let (Aggregate::Percentile(_), AggValue::Nanos(g), AggValue::Nanos(w)) =
                (agg, got, want)
            {
                let err = (*g as f64 - *w as f64).abs();
                if err > RELATIVE_ACCURACY * *w as f64 {
                    return Err(format!(
                        "{:?} {}: {g} is more than 1% from the exact {w}",
                        row.key,
                        agg.label()
                    ));
                }
            } else if matches!(agg, Aggregate::Percentile(_)) && got != want {
                return Err(format!(
                    "{:?} {}: {got:?} vs {want:?}",
                    row.key,
                    agg.label()
                ));
            }
        }
    }
    Ok(())
}

/// Partials of every shard through their byte form, merged in the order `perm` gives.
fn merged_partial(shards: &[Built], q: &Query, perm: &[usize]) -> Result<Partial, String> {
    let mut bytes = Vec::new();
    for s in shards {
        let p = s.snapshot.query_partial(q).map_err(|e| e.to_string())?;
        let b = p.to_bytes();
        let back = Partial::from_bytes(&b).map_err(|e| e.to_string())?;
        if back.to_bytes() != b {
            return Err("bytes do not survive a decode and re-encode".into());
        }
        bytes.push(b);
    }
    let parts: Vec<Partial> = perm
        .iter()
        .map(|&i| Partial::from_bytes(&bytes[i % bytes.len()]).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Partial::merge_all(parts).map_err(|e| e.to_string())
}

fn check_case(
    case: &Case,
    queries: &[GenQuery],
    perm_a: &[usize],
    perm_b: &[usize],
) -> Result<(), String> {
    // Built side by side: most of a build is waiting for the writer thread.
    let (single, shards) = std::thread::scope(|scope| {
        let single = scope.spawn(|| build(case.events.iter(), case));
        let shards: Vec<_> = (0..case.stores)
            .map(|s| {
                scope.spawn(move || {
                    build(
                        case.events.iter().filter(|e| e.shard % case.stores == s),
                        case,
                    )
                })
            })
            .collect();
        let join = |h: std::thread::ScopedJoinHandle<'_, Built>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        (
            join(single),
            shards.into_iter().map(join).collect::<Vec<_>>(),
        )
    });
    // Every shard exactly once, in two different orders.
    let order = |perm: &[usize]| -> Vec<usize> {
        let mut o: Vec<usize> = (0..case.stores).collect();
        for (i, &p) in perm.iter().enumerate().take(case.stores) {
            o.swap(i, p % case.stores);
        }
        o
    };
    let (oa, ob) = (order(perm_a), order(perm_b));
    for gq in queries {
        let exact_all = Query {
            order_by: None,
            limit: None,
            ..gq.to_query(Precision::Exact)
        };
        let exact_ref = single
            .snapshot
            .query(&exact_all)
            .map_err(|e| e.to_string())?;
        for precision in [Precision::Auto, Precision::Exact] {
            let q = gq.to_query(precision);
            let ctx = |e: String| format!("{e}\nquery: {q:?}\norder {oa:?}");
            let want = single.snapshot.query(&q).map_err(|e| e.to_string())?;
            let a = merged_partial(&shards, &q, &oa).map_err(ctx)?;
            let b = merged_partial(&shards, &q, &ob).map_err(ctx)?;
            if a.groups() != b.groups() {
                return Err(ctx("merge orders disagree on the groups".into()));
            }
            if !q.aggregates.contains(&Aggregate::Stddev) && a.to_bytes() != b.to_bytes() {
                return Err(ctx("merge orders give different bytes".into()));
            }
            let got = a.finish(&q).map_err(|e| ctx(e.to_string()))?;
            same_answer(&want, &got, &q).map_err(ctx)?;
            if precision == Precision::Auto {
                within_sketch_bound(&exact_ref, &got, &q).map_err(ctx)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any split over 1-8 stores, merged in any order: the single store's answer.
    #[test]
    fn merged_partials_equal_the_single_store(
        case in case_strategy(),
        queries in prop::collection::vec(query_strategy(), 3..6),
        perm_a in prop::collection::vec(0..8usize, 8),
        perm_b in prop::collection::vec(0..8usize, 8),
    ) {
        check_case(&case, &queries, &perm_a, &perm_b).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The byte form
// ---------------------------------------------------------------------------------------------

/// A partial holding every kind of state: stddev, a sketch, field and time keys.
fn sample(precision: Precision) -> (Built, Query, Vec<u8>) {
    let case = Case {
        stores: 1,
        page_rows: 16,
        batch: 7,
        events: (0..120u64)
            .map(|i| GenEvent {
                name: (i % 4) as usize,
                start: BASE + i * 1_000_003,
                code: (i % 7 % 3) as u8,
                duration: if i % 7 % 3 == 2 { 0 } else { 1 + i * i * 37 },
                route: (i % 5 < 3).then_some((i % 3) as usize),
                tier: (i % 2 == 0).then_some((i % 4) as i64 - 1),
                shard: 0,
            })
            .collect(),
    };
    let built = build(case.events.iter(), &case);
    let q = Query {
        filter: "-status:error".parse().expect("filter"),
        now_ns: NOW,
        group_by: vec![
            GroupBy::Name,
            GroupBy::Field("route".into()),
            GroupBy::Time(1 << 26),
        ],
        aggregates: all_aggregates(),
        precision,
        ..Query::default()
    };
    let bytes = built
        .snapshot
        .query_partial(&q)
        .expect("partial")
        .to_bytes();
    (built, q, bytes)
}

fn bad_partial(input: &[u8]) -> (u64, String) {
    match Partial::from_bytes(input) {
        Err(Error::Malformed {
            what: "partial query result",
            offset,
            reason,
        }) => (offset, reason),
        other => panic!("expected a malformed partial, got {other:?}"),
    }
}

#[test]
fn bytes_round_trip_and_finish_like_the_query() {
    for precision in [Precision::Auto, Precision::Exact] {
        let (built, q, bytes) = sample(precision);
        assert_eq!(bytes[..4], PARTIAL_MAGIC);
        assert_eq!(bytes[4], PARTIAL_VERSION);
        let p = Partial::from_bytes(&bytes).expect("decode");
        assert!(p.groups() > 10, "{} groups", p.groups());
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(p.query().expect("query").filter, q.filter);
        let want = built.snapshot.query(&q).expect("query");
        let got = p.finish(&q).expect("finish");
        same_answer(&want, &got, &q).unwrap();
    }
}

/// Pages answered from their meta contribute their sketches to a partial (not just decoded
/// rows), and those merge like the rest.
#[test]
fn page_sketches_merge_across_stores() {
    let case = Case {
        stores: 3,
        page_rows: 16,
        batch: 50,
        events: (0..600u64)
            .map(|i| GenEvent {
                name: (i % 3) as usize,
                start: BASE + i * 1_000,
                code: u8::from(i % 11 == 0),
                duration: 1_000 + (i * 7_919) % 100_000,
                route: None,
                tier: None,
                shard: (i / 17 % 3) as usize,
            })
            .collect(),
    };
    let single = build(case.events.iter(), &case);
    let q = Query {
        now_ns: NOW,
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::ErrorRate,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.99),
        ],
        ..Query::default()
    };
    let parts: Vec<Partial> = (0..3)
        .map(|s| {
            let shard = build(case.events.iter().filter(|e| e.shard == s), &case);
            let p = shard.snapshot.query_partial(&q).expect("partial");
            Partial::from_bytes(&p.to_bytes()).expect("decode")
        })
        .collect();
    let merged = Partial::merge_all(parts).expect("merge");
    assert!(merged.stats().pages_from_meta >= 20, "{:?}", merged.stats());
    let want = single.snapshot.query(&q).expect("query");
    assert!(want.stats.pages_from_meta > 0, "{:?}", want.stats);
    let got = merged.finish(&q).expect("finish");
    same_answer(&want, &got, &q).unwrap();
    assert_eq!(got.rows.len(), 3);
}

#[test]
fn truncated_flipped_or_extended_bytes_are_refused() {
    let (_built, _q, bytes) = sample(Precision::Auto);
    for n in 0..bytes.len() {
        let (offset, reason) = bad_partial(&bytes[..n]);
        assert!(reason.contains("truncated"), "{n}: {reason} at {offset}");
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            bad_partial(&b);
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let (offset, reason) = bad_partial(&longer);
    assert_eq!(offset as usize, bytes.len());
    assert!(reason.contains("after the end"), "{reason}");
}

#[test]
fn other_magic_and_versions_are_named() {
    let (_built, _q, bytes) = sample(Precision::Exact);
    let mut b = bytes.clone();
    b[4] = PARTIAL_VERSION + 1;
    let (offset, reason) = bad_partial(&b);
    assert_eq!(offset, 4);
    assert!(
        reason.contains(&format!("version {} is not supported", PARTIAL_VERSION + 1)),
        "{reason}"
    );
    let mut b = bytes.clone();
    b[..4].copy_from_slice(b"LTQX");
    let (offset, reason) = bad_partial(&b);
    assert_eq!(offset, 0);
    assert!(reason.contains("magic"), "{reason}");
    let last = bytes.len() - 1;
    let mut b = bytes;
    b[last] ^= 0x10;
    let (_, reason) = bad_partial(&b);
    assert!(reason.contains("checksum"), "{reason}");
}

/// Partials of format versions 1 (before calls, logs, rate and the span) and 2 (before the index
/// counts of the stats) are still read, and answer as the same query does now.
#[test]
fn version_1_partials_are_still_read() {
    let (built, _, _) = sample(Precision::Auto);
    let q = Query {
        now_ns: NOW,
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.5)],
        ..Query::default()
    };
    let v3 = built
        .snapshot
        .query_partial(&q)
        .expect("partial")
        .to_bytes();
    assert_eq!(v3[4], 3);
    // Body: filter "" (1 byte), now_ns, precision, dims 0, aggregate count, count's tag,
    // percentile's tag and q (1 + 8 bytes), 8 stats varints, 2 index counts (version 3), span.
    let varint_end = |at: usize| at + v3[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    let mut at = varint_end(9 + 1);
    at += 1 + 1 + 1 + 1 + 1 + 8;
    for _ in 0..8 {
        at = varint_end(at);
    }
    // Version 2: the same without the index counts.
    let mut v2 = v3.clone();
    v2.drain(at..varint_end(varint_end(at)));
    v2[4] = 2;
    let v2 = reseal(v2);
    assert_eq!(
        Partial::from_bytes(&v2)
            .expect("a version 2 partial is read")
            .stats(),
        Partial::from_bytes(&v3).expect("partial").stats(),
        "this query skips nothing by an index: the counts are 0 either way"
    );
    assert_eq!(v2[at], 0, "no span without rate");
    // A span where no rate is asked for, and an unknown span flag, are refused by name.
    let mut spanned = v2.clone();
    spanned.splice(at..=at, [1, 5, 7]);
    let (_, reason) = bad_partial(&reseal(spanned));
    assert!(
        reason.contains("a span, but the query asks for no rate"),
        "{reason}"
    );
    let mut flagged = v2.clone();
    flagged[at] = 2;
    let (offset, reason) = bad_partial(&reseal(flagged));
    assert_eq!(offset as usize, at);
    assert!(reason.contains("unknown span flag 2"), "{reason}");
    let mut v1 = v2.clone();
    v1.remove(at);
    v1[4] = 1;
    let v1 = reseal(v1);
    let old = Partial::from_bytes(&v1).expect("a version 1 partial is read");
    let new = Partial::from_bytes(&v2).expect("partial");
    assert_eq!(old.stats(), new.stats());
    let want = built.snapshot.query(&q).expect("query");
    assert_eq!(old.finish(&q).expect("finish").rows, want.rows);
    // Tags that version 1 did not have are refused in it.
    let with_rate = Query {
        aggregates: vec![Aggregate::Rate],
        ..q.clone()
    };
    let v2_rate = built
        .snapshot
        .query_partial(&with_rate)
        .expect("partial")
        .to_bytes();
    let mut v1_rate = v2_rate.clone();
    v1_rate[4] = 1;
    let (_, reason) = bad_partial(&reseal(v1_rate));
    assert!(reason.contains("unknown aggregate kind 11"), "{reason}");
}

/// Set the length and checksum of edited bytes, so decoding reaches the body.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() < 13 {
        return b;
    }
    let body = (b.len() - 13) as u32;
    b[5..9].copy_from_slice(&body.to_le_bytes());
    let end = b.len() - 4;
    let crc = crc32c::crc32c(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn filters_must_be_in_their_printed_form() {
    let (built, q, _) = sample(Precision::Auto);
    let q = Query {
        filter: "route:/a".parse().expect("filter"),
        ..q
    };
    let bytes = built
        .snapshot
        .query_partial(&q)
        .expect("partial")
        .to_bytes();
    let at = bytes
        .windows(8)
        .position(|w| w == b"route:/a")
        .expect("filter text");
    // The same filter spelled otherwise: two partials of one query would not compare equal.
    let mut b = bytes.clone();
    b[at + 5] = b'=';
    assert_eq!(
        "route=/a".parse::<Filter>().expect("parses"),
        q.filter,
        "the test needs another spelling of the same filter"
    );
    let (offset, reason) = bad_partial(&reseal(b.clone()));
    assert_eq!(offset as usize, at - 1);
    assert!(reason.contains("canonical"), "{reason}");
    b[at + 5] = b'(';
    let (_, reason) = bad_partial(&reseal(b));
    assert!(reason.contains("does not parse"), "{reason}");
    assert!(Partial::from_bytes(&bytes).is_ok());
}

#[test]
fn partials_of_other_queries_do_not_merge_or_finish() {
    let (built, q, bytes) = sample(Precision::Auto);
    let p = || Partial::from_bytes(&bytes).expect("decode");
    let others = [
        Query {
            filter: "status:error".parse().expect("filter"),
            ..q.clone()
        },
        Query {
            now_ns: NOW + 1,
            ..q.clone()
        },
        Query {
            group_by: vec![GroupBy::Name],
            ..q.clone()
        },
        Query {
            aggregates: vec![Aggregate::Count],
            ..q.clone()
        },
        Query {
            precision: Precision::Exact,
            ..q.clone()
        },
    ];
    for other in &others {
        let theirs = built.snapshot.query_partial(other).expect("partial");
        let mut mine = p();
        let err = mine.merge(theirs).expect_err("merged another query");
        assert!(
            matches!(&err, Error::InvalidInput { reason, .. } if reason.contains("another query")),
            "{err}"
        );
        assert_eq!(
            mine.to_bytes(),
            bytes,
            "a refused merge changed the partial"
        );
        let err = p().finish(other).expect_err("finished as another query");
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    }
    // Order and limit are the finisher's choice.
    let sorted = Query {
        order_by: Some(OrderBy {
            key: OrderKey::Aggregate(0),
            descending: true,
        }),
        limit: Some(3),
        ..q.clone()
    };
    assert_eq!(p().finish(&sorted).expect("finish").rows.len(), 3);
    assert!(Partial::merge_all(Vec::new()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Edited bodies with a valid length and checksum: refused with an error, or accepted as a
    /// partial that encodes back to the same bytes and merges and finishes without panicking.
    #[test]
    fn edited_bodies_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
        exact in any::<bool>(),
    ) {
        let (_built, _q, bytes) = SAMPLES.with(|s| s[usize::from(exact)].clone());
        let mut b = bytes;
        for (at, byte, how) in edits {
            let i = 9 + at.index(b.len() - 13);
            match how {
                0 => b[i] = byte,
                1 => { b.remove(i); }
                _ => b.insert(i, byte),
            }
        }
        let b = reseal(b);
        if let Ok(p) = Partial::from_bytes(&b) {
            // Overlong varints may decode, so the bytes need not be the same; their encoding
            // must read back as itself.
            let again = p.to_bytes();
            let back = Partial::from_bytes(&again).expect("re-encoded bytes decode");
            prop_assert_eq!(back.to_bytes(), again);
            let mut twice = p.clone();
            twice.merge(p.clone()).expect("merge with itself");
            if let Ok(q) = p.query() {
                let _ = twice.finish(&q).expect("finish");
            }
        }
    }
}

thread_local! {
    /// Sample bytes per precision (auto, exact), built once per test thread.
    static SAMPLES: [(std::sync::Arc<Built>, Query, Vec<u8>); 2] = [
        { let (b, q, x) = sample(Precision::Auto); (std::sync::Arc::new(b), q, x) },
        { let (b, q, x) = sample(Precision::Exact); (std::sync::Arc::new(b), q, x) },
    ];
}

/// A partial's bytes do not depend on which columns earlier reads left decoded in the
/// bufferpool: without a duration aggregate, sum, min and max stay 0 (found by the proptest once
/// `rate` made the engine list events, decoding every column, between two partials).
#[test]
fn partial_bytes_do_not_depend_on_cached_columns() {
    let (built, _, _) = sample(Precision::Auto);
    // A view of its own, so its bufferpool starts empty.
    let view = View::open_read_only(built._dir.path()).expect("view");
    // A field filter makes the engine decode pages; counts alone need no duration column.
    let counts = Query {
        filter: "has:route".parse().expect("filter"),
        now_ns: NOW,
        group_by: vec![GroupBy::Name],
        aggregates: vec![Aggregate::Calls, Aggregate::ErrorRate],
        ..Query::default()
    };
    let before = view.query_partial(&counts).expect("partial").to_bytes();
    // Lists every event: decodes (and caches) every column of the pages.
    let listed = laptime_core::query::events(
        &view,
        &laptime_core::query::EventsRequest {
            now_ns: NOW,
            limit: 1_000,
            ..Default::default()
        },
    )
    .expect("events");
    assert_eq!(listed.events.len(), 120);
    let after = view.query_partial(&counts).expect("partial").to_bytes();
    assert_eq!(before, after);
}
