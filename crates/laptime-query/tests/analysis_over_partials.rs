//! Histogram, anomalies and compare over merged partials (what a fleet's coordinator does) give
//! exactly what one store holding every event gives.

use laptime_query::analysis::{AnomalyOptions, CompareOptions, Verdict};
use laptime_query::query::{
    anomalies, anomalies_from_partial, anomalies_from_result, compare, compare_from_partials,
    histogram, histogram_from_partial, AnomaliesRequest, CompareRequest, HistogramRequest, Partial,
    Precision, Query, TimeRange,
};
use laptime_query::Queries;
use laptime_storage::{Level, Options, Store, View};

const T0: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const BUCKETS: u64 = 20;
/// The bucket where `Db.query` is slow (anomaly).
const SPIKE: u64 = 8;
/// From this bucket on `Api.put` is slower (regression between the halves).
const REGRESSION: u64 = 10;
const NOW: u64 = T0 + 100 * SECOND;

/// A small deterministic generator (xorshift64*), so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Kind {
    Call { duration: u64, ok: bool },
    Log,
}

struct Event {
    name: &'static str,
    start: u64,
    kind: Kind,
}

/// Calls of four functions over 20 one-second buckets (a spike of `Db.query` in one bucket,
/// `Api.put` slower in the second half, 3% failures) and log lines of a logger that never calls.
fn events() -> Vec<Event> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for bucket in 0..BUCKETS {
        for i in 0..400u64 {
            let start = T0 + bucket * SECOND + i * (SECOND / 400) + rng.below(1_000);
            let (name, median) = match rng.below(4) {
                0 => ("Api.get", 20_000),
                1 => ("Api.put", 150_000),
                2 => ("Db.query", 900_000),
                _ => ("Cache.hit", 800),
            };
            let mut duration = median / 2 + rng.below(median);
            if name == "Db.query" && bucket == SPIKE {
                duration *= 8;
            }
            if name == "Api.put" && bucket >= REGRESSION {
                duration = duration * 3 / 2;
            }
            let ok = rng.below(100) >= 3;
            out.push(Event {
                name,
                start,
                kind: Kind::Call { duration, ok },
            });
            if rng.below(10) == 0 {
                out.push(Event {
                    name: "Audit",
                    start: start + 1,
                    kind: Kind::Log,
                });
            }
        }
    }
    out
}

struct Fleet {
    _dirs: Vec<tempfile::TempDir>,
    stores: Vec<Store>,
    all: Store,
}

fn open(dirs: &mut Vec<tempfile::TempDir>) -> Store {
    let dir = tempfile::tempdir().unwrap();
    // Small pages: range bounds cut through pages, so some are decoded and some answered from
    // their sketches.
    let options = Options {
        page_rows: 256,
        ..Options::default()
    };
    let store = Store::open(dir.path(), options).unwrap();
    dirs.push(dir);
    store
}

fn record(store: &Store, events: &[&Event]) {
    let mut rec = store.recorder();
    for e in events {
        let id = store.intern(e.name).unwrap();
        match e.kind {
            Kind::Call { duration, ok } => rec.call(id, e.start, duration, ok),
            Kind::Log => rec.log(id, e.start, Level::Info, "audit entry"),
        }
    }
    rec.submit();
    store.flush().unwrap();
}

/// Three stores of different sizes (about 60%, 30%, 10% of the calls; every log line in the
/// third, `Cache.hit` never in the second), and one store with everything.
fn fleet() -> Fleet {
    let events = events();
    let mut rng = Rng(7);
    let mut shards: Vec<Vec<&Event>> = vec![Vec::new(); 3];
    for e in &events {
        let shard = match e.kind {
            Kind::Log => 2,
            Kind::Call { .. } => match rng.below(10) {
                0..=5 => 0,
                6..=8 if e.name != "Cache.hit" => 1,
                6..=8 => 0,
                _ => 2,
            },
        };
        shards[shard].push(e);
    }
    let mut dirs = Vec::new();
    let stores: Vec<Store> = shards
        .iter()
        .map(|shard| {
            let s = open(&mut dirs);
            record(&s, shard);
            s
        })
        .collect();
    let all = open(&mut dirs);
    record(&all, &events.iter().collect::<Vec<_>>());
    Fleet {
        _dirs: dirs,
        stores,
        all,
    }
}

impl Fleet {
    fn close(self) {
        for store in self.stores.into_iter().chain([self.all]) {
            store.close().unwrap();
        }
    }
}

fn views(fleet: &Fleet) -> Vec<View> {
    fleet.stores.iter().map(|s| s.view().unwrap()).collect()
}

/// Each store's partial of `query`, through the wire form, merged.
fn merged(views: &[View], query: &Query) -> Partial {
    let partials = views.iter().map(|v| {
        let bytes = v.query_partial(query).unwrap().to_bytes();
        Partial::from_bytes(&bytes).unwrap()
    });
    Partial::merge_all(partials).unwrap()
}

fn hist_request(filter: &str, bins: usize) -> HistogramRequest {
    HistogramRequest {
        filter: filter.parse().unwrap(),
        now_ns: NOW,
        bins,
    }
}

fn anomalies_request() -> AnomaliesRequest {
    AnomaliesRequest {
        filter: "".parse().unwrap(),
        now_ns: NOW,
        bucket_ns: SECOND,
        options: AnomalyOptions::default(),
    }
}

fn compare_request(precision: Precision) -> CompareRequest {
    CompareRequest {
        filter: "-name:Audit".parse().unwrap(),
        now_ns: NOW,
        baseline: TimeRange {
            since_ns: T0,
            until_ns: T0 + REGRESSION * SECOND,
        },
        candidate: TimeRange {
            since_ns: T0 + REGRESSION * SECOND,
            until_ns: T0 + BUCKETS * SECOND,
        },
        options: CompareOptions::default(),
        precision,
    }
}

#[test]
fn histogram_over_merged_partials_equals_one_store() {
    let fleet = fleet();
    let views = views(&fleet);
    let all = fleet.all.view().unwrap();
    for (filter, bins) in [
        ("", 1),
        ("", 7),
        ("", 50),
        ("", 1000),
        ("name:Api.*", 20),
        ("status:error", 10),
        ("name:Audit", 5),
    ] {
        let req = hist_request(filter, bins);
        let one = histogram(&all, &req).unwrap();
        let many = histogram_from_partial(&req, merged(&views, &req.query().unwrap())).unwrap();
        assert_eq!(many.calls, one.calls, "{filter:?} {bins}");
        assert_eq!(many.bins, one.bins, "{filter:?} {bins}");
        assert_eq!(many.stats.rows_matched, one.stats.rows_matched);
        let binned: u64 = one.bins.iter().map(|b| b.count).sum();
        assert_eq!(binned, one.calls);
        if filter == "name:Audit" {
            // Log lines have no duration.
            assert_eq!(one.calls, 0);
        } else {
            assert!(one.calls > 0 && one.bins.len() <= bins, "{filter:?} {bins}");
        }
        if filter.is_empty() {
            assert_eq!(one.calls, 400 * BUCKETS);
        }
    }
    fleet.close();
}

#[test]
fn anomalies_over_merged_partials_equal_one_store() {
    let fleet = fleet();
    let views = views(&fleet);
    let req = anomalies_request();
    let one = anomalies(&fleet.all.view().unwrap(), &req).unwrap();
    // The spike is there to find, and only the merged counts reach the detector's minimum in
    // every bucket (each function has about 100 calls per bucket; the small store about 10).
    assert!(
        one.iter()
            .any(|a| &*a.name == "Db.query" && a.anomaly.start_ns == T0 + SPIKE * SECOND),
        "{one:#?}"
    );
    let query = req.query().unwrap();
    let many = anomalies_from_partial(&req, merged(&views, &query)).unwrap();
    assert_eq!(many, one);
    // The same through a finished result, also when it was sorted another way.
    let mut sorted = query.clone();
    sorted.order_by = Some(laptime_query::query::OrderBy {
        key: laptime_query::query::OrderKey::Aggregate(3),
        descending: true,
    });
    let result = merged(&views, &query).finish(&sorted).unwrap();
    assert_eq!(anomalies_from_result(&req, result).unwrap(), one);
    // One store alone does not see what the fleet sees.
    let alone = anomalies(&views[2], &req).unwrap();
    assert_ne!(alone, one);
    fleet.close();
}

#[test]
fn compare_over_merged_partials_equals_one_store_in_both_precisions() {
    let fleet = fleet();
    let views = views(&fleet);
    let all = fleet.all.view().unwrap();
    for precision in [Precision::Auto, Precision::Exact] {
        let req = compare_request(precision);
        let (one, one_stats) = compare(&all, &req).unwrap();
        let put = one.iter().find(|c| &*c.name == "Api.put").unwrap();
        assert_eq!(put.comparison.verdict, Verdict::Regressed, "{precision:?}");
        assert_eq!(one[0].name, put.name, "regressions come first");
        assert_eq!(one.len(), 4, "{one:#?}");
        let (base, cand) = req.queries().unwrap();
        let (many, many_stats) =
            compare_from_partials(&req, merged(&views, &base), merged(&views, &cand)).unwrap();
        assert_eq!(many, one, "{precision:?}");
        assert_eq!(many_stats.rows_matched, one_stats.rows_matched);
        assert_eq!(
            many_stats.exact_percentiles,
            precision == Precision::Exact,
            "{precision:?}"
        );
        // Both ranges' matched calls, the baseline's pages (of all three stores).
        let calls: u64 = one
            .iter()
            .map(|c| c.baseline_calls + c.candidate_calls)
            .sum();
        assert_eq!(one_stats.rows_matched, calls);
        let pages: u64 = views.iter().map(View::page_count).sum();
        assert_eq!(many_stats.pages_total, pages);
        assert_eq!(one_stats.pages_total, all.page_count());
        if precision == Precision::Auto {
            // Both ways of reading a page took part: whole pages from their sketches, the pages
            // a range bound cuts through decoded.
            for stats in [one_stats, many_stats] {
                assert!(
                    stats.pages_from_meta > 0 && stats.pages_decoded > 0,
                    "{stats:?}"
                );
            }
        }
    }
    fleet.close();
}

#[test]
fn partials_of_other_queries_are_refused() {
    let fleet = fleet();
    let view = fleet.stores[0].view().unwrap();
    let other_query = |q: &Query| view.query_partial(q).unwrap();
    let refused = |e: laptime_storage::Error, mention: &str| {
        let text = e.to_string();
        assert!(text.contains("answers another query"), "{text}");
        assert!(text.contains(mention), "{text}");
    };

    let hist = hist_request("name:Api.*", 10);
    let other = hist_request("name:Db.*", 10).query().unwrap();
    refused(
        histogram_from_partial(&hist, other_query(&other)).unwrap_err(),
        "filter",
    );
    // The bin count does not change the query: a partial answers every bin count.
    let same = hist_request("name:Api.*", 3).query().unwrap();
    histogram_from_partial(&hist, other_query(&same)).unwrap();

    let anom = anomalies_request();
    // The same calls, not grouped.
    let all_calls = hist_request("", 10).query().unwrap();
    refused(
        anomalies_from_partial(&anom, other_query(&all_calls)).unwrap_err(),
        "group_by",
    );
    let wider = AnomaliesRequest {
        bucket_ns: 2 * SECOND,
        ..anomalies_request()
    };
    refused(
        anomalies_from_partial(&anom, other_query(&wider.query().unwrap())).unwrap_err(),
        "group_by",
    );
    let histogram_result = view.query(&hist.query().unwrap()).unwrap();
    refused(
        anomalies_from_result(&anom, histogram_result).unwrap_err(),
        "columns",
    );

    let cmp = compare_request(Precision::Auto);
    let (base, cand) = cmp.queries().unwrap();
    // Swapped ranges.
    refused(
        compare_from_partials(&cmp, other_query(&cand), other_query(&base)).unwrap_err(),
        "baseline",
    );
    refused(
        compare_from_partials(&cmp, other_query(&base), other_query(&base)).unwrap_err(),
        "candidate",
    );
    // Exact partials do not finish a sketch comparison.
    let (exact_base, exact_cand) = compare_request(Precision::Exact).queries().unwrap();
    refused(
        compare_from_partials(&cmp, other_query(&exact_base), other_query(&exact_cand))
            .unwrap_err(),
        "precision",
    );
    fleet.close();
}

#[test]
fn bad_requests_fail_before_any_query_runs() {
    for bins in [0, 1001] {
        let e = hist_request("", bins).query().unwrap_err();
        assert!(e.to_string().contains("bins"), "{e}");
    }
    let e = AnomaliesRequest {
        bucket_ns: 0,
        ..anomalies_request()
    }
    .query()
    .unwrap_err();
    assert!(e.to_string().contains("bucket"), "{e}");
    let mut empty = compare_request(Precision::Exact);
    empty.candidate.until_ns = empty.candidate.since_ns;
    let e = empty.queries().unwrap_err();
    assert!(e.to_string().contains("candidate"), "{e}");
}
