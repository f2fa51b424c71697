//! A Node app that opens its store with `open({ ship: { brokers, topic } })` records events and
//! closes the store; by the time `close()` resolved, the shipper it ran (this build's
//! `laptime-fleet ship --with-parent`) had every event acknowledged by Kafka: read back from the
//! topic, each exactly once.
//!
//! Needs the npm package built in `LAPTIME_NODE_PACKAGE` (its `index.js` and native addon: `npm
//! test` builds both) and `node` on PATH; `scripts/test-fleet.sh` sets it.

mod kafka_env;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Consumer, ConsumerConfig, Polled};
use laptime_storage::ship::decode_message;

const EVENTS: u64 = 50_000;
const BASE_NS: u64 = 1_790_000_000_000_000_000;

#[test]
fn a_node_app_s_ship_option_sends_every_event_before_close_resolves() {
    let Some(bs) = kafka_env::bootstrap("ship_option") else {
        return;
    };
    let Some(package) = std::env::var_os("LAPTIME_NODE_PACKAGE") else {
        assert!(
            std::env::var("LAPTIME_REQUIRE_KAFKA").as_deref() != Ok("1"),
            "ship_option: LAPTIME_NODE_PACKAGE must name the built npm package when Kafka is required"
        );
        eprintln!("SKIPPED ship_option: LAPTIME_NODE_PACKAGE is not set");
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-ship-option", 3);

    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("app.cjs");
    let index = std::path::Path::new(&package).join("index.js");
    std::fs::write(
        &script,
        format!(
            r#"const {{ open }} = require({index:?});
const store = open({{ dir: {dir:?}, ship: {{ brokers: {bs:?}, topic: {topic:?} }} }});
for (let i = 0; i < {EVENTS}; i++) {{
  store.record({{ name: 'node.op', startNs: {BASE_NS}n + BigInt(i) * 1000n, durationNs: 1000 + i }});
}}
store.close().then(() => console.log('closed'), (e) => {{ console.error(e); process.exit(1); }});
"#,
            index = index.display().to_string(),
            dir = tmp.path().join("store").display().to_string(),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new("node")
        .arg(&script)
        .env("LAPTIME_FLEET_BIN", env!("CARGO_BIN_EXE_laptime-fleet"))
        .output()
        .expect("run node");
    let app_s = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("closed"),
        "the app: {:?}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // Everything is in the topic now: read it all back.
    let mut config =
        ConsumerConfig::new(bs.as_str(), kafka_env::unique("ship-option-check"), &topic);
    config.startup_timeout = Duration::from_secs(30);
    let consumer = Consumer::connect(&config, None).unwrap();
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (seen.len() as u64) < EVENTS && Instant::now() < deadline {
        if let Some(Polled::Message(m)) = consumer.poll(Duration::from_millis(200)).unwrap() {
            for page in decode_message(&m.payload).unwrap().pages {
                for e in page.events() {
                    assert_eq!(e.name, "node.op");
                    *seen.entry(e.start_ns).or_insert(0) += 1;
                }
            }
        }
    }
    eprintln!(
        "ship_option: the app recorded, closed and shipped {EVENTS} events in {app_s:.1} s; {} read back",
        seen.len()
    );
    assert_eq!(seen.len() as u64, EVENTS, "events missing from the topic");
    assert!(seen.values().all(|&n| n == 1), "an event sent twice");
    assert_eq!(seen.keys().next(), Some(&BASE_NS));
}
