//! An indexer killed at the two instants that decide who stores a message, while its partitions
//! move to another member for good (its 6 s session runs out before it comes back), then
//! restarted on its store: killed after taking messages and before committing them, the other
//! member stores them and the restarted one gives them up; killed after committing and before
//! storing, the other member starts after them and the restarted one stores them. Either way the
//! two stores together hold every shipped event exactly once. Before the pending log and the
//! ledger, the first case left those messages in both stores (the README's former known limit).
//!
//! And an indexer whose group does not answer its first reads of the committed offsets: it must
//! still store everything while it runs, not only when it stops.
//!
//! Needs the `failpoints` feature (`scripts/test-fleet.sh` builds the fleet tests with it): the
//! indexer process aborts at `index-before-commit` / `index-after-commit`, and
//! `index-ledger-read-refused` fails its first ledger reads.

mod kafka_env;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{Producer, ProducerConfig};
use laptime_fleet::pipeline::{ShipConfig, Shipper};
use laptime_storage::{Batch, Options, Store};

const BASE: u64 = 1_760_000_000_000_000_000;
const SOURCES: u64 = 2;
const PER_PHASE: u64 = 20_000;

/// Start `laptime-fleet index` on `dir`; its output goes to this test's stderr, each line
/// prefixed with the store's name, and into the returned log.
fn indexer(
    bs: &str,
    topic: &str,
    group: &str,
    dir: &Path,
    failpoint: Option<&str>,
) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_laptime-fleet"));
    cmd.args(["index", "--dir"])
        .arg(dir)
        .args(["--brokers", bs, "--topic", topic, "--group", group])
        .args(["--session-timeout-s", "6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match failpoint {
        Some(f) => cmd.env("LAPTIME_FAILPOINT", f),
        None => cmd.env_remove("LAPTIME_FAILPOINT"),
    };
    let mut child = cmd.spawn().expect("start laptime-fleet index");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("start line");
    assert!(line.starts_with("laptime-fleet index: store"), "{line}");
    let log = Arc::new(Mutex::new(Vec::new()));
    let label = dir.file_name().unwrap().to_string_lossy().into_owned();
    let err = BufReader::new(child.stderr.take().expect("stderr"));
    for lines in [
        Box::new(out.lines()) as Box<dyn Iterator<Item = std::io::Result<String>> + Send>,
        Box::new(err.lines()),
    ] {
        let (label, log) = (label.clone(), Arc::clone(&log));
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                log.lock().unwrap().push(line);
            }
        });
    }
    (child, log)
}

/// Ship the `phase`th `PER_PHASE` events of each of `SOURCES` stores (small pages, so many
/// messages).
fn ship(bs: &str, topic: &str, root: &Path, phase: u64) -> u64 {
    let mut shipped = 0;
    for k in 0..SOURCES {
        let dir = root.join(format!("source{k}"));
        let store = Store::open(
            &dir,
            Options {
                page_rows: 256,
                ..Options::default()
            },
        )
        .unwrap();
        let name = store.intern(&format!("source{k}.op")).unwrap();
        let mut batch = Batch::with_capacity(PER_PHASE as usize);
        for i in phase * PER_PHASE..(phase + 1) * PER_PHASE {
            batch.push_call(name, BASE + k * 1_000_000_000 + i, i + 1, true);
        }
        store.append(batch);
        store.close().unwrap();
        let producer = Producer::connect(&ProducerConfig::new(bs, topic)).unwrap();
        let mut shipper = Shipper::new(ShipConfig::new(&dir), producer).unwrap();
        while shipper.ship_pending().unwrap() > 0 {}
        shipped += shipper.stats().events;
    }
    shipped
}

/// Wait until the group's committed offsets reach the end of every partition.
fn await_all_committed(bs: &str, topic: &str, group: &str, partitions: i32, within: Duration) {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let probe: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let deadline = Instant::now() + within;
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = probe.committed_offsets(tpl, Duration::from_secs(10));
        let done = committed.is_ok_and(|c| {
            (0..partitions).all(|p| {
                let (_, high) = probe
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .unwrap_or((0, i64::MAX));
                let at = c.find_partition(topic, p).map(|e| e.offset());
                high == 0 || at == Some(Offset::Offset(high))
            })
        });
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the group did not commit the whole topic within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The brokers' address (`None`: no Kafka, the test is skipped); these tests need the indexer
/// built with its fail points.
fn kafka_with_failpoints() -> Option<String> {
    let bs = kafka_env::bootstrap("indexer_crash")?;
    if !cfg!(feature = "failpoints") {
        panic!("indexer_crash needs --features failpoints (scripts/test-fleet.sh passes it)");
    }
    Some(bs)
}

fn killed_at(failpoint: &str) {
    let Some(bs) = kafka_with_failpoints() else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-crash", 3);
    let group = kafka_env::unique("laptime-crash-group");
    let tmp = tempfile::tempdir().unwrap();
    let mut shipped = ship(&bs, &topic, tmp.path(), 0);
    let (a_dir, b_dir): (PathBuf, PathBuf) = (tmp.path().join("a"), tmp.path().join("b"));

    // Indexer a takes messages and dies at its first commit, before or after it.
    let (mut a, _) = indexer(&bs, &topic, &group, &a_dir, Some(failpoint));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = a.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "indexer a never reached {failpoint}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "a aborted at the fail point: {status:?}");
    let pending = std::fs::metadata(a_dir.join("index-pending")).map_or(0, |m| m.len());
    assert!(pending > 0, "a died holding messages in its pending log");
    assert!(
        kafka_env::stored_events(&[&a_dir]).is_empty(),
        "a stored nothing before its commit was known to have taken effect"
    );

    // More events arrive; indexer b gets every partition once a's session is over, and stores
    // what a's commits left.
    shipped += ship(&bs, &topic, tmp.path(), 1);
    assert_eq!(shipped, 2 * SOURCES * PER_PHASE);
    let (mut b, _) = indexer(&bs, &topic, &group, &b_dir, None);
    await_all_committed(&bs, &topic, &group, 3, Duration::from_secs(90));
    let b_alone = kafka_env::stored_events(&[&b_dir]).len() as u64;

    // a comes back on its store: it settles its pending log with the group's ledgers.
    let (mut a, _) = indexer(&bs, &topic, &group, &a_dir, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(a_dir.join("index-pending")).map_or(0, |m| m.len()) > 0 {
        assert!(Instant::now() < deadline, "a never settled its pending log");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2)); // anything stored twice would be there by now
    let got = kafka_env::stored_events(&[&a_dir, &b_dir]);
    let a_holds = kafka_env::stored_events(&[&a_dir]).len() as u64;
    for c in [&mut a, &mut b] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    eprintln!(
        "indexer_crash {failpoint}: shipped {shipped}, b stored {b_alone} alone, a stored {a_holds} after its restart, {} distinct in both",
        got.len()
    );
    let twice = got.values().filter(|&&n| n > 1).count();
    assert_eq!(twice, 0, "events stored twice");
    assert_eq!(got.len() as u64, shipped, "events missing");
    match failpoint {
        // a's commit never happened: b read everything, a gave its messages up.
        "index-before-commit" => assert_eq!((b_alone, a_holds), (shipped, 0)),
        // a's commit took effect: b started after it, a stored the committed messages on return.
        _ => assert!(
            a_holds > 0 && b_alone > 0 && b_alone + a_holds == shipped,
            "a {a_holds} + b {b_alone}"
        ),
    }
}

#[test]
fn killed_before_committing_its_messages_go_to_the_next_member_only() {
    killed_at("index-before-commit");
}

#[test]
fn killed_after_committing_it_stores_its_messages_when_it_returns() {
    killed_at("index-after-commit");
}

/// The group does not answer the first reads of its committed offsets (as when a read times out
/// in a rebalance), while every message is taken and no new one follows. The commits due meanwhile
/// cover nothing (no partition's ledger is known); once the ledgers are read, the next commit must
/// come an interval later by itself. It used to wait for a new message or for the member to stop,
/// and the clean-clone fleet test lost 53,000 acknowledged events to it.
#[test]
fn a_group_that_answers_late_delays_the_commit_but_does_not_hold_it_until_stop() {
    let Some(bs) = kafka_with_failpoints() else {
        return;
    };
    let topic = kafka_env::fleet_topic(&bs, "laptime-late-ledger", 3);
    let group = kafka_env::unique("laptime-late-ledger-group");
    let tmp = tempfile::tempdir().unwrap();
    // Everything is in the topic before the member starts: no message arrives after the ledgers.
    let shipped = ship(&bs, &topic, tmp.path(), 0);
    let dir = tmp.path().join("a");
    let (mut a, log) = indexer(&bs, &topic, &group, &dir, Some("index-ledger-read-refused"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(45);
    let stored = loop {
        let stored = kafka_env::stored_events(&[&dir]).len() as u64;
        if stored == shipped || Instant::now() > deadline {
            break stored;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let took = started.elapsed();
    a.kill().unwrap();
    a.wait().unwrap();
    let refused = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("refused by a fail point"))
        .count();
    eprintln!("indexer_crash late ledger: shipped {shipped}, stored {stored} in {took:.1?} with the member running, {refused} ledger reads refused");
    assert!(refused >= 1, "the fail point refused no ledger read");
    assert_eq!(stored, shipped, "events left pending while the member ran");
}
