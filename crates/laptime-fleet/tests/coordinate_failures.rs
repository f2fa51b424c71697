//! What the coordinator does when an indexer fails it: a closed port, an indexer that never
//! answers, a partial that is damaged, truncated, of another query, too large or not a partial,
//! an HTTP error. Each time the answer is the merge of the others (equal to one store holding
//! their events), the coverage names the missing indexer and why, and nothing of a bad answer is
//! merged. With no indexer answering there is no result, and the HTTP answer is a 503 with the
//! coverage.

mod coordinate_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use coordinate_common::{
    assert_same, build, closed_port, fake_indexer, json, post_json, serve_shards, silent_indexer,
    Fleet,
};
use laptime_fleet::coordinate::{
    request, Coordinator, CoordinatorConfig, CoordinatorServer, Error, Outcome, ServeConfig,
};
use laptime_query::query::{Aggregate, GroupBy, Query};
use laptime_query::Queries;

fn query(fleet: &Fleet) -> Query {
    Query {
        now_ns: fleet.last_ns,
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::Errors,
            Aggregate::ErrorRate,
            Aggregate::from_label("p50").unwrap(),
            Aggregate::from_label("p90").unwrap(),
            Aggregate::from_label("p99").unwrap(),
        ],
        ..Query::default()
    }
}

fn coordinator(urls: Vec<String>, timeout: Duration) -> Coordinator {
    Coordinator::new(CoordinatorConfig {
        timeout,
        ..CoordinatorConfig::new(urls)
    })
    .unwrap()
}

/// The real partial of shard 2 for a request body, through its read server.
async fn real_partial(url: &str, body: Bytes) -> Vec<u8> {
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/partial"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexer_down_leaves_the_answer_of_the_other_two() {
    let fleet = build(60_000, 21);
    let (_servers, urls) = serve_shards(&fleet).await;
    let down = closed_port().await;
    let c = coordinator(
        vec![urls[0].clone(), urls[1].clone(), down.clone()],
        Duration::from_secs(5),
    );
    let q = query(&fleet);
    let answer = c.query(&q).await.unwrap();
    assert_eq!(answer.coverage.summary(), "2 of 3 indexers answered");
    assert!(!answer.coverage.complete());
    let report = &answer.coverage.indexers[2];
    assert_eq!(report.url, down);
    let Outcome::Unreachable { reason } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    assert!(answer.coverage.to_string().contains(&down));
    let want = fleet.first_two.store.view().unwrap().query(&q).unwrap();
    assert_same(&answer.result, &want, "two of three");
    // And not the answer of all three.
    let all = fleet.all.store.view().unwrap().query(&q).unwrap();
    assert_ne!(answer.result.rows, all.rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexer_that_never_answers_costs_the_timeout_and_no_more() {
    let fleet = build(60_000, 22);
    let (_servers, urls) = serve_shards(&fleet).await;
    let silent = silent_indexer().await;
    let timeout = Duration::from_millis(700);
    let c = coordinator(vec![urls[0].clone(), urls[1].clone(), silent], timeout);
    let q = query(&fleet);
    // Warm the connections to the live indexers, as a running coordinator has them.
    let _ = c.query(&q).await;
    for _ in 0..3 {
        let t = Instant::now();
        let answer = c.query(&q).await.unwrap();
        let took = t.elapsed();
        assert!(took >= timeout, "answered in {took:?}, before the timeout");
        assert!(
            took < timeout + Duration::from_millis(400),
            "answered in {took:?}, timeout {timeout:?}"
        );
        assert_eq!(answer.coverage.summary(), "2 of 3 indexers answered");
        assert_eq!(
            answer.coverage.indexers[2].outcome,
            Outcome::Timeout { after: timeout }
        );
        assert!(answer.coverage.indexers[0].elapsed < timeout);
        let want = fleet.first_two.store.view().unwrap().query(&q).unwrap();
        assert_same(&answer.result, &want, "two of three");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_are_reported_and_never_merged() {
    let fleet = build(60_000, 23);
    let (_servers, urls) = serve_shards(&fleet).await;
    let q = query(&fleet);
    let want = fleet.first_two.store.view().unwrap().query(&q).unwrap();
    let real = urls[2].clone();

    // Each fake forwards the coordinator's request to shard 2's real read server, then spoils
    // the answer one way; the expected reason is checked in the report.
    type Spoil = fn(Vec<u8>) -> (u16, Vec<u8>);
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "a flipped bit in a group",
            |mut b| {
                let at = b.len() / 2;
                b[at] ^= 0x10;
                (200, b)
            },
            "checksum mismatch",
        ),
        (
            "cut short",
            |mut b| {
                b.truncate(b.len() - 100);
                (200, b)
            },
            "truncated",
        ),
        (
            "not a partial",
            |_| (200, b"<html>hello</html>".to_vec()),
            "magic",
        ),
        ("empty", |_| (200, Vec::new()), "truncated"),
        (
            "an HTTP error",
            |_| (500, br#"{"error":"disk on fire","at":""}"#.to_vec()),
            "disk on fire",
        ),
    ];
    for (what, spoil, reason) in cases {
        let real = real.clone();
        let fake = fake_indexer(move |body: Bytes| {
            let real = real.clone();
            async move { spoil(real_partial(&real, body).await) }
        })
        .await;
        let c = coordinator(
            vec![urls[0].clone(), urls[1].clone(), fake],
            Duration::from_secs(5),
        );
        let answer = c.query(&q).await.unwrap();
        assert_eq!(
            answer.coverage.summary(),
            "2 of 3 indexers answered",
            "{what}"
        );
        let text = answer.coverage.indexers[2].outcome.to_string();
        assert!(text.contains(reason), "{what}: {text}");
        assert_same(&answer.result, &want, what);
    }

    // A whole, valid partial of another query (another "now": relative bounds would differ).
    let real2 = real.clone();
    let other = fake_indexer(move |body: Bytes| {
        let real = real2.clone();
        async move {
            let mut asked = request::decode(&body, 0).unwrap();
            asked.now_ns += 1;
            let body = Bytes::from(request::encode(&asked).unwrap());
            (200, real_partial(&real, body).await)
        }
    })
    .await;
    let c = coordinator(
        vec![urls[0].clone(), urls[1].clone(), other],
        Duration::from_secs(5),
    );
    let answer = c.query(&q).await.unwrap();
    let Outcome::BadAnswer { reason } = &answer.coverage.indexers[2].outcome else {
        panic!("{:?}", answer.coverage.indexers[2].outcome);
    };
    assert!(reason.contains("answers another query: now_ns"), "{reason}");
    assert_same(&answer.result, &want, "another query");

    // Partials larger than the coordinator accepts (each holds 200 groups of sketches).
    let c = Coordinator::new(CoordinatorConfig {
        max_partial_bytes: 2_000,
        ..CoordinatorConfig::new(urls.clone())
    })
    .unwrap();
    match c.query(&q).await {
        Err(Error::NoAnswer(coverage)) => {
            for r in &coverage.indexers {
                let Outcome::BadAnswer { reason } = &r.outcome else {
                    panic!("{:?}", r.outcome);
                };
                assert!(
                    reason.contains("larger than the limit of 2000 bytes"),
                    "{reason}"
                );
            }
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_indexer_answering_there_is_no_result() {
    let fleet = build(10_000, 24);
    let down = vec![
        closed_port().await,
        closed_port().await,
        silent_indexer().await,
    ];
    let c = Arc::new(coordinator(down.clone(), Duration::from_millis(300)));
    match c.query(&query(&fleet)).await {
        Err(Error::NoAnswer(coverage)) => {
            assert_eq!(coverage.summary(), "0 of 3 indexers answered");
            assert!(matches!(
                coverage.indexers[2].outcome,
                Outcome::Timeout { .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    let server = CoordinatorServer::start(ServeConfig::new("127.0.0.1:0".parse().unwrap()), c)
        .await
        .unwrap();
    let url = format!("http://{}/v1/query", server.local_addr());
    let (status, body) = post_json(&url, r#"{"groupBy":[{"by":"name"}]}"#).await;
    assert_eq!(status, 503);
    let body = json(&body);
    assert_eq!(body["coverage"]["summary"], "0 of 3 indexers answered");
    assert_eq!(body["coverage"]["indexers"][0]["outcome"], "unreachable");
    assert_eq!(body["coverage"]["indexers"][2]["outcome"], "timeout");
    assert!(body["error"].as_str().unwrap().contains(&down[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_answer_over_http_says_who_is_missing() {
    let fleet = build(30_000, 25);
    let (_servers, urls) = serve_shards(&fleet).await;
    let down = closed_port().await;
    let c = Arc::new(coordinator(
        vec![urls[0].clone(), down.clone(), urls[1].clone()],
        Duration::from_secs(5),
    ));
    let server = CoordinatorServer::start(ServeConfig::new("127.0.0.1:0".parse().unwrap()), c)
        .await
        .unwrap();
    let url = format!("http://{}/v1/query", server.local_addr());
    let body =
        serde_json::json!({"nowNs": fleet.last_ns.to_string(), "aggregates": ["count", "errors"]});
    let (status, reply) = post_json(&url, body.to_string()).await;
    assert_eq!(status, 200);
    let reply = json(&reply);
    assert_eq!(reply["coverage"]["summary"], "2 of 3 indexers answered");
    assert_eq!(reply["coverage"]["complete"], false);
    assert_eq!(reply["coverage"]["indexers"][1]["url"], down.as_str());
    assert_eq!(reply["coverage"]["indexers"][1]["outcome"], "unreachable");
    let want = fleet
        .first_two
        .store
        .view()
        .unwrap()
        .query(&Query {
            now_ns: fleet.last_ns,
            aggregates: vec![Aggregate::Count, Aggregate::Errors],
            ..Query::default()
        })
        .unwrap();
    assert_eq!(
        reply["rows"][0]["count"].as_u64(),
        want.rows[0].values[0].as_f64().map(|v| v as u64)
    );
    assert_eq!(
        reply["rows"][0]["errors"].as_u64(),
        want.rows[0].values[1].as_f64().map(|v| v as u64)
    );
}
