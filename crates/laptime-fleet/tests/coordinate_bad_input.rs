//! Bad and hostile requests to the coordinator's `POST /v1/query` and the indexer's
//! `POST /v1/partial`: filters that do not parse get a 400 naming the byte position (and what
//! was expected and found), every other bad part a 400 naming it; wrong method, path, content
//! type, size and token their 4xx; nothing crashes, and both servers answer good queries after.
//! Off loopback a token is required, and the coordinator passes its token to the indexers.

mod coordinate_common;

use std::sync::Arc;
use std::time::Duration;

use coordinate_common::{build, json, post, post_json, serve_shards};
use laptime_fleet::coordinate::{
    Coordinator, CoordinatorConfig, CoordinatorServer, Error, Outcome, ReadServer, ServeConfig,
};

const HOSTILE_FILTERS: &[&str] = &[
    "name:\"never closed",
    "duration>10xs",
    "since:2026-13-01T00:00:00Z",
    "level:loud",
    "kind:span",
    "route:in(/a,/b",
    ")))(((",
    "duration>99999999999999999999999h",
    "\u{0}\u{7}\u{1b}[2J",
    "name:a \u{202e}gnp.exe",
    "名前:値",
    "count>many",
    "----------------------------------kind:call",
    "has:",
    "message~",
];

fn long_filter() -> String {
    // Valid terms, then garbage at a known byte.
    let mut f = "name:a ".repeat(5_000);
    f.push_str("@@@");
    f
}

/// POSTs every hostile filter to `url` and checks the 400's position against the text.
async fn hostile_filters_are_refused(url: &str) {
    let mut cases: Vec<String> = HOSTILE_FILTERS.iter().map(|s| s.to_string()).collect();
    cases.push(long_filter());
    for filter in cases {
        let body = serde_json::json!({"filter": filter, "aggregates": ["count", "p99"]});
        let (status, reply) = post_json(url, body.to_string()).await;
        assert_eq!(
            status,
            400,
            "{filter:?}: {}",
            String::from_utf8_lossy(&reply)
        );
        let reply = json(&reply);
        assert_eq!(reply["at"], "filter", "{filter:?}");
        let position = reply["position"].as_u64().expect("position") as usize;
        assert!(position <= filter.len(), "{filter:?}: position {position}");
        let error = reply["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("filter: at byte {position}: expected ")),
            "{filter:?}: {error}"
        );
        assert!(reply["expected"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(reply["found"].is_string() && reply["code"].is_string());
        assert!(
            error.len() < 2_000,
            "the error echoes too much: {} bytes",
            error.len()
        );
    }
    // The long one fails at the garbage, not somewhere else.
    let body = serde_json::json!({"filter": long_filter()});
    let reply = json(&post_json(url, body.to_string()).await.1);
    assert_eq!(reply["position"], 35_000);
}

async fn other_bad_requests_are_refused(url: &str) {
    for (body, at) in [
        ("{", ""),
        ("null", ""),
        (r#"{"filter":"","aggregates":["p0"]}"#, "aggregates[0]"),
        (
            r#"{"groupBy":[{"by":"time","width":"-1m"}]}"#,
            "groupBy[0].width",
        ),
        (r#"{"orderBy":"nope"}"#, "orderBy"),
        (r#"{"nowNs":"99999999999999999999999"}"#, "nowNs"),
        (r#"{"filter":"","sql":"drop table"}"#, "\"sql\""),
    ] {
        let (status, reply) = post_json(url, body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(json(&reply)["at"], at, "{body}");
    }
    let (status, reply) = post(url, "text/plain", "{}", None).await;
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&reply));
    let (status, _) = post_json(url, vec![b' '; 70 << 10]).await;
    assert_eq!(status, 413);
    let client = reqwest::Client::new();
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = client
        .post(format!("{url}/../admin"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn healthy(base: &str) {
    let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_400_naming_where_and_nothing_breaks() {
    let fleet = build(20_000, 31);
    let (_servers, urls) = serve_shards(&fleet).await;
    let coordinator = Arc::new(Coordinator::new(CoordinatorConfig::new(urls.clone())).unwrap());
    let server = CoordinatorServer::start(
        ServeConfig::new("127.0.0.1:0".parse().unwrap()),
        coordinator,
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());

    for url in [
        format!("{base}/v1/query"),
        format!("{}/v1/partial", urls[0]),
    ] {
        hostile_filters_are_refused(&url).await;
        other_bad_requests_are_refused(&url).await;
    }
    healthy(&base).await;
    healthy(&urls[0]).await;
    let good = serde_json::json!({"filter": "kind:call", "groupBy": [{"by": "name"}],
                                  "aggregates": ["count", "p99"]});
    let (status, reply) = post_json(&format!("{base}/v1/query"), good.to_string()).await;
    assert_eq!(status, 200);
    let reply = json(&reply);
    assert_eq!(reply["coverage"]["summary"], "3 of 3 indexers answered");
    let total: u64 = reply["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert!(
        total > 19_000 && total < 20_000,
        "{total} calls of 20,000 events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_off_loopback_and_passed_to_the_indexers() {
    let fleet = build(5_000, 32);
    let store = fleet.shards[0].store.clone();

    // Off loopback without a token: refused at start, for both servers.
    let open = ServeConfig::new("0.0.0.0:0".parse().unwrap());
    match ReadServer::start(open.clone(), store.clone()).await {
        Err(e @ Error::TokenRequired { .. }) => assert!(e.to_string().contains("0.0.0.0")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started without a token on 0.0.0.0"),
    }
    let c = Arc::new(Coordinator::new(CoordinatorConfig::new(["http://127.0.0.1:1"])).unwrap());
    assert!(matches!(
        CoordinatorServer::start(open.clone(), c).await,
        Err(Error::TokenRequired { .. })
    ));
    for bad in ["", "two words", "tab\there"] {
        let config = ServeConfig {
            token: Some(bad.into()),
            ..open.clone()
        };
        assert!(matches!(
            ReadServer::start(config, store.clone()).await,
            Err(Error::BadConfig { .. })
        ));
    }

    // With a token, on every address.
    let indexer = ReadServer::start(
        ServeConfig {
            token: Some("s3cret".into()),
            ..open.clone()
        },
        store.clone(),
    )
    .await
    .unwrap();
    let url = format!("http://127.0.0.1:{}", indexer.local_addr().port());
    let endpoint = format!("{url}/v1/partial");
    for token in [None, Some("s3cre"), Some("s3cretX")] {
        let (status, _) = post(&endpoint, "application/json", "{}", token).await;
        assert_eq!(status, 401, "{token:?}");
    }
    let (status, _) = post(&endpoint, "application/json", "{}", Some("s3cret")).await;
    assert_eq!(status, 200);

    // A coordinator without the token is refused by the indexer (reported), with it answered.
    let without = Coordinator::new(CoordinatorConfig::new([url.clone()])).unwrap();
    let query = laptime_query::query::Query::default();
    match without.query(&query).await {
        Err(Error::NoAnswer(c)) => {
            assert!(matches!(
                c.indexers[0].outcome,
                Outcome::Failed { status: 401, .. }
            ))
        }
        other => panic!("{other:?}"),
    }
    let with = Coordinator::new(CoordinatorConfig {
        token: Some("s3cret".into()),
        timeout: Duration::from_secs(5),
        ..CoordinatorConfig::new([url.clone()])
    })
    .unwrap();
    let answer = with.query(&query).await.unwrap();
    assert!(answer.coverage.complete());

    // A configuration that cannot work is refused.
    for (indexers, what) in [
        (vec![], "no indexers"),
        (vec!["https://a:1".to_string()], "http://"),
        (vec!["not a url".to_string()], "not a URL"),
        (vec![url.clone(), format!("{url}/")], "listed twice"),
    ] {
        match Coordinator::new(CoordinatorConfig::new(indexers)) {
            Err(e) => assert!(e.to_string().contains(what), "{e}"),
            Ok(_) => panic!("accepted: {what}"),
        }
    }
}
