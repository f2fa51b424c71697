//! `POST /v1/events` over a real socket: good JSON and NDJSON arrive in the sink exactly; every
//! kind of bad request gets its 4xx naming the field, and nothing of it reaches the sink.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{post, rate, start, FailingSink};
use laptime_fleet::ingest::{
    Error, IngestBatch, IngestConfig, IngestServer, MemorySink, Sink, SinkError,
};
use laptime_storage::{Code, Event, Level, Value};

const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

fn call(
    name: &str,
    start_ns: u64,
    duration_ns: u64,
    ok: bool,
    fields: Vec<(&str, Value)>,
) -> Event {
    let mut fields: Vec<(String, Value)> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Event {
        name: name.into(),
        start_ns,
        duration_ns,
        code: if ok { Code::CallOk } else { Code::CallError },
        message: None,
        fields,
    }
}

fn events_of(batches: &[IngestBatch]) -> Vec<Event> {
    batches.iter().flat_map(IngestBatch::events).collect()
}

#[tokio::test]
async fn json_and_ndjson_bodies_arrive_in_the_sink_exactly() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;

    let envelope = r#"{"events":[
        {"name":"checkout","start":"2026-12-03T10:00:00.123456789Z","duration_ns":1200000,"ok":true,
         "fields":{"route":"/cart/:id","big":9007199254740993,"ratio":0.25,"cached":false,"min":-9223372036854775808}},
        {"name":"checkout","start":1796292000123456790,"duration_ms":1.2,"ok":false,"fields":{"error":"TimeoutError"}},
        {"name":"worker","start":"1796292000123456791","level":"error","message":"queue \"mail\" stuck\n","fields":{"queue":"mail"}},
        {"name":"edge","start":"2554-07-21T23:34:33.709551615Z","duration_ns":"18446744073709551615"}
    ]}"#;
    let r = post(&url, "/v1/events", JSON, envelope, None).await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    assert_eq!(r.json(), serde_json::json!({"accepted": 4}));
    let got = sink.take();
    assert_eq!(got.len(), 1, "one request, one batch");
    let mut log = call(
        "worker",
        1_796_292_000_123_456_791,
        0,
        true,
        vec![("queue", Value::Str("mail".into()))],
    );
    log.code = Code::Log(Level::Error);
    log.message = Some("queue \"mail\" stuck\n".into());
    assert_eq!(
        events_of(&got),
        vec![
            call(
                "checkout",
                1_796_292_000_123_456_789,
                1_200_000,
                true,
                vec![
                    ("route", Value::Str("/cart/:id".into())),
                    ("big", Value::I64(9_007_199_254_740_993)),
                    ("ratio", Value::F64(0.25)),
                    ("cached", Value::Bool(false)),
                    ("min", Value::I64(i64::MIN)),
                ]
            ),
            call(
                "checkout",
                1_796_292_000_123_456_790,
                1_200_000,
                false,
                vec![("error", Value::Str("TimeoutError".into()))]
            ),
            log,
            call("edge", u64::MAX, u64::MAX, true, vec![]),
        ]
    );
    // The names table holds each name and key once; ids index it.
    let names = &got[0].names;
    assert_eq!(names.iter().filter(|n| *n == "checkout").count(), 1);

    // A bare array and NDJSON give the same events.
    let array = r#"[{"name":"a","start":5,"duration_ns":6,"fields":{"k":"v"}},{"name":"b","start":7,"duration_ns":0}]"#;
    let ndjson = "{\"name\":\"a\",\"start\":5,\"duration_ns\":6,\"fields\":{\"k\":\"v\"}}\r\n\n{\"name\":\"b\",\"start\":7,\"duration_ns\":0}\n";
    let want = vec![
        call("a", 5, 6, true, vec![("k", Value::Str("v".into()))]),
        call("b", 7, 0, true, vec![]),
    ];
    let r = post(&url, "/v1/events", JSON, array, None).await;
    assert_eq!(
        (r.status, r.json()),
        (202, serde_json::json!({"accepted": 2}))
    );
    assert_eq!(events_of(&sink.take()), want);
    let r = post(
        &url,
        "/v1/events",
        "application/x-ndjson; charset=utf-8",
        ndjson,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (202, serde_json::json!({"accepted": 2}))
    );
    assert_eq!(events_of(&sink.take()), want);

    // No events: accepted, nothing sent.
    let r = post(&url, "/v1/events", JSON, r#"{"events":[]}"#, None).await;
    assert_eq!(
        (r.status, r.json()),
        (202, serde_json::json!({"accepted": 0}))
    );
    assert!(sink.take().is_empty());
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_field_and_nothing_reaches_the_sink() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    let good = r#"{"name":"ok","start":1,"duration_ns":1}"#;
    // (content type, body, at, words the message must hold)
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            JSON,
            format!("[{good},{good}"),
            "line 1 column 80",
            "malformed JSON: EOF while parsing a list",
        ),
        (
            JSON,
            "{\"events\":[{\"name\":\"x\",}]}".into(),
            "line 1 column 24",
            "malformed JSON: trailing comma",
        ),
        (
            JSON,
            format!(
                r#"{{"events":[{good},{good},{good},{{"name":"b","start":1,"duration_ns":-1}}]}}"#
            ),
            "events[3].duration_ns",
            "events[3].duration_ns: -1 is not a duration",
        ),
        (
            JSON,
            format!(r#"[{good},{{"name":7,"start":1,"duration_ns":1}}]"#),
            "[1].name",
            "must be a string, got 7",
        ),
        (
            JSON,
            r#"[{"name":"a","start":"yesterday","duration_ns":1}]"#.into(),
            "[0].start",
            "is not an RFC 3339 time",
        ),
        (
            JSON,
            r#"[{"name":"a","start":-5,"duration_ns":1}]"#.into(),
            "[0].start",
            "-5 is not a start",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1.5}]"#.into(),
            "[0].duration_ns",
            "1.5 is not a duration",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1,"ok":"yes"}]"#.into(),
            "[0].ok",
            "must be true or false",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"user":{"id":1}}}]"#.into(),
            "[0].fields[\"user\"]",
            "must be a string, boolean or number",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"n":9223372036854775808}}]"#.into(),
            "[0].fields[\"n\"]",
            "beyond the 64-bit signed range",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"":1}}]"#.into(),
            "[0].fields[\"\"]",
            "field keys must not be empty",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"duration_ns":1,"durationNs":1}]"#.into(),
            "[0][\"durationNs\"]",
            "unknown key \"durationNs\"",
        ),
        (
            JSON,
            r#"{"events":[],"source":"x"}"#.into(),
            "",
            "unknown top-level key \"source\"",
        ),
        (
            JSON,
            r#"{"name":"a","start":1,"duration_ns":1}"#.into(),
            "",
            "unknown top-level key",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1}]"#.into(),
            "[0].duration_ns",
            "a call needs duration_ns or duration_ms",
        ),
        (
            JSON,
            r#"[{"name":"a","start":1,"level":"verbose"}]"#.into(),
            "[0].level",
            "\"verbose\" is not a level",
        ),
        (JSON, r#""events""#.into(), "", "the body must be"),
        (
            NDJSON,
            format!("{good}\n{good}\n{{\"name\":\"c\",\"start\":1,\"duration_ns\":true}}\n"),
            "line 3: duration_ns",
            "line 3: duration_ns: must be a whole number of ns, got true",
        ),
        (
            NDJSON,
            format!("{good}\n{{\"name\":\n"),
            "line 2 column 8",
            "malformed JSON: EOF while parsing a value",
        ),
        (
            NDJSON,
            format!("{good}\n[1]\n"),
            "line 2",
            "an event must be an object",
        ),
    ];
    for (ctype, body, at, words) in cases {
        let r = post(&url, "/v1/events", ctype, body.clone(), None).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.json());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.at(), at, "{body}: {}", r.error());
        assert!(
            r.error().contains(words),
            "{body}: {:?} lacks {words:?}",
            r.error()
        );
        assert_eq!(sink.events(), 0, "{body}: something reached the sink");
    }
}

#[tokio::test]
async fn hostile_strings_come_back_escaped_and_short() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    // An unknown key full of quotes, newlines and an HTML tag: the error is valid JSON that holds it escaped.
    let key = "a\"b\\c\n</script><script>alert(1)</script>\u{2028}";
    let body = serde_json::json!([{"name": "x", "start": 1, "duration_ns": 1, key: 1}]).to_string();
    let r = post(&url, "/v1/events", JSON, body, None).await;
    assert_eq!(r.status, 400);
    assert!(
        !r.body.contains(&b'\n'),
        "a raw newline in {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        r.error()
            .contains(&format!("unknown key {}", serde_json::Value::from(key))),
        "{}",
        r.error()
    );

    // A lone surrogate is no Unicode: refused as malformed JSON, never stored.
    let r = post(
        &url,
        "/v1/events",
        JSON,
        r#"[{"name":"\ud800","start":1,"duration_ns":1}]"#,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("malformed JSON") && r.error().contains("escape"),
        "{}",
        r.error()
    );
    assert_eq!(r.at(), "line 1 column 17");
    // Raw bytes that are not UTF-8 likewise.
    let r = post(
        &url,
        "/v1/events",
        NDJSON,
        b"{\"name\":\"\xff\",\"start\":1,\"duration_ns\":1}".to_vec(),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("malformed JSON"), "{}", r.error());

    // 100 KB names and keys: refused (4,096 bytes at most), the message cut to a few dozen bytes of them.
    let long = "\"".repeat(100_000);
    for body in [
        serde_json::json!([{"name": long, "start": 1, "duration_ns": 1}]),
        serde_json::json!([{"name": "x", "start": 1, "duration_ns": 1, "fields": {long.as_str(): 1}}]),
        serde_json::json!([{"name": "x", "start": 1, "duration_ns": 1, long.as_str(): 1}]),
    ] {
        let r = post(&url, "/v1/events", JSON, body.to_string(), None).await;
        assert_eq!(r.status, 400, "{}", r.error());
        assert!(r.body.len() < 1_000, "{} bytes of error", r.body.len());
    }
    // 4,096 bytes is still a name.
    let name = "é".repeat(2048);
    let r = post(
        &url,
        "/v1/events",
        JSON,
        serde_json::json!([{"name": name, "start": 1, "duration_ns": 1}]).to_string(),
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(sink.take()[0].names, vec![name]);
    assert_eq!(sink.events(), 0);
}

#[tokio::test]
async fn huge_bodies_and_too_many_events_get_413() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |c| c.limits.max_events = 1000).await;
    // Default body limit 8 MiB: a 9 MiB body is refused from its Content-Length.
    let line = "{\"name\":\"a\",\"start\":1,\"duration_ns\":1}\n";
    let huge = line.repeat((9 << 20) / line.len());
    let r = post(&url, "/v1/events", NDJSON, huge, None).await;
    assert_eq!(r.status, 413, "{:?}", r.json());
    assert!(
        r.error().contains("larger than the limit of 8388608 bytes"),
        "{}",
        r.error()
    );
    let r = post(&url, "/v1/events", NDJSON, line.repeat(1001), None).await;
    assert_eq!(r.status, 413);
    assert!(
        r.error()
            .contains("more than the limit of 1000 per request"),
        "{}",
        r.error()
    );
    let r = post(
        &url,
        "/v1/events",
        JSON,
        format!("[{}]", vec![line.trim(); 1001].join(",")),
        None,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(sink.events(), 0);
    let r = post(&url, "/v1/events", NDJSON, line.repeat(1000), None).await;
    assert_eq!(r.json(), serde_json::json!({"accepted": 1000}));
}

#[tokio::test]
async fn a_body_streamed_without_length_is_cut_at_the_limit() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |c| c.limits.max_body_bytes = 1000).await;
    let line = "{\"name\":\"a\",\"start\":1,\"duration_ns\":1}\n";
    // Chunked: no Content-Length for the server to look at first.
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..40).map(|_| Ok(line.to_owned())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = post(&url, "/v1/events", NDJSON, body, None).await;
    assert_eq!(r.status, 413, "{:?}", r.json());
    assert_eq!(sink.events(), 0);
}

#[tokio::test]
async fn a_token_is_required_when_one_is_set() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |c| c.token = Some("s3cret-token".into())).await;
    let body = r#"[{"name":"a","start":1,"duration_ns":1}]"#;
    for token in [None, Some("s3cret-tokem"), Some("s3cret-token2"), Some("")] {
        let r = post(&url, "/v1/events", JSON, body, token).await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        assert_eq!(r.at(), "header Authorization");
    }
    let r = post(
        &url,
        "/v1/traces",
        "application/x-protobuf",
        vec![0xffu8],
        None,
    )
    .await;
    assert_eq!(
        r.status, 401,
        "the token comes before the body is looked at"
    );
    assert_eq!(sink.events(), 0);
    let r = post(&url, "/v1/events", JSON, body, Some("s3cret-token")).await;
    assert_eq!(r.status, 202);
    assert_eq!(sink.events(), 1);
    // The health check needs no token.
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_non_loopback_address_without_a_token_does_not_start() {
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:4318"] {
        let config = IngestConfig::new(addr.parse::<SocketAddr>().unwrap());
        let err = IngestServer::start(config, Arc::new(MemorySink::new()))
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, Error::TokenRequired { .. }), "{err}");
        assert!(err.to_string().contains("without a token"), "{err}");
    }
    let mut config = IngestConfig::new("0.0.0.0:0".parse().unwrap());
    config.token = Some("t0ken".into());
    assert!(config.check().is_ok());
    config.token = Some("has space".into());
    assert!(matches!(config.check(), Err(Error::BadToken { .. })));
    for addr in ["127.0.0.1:0", "[::1]:0", "127.3.4.5:0"] {
        assert!(
            IngestConfig::new(addr.parse().unwrap()).check().is_ok(),
            "{addr}"
        );
    }
}

#[tokio::test]
async fn the_rate_limit_gives_429_with_retry_after() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |c| c.rate_limit = rate(0.5, 2.0)).await;
    let body = r#"[{"name":"a","start":1,"duration_ns":1}]"#;
    assert_eq!(post(&url, "/v1/events", JSON, body, None).await.status, 202);
    assert_eq!(post(&url, "/v1/events", JSON, body, None).await.status, 202);
    let r = post(&url, "/v1/events", JSON, body, None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    assert!(
        r.error().contains("too many requests from 127.0.0.1"),
        "{}",
        r.error()
    );
    assert_eq!(sink.events(), 2);
}

#[tokio::test]
async fn a_failing_sink_gives_503_with_retry_after() {
    let (_server, url) = start(Arc::new(FailingSink), |_| {}).await;
    let r = post(
        &url,
        "/v1/events",
        JSON,
        r#"[{"name":"a","start":1,"duration_ns":1}]"#,
        None,
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    let e = r.error();
    assert!(
        e.contains("kafka: no broker answered (3 tried)") && e.contains("not accepted"),
        "{e}"
    );
}

/// Acknowledges after a delay, counting what it got.
struct SlowSink(Duration, AtomicUsize);

impl Sink for SlowSink {
    async fn send(&self, batch: IngestBatch) -> Result<(), SinkError> {
        tokio::time::sleep(self.0).await;
        self.1.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_answer_waits_for_the_sink_and_a_late_one_is_a_503() {
    let sink = Arc::new(SlowSink(Duration::from_millis(300), AtomicUsize::new(0)));
    let (_server, url) = start(sink.clone(), |c| {
        c.limits.sink_timeout = Duration::from_millis(1000)
    })
    .await;
    let body = r#"[{"name":"a","start":1,"duration_ns":1},{"name":"a","start":2,"duration_ns":1}]"#;
    let t0 = std::time::Instant::now();
    let r = post(&url, "/v1/events", JSON, body, None).await;
    assert_eq!(r.status, 202);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "answered before the sink acknowledged"
    );
    assert_eq!(sink.1.load(Ordering::SeqCst), 2);

    let slow = Arc::new(SlowSink(Duration::from_secs(5), AtomicUsize::new(0)));
    let (_server, url) = start(slow, |c| c.limits.sink_timeout = Duration::from_millis(200)).await;
    let r = post(&url, "/v1/events", JSON, body, None).await;
    assert_eq!(r.status, 503);
    assert!(r.error().contains("within 0.2 s"), "{}", r.error());
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
}

#[tokio::test]
async fn routes_methods_and_content_types() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    let body = r#"[{"name":"a","start":1,"duration_ns":1}]"#;
    let r = post(&url, "/v1/events", "text/plain", body, None).await;
    assert_eq!((r.status, r.at().as_str()), (415, "header Content-Type"));
    assert!(r.error().contains("application/x-ndjson"), "{}", r.error());
    let r = post(&url, "/v1/traces", NDJSON, body, None).await;
    assert_eq!(r.status, 415);
    let r = post(&url, "/v2/events", JSON, body, None).await;
    assert_eq!(r.status, 404);
    let client = reqwest::Client::new();
    let r = client.get(format!("{url}/v1/events")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = client
        .post(format!("{url}/v1/events"))
        .header("content-type", JSON)
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"ok":true}"#);
    assert_eq!(sink.events(), 0);
}
