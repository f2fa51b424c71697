//! `laptime-fleet ship|index`: the fleet's processes around Kafka (see the crate doc and
//! README "Running a fleet"). Each prints one line when it starts (role, store, brokers, topic)
//! and a counters line every 10 s; an unreachable Kafka at start is a clear error and exit code 1.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use laptime_fleet::ingest::{IngestConfig, IngestServer};
use laptime_fleet::kafka::{ConsumerConfig, Producer, ProducerConfig};
use laptime_fleet::pipeline::{IndexConfig, Indexer, KafkaSink, ShipConfig, Shipper};
use laptime_storage::Options;

const USAGE: &str = "usage:
  laptime-fleet ship   --dir DIR --brokers HOST:PORT[,..] --topic TOPIC [--feed NAME]
  laptime-fleet index  --dir DIR --brokers HOST:PORT[,..] --topic TOPIC --group GROUP [--id NAME]
                       [--session-timeout-s N]   (--id: experimental static group membership)
  laptime-fleet ingest --listen ADDR:PORT --brokers HOST:PORT[,..] --topic TOPIC [--token TOKEN]
                       (a token is required unless ADDR is a loopback address)";

/// `--name value` pairs; unknown names are an error naming them.
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .filter(|n| known.contains(n))
                .ok_or_else(|| format!("unknown argument {a:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            out.push((name.to_owned(), value.clone()));
        }
        Ok(Args(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("ship") => ship(&argv[1..]),
        Some("index") => index(&argv[1..]),
        Some("ingest") => ingest(&argv[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("laptime-fleet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ship(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["dir", "brokers", "topic", "feed"])?;
    let mut config = ShipConfig::new(args.need("dir")?);
    if let Some(feed) = args.get("feed") {
        config.feed = feed.to_owned();
    }
    let producer = Producer::connect(&ProducerConfig::new(
        args.need("brokers")?,
        args.need("topic")?,
    ))
    .map_err(|e| e.to_string())?;
    println!(
        "laptime-fleet ship: store {}, feed {}, brokers {}, topic {}",
        config.dir.display(),
        config.feed,
        producer.brokers(),
        producer.topic()
    );
    let mut shipper = Shipper::new(config, producer).map_err(|e| e.to_string())?;
    let mut last = Instant::now();
    let mut before = 0;
    loop {
        if shipper.ship_pending().map_err(|e| e.to_string())? == 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        if last.elapsed() >= Duration::from_secs(10) {
            let s = shipper.stats();
            println!(
                "laptime-fleet ship: {} events in {} messages ({} bytes) acknowledged, {} in the last {:?}, {} missed, {} sends failed",
                s.events, s.messages, s.bytes, s.events - before, last.elapsed(), s.missed, s.failed
            );
            last = Instant::now();
            before = s.events;
        }
    }
}

fn index(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(
        argv,
        &[
            "dir",
            "brokers",
            "topic",
            "group",
            "id",
            "session-timeout-s",
        ],
    )?;
    let config = IndexConfig::new(args.need("dir")?);
    let mut consumer = ConsumerConfig::new(
        args.need("brokers")?,
        args.need("group")?,
        args.need("topic")?,
    );
    // --id makes the member static (Kafka's group.instance.id): meant to give a member killed and
    // restarted within the session timeout its partitions back. Experimental: its test
    // (tests/indexer_restart.rs) does not pass reliably yet (see ARCHITECTURE.md "The fleet").
    let id = args.get("id").map(str::to_owned);
    if let Some(id) = &id {
        consumer
            .overrides
            .push(("group.instance.id".into(), id.clone()));
        consumer.session_timeout = Duration::from_secs(30);
    }
    if let Some(s) = args.get("session-timeout-s") {
        let s: u64 = s.parse().map_err(|e| format!("--session-timeout-s: {e}"))?;
        consumer.session_timeout = Duration::from_secs(s);
    }
    let options = Options {
        sync: laptime_storage::SyncPolicy::Always,
        ..Options::default()
    };
    let mut indexer =
        Indexer::start(config.clone(), &consumer, options).map_err(|e| e.to_string())?;
    println!(
        "laptime-fleet index: store {}, brokers {}, topic {}, group {}, member {}",
        config.dir.display(),
        consumer.brokers,
        consumer.topic,
        consumer.group,
        id.as_deref().unwrap_or("(dynamic)")
    );
    let started = Instant::now();
    loop {
        // Run in slices so counters are printed; each slice ends with a commit.
        let slice = AtomicBool::new(false);
        let until = Instant::now() + Duration::from_secs(10);
        std::thread::scope(|scope| -> Result<(), String> {
            scope.spawn(|| {
                while Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(100));
                }
                slice.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            indexer.run(&slice).map_err(|e| e.to_string())
        })?;
        let s = indexer.stats();
        println!(
            "laptime-fleet index: {} events stored from {} messages, {} duplicates dropped, {} overlapping, {} bad messages, {} commits ({:?} up)",
            s.events, s.messages, s.duplicates, s.overlaps, s.bad_messages, s.commits, started.elapsed()
        );
    }
}

fn ingest(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["listen", "brokers", "topic", "token"])?;
    let listen = args
        .need("listen")?
        .parse()
        .map_err(|e| format!("--listen: {e} (ADDR:PORT, e.g. 127.0.0.1:4318)"))?;
    let mut config = IngestConfig::new(listen);
    config.token = args.get("token").map(str::to_owned);
    config.check().map_err(|e| e.to_string())?;
    let producer = Producer::connect(&ProducerConfig::new(
        args.need("brokers")?,
        args.need("topic")?,
    ))
    .map_err(|e| e.to_string())?;
    let (brokers, topic) = (producer.brokers().to_owned(), producer.topic().to_owned());
    let sink = std::sync::Arc::new(KafkaSink::new(producer));
    let source = sink.source().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async move {
        let server = IngestServer::start(config, sink).await.map_err(|e| e.to_string())?;
        println!(
            "laptime-fleet ingest: listening on http://{}, brokers {brokers}, topic {topic}, source {source}",
            server.local_addr()
        );
        std::future::pending::<()>().await;
        Ok(())
    })
}
