//! An indexer SIGKILLed mid-stream and restarted on its store (a static group member named by the
//! store's `index-member` file) gets its partitions back and drops what it had stored but not
//! committed: three sources stream
//! events through Kafka into two `laptime-fleet index` processes, one of which is killed and
//! restarted; at the end the two stores together hold every event exactly once.

mod kafka_env;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Producer, ProducerConfig};
use laptime_fleet::pipeline::{ShipConfig, Shipper};
use laptime_storage::{Batch, Options, Store};

const BASE: u64 = 1_750_000_000_000_000_000;
const ROUNDS: u64 = 100;
const PER_ROUND: u64 = 500;

/// Start `laptime-fleet index` and wait for its start line; returns it and the member name the line
/// gives. `label` marks its later lines (forwarded to stderr).
fn indexer(bs: &str, topic: &str, group: &str, label: &str, dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_laptime-fleet"))
        .args(["index", "--dir"])
        .arg(dir)
        .args(["--brokers", bs, "--topic", topic, "--group", group])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start laptime-fleet index");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("start line");
    assert!(line.starts_with("laptime-fleet index: store"), "{line}");
    let member = line
        .split(", ")
        .find_map(|part| part.strip_prefix("member "))
        .expect("member in the start line")
        .to_owned();
    // Keep reading: a closed pipe would make its next counters line fail.
    let label = label.to_owned();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            eprintln!("[{label}] {line}");
        }
    });
    (child, member)
}

#[test]
fn a_killed_and_restarted_indexer_stores_nothing_twice() {
    let Some(bs) = kafka_env::bootstrap("indexer_restart") else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-ir", 6);
    let group = kafka_env::unique("laptime-ir-group");
    let tmp = tempfile::tempdir().unwrap();
    let stores: Vec<PathBuf> = ["a", "b"].iter().map(|n| tmp.path().join(n)).collect();
    let (mut a, member_a) = indexer(&bs, &topic, &group, "indexer-a", &stores[0]);
    let (mut b, member_b) = indexer(&bs, &topic, &group, "indexer-b", &stores[1]);
    assert_ne!(member_a, member_b, "two stores, two member names");

    // Three sources, each writing 500 events every 100 ms and shipping as pages seal.
    let sources: Vec<_> = (0..3u64)
        .map(|k| {
            let dir = tmp.path().join(format!("source{k}"));
            let bs = bs.clone();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let opts = Options {
                    page_rows: 1024,
                    page_max_age: Duration::from_millis(100),
                    ..Options::default()
                };
                let store = Store::open(&dir, opts).unwrap();
                let name = store.intern(&format!("source{k}.op")).unwrap();
                let producer =
                    Producer::connect(&ProducerConfig::new(bs.as_str(), topic.as_str())).unwrap();
                let mut shipper = Shipper::new(ShipConfig::new(&dir), producer).unwrap();
                for round in 0..ROUNDS {
                    let mut batch = Batch::with_capacity(PER_ROUND as usize);
                    for i in 0..PER_ROUND {
                        batch.push_call(
                            name,
                            BASE + k * 1_000_000_000 + round * PER_ROUND + i,
                            i + 1,
                            true,
                        );
                    }
                    store.append(batch);
                    store.flush().unwrap();
                    shipper.ship_pending().unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                }
                store.close().unwrap(); // seals the last page
                let deadline = Instant::now() + Duration::from_secs(60);
                while shipper.stats().events < ROUNDS * PER_ROUND {
                    shipper.ship_pending().unwrap();
                    assert!(
                        Instant::now() < deadline,
                        "source {k} stalled: {:?}",
                        shipper.stats()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                shipper.stats().events
            })
        })
        .collect();

    // Mid-stream, once the group has settled (both members joined, partitions handed over):
    // SIGKILL indexer a (no commit, no hand-over), restart it on its store (same member name).
    // Partitions that move from a to b meanwhile are tests/indexer_crash.rs.
    std::thread::sleep(Duration::from_secs(6));
    let stored_before_kill = kafka_env::stored_events(&stores).len();
    a.kill().unwrap();
    a.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (restarted, member) = indexer(&bs, &topic, &group, "indexer-a", &stores[0]);
    assert_eq!(member, member_a, "the store keeps its member name");
    a = restarted;

    let shipped: u64 = sources.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(shipped, 3 * ROUNDS * PER_ROUND);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got = kafka_env::stored_events(&stores);
    while got.len() < shipped as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        got = kafka_env::stored_events(&stores);
    }
    // Anything stored twice would show up by now too.
    std::thread::sleep(Duration::from_secs(2));
    got = kafka_env::stored_events(&stores);
    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    eprintln!(
        "indexer_restart: {} stored before the kill, {} at the end of {shipped}",
        stored_before_kill,
        got.len()
    );
    assert!(
        stored_before_kill > 0,
        "the kill came before anything was stored"
    );
    let twice: Vec<_> = got.iter().filter(|(_, &n)| n > 1).take(5).collect();
    let per_store: Vec<usize> = stores
        .iter()
        .map(|d| {
            kafka_env::stored_events(std::slice::from_ref(d))
                .values()
                .filter(|&&n| n > 1)
                .count()
        })
        .collect();
    assert!(
        twice.is_empty(),
        "stored twice: {twice:?} ({} in all; twice within store a, b: {per_store:?})",
        got.values().filter(|&&n| n > 1).count()
    );
    assert_eq!(got.len() as u64, shipped, "events missing");
}

/// SIGTERM (a deploy) makes an indexer commit everything it stored before it exits 0: the group's
/// committed offsets reach the end of every partition, so its successor reads nothing again.
#[test]
fn an_indexer_stopped_with_sigterm_commits_what_it_stored() {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

    let Some(bs) = kafka_env::bootstrap("indexer_restart") else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-term", 3);
    let group = kafka_env::unique("laptime-term-group");
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source");
    let store = Store::open(
        &source,
        Options {
            page_rows: 1024,
            ..Options::default()
        },
    )
    .unwrap();
    let name = store.intern("term.op").unwrap();
    let mut batch = Batch::with_capacity(20_000);
    for i in 0..20_000u64 {
        batch.push_call(name, BASE + i, i + 1, true);
    }
    store.append(batch);
    store.close().unwrap();
    let producer = Producer::connect(&ProducerConfig::new(bs.as_str(), topic.as_str())).unwrap();
    let mut shipper = Shipper::new(ShipConfig::new(&source), producer).unwrap();
    while shipper.ship_pending().unwrap() > 0 {}
    assert_eq!(shipper.stats().events, 20_000);

    let dir = tmp.path().join("index");
    let (mut child, _) = indexer(&bs, &topic, &group, "indexer-term", &dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafka_env::stored_events(std::slice::from_ref(&dir)).len() < 20_000 {
        assert!(
            Instant::now() < deadline,
            "the indexer did not store the events"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM ends the indexer cleanly: {exit:?}");

    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&topic, p);
    }
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    for p in 0..3 {
        let (_, high) = probe
            .fetch_watermarks(&topic, p, Duration::from_secs(10))
            .unwrap();
        let at = committed
            .find_partition(&topic, p)
            .map(|e| e.offset())
            .unwrap_or(Offset::Invalid);
        let expected = if high == 0 {
            Offset::Invalid
        } else {
            Offset::Offset(high)
        };
        assert_eq!(
            at, expected,
            "partition {p}: committed vs the end of the log"
        );
    }
}
