//! Shared by the Kafka tests: where the real brokers are, and the skip/fail policy when they are not
//! there. `npm run test:fleet` (scripts/test-fleet.sh, run by CI) starts a cluster with
//! scripts/kafka.sh and sets `LAPTIME_REQUIRE_KAFKA=1`: then a missing broker fails the test. A
//! plain `cargo test` (also inside `npm test`) prints a visible skip instead.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use laptime_fleet::kafka::{create_topic, TopicSpec};
use laptime_storage::{ScanFilter, View};

fn cannot_run(test: &str, reason: &str) {
    if std::env::var("LAPTIME_REQUIRE_KAFKA").ok().as_deref() == Some("1") {
        panic!("{test}: {reason}; LAPTIME_REQUIRE_KAFKA=1 says this run must test against Kafka");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// The bootstrap list of a running Kafka (`LAPTIME_KAFKA_BOOTSTRAP`), or `None` after printing why.
pub fn bootstrap(test: &str) -> Option<String> {
    match std::env::var("LAPTIME_KAFKA_BOOTSTRAP") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ => {
            cannot_run(
                test,
                "LAPTIME_KAFKA_BOOTSTRAP is not set (npm run test:fleet starts Kafka and sets it)",
            );
            None
        }
    }
}

/// A 3-broker cluster this test may kill brokers of: (bootstrap list, path of kafka.sh).
/// Needs `LAPTIME_KAFKA_CLUSTER=1`, `LAPTIME_KAFKA_BOOTSTRAP` with three brokers, and `LAPTIME_KAFKA_SH`
/// (the script that started them; its `KAFKA_RUN` must be in the environment too).
pub fn cluster(test: &str) -> Option<(String, PathBuf)> {
    if std::env::var("LAPTIME_KAFKA_CLUSTER").ok().as_deref() != Some("1") {
        cannot_run(
            test,
            "LAPTIME_KAFKA_CLUSTER=1 is not set (npm run test:fleet starts 3 brokers and sets it)",
        );
        return None;
    }
    let bs = bootstrap(test)?;
    if bs.split(',').count() < 3 {
        cannot_run(test, "LAPTIME_KAFKA_BOOTSTRAP must list the 3 brokers");
        return None;
    }
    match std::env::var_os("LAPTIME_KAFKA_SH") {
        Some(p) => Some((bs, PathBuf::from(p))),
        None => {
            cannot_run(
                test,
                "LAPTIME_KAFKA_SH is not set (the kafka.sh that started the cluster, to kill and restart a broker)",
            );
            None
        }
    }
}

/// Run `kafka.sh ARGS...`, panicking with its output when it fails.
pub fn kafka_sh(script: &PathBuf, args: &[&str]) {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed: {}{}",
        script.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A name no earlier run used (topics and groups outlive a test run on a kept broker).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A new topic (named after `prefix`, see [`unique`]) of `partitions`, replicated as the fleet's
/// topics are: 3 copies and `min.insync.replicas` 2 with three brokers or more, else one copy.
pub fn fleet_topic(bs: &str, prefix: &str, partitions: i32) -> String {
    let brokers = bs.split(',').count() as i32;
    let topic = unique(prefix);
    let mut spec = TopicSpec::new(&topic, partitions, brokers.min(3));
    spec.min_insync_replicas = Some(if brokers >= 3 { 2 } else { 1 });
    create_topic(bs, &spec, Duration::from_secs(60)).unwrap();
    topic
}

/// Every (name, start) the stores in `dirs` hold, counted: what the tests check "stored once"
/// with. A store not created yet (an indexer still starting) holds nothing; a store that fails
/// while being read fails the test.
pub fn stored_events(dirs: &[impl AsRef<Path>]) -> BTreeMap<(String, u64), u32> {
    let mut out = BTreeMap::new();
    for dir in dirs {
        let Ok(view) = View::open_read_only(dir.as_ref()) else {
            continue;
        };
        let events = view
            .events(&ScanFilter::default())
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.as_ref().display()));
        for e in events {
            *out.entry((e.name, e.start_ns)).or_insert(0) += 1;
        }
    }
    out
}
