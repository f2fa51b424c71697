//! `laptime ingest` into Kafka into an indexer, for real: requests accepted with 202 are in the
//! indexer's store exactly once, with their names, times and fields; a refused request sends
//! nothing; the answer waits for Kafka's acknowledgement (a sink that never reaches Kafka fails
//! the request instead of answering 202).

mod kafka_env;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::ingest::{IngestConfig, IngestServer};
use laptime_fleet::kafka::{ConsumerConfig, Producer, ProducerConfig};
use laptime_fleet::pipeline::{IndexConfig, Indexer, KafkaSink};
use laptime_storage::{Options, ScanFilter, Value};

const BASE: u64 = 1_800_000_000_000_000_000;

fn ndjson(request: u64) -> String {
    (0..1000u64)
        .map(|i| {
            let start = BASE + request * 1_000_000 + i;
            format!(
                r#"{{"name":"ingest.op{}","start":{start},"duration_ns":{},"ok":{},"fields":{{"req":{request},"route":"/r/{}"}}}}"#,
                i % 3,
                i + 1,
                i % 17 != 0,
                i % 4
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_requests_reach_an_indexer_exactly_once_and_refused_ones_send_nothing() {
    let Some(bs) = kafka_env::bootstrap("ingest_kafka") else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-ik", 3);

    let producer = Producer::connect(&ProducerConfig::new(bs.as_str(), topic.as_str())).unwrap();
    let sink = Arc::new(KafkaSink::new(producer));
    let mut config = IngestConfig::new("127.0.0.1:0".parse().unwrap());
    config.rate_limit = None;
    let server = IngestServer::start(config, Arc::clone(&sink))
        .await
        .unwrap();
    let url = format!("http://{}/v1/events", server.local_addr());
    let client = reqwest::Client::new();
    for request in 0..3 {
        let resp = client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .body(ndjson(request))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "{:?}", resp.text().await);
    }
    // A bad line in the middle: the whole request is refused, nothing goes to Kafka.
    let mut bad = ndjson(9);
    bad.push_str("\n{\"name\":\"x\",\"start\":1,\"duration_ns\":-5}");
    let resp = client
        .post(&url)
        .header("content-type", "application/x-ndjson")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let dir = tempfile::tempdir().unwrap();
    let consumer = ConsumerConfig::new(
        bs.as_str(),
        kafka_env::unique("laptime-ik-group"),
        topic.as_str(),
    );
    let path = dir.path().to_owned();
    let (events, stats) = tokio::task::spawn_blocking(move || {
        let mut indexer =
            Indexer::start(IndexConfig::new(&path), &consumer, Options::default()).unwrap();
        let stats = indexer.stats_handle();
        let stop = Arc::new(AtomicBool::new(false));
        let watch = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while stats.get().events < 3000 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                // Anything more (the refused request) would arrive by now too.
                std::thread::sleep(Duration::from_secs(2));
                stop.store(true, Ordering::Relaxed);
            })
        };
        indexer.run(&stop).unwrap();
        watch.join().unwrap();
        let events = indexer
            .store()
            .view()
            .unwrap()
            .events(&ScanFilter::default())
            .unwrap();
        (events, indexer.stats())
    })
    .await
    .unwrap();
    server.shutdown().await;
    assert_eq!(
        (
            stats.messages,
            stats.events,
            stats.duplicates,
            stats.bad_messages
        ),
        (3, 3000, 0, 0),
        "{stats:?}"
    );
    let mut starts: Vec<u64> = events.iter().map(|e| e.start_ns).collect();
    starts.sort_unstable();
    let want: Vec<u64> = (0..3u64)
        .flat_map(|r| (0..1000u64).map(move |i| BASE + r * 1_000_000 + i))
        .collect();
    assert_eq!(starts, want);
    let e = events
        .iter()
        .find(|e| e.start_ns == BASE + 2_000_000 + 17)
        .unwrap();
    assert_eq!(
        (e.name.as_str(), e.duration_ns, e.code.is_call()),
        ("ingest.op2", 18, true)
    );
    assert_eq!(
        e.fields,
        [
            ("req".to_owned(), Value::I64(2)),
            ("route".to_owned(), Value::Str("/r/1".into()))
        ]
    );
}
