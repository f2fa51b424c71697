//! One query over three indexers equals the query on one store holding every event: R1-full
//! events split at random over three real stores, each behind a read server on 127.0.0.1 (two
//! over the writing store, one over a read-only reader), the coordinator asking all three. Group
//! keys, row order, counts, errors, error rates, sums, min/max, means, rates, and percentiles
//! (sketch and exact) are identical (partials merge losslessly, see `query/partial.rs`); stddev
//! to floating-point rounding; sketch percentiles within the sketch's 1% of the exact ones. The
//! HTTP answer carries the same rows as the TypeScript API shapes them.

mod coordinate_common;

use std::sync::Arc;
use std::time::Duration;

use coordinate_common::{assert_same, build, json, post_json, serve_shards};
use laptime_fleet::coordinate::answer::result_json;
use laptime_fleet::coordinate::{Coordinator, CoordinatorConfig, CoordinatorServer, ServeConfig};
use laptime_query::query::{AggValue, Aggregate, GroupBy, OrderBy, OrderKey, Precision, Query};
use laptime_query::Queries;
use laptime_storage::sketch::RELATIVE_ACCURACY;

fn p(label: &str) -> Aggregate {
    Aggregate::from_label(label).unwrap()
}

fn queries(now_ns: u64) -> Vec<(&'static str, Query)> {
    let per_function = vec![
        Aggregate::Count,
        Aggregate::Calls,
        Aggregate::Logs,
        Aggregate::Errors,
        Aggregate::ErrorRate,
        Aggregate::Sum,
        Aggregate::Mean,
        Aggregate::Min,
        Aggregate::Max,
        p("p50"),
        p("p90"),
        p("p99"),
        p("p99.9"),
        Aggregate::Rate,
    ];
    let base = Query {
        now_ns,
        threads: 1,
        ..Query::default()
    };
    vec![
        (
            "every aggregate by function, sketch percentiles",
            Query {
                group_by: vec![GroupBy::Name],
                aggregates: per_function.clone(),
                ..base.clone()
            },
        ),
        (
            "every aggregate by function, exact percentiles",
            Query {
                group_by: vec![GroupBy::Name],
                aggregates: per_function,
                precision: Precision::Exact,
                ..base.clone()
            },
        ),
        (
            "slow calls by function and route, top 10 by p99",
            Query {
                filter: "kind:call duration>1ms".parse().unwrap(),
                group_by: vec![GroupBy::Name, GroupBy::Field("route".into())],
                aggregates: vec![Aggregate::Count, p("p99"), Aggregate::Errors],
                order_by: Some(OrderBy {
                    key: OrderKey::Aggregate(1),
                    descending: true,
                }),
                limit: Some(10),
                ..base.clone()
            },
        ),
        (
            "the last 100 ms in 10 ms buckets (relative bound, pages cut)",
            Query {
                filter: "since:100ms name:Service1*".parse().unwrap(),
                group_by: vec![GroupBy::Time(10_000_000)],
                aggregates: vec![Aggregate::Count, p("p50"), p("p99"), Aggregate::Rate],
                ..base.clone()
            },
        ),
        (
            "errors of the pro tier, no grouping",
            Query {
                filter: "status:error tier:pro".parse().unwrap(),
                aggregates: vec![Aggregate::Count, Aggregate::Max, p("p90")],
                ..base.clone()
            },
        ),
        (
            "warnings and worse by logger",
            Query {
                filter: "kind:log level>=warn".parse().unwrap(),
                group_by: vec![GroupBy::Name],
                aggregates: vec![Aggregate::Count, Aggregate::Logs],
                order_by: Some(OrderBy {
                    key: OrderKey::Aggregate(0),
                    descending: true,
                }),
                ..base.clone()
            },
        ),
        (
            "nothing matches",
            Query {
                filter: "name:NoSuchService.*".parse().unwrap(),
                group_by: vec![GroupBy::Name],
                aggregates: vec![Aggregate::Count, p("p99")],
                ..base
            },
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_indexers_answer_as_one_store() {
    let fleet = build(240_000, 11);
    let (_servers, urls) = serve_shards(&fleet).await;
    let coordinator = Coordinator::new(CoordinatorConfig::new(urls.clone())).unwrap();
    let single = fleet.all.store.view().unwrap();
    for (what, query) in queries(fleet.last_ns) {
        let answer = coordinator.query(&query).await.unwrap();
        assert!(answer.coverage.complete(), "{what}: {}", answer.coverage);
        assert_eq!(answer.coverage.summary(), "3 of 3 indexers answered");
        let want = single.query(&query).unwrap();
        assert_same(&answer.result, &want, what);
        let matched: f64 = want.rows.iter().filter_map(|r| r.values[0].as_f64()).sum();
        if what == "nothing matches" {
            assert_eq!(matched, 0.0);
        } else {
            assert!(matched > 0.0, "{what}: the test data matches nothing");
        }
        assert_eq!(
            answer.result.stats.pages_total,
            fleet
                .shards
                .iter()
                .map(|s| s.store.view().unwrap().page_count())
                .sum::<u64>(),
            "{what}: pages of all three stores"
        );
    }
    // The split is real: every shard holds a third or so of the events.
    for s in &fleet.shards {
        let n = s
            .store
            .view()
            .unwrap()
            .query(&Query::default())
            .unwrap()
            .rows[0]
            .values[0]
            .as_f64()
            .unwrap();
        assert!((60_000.0..100_000.0).contains(&n), "a shard holds {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sketch_percentiles_are_within_the_bound_and_stddev_within_rounding() {
    let fleet = build(150_000, 12);
    let (_servers, urls) = serve_shards(&fleet).await;
    let coordinator = Coordinator::new(CoordinatorConfig::new(urls)).unwrap();
    let query = |precision| Query {
        now_ns: fleet.last_ns,
        group_by: vec![GroupBy::Name],
        aggregates: vec![p("p50"), p("p90"), p("p99"), Aggregate::Stddev],
        precision,
        ..Query::default()
    };
    let sketch = coordinator.query(&query(Precision::Auto)).await.unwrap();
    let exact = fleet
        .all
        .store
        .view()
        .unwrap()
        .query(&query(Precision::Exact))
        .unwrap();
    assert!(!sketch.result.stats.exact_percentiles);
    assert_eq!(sketch.result.rows.len(), exact.rows.len());
    let mut checked = 0;
    for (s, e) in sketch.result.rows.iter().zip(&exact.rows) {
        assert_eq!(s.key, e.key);
        for i in 0..3 {
            let (AggValue::Nanos(got), AggValue::Nanos(want)) = (s.values[i], e.values[i]) else {
                panic!("{:?} vs {:?}", s.values[i], e.values[i]);
            };
            let err = (got as f64 - want as f64).abs() / want as f64;
            assert!(
                err <= RELATIVE_ACCURACY + 1e-12,
                "{:?} {}: {got} vs exact {want}",
                s.key,
                sketch.result.value_labels[i]
            );
            checked += 1;
        }
        match (s.values[3], e.values[3]) {
            (AggValue::Float(a), AggValue::Float(b)) => {
                assert!((a - b).abs() <= b.abs() * 1e-9, "stddev {a} vs {b}")
            }
            (a, b) => assert_eq!(a, b),
        }
    }
    assert!(checked > 300, "only {checked} percentiles compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_answer_has_the_typescript_rows_and_the_coverage() {
    let fleet = build(90_000, 13);
    let (_servers, urls) = serve_shards(&fleet).await;
    let coordinator = Arc::new(
        Coordinator::new(CoordinatorConfig {
            timeout: Duration::from_secs(10),
            ..CoordinatorConfig::new(urls.clone())
        })
        .unwrap(),
    );
    let server = CoordinatorServer::start(
        ServeConfig::new("127.0.0.1:0".parse().unwrap()),
        coordinator,
    )
    .await
    .unwrap();
    let url = format!("http://{}/v1/query", server.local_addr());
    let body = serde_json::json!({
        "filter": "kind:call",
        "nowNs": fleet.last_ns.to_string(),
        "groupBy": [{"by": "name"}],
        "aggregates": ["count", "errors", "error_rate", "p50", "p90", "p99", "rate"],
        "orderBy": "p99",
        "descending": true,
        "limit": 25,
    });
    let (status, reply) = post_json(&url, body.to_string()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let got = json(&reply);
    let want = fleet
        .all
        .store
        .view()
        .unwrap()
        .query(&Query {
            filter: "kind:call".parse().unwrap(),
            now_ns: fleet.last_ns,
            group_by: vec![GroupBy::Name],
            aggregates: ["count", "errors", "error_rate", "p50", "p90", "p99", "rate"]
                .map(p_or_simple)
                .to_vec(),
            order_by: Some(OrderBy {
                key: OrderKey::Aggregate(5),
                descending: true,
            }),
            limit: Some(25),
            ..Query::default()
        })
        .unwrap();
    let want = result_json(&want);
    assert_eq!(got["rows"], want["rows"]);
    assert_eq!(got["span"], want["span"]);
    assert_eq!(got["rows"].as_array().unwrap().len(), 25);
    let first = got["rows"][0].as_object().unwrap();
    let columns: Vec<&str> = first.keys().map(String::as_str).collect();
    for c in [
        "name",
        "count",
        "errors",
        "errorRate",
        "p50",
        "p90",
        "p99",
        "rate",
    ] {
        assert!(columns.contains(&c), "column {c} missing from {columns:?}");
    }
    let coverage = &got["coverage"];
    assert_eq!(coverage["summary"], "3 of 3 indexers answered");
    assert_eq!(coverage["complete"], true);
    let reported: Vec<&str> = coverage["indexers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        reported,
        urls.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for i in coverage["indexers"].as_array().unwrap() {
        assert_eq!(i["outcome"], "answered");
        assert!(i["groups"].as_u64().unwrap() > 0);
    }
}

fn p_or_simple(label: &str) -> Aggregate {
    Aggregate::from_label(label).unwrap()
}
