//! Against a real 3-broker cluster (`LAPTIME_KAFKA_CLUSTER=1`): produce continuously while one broker
//! is SIGKILLed and restarted. Every acknowledged message must be in the log (consumed back), once;
//! sends may fail, but then they are reported as failed, never as acknowledged.

mod kafka_env;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{
    create_topic, Consumer, ConsumerConfig, Deliveries, Polled, Producer, ProducerConfig, Record,
    TopicSpec,
};

const CHUNK: u64 = 200;

#[derive(Default)]
struct Tally {
    sent: u64,
    acked: Vec<u64>,
    failed: Vec<(u64, String)>,
}

fn settle(pending: Deliveries, first: u64, tally: &mut Tally) {
    for (j, r) in pending.wait().into_iter().enumerate() {
        let id = first + j as u64;
        match r {
            Ok(_) => tally.acked.push(id),
            Err(e) => tally.failed.push((id, e.to_string())),
        }
    }
}

/// Produce continuously; `outage` after 4 s: SIGKILL the `nodes`, wait, restart them. Then read the
/// topic back and compare with what each send reported.
fn phase(
    bs: &str,
    script: &PathBuf,
    nodes: &[&str],
    down_for: Duration,
    delivery_timeout: Duration,
) -> Report {
    let topic = kafka_env::unique("laptime-bf");
    let mut spec = TopicSpec::new(&topic, 6, 3);
    spec.min_insync_replicas = Some(2);
    create_topic(bs, &spec, Duration::from_secs(60)).unwrap();
    let mut cfg = ProducerConfig::new(bs, &topic);
    cfg.delivery_timeout = delivery_timeout;
    let producer = Producer::connect(&cfg).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let shipper = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut tally = Tally::default();
            let mut outstanding: VecDeque<(u64, Deliveries)> = VecDeque::new();
            let mut next = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<u64> = (next..next + CHUNK).collect();
                let keys: Vec<Vec<u8>> = ids
                    .iter()
                    .map(|i| format!("src-{}", i % 12).into_bytes())
                    .collect();
                let payloads: Vec<Vec<u8>> = ids
                    .iter()
                    .map(|i| format!("{i:020}").repeat(20).into_bytes())
                    .collect();
                let idb: Vec<[u8; 8]> = ids.iter().map(|i| i.to_be_bytes()).collect();
                let hs: Vec<[(&str, &[u8]); 1]> =
                    idb.iter().map(|b| [("id", b.as_slice())]).collect();
                let recs: Vec<Record<'_>> = (0..ids.len())
                    .map(|j| Record {
                        key: &keys[j],
                        payload: &payloads[j],
                        headers: &hs[j],
                    })
                    .collect();
                outstanding.push_back((next, producer.send_all(&recs)));
                tally.sent += CHUNK;
                next += CHUNK;
                // Bounded pipelining: wait for the oldest chunk once 20 are in flight.
                while outstanding.len() > 20 {
                    if let Some((first, d)) = outstanding.pop_front() {
                        settle(d, first, &mut tally);
                    }
                }
                thread::sleep(Duration::from_millis(5));
            }
            for (first, d) in outstanding {
                settle(d, first, &mut tally);
            }
            tally
        })
    };

    thread::sleep(Duration::from_secs(4));
    for n in nodes {
        kafka_env::kafka_sh(script, &["kill", n]);
    }
    eprintln!("brokers {nodes:?} SIGKILLed");
    thread::sleep(down_for);
    for n in nodes {
        // `restart` returns once the node answers again.
        kafka_env::kafka_sh(script, &["restart", n]);
    }
    eprintln!("brokers {nodes:?} back");
    thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let tally = shipper.join().unwrap();
    assert_eq!(
        tally.acked.len() + tally.failed.len(),
        tally.sent as usize,
        "every send has one outcome"
    );
    assert!(
        tally.acked.len() > 10_000,
        "too little traffic to mean anything: {}",
        tally.acked.len()
    );

    // Read the whole topic back with a fresh group.
    let mut ccfg = ConsumerConfig::new(bs, kafka_env::unique("laptime-bf-check"), &topic);
    ccfg.startup_timeout = Duration::from_secs(30);
    let consumer = Consumer::connect(&ccfg, None).unwrap();
    let mut copies: HashMap<u64, u32> = HashMap::new();
    let acked_count = tally.acked.len();
    let acked_seen = |copies: &HashMap<u64, u32>| {
        tally
            .acked
            .iter()
            .filter(|id| copies.contains_key(id))
            .count()
    };
    let start = Instant::now();
    let mut last_check = Instant::now();
    let mut complete_at: Option<Instant> = None;
    // Until every acknowledged id is back (or 3 minutes), then 3 quiet seconds to catch duplicates.
    while complete_at.is_none_or(|t| t.elapsed() < Duration::from_secs(3))
        && start.elapsed() < Duration::from_secs(180)
    {
        if let Some(Polled::Message(m)) = consumer.poll(Duration::from_millis(200)).unwrap() {
            let h = &m
                .headers
                .iter()
                .find(|(k, _)| k == "id")
                .expect("id header")
                .1;
            let id = u64::from_be_bytes(h.as_slice().try_into().expect("8 bytes"));
            *copies.entry(id).or_default() += 1;
        }
        if complete_at.is_none() && last_check.elapsed() > Duration::from_secs(1) {
            last_check = Instant::now();
            if acked_seen(&copies) == acked_count {
                complete_at = Some(Instant::now());
            }
        }
    }
    let lost: Vec<u64> = tally
        .acked
        .iter()
        .copied()
        .filter(|id| !copies.contains_key(id))
        .collect();
    let doubled: Vec<u64> = tally
        .acked
        .iter()
        .copied()
        .filter(|id| copies.get(id).copied().unwrap_or(0) > 1)
        .collect();
    let failed_but_logged = tally
        .failed
        .iter()
        .filter(|(id, _)| copies.contains_key(id))
        .count();
    let mut reasons: HashMap<&str, usize> = HashMap::new();
    for (_, e) in &tally.failed {
        let kind = e.rsplit(": ").next().unwrap_or(e);
        *reasons.entry(kind).or_default() += 1;
    }
    eprintln!(
        "broker_failure (killed {nodes:?} for {down_for:?}, delivery timeout {delivery_timeout:?}): sent {}, acknowledged {}, failed {} {:?}, in log {}, lost {}, duplicated {}, failed-but-in-log {}",
        tally.sent,
        tally.acked.len(),
        tally.failed.len(),
        reasons,
        copies.len(),
        lost.len(),
        doubled.len(),
        failed_but_logged
    );
    Report {
        acked: tally.acked.len(),
        failed: tally.failed.len(),
        lost,
        doubled,
    }
}

struct Report {
    acked: usize,
    failed: usize,
    lost: Vec<u64>,
    doubled: Vec<u64>,
}

impl Report {
    /// Nothing acknowledged is missing; with `no_timeouts`, nothing is in the log twice either.
    /// After delivery timeouts librdkafka starts a new idempotence epoch and a message that was in
    /// flight may be written twice (seen: 50 of 516,534 acknowledged): the fleet drops such copies by
    /// (source, seq) at the indexer, so only loss is a failure there.
    fn check(&self, no_timeouts: bool) {
        let (lost, doubled) = (&self.lost, &self.doubled);
        assert!(
            lost.is_empty(),
            "acknowledged but not in the log: {} e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
        if no_timeouts {
            assert!(
                doubled.is_empty(),
                "acknowledged and in the log twice: {:?}",
                &doubled[..doubled.len().min(10)]
            );
        }
    }
}

#[test]
fn acknowledged_messages_survive_broker_kills() {
    let Some((bs, script)) = kafka_env::cluster("broker_failure") else {
        return;
    };
    // One broker of three down: min.insync.replicas 2 still holds, sends keep being acknowledged.
    let one = phase(
        &bs,
        &script,
        &["2"],
        Duration::from_secs(10),
        Duration::from_secs(30),
    );
    one.check(one.failed == 0);
    // Two down for longer than the delivery timeout: nothing can be acknowledged meanwhile, so sends
    // must fail, and be reported as failed (the check above proves none of the acked ones is missing).
    let two = phase(
        &bs,
        &script,
        &["2", "3"],
        Duration::from_secs(12),
        Duration::from_secs(5),
    );
    two.check(false);
    assert!(
        two.failed > 0,
        "no send failed while 2 of 3 brokers were down past the delivery timeout"
    );
    assert!(two.acked > 0);
}
