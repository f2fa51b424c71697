//! `laptime-fleet ship`: send a store's sealed pages to a Kafka topic, forever.

use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Producer, ProducerConfig};
use laptime_fleet::pipeline::{ShipConfig, Shipper};

use crate::args::Args;

pub fn run(argv: &[String]) -> Result<(), String> {
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
                "laptime-fleet ship: {} events in {} messages ({} bytes) acknowledged, {} in the last {:.0?}, {} missed, {} sends failed",
                s.events, s.messages, s.bytes, s.events - before, last.elapsed(), s.missed, s.failed
            );
            last = Instant::now();
            before = s.events;
        }
    }
}
