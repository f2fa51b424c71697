//! Exact percentiles of a query on one view, in passes instead of keeping every duration:
//!
//! 1. The query in sketch precision: page sketches (merged from page meta where whole pages match)
//!    count exactly how many durations of each group fall in each bucket, so each wanted rank is
//!    known to lie in one bucket at a known position (`ranks.rs`).
//! 2. The query in exact precision, its durations offered to those searches: only the durations in
//!    the wanted buckets are kept (at most [`KEEP_BUDGET`] for the whole query), the others are
//!    counted and dropped. Its counts, sums and stats are the answer's, as before.
//! 3. Only when a bucket held more than the budget allows: more passes, each narrowing it by up
//!    to 4,096 times, until every rank is found.
//!
//! The answer equals selecting the nearest ranks among all durations (DuckDB's `quantile_disc`),
//! with memory bounded by the budget and the groups instead of 8 bytes per duration. Partial
//! results (`partial.rs`) still carry every duration: their byte format does.

use laptime_storage::sketch::nearest_rank;
use laptime_storage::{Error, Result, View};

use super::execute::{aggregate_with, RankSearches, RawGroups};
use super::ranks::{assign_tallies, RankFinder};
use super::{Aggregate, Precision, Query, QueryStats};

/// Most durations kept at once by a query's pass (32 MiB of `u64`), like the bufferpool a fixed
/// budget whatever the store's size. R1's 100M events keep about 2M in their one pass.
pub(super) const KEEP_BUDGET: u64 = 1 << 22;

/// Every group's key and accumulator, percentiles found exactly; see the module documentation.
pub(super) fn aggregate(view: &View, query: &Query) -> Result<(RawGroups, QueryStats)> {
    aggregate_in_budget(view, query, KEEP_BUDGET)
}

pub(super) fn aggregate_in_budget(
    view: &View,
    query: &Query,
    budget: u64,
) -> Result<(RawGroups, QueryStats)> {
    let qs: Vec<f64> = query
        .aggregates
        .iter()
        .filter_map(|a| match a {
            Aggregate::Percentile(q) => Some(*q),
            _ => None,
        })
        .collect();
    let sketched = Query {
        precision: Precision::Auto,
        ..query.clone()
    };
    let (counted, _) = aggregate_with(view, &sketched, None)?;
    let mut searches: RankSearches = counted
        .into_iter()
        .filter_map(|(key, acc)| {
            let sum = acc.sketch?;
            let sketch = sum.to_sketch();
            let ranks: Vec<u64> = qs
                .iter()
                .filter_map(|&q| nearest_rank(q, sketch.count()))
                .collect();
            Some((key, RankFinder::new(&sketch, &ranks)))
        })
        .collect();
    assign_tallies(searches.values_mut(), budget);

    let (mut groups, stats) = aggregate_with(view, query, Some(&searches))?;
    if stats.pages_damaged > 0 {
        // Damaged pages are found only when decoded, so the counts of step 1 included rows that
        // step 2 could not read: keep every duration instead, as before this module.
        return aggregate_with(view, query, None);
    }
    loop {
        let mut more = RankSearches::new();
        for (key, acc) in &mut groups {
            if let Some(f) = &mut acc.ranks {
                f.resolve()?;
                if f.searching() {
                    more.insert(key.clone(), f.empty_copy());
                }
            }
        }
        if more.is_empty() {
            break;
        }
        assign_tallies(more.values_mut(), budget);
        let (next, _) = aggregate_with(view, query, Some(&more))?;
        let mut next: RankSearches = next
            .into_iter()
            .filter_map(|(key, acc)| Some((key, acc.ranks?)))
            .collect();
        for (key, acc) in &mut groups {
            if more.contains_key(key) {
                acc.ranks = next.remove(key);
            }
        }
    }
    for (_, acc) in &groups {
        let answered = acc.ranks.as_ref().is_some_and(|f| f.answers_for(acc.calls));
        if acc.calls > 0 && !answered {
            return Err(Error::InvalidInput {
                what: "exact percentiles",
                reason: "the passes over the view saw different calls".into(),
            });
        }
    }
    Ok((groups, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::execute::KeyPart;
    use crate::query::{AggValue, GroupBy};
    use laptime_storage::{Batch, Code, Level, Options, Store, Value};
    use std::collections::BTreeMap;

    /// The next state of a xorshift generator: test data without a dependency.
    fn xorshift(x: &mut u64) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
    }

    /// Calls of a few functions, small and large, with ties, logs and a time-bounded filter that
    /// cuts pages, in a store of small pages: every exact percentile equals the sorted durations' nearest
    /// rank, whatever the budget (0: every rank found by narrowing bins over several passes).
    #[test]
    fn equals_sorting_at_every_budget() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            page_rows: 500,
            ..Options::default()
        };
        let store = Store::open(dir.path(), opts).unwrap();
        let names: Vec<_> = ["big", "tied", "small", "huge"]
            .iter()
            .map(|n| store.intern(n).unwrap())
            .collect();
        let mut all: BTreeMap<(usize, bool), Vec<u64>> = BTreeMap::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut batch = Batch::with_capacity(1024);
        let cut = 10_000u64 * 1_000_000;
        for i in 0..20_000u64 {
            xorshift(&mut x);
            let (name, d) = match i % 10 {
                0..=5 => (0, 1_000 + x % 5_000_000),
                6 | 7 => (1, [7_000, 7_000, 7_001, 12_345_678][(x % 4) as usize]),
                8 if i % 1000 == 8 => (2, x % 100),
                8 => (1, 7_000),
                _ => (3, u64::MAX - x % 1_000),
            };
            let start = i * 1_000_000;
            batch.push_call(names[name], start, d, !x.is_multiple_of(7));
            all.entry((name, start >= cut)).or_default().push(d);
            // Logs, which no percentile counts: of duration 0 (their pages are read from the
            // stored duration column alone), but in the first pages some of "tied" with a
            // duration inside a searched bucket (those pages take the row path).
            if i % 13 == 0 {
                let d = if i % 26 == 0 && name == 1 && i < 2_000 {
                    7_000
                } else {
                    0
                };
                batch.push(names[name], start + 1, d, Code::Log(Level::Info));
            }
            if batch.len() == 1024 {
                store.append(std::mem::take(&mut batch));
            }
        }
        store.append(batch);
        store.flush().unwrap();
        let view = store.view().unwrap();
        let qs = [0.01, 0.5, 0.9, 0.99, 0.999, 1.0];
        for (filter, newer_only) in [("kind:call", false), ("kind:call since:10000ms", true)] {
            let query = Query {
                filter: filter.parse().unwrap(),
                now_ns: 20_000 * 1_000_000,
                group_by: vec![GroupBy::Name],
                aggregates: qs.iter().map(|&q| Aggregate::Percentile(q)).collect(),
                precision: Precision::Exact,
                threads: 2,
                ..Query::default()
            };
            for budget in [0, 50, 5_000, KEEP_BUDGET] {
                let (groups, _) = aggregate_in_budget(&view, &query, budget).unwrap();
                assert_eq!(groups.len(), 4, "{filter}");
                for (key, mut acc) in groups {
                    let KeyPart::Str(name) = &key[0] else {
                        panic!("{key:?}")
                    };
                    let id = ["big", "tied", "small", "huge"]
                        .iter()
                        .position(|n| **n == **name)
                        .unwrap();
                    let mut want: Vec<u64> = all
                        .iter()
                        .filter(|((n, newer), _)| *n == id && (*newer || !newer_only))
                        .flat_map(|(_, v)| v.iter().copied())
                        .collect();
                    want.sort_unstable();
                    let got = acc.finish(&query.aggregates, None);
                    for (q, v) in qs.iter().zip(got) {
                        let r = nearest_rank(*q, want.len() as u64).unwrap();
                        assert_eq!(
                            v,
                            crate::query::AggValue::Nanos(want[r as usize - 1]),
                            "{name} p{q} {filter} budget {budget}"
                        );
                    }
                }
            }
        }
        store.close().unwrap();
    }

    /// Grouped by a field the value index lists (a few routes on most calls), alone and with a
    /// time bucket, with and without the indexes: every exact percentile equals the sorted
    /// durations' nearest rank at every budget. With the indexes, a page's counts come from its
    /// value index and only the durations in a searched range find their row's route
    /// (`ByValueAndRanks`); without them every row is attributed. A name filter takes the row
    /// path either way (the index counts every name's events); logs are zeros except, in the
    /// first pages, a few inside a searched range (those pages take the row path too).
    #[test]
    fn grouped_by_a_listed_field_equals_sorting_at_every_budget() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            page_rows: 700,
            ..Options::default()
        };
        let store = Store::open(dir.path(), opts).unwrap();
        let names: Vec<_> = ["api.get", "api.put", "db.query"]
            .iter()
            .map(|n| store.intern(n).unwrap())
            .collect();
        let route = store.intern("route").unwrap();
        let routes = ["/a", "/b", "/c/:id"];
        // (name, route or none, start) of every call, with its duration.
        let mut calls: Vec<(usize, Option<usize>, u64, u64)> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut batch = Batch::with_capacity(1024);
        for i in 0..30_000u64 {
            xorshift(&mut x);
            let name = (x % 3) as usize;
            // Routes differ in speed, so their searched ranges differ too.
            let r = (x >> 8) % 5;
            let d = match r {
                0 => 1_000 + (x >> 20) % 50_000,
                1 => 2_000_000 + (x >> 20) % 3_000_000,
                2 => [7_000, 7_000, 7_001, 90_000][((x >> 20) % 4) as usize],
                _ => 1 + (x >> 20) % 400_000_000,
            };
            let start = i * 1_000_000;
            batch.push_call(names[name], start, d, !(x >> 40).is_multiple_of(9));
            let with_route = (r < 3).then_some(r as usize);
            if let Some(r) = with_route {
                batch.add_field(route, Value::Str(routes[r].to_owned()));
            }
            calls.push((name, with_route, start, d));
            if i % 17 == 0 {
                // A log of the same name and route; a few early ones carry a duration inside
                // a searched range of route /b.
                let d = if i < 3_000 && i % 34 == 0 {
                    2_500_000
                } else {
                    0
                };
                batch.push(names[name], start + 1, d, Code::Log(Level::Warn));
                if let Some(r) = with_route {
                    batch.add_field(route, Value::Str(routes[r].to_owned()));
                }
            }
            if batch.len() >= 1000 {
                store.append(std::mem::take(&mut batch));
            }
        }
        store.append(batch);
        store.flush().unwrap();
        let view = store.view().unwrap();
        let plain = store.view().unwrap().without_indexes();
        let qs = [0.01, 0.5, 0.9, 0.99, 1.0];
        let hour = 3_600_000_000_000u64;
        let second = 1_000_000_000u64;
        let cases = [
            ("kind:call", vec![GroupBy::Field("route".into())], 0),
            ("", vec![GroupBy::Field("route".into())], 0),
            ("name:api.*", vec![GroupBy::Field("route".into())], 0),
            (
                "kind:call",
                vec![GroupBy::Time(hour), GroupBy::Field("route".into())],
                hour,
            ),
            (
                "kind:call",
                vec![GroupBy::Field("route".into()), GroupBy::Time(second)],
                second,
            ),
        ];
        for (i, (filter, group_by, bucket)) in cases.into_iter().enumerate() {
            // Every other query shows the durations' totals too (they come from the index's
            // sketches, decoded only for them).
            let mut aggregates: Vec<Aggregate> =
                qs.iter().map(|&q| Aggregate::Percentile(q)).collect();
            if i % 2 == 1 {
                aggregates.extend([Aggregate::Min, Aggregate::Max, Aggregate::Sum]);
            }
            let query = Query {
                filter: filter.parse().unwrap(),
                now_ns: 40_000 * 1_000_000,
                group_by: group_by.clone(),
                aggregates,
                precision: Precision::Exact,
                threads: 2,
                ..Query::default()
            };
            let mut want: BTreeMap<(Option<usize>, u64), Vec<u64>> = BTreeMap::new();
            for &(name, r, start, d) in &calls {
                if filter == "name:api.*" && name == 2 {
                    continue;
                }
                let t = if bucket == 0 {
                    0
                } else {
                    start - start % bucket
                };
                want.entry((r, t)).or_default().push(d);
            }
            for v in want.values_mut() {
                v.sort_unstable();
            }
            for (which, v) in [("indexes", &view), ("no indexes", &plain)] {
                for budget in [0, 50, 5_000, KEEP_BUDGET] {
                    let (groups, _) = aggregate_in_budget(v, &query, budget).unwrap();
                    assert_eq!(groups.len(), want.len(), "{filter} {group_by:?} {which}");
                    for (key, mut acc) in groups {
                        let mut r = None;
                        let mut t = 0;
                        for part in &key {
                            match part {
                                KeyPart::Str(s) => {
                                    r = routes.iter().position(|x| **x == **s);
                                }
                                KeyPart::Time(at) => t = *at,
                                _ => {}
                            }
                        }
                        let durations = &want[&(r, t)];
                        let got = acc.finish(&query.aggregates, None);
                        for (q, v) in qs.iter().zip(&got) {
                            let rank = nearest_rank(*q, durations.len() as u64).unwrap();
                            assert_eq!(
                                *v,
                                AggValue::Nanos(durations[rank as usize - 1]),
                                "{key:?} p{q} {filter} {which} budget {budget}"
                            );
                        }
                        if i % 2 == 1 {
                            let sum: u64 = durations.iter().sum();
                            let totals = [
                                AggValue::Nanos(durations[0]),
                                AggValue::Nanos(durations[durations.len() - 1]),
                                AggValue::Sum(u128::from(sum)),
                            ];
                            assert_eq!(got[qs.len()..], totals, "{key:?} {filter} {which}");
                        }
                    }
                }
            }
        }
        store.close().unwrap();
    }
}
