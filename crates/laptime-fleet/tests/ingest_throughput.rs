//! Throughput of `POST /v1/events`: 1,000-event NDJSON bodies into a sink that counts and drops,
//! client and server in one process on 127.0.0.1. A measurement, not a check: run it with
//! `cargo test --release -p laptime-fleet --test ingest_throughput -- --ignored --nocapture`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use laptime_fleet::ingest::{IngestBatch, Sink, SinkError};

/// Counts events and drops them, so the figure is the ingest's and not a sink's.
#[derive(Default)]
struct CountingSink(AtomicU64);

impl Sink for CountingSink {
    async fn send(&self, batch: IngestBatch) -> Result<(), SinkError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// 1,000 events shaped like R1-full: 200 names, 30% with route and tier fields, 2% log lines.
fn body(seed: u64) -> String {
    let mut out = String::new();
    for i in 0..1000u64 {
        let n = seed * 1000 + i;
        let start = 1_796_292_000_000_000_000 + n * 1000;
        let name = format!("Service{}.method{}", n % 40, n % 5);
        if n.is_multiple_of(50) {
            out.push_str(&format!(
                r#"{{"name":"{name}","start":{start},"level":"info","message":"handled request {n}"}}"#
            ));
        } else if n % 10 < 3 {
            out.push_str(&format!(
                r#"{{"name":"{name}","start":{start},"duration_ns":{},"ok":{},"fields":{{"route":"/api/v1/r{}","tier":"t{}"}}}}"#,
                2000 + n % 20_000_000,
                !n.is_multiple_of(100),
                n % 50,
                n % 3
            ));
        } else {
            out.push_str(&format!(
                r#"{{"name":"{name}","start":{start},"duration_ns":{},"ok":{}}}"#,
                2000 + n % 20_000_000,
                !n.is_multiple_of(100)
            ));
        }
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture in release"]
async fn ndjson_requests_per_second() {
    let sink = Arc::new(CountingSink::default());
    let (_server, url) = common::start(sink.clone(), |_| {}).await;
    let bodies: Vec<bytes::Bytes> = (0..8).map(|s| bytes::Bytes::from(body(s))).collect();
    let body_bytes = bodies[0].len();
    let (clients, per_client) = (4usize, 500usize);
    let client = reqwest::Client::new();
    // Warm up the connections.
    for b in &bodies[..clients] {
        let r = client
            .post(format!("{url}/v1/events"))
            .header("content-type", "application/x-ndjson")
            .body(b.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let before = sink.0.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let b = bodies[(c + i) % bodies.len()].clone();
                let r = client
                    .post(format!("{url}/v1/events"))
                    .header("content-type", "application/x-ndjson")
                    .body(b)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                r.bytes().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    let events = sink.0.load(Ordering::Relaxed) - before;
    let requests = (clients * per_client) as f64;
    assert_eq!(events, requests as u64 * 1000);
    println!(
        "ingest NDJSON: {requests} requests of 1,000 events ({} KB each), {clients} concurrent clients, client and server in one process on 127.0.0.1 (2 tokio workers): {:.0} requests/s, {:.0} events/s, {:.0} MB/s of body, {secs:.2} s",
        body_bytes / 1000,
        requests / secs,
        events as f64 / secs,
        (requests * body_bytes as f64) / secs / 1e6,
    );
}
