//! Requests/s and events/s through `laptime ingest` into a real Kafka: the ingest server (HTTP,
//! checks, pages, idempotent `acks=all` producer) and a load generator in this process, Kafka
//! outside. A request counts when it got `202`, i.e. after Kafka acknowledged its events.
//!
//! cargo run --release -p laptime-fleet --example ingest_load -- BROKERS [SECONDS] [EVENTS_PER_REQUEST] [CONNECTIONS]
//!
//! Bodies are NDJSON calls with two fields each (`route`, `status`), 64 distinct bodies made up
//! front and cycled. Prints requests/s, events/s, request latency percentiles, refusals, and the
//! process's peak RSS.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::ingest::{IngestConfig, IngestServer};
use laptime_fleet::kafka::{create_topic, Producer, ProducerConfig, TopicSpec};
use laptime_fleet::pipeline::KafkaSink;

fn body(events: usize, seed: usize) -> String {
    let routes = ["/api/cart", "/api/search", "/api/login", "/api/orders/:id"];
    let mut out = String::with_capacity(events * 130);
    for i in 0..events {
        let n = seed * events + i;
        out.push_str(&format!(
            "{{\"name\":\"http.{}\",\"start\":\"{}\",\"duration_ns\":{},\"ok\":{},\"fields\":{{\"route\":\"{}\",\"status\":{}}}}}\n",
            ["get", "post"][n % 2],
            1_760_000_000_000_000_000u64 + n as u64 * 1_000,
            20_000 + (n * 7_919) % 3_000_000,
            !n.is_multiple_of(97),
            routes[n % routes.len()],
            if n.is_multiple_of(97) { 500 } else { 200 },
        ));
    }
    out
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let brokers = args.first().expect("BROKERS").clone();
    let seconds: u64 = args.get(1).map_or(10, |s| s.parse().expect("SECONDS"));
    let per_request: usize = args.get(2).map_or(100, |s| s.parse().expect("EVENTS"));
    let connections: usize = args.get(3).map_or(8, |s| s.parse().expect("CONNECTIONS"));
    let n_brokers = brokers.split(',').count() as i32;
    let topic = format!(
        "laptime-ingest-load-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut spec = TopicSpec::new(&topic, 6, n_brokers.min(3));
    spec.min_insync_replicas = Some(if n_brokers >= 3 { 2 } else { 1 });
    create_topic(&brokers, &spec, Duration::from_secs(60)).expect("topic");
    let producer = Producer::connect(&ProducerConfig::new(brokers.as_str(), topic.as_str()))
        .expect("producer");
    let bodies: Arc<Vec<String>> = Arc::new((0..64).map(|s| body(per_request, s)).collect());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut config = IngestConfig::new("127.0.0.1:0".parse().unwrap());
        config.rate_limit = None;
        let server = IngestServer::start(config, Arc::new(KafkaSink::new(producer)))
            .await
            .expect("server");
        let url = format!("http://{}/v1/events", server.local_addr());
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                let (url, bodies, stop) = (url.clone(), Arc::clone(&bodies), Arc::clone(&stop));
                let (accepted, refused) = (Arc::clone(&accepted), Arc::clone(&refused));
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut latencies = Vec::new();
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let r = client
                            .post(&url)
                            .header("content-type", "application/x-ndjson")
                            .body(bodies[i % bodies.len()].clone())
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == 202 => {
                                accepted.fetch_add(1, Ordering::Relaxed);
                                latencies.push(t.elapsed());
                            }
                            _ => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        i += connections;
                    }
                    latencies
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * p) as usize)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        let ok = accepted.load(Ordering::Relaxed);
        println!(
            "ingest_load: {per_request} events/request, {connections} connections, {seconds} s, {n_brokers} broker(s): \
             {:.0} requests/s, {:.0} events/s acknowledged (202), {} refused or failed; \
             latency p50 {:.1} ms, p99 {:.1} ms; peak RSS {:.0} MiB",
            ok as f64 / elapsed,
            (ok as usize * per_request) as f64 / elapsed,
            refused.load(Ordering::Relaxed),
            pct(0.5),
            pct(0.99),
            peak_rss_mib()
        );
        server.shutdown().await;
    });
}
