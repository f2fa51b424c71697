//! `laptime-fleet ingest`: the HTTP ingest (events and OTLP traces) into a Kafka topic.

use std::sync::Arc;

use laptime_fleet::ingest::{IngestConfig, IngestServer};
use laptime_fleet::kafka::{Producer, ProducerConfig};
use laptime_fleet::pipeline::KafkaSink;

use crate::args::Args;
use crate::process::runtime;

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse(argv, &["listen", "brokers", "topic", "token"])?;
    let listen = args.addr("listen")?.ok_or("--listen is required")?;
    let mut config = IngestConfig::new(listen);
    config.token = args.get("token").map(str::to_owned);
    config.check().map_err(|e| e.to_string())?;
    let producer = Producer::connect(&ProducerConfig::new(
        args.need("brokers")?,
        args.need("topic")?,
    ))
    .map_err(|e| e.to_string())?;
    let (brokers, topic) = (producer.brokers().to_owned(), producer.topic().to_owned());
    let sink = Arc::new(KafkaSink::new(producer));
    let source = sink.source().to_owned();
    runtime(2)?.block_on(async move {
        let server = IngestServer::start(config, sink)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "laptime-fleet ingest: listening on http://{}, brokers {brokers}, topic {topic}, source {source}",
            server.local_addr()
        );
        std::future::pending::<()>().await;
        Ok(())
    })
}
