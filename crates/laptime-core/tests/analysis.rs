//! Anomalies and regressions found in a real store: planted changes are found where they were
//! planted, steady noisy functions are not flagged, in sketch and exact modes.

use laptime_core::analysis::{AnomalyOptions, CompareOptions, Metric, Verdict};
use laptime_core::filter::Filter;
use laptime_core::query::{self, AnomaliesRequest, CompareRequest, Precision, TimeRange};
use laptime_core::{Batch, Options, Store};

const MINUTE: u64 = 60_000_000_000;
const T0: u64 = 1_795_000_000_000_000_000 - 1_795_000_000_000_000_000 % MINUTE;
const BUCKETS: u64 = 60;

/// splitmix64: deterministic noise without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Three functions, 400 calls per minute each for an hour:
/// - `Steady.run`: log-normal around 1 ms, 1% errors, all hour;
/// - `Slow.run`: the same until minute 45, then every duration 3x;
/// - `Flaky.run`: 1% errors until minute 50, then 15%.
fn store_with_planted_changes() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 4096,
            ..Options::default()
        },
    )
    .unwrap();
    let names = ["Steady.run", "Slow.run", "Flaky.run"].map(|n| store.intern(n).unwrap());
    let mut rng = Rng(7);
    for bucket in 0..BUCKETS {
        let mut batch = Batch::default();
        for i in 0..400u64 {
            let start = T0 + bucket * MINUTE + i * (MINUTE / 400);
            for (f, &name) in names.iter().enumerate() {
                let mut d = (1_000_000.0 * (0.5 * rng.normal()).exp()) as u64 + 1;
                if f == 1 && bucket >= 45 {
                    d *= 3;
                }
                let error_rate = if f == 2 && bucket >= 50 { 0.15 } else { 0.01 };
                let ok = rng.unit() >= error_rate;
                batch.push_call(name, start + f as u64, d, ok);
            }
        }
        store.append(batch);
    }
    store.flush().unwrap();
    (dir, store)
}

fn anomalies(store: &Store, metric: Metric) -> Vec<(String, u64)> {
    let req = AnomaliesRequest {
        filter: Filter::default(),
        now_ns: T0 + BUCKETS * MINUTE,
        bucket_ns: MINUTE,
        options: AnomalyOptions {
            metric,
            ..AnomalyOptions::default()
        },
    };
    query::anomalies(&store.view().unwrap(), &req)
        .unwrap()
        .into_iter()
        .map(|a| (a.name.to_string(), (a.anomaly.start_ns - T0) / MINUTE))
        .collect()
}

#[test]
fn planted_latency_step_is_flagged_where_it_starts_and_nothing_else() {
    let (_dir, store) = store_with_planted_changes();
    let found = anomalies(&store, Metric::P99);
    assert!(
        found.iter().all(|(name, _)| name == "Slow.run"),
        "only the slowed function may be flagged: {found:?}"
    );
    let first = found.first().expect("the 3x step must be flagged");
    assert_eq!(first.1, 45, "{found:?}");
    // The baseline absorbs a lasting step within its window of 12 buckets.
    assert!(found.iter().all(|(_, b)| (45..57).contains(b)), "{found:?}");

    let p50 = anomalies(&store, Metric::P50);
    assert_eq!(
        p50.first().map(|(n, b)| (n.as_str(), *b)),
        Some(("Slow.run", 45))
    );
    assert!(p50.iter().all(|(name, _)| name == "Slow.run"), "{p50:?}");
}

#[test]
fn planted_error_rate_jump_is_flagged_and_steady_errors_are_not() {
    let (_dir, store) = store_with_planted_changes();
    let found = anomalies(&store, Metric::ErrorRate);
    assert_eq!(
        found.first(),
        Some(&("Flaky.run".to_string(), 50)),
        "{found:?}"
    );
    assert!(
        found.iter().all(|(name, _)| name == "Flaky.run"),
        "{found:?}"
    );
}

#[test]
fn compare_finds_the_regressions_between_two_ranges_in_both_modes() {
    let (_dir, store) = store_with_planted_changes();
    let snapshot = store.view().unwrap();
    for precision in [Precision::Auto, Precision::Exact] {
        let req = CompareRequest {
            filter: Filter::default(),
            now_ns: T0 + BUCKETS * MINUTE,
            baseline: TimeRange {
                since_ns: T0,
                until_ns: T0 + 30 * MINUTE,
            },
            candidate: TimeRange {
                since_ns: T0 + 52 * MINUTE,
                until_ns: T0 + BUCKETS * MINUTE,
            },
            options: CompareOptions::default(),
            precision,
        };
        let (result, stats) = query::compare(&snapshot, &req).unwrap();
        assert_eq!(stats.exact_percentiles, precision == Precision::Exact);
        let verdict = |name: &str| {
            result
                .iter()
                .find(|c| &*c.name == name)
                .map(|c| c.comparison.verdict)
        };
        assert_eq!(
            verdict("Slow.run"),
            Some(Verdict::Regressed),
            "{precision:?}"
        );
        assert_eq!(
            verdict("Flaky.run"),
            Some(Verdict::Regressed),
            "{precision:?}"
        );
        assert_eq!(
            verdict("Steady.run"),
            Some(Verdict::Unchanged),
            "{precision:?}"
        );
        let slow = result.iter().find(|c| &*c.name == "Slow.run").unwrap();
        assert_eq!(slow.baseline_calls, 30 * 400);
        assert_eq!(slow.candidate_calls, 8 * 400);
        for q in &slow.comparison.quantiles {
            assert!(q.significant, "{q:?}");
            assert!((q.relative_change - 2.0).abs() < 0.15, "3x slower: {q:?}");
        }
        let flaky = result.iter().find(|c| &*c.name == "Flaky.run").unwrap();
        assert!(flaky.comparison.error_rate.significant);
        assert!(flaky.comparison.quantiles.iter().all(|q| !q.significant));
        // Regressed functions are listed first.
        assert_eq!(result[2].comparison.verdict, Verdict::Unchanged);
    }
}

#[test]
fn bad_requests_are_refused_with_the_option_named() {
    let (_dir, store) = store_with_planted_changes();
    let snapshot = store.view().unwrap();
    let err = query::anomalies(
        &snapshot,
        &AnomaliesRequest {
            filter: Filter::default(),
            now_ns: 0,
            bucket_ns: 0,
            options: AnomalyOptions::default(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("bucket"), "{err}");
    let err = query::compare(
        &snapshot,
        &CompareRequest {
            filter: Filter::default(),
            now_ns: 0,
            baseline: TimeRange {
                since_ns: 10,
                until_ns: 10,
            },
            candidate: TimeRange {
                since_ns: 0,
                until_ns: 1,
            },
            options: CompareOptions::default(),
            precision: Precision::Auto,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("baseline"), "{err}");
}
