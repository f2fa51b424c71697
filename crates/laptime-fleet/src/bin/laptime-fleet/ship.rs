//! `laptime-fleet ship`: send a store's sealed pages to a Kafka topic until SIGTERM/SIGINT (or,
//! with `--with-parent`, until its standard input closes: the process that started it ended).
//! Stopping, it sends what is sealed by then (for up to `--drain-s`, 10 s) and exits 0.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Producer, ProducerConfig};
use laptime_fleet::pipeline::{ShipConfig, Shipper};

use crate::args::Args;
use crate::process::stop_on_signal;

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = Args::parse_with_flags(
        argv,
        &["dir", "brokers", "topic", "feed", "drain-s"],
        &["with-parent"],
    )?;
    let mut config = ShipConfig::new(args.need("dir")?);
    if let Some(feed) = args.get("feed") {
        config.feed = feed.to_owned();
    }
    let drain = Duration::from_secs(args.number("drain-s")?.unwrap_or(10));
    let stop = stop_on_signal()?;
    if args.flag("with-parent") {
        stop_when_stdin_closes(Arc::clone(&stop))?;
    }
    let producer = Producer::connect(&ProducerConfig::new(
        args.need("brokers")?,
        args.need("topic")?,
    ))
    .map_err(|e| e.to_string())?;
    let mut shipper = Shipper::new(config.clone(), producer).map_err(|e| e.to_string())?;
    println!(
        "laptime-fleet ship: store {}, feed {}, brokers {}, topic {}",
        config.dir.display(),
        config.feed,
        args.need("brokers")?,
        args.need("topic")?
    );
    let mut last = Instant::now();
    let mut before = 0;
    while !stop.load(Ordering::Relaxed) {
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
    // What sealed before the stop (a closing store seals its last page) goes out now.
    let deadline = Instant::now() + drain;
    let mut left = true;
    while Instant::now() < deadline {
        if shipper.ship_pending().map_err(|e| e.to_string())? == 0 {
            left = false;
            break;
        }
    }
    let s = shipper.stats();
    println!(
        "laptime-fleet ship: stopped: {} events in {} messages acknowledged{}",
        s.events,
        s.messages,
        if left {
            format!(
                "; more sealed pages wait (the {drain:?} drain ran out): the next start sends them"
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Set `stop` once standard input reaches its end: the parent holding its other end ended (or
/// closed it), however it ended, so a shipper started by an app never outlives it.
fn stop_when_stdin_closes(stop: Arc<AtomicBool>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("laptime-parent".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        })
        .map(|_| ())
        .map_err(|e| format!("starting the thread that watches standard input: {e}"))
}
