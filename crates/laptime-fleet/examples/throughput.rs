//! Producer and consumer throughput against a running Kafka.
//!
//! cargo run --release -p laptime-fleet --example throughput -- \
//!     BROKERS PAYLOAD_BYTES COUNT [lz4|zstd|none] [text|random] [PARTITIONS]
//!
//! `text` payloads are event-like lines (compressible, like uncompressed event batches); `random`
//! ones are incompressible (like pages that are compressed already). 64 distinct payloads are
//! generated up front and cycled, so generation costs nothing during the run and no batch holds the
//! same payload twice.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use laptime_fleet::kafka::{
    create_topic, Compression, Consumer, ConsumerConfig, Deliveries, Polled, Producer,
    ProducerConfig, Record, TopicSpec,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn payload(size: usize, text: bool, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(size + 128);
    let mut ts = 1_764_000_000_000u64 + seed * 1000;
    while out.len() < size {
        if text {
            let r = rng.next();
            ts += r % 50;
            let line = format!(
                "{{\"ts\":{ts},\"fn\":\"svc.handler_{}\",\"dur_ns\":{},\"ok\":{},\"host\":\"app-{}\"}}\n",
                r % 40,
                (r >> 8) % 5_000_000,
                !(r >> 40).is_multiple_of(17),
                (r >> 50) % 8
            );
            out.extend_from_slice(line.as_bytes());
        } else {
            out.extend_from_slice(&rng.next().to_le_bytes());
        }
    }
    out.truncate(size);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: throughput BROKERS PAYLOAD_BYTES COUNT [lz4|zstd|none] [text|random] [PARTITIONS]".into());
    }
    let brokers = &args[0];
    let size: usize = args[1].parse()?;
    let count: usize = args[2].parse()?;
    let compression = match args.get(3).map(String::as_str).unwrap_or("lz4") {
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        "none" => Compression::None,
        other => return Err(format!("unknown compression {other}").into()),
    };
    let text = args.get(4).map(String::as_str).unwrap_or("text") == "text";
    let partitions: i32 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let topic = format!("laptime-tput-{nanos}");
    create_topic(
        brokers,
        &TopicSpec::new(&topic, partitions, 1),
        Duration::from_secs(30),
    )?;

    let payloads: Vec<Vec<u8>> = (0..64).map(|i| payload(size, text, i + 1)).collect();
    let keys: Vec<Vec<u8>> = (0..64)
        .map(|i| format!("source-{i}").into_bytes())
        .collect();
    let mut cfg = ProducerConfig::new(brokers.as_str(), topic.as_str());
    cfg.compression = compression;
    let producer = Producer::connect(&cfg)?;

    // Pipeline: chunks of messages, at most ~128 MB unacknowledged.
    let chunk = (8 * 1024 * 1024 / size).clamp(1, 256);
    let max_chunks = (128 * 1024 * 1024 / (chunk * size)).max(2);
    let started = Instant::now();
    let mut outstanding: VecDeque<Deliveries> = VecDeque::new();
    let mut failed = 0usize;
    let mut sent = 0usize;
    while sent < count {
        let n = chunk.min(count - sent);
        let recs: Vec<Record<'_>> = (sent..sent + n)
            .map(|i| Record {
                key: &keys[i % 64],
                payload: &payloads[i % 64],
                headers: &[],
            })
            .collect();
        outstanding.push_back(producer.send_all(&recs));
        sent += n;
        while outstanding.len() > max_chunks {
            if let Some(d) = outstanding.pop_front() {
                failed += d.wait().iter().filter(|r| r.is_err()).count();
            }
        }
    }
    for d in outstanding {
        failed += d.wait().iter().filter(|r| r.is_err()).count();
    }
    let secs = started.elapsed().as_secs_f64();
    let mb = (count * size) as f64 / 1e6;
    println!(
        "produce  topic={topic} payload={size} count={count} compression={compression:?} data={} partitions={partitions}: {:.2} s, {:.1} MB/s, {:.0} msgs/s, failed {failed}",
        if text { "text" } else { "random" },
        secs,
        mb / secs,
        count as f64 / secs
    );
    drop(producer);

    let mut ccfg = ConsumerConfig::new(brokers.as_str(), format!("{topic}-reader"), topic.as_str());
    ccfg.startup_timeout = Duration::from_secs(30);
    let consumer = Consumer::connect(&ccfg, None)?;
    let mut read = 0usize;
    let mut bytes = 0usize;
    let mut first: Option<Instant> = None;
    let limit = Instant::now();
    while read < count {
        if limit.elapsed() > Duration::from_secs(600) {
            return Err(format!("read {read} of {count} in 600 s").into());
        }
        if let Some(Polled::Message(m)) = consumer.poll(Duration::from_millis(500))? {
            // Clock starts at the first message: group join time is not throughput.
            first.get_or_insert_with(Instant::now);
            read += 1;
            bytes += m.payload.len();
        }
    }
    let secs = first.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
    println!(
        "consume  topic={topic}: {read} msgs in {:.2} s (after the first), {:.1} MB/s, {:.0} msgs/s",
        secs,
        bytes as f64 / 1e6 / secs,
        read as f64 / secs
    );
    Ok(())
}
