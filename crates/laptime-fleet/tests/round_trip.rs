//! Against a real Kafka (`LAPTIME_KAFKA_BOOTSTRAP`): what is acknowledged is consumed back exactly once
//! in per-key order; commits decide what a later member of the group gets; what was not committed is
//! redelivered; a rebalance hook can commit before its partitions move.

mod kafka_env;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use laptime_fleet::kafka::{
    create_topic, Ack, Committer, Consumer, ConsumerConfig, Message, Polled, Producer,
    ProducerConfig, RebalanceHandler, Record, TopicSpec,
};

const KEYS: u64 = 5;

/// Message `id` in the payload (decimal, then filler) and in header "id" (8 bytes big endian).
fn payload(id: u64) -> Vec<u8> {
    format!(
        "id={id};event-batch-filler-{}",
        "x".repeat((id % 64) as usize)
    )
    .into_bytes()
}

fn id_of(m: &Message) -> u64 {
    let h = m
        .headers
        .iter()
        .find(|(k, _)| k == "id")
        .unwrap_or_else(|| panic!("message at {}:{} has no id header", m.partition, m.offset));
    let id = u64::from_be_bytes(h.1.as_slice().try_into().expect("8-byte id header"));
    assert_eq!(
        m.payload,
        payload(id),
        "payload of id {id} came back changed"
    );
    id
}

fn key_of(id: u64) -> Vec<u8> {
    format!("key-{}", id % KEYS).into_bytes()
}

/// Send ids `from..to` pipelined in chunks and return each id's acknowledgement.
fn produce(producer: &Producer, from: u64, to: u64) -> Vec<(u64, Ack)> {
    let mut acked = Vec::new();
    let ids: Vec<u64> = (from..to).collect();
    for chunk in ids.chunks(2000) {
        let keys: Vec<Vec<u8>> = chunk.iter().map(|&i| key_of(i)).collect();
        let payloads: Vec<Vec<u8>> = chunk.iter().map(|&i| payload(i)).collect();
        let id_bytes: Vec<[u8; 8]> = chunk.iter().map(|&i| i.to_be_bytes()).collect();
        let headers: Vec<[(&str, &[u8]); 1]> =
            id_bytes.iter().map(|b| [("id", b.as_slice())]).collect();
        let records: Vec<Record<'_>> = (0..chunk.len())
            .map(|j| Record {
                key: &keys[j],
                payload: &payloads[j],
                headers: &headers[j],
            })
            .collect();
        for (j, r) in producer.send_all(&records).wait().into_iter().enumerate() {
            match r {
                Ok(ack) => acked.push((chunk[j], ack)),
                Err(e) => panic!("id {} not acknowledged: {e}", chunk[j]),
            }
        }
    }
    acked
}

fn consumer_config(bs: &str, group: &str, topic: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bs, group, topic);
    c.startup_timeout = Duration::from_secs(30);
    c
}

/// Poll until `want` messages arrived (panics after `limit`), then keep polling for `quiet` to catch
/// any extra one. Returns the messages in arrival order.
fn consume(c: &Consumer, want: usize, limit: Duration, quiet: Duration) -> Vec<Message> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut quiet_from: Option<Instant> = None;
    loop {
        if got.len() >= want && quiet_from.is_none() {
            quiet_from = Some(Instant::now());
        }
        if let Some(q) = quiet_from {
            if q.elapsed() >= quiet {
                return got;
            }
        }
        assert!(
            start.elapsed() < limit,
            "got {} of {want} messages in {limit:?}",
            got.len()
        );
        match c.poll(Duration::from_millis(200)) {
            Ok(Some(Polled::Message(m))) => got.push(m),
            Ok(_) => {}
            Err(e) => panic!("poll failed: {e}"),
        }
    }
}

/// Highest next-offset per partition over `msgs`, as `commit` wants it.
fn next_offsets(msgs: &[Message]) -> Vec<(i32, i64)> {
    let mut m: HashMap<i32, i64> = HashMap::new();
    for msg in msgs {
        let (p, o) = msg.next_offset();
        let e = m.entry(p).or_insert(o);
        *e = (*e).max(o);
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_unstable();
    v
}

#[test]
fn round_trip_exactly_once_in_key_order_with_commits_and_redelivery() {
    let Some(bs) = kafka_env::bootstrap("round_trip") else {
        return;
    };
    let topic = kafka_env::unique("laptime-rt");
    let group = kafka_env::unique("laptime-rt-group");
    create_topic(&bs, &TopicSpec::new(&topic, 6, 1), Duration::from_secs(30)).unwrap();
    let producer = Producer::connect(&ProducerConfig::new(&bs, &topic)).unwrap();

    // 20,000 acknowledged; same key -> same partition, offsets rising in send order.
    let acked = produce(&producer, 0, 20_000);
    assert_eq!(acked.len(), 20_000);
    let mut key_partition: HashMap<u64, (i32, i64)> = HashMap::new();
    for &(id, ack) in &acked {
        if let Some(&(p, last)) = key_partition.get(&(id % KEYS)) {
            assert_eq!(
                ack.partition,
                p,
                "key {} changed partition at id {id}",
                id % KEYS
            );
            assert!(
                ack.offset > last,
                "key {} out of order at id {id}",
                id % KEYS
            );
        }
        key_partition.insert(id % KEYS, (ack.partition, ack.offset));
    }
    let ack_of: HashMap<u64, Ack> = acked.into_iter().collect();

    // Member A reads everything once, in per-key order, where the acks said; commits as it goes.
    let a = Consumer::connect(&consumer_config(&bs, &group, &topic), None).unwrap();
    let start = Instant::now();
    let mut seen = HashSet::new();
    let mut last_per_key: HashMap<u64, u64> = HashMap::new();
    let mut since_commit = Vec::new();
    let mut first_lag_checked = false;
    while seen.len() < 20_000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "A got {} of 20000",
            seen.len()
        );
        let m = match a.poll(Duration::from_millis(200)).unwrap() {
            Some(Polled::Message(m)) => m,
            _ => continue,
        };
        let id = id_of(&m);
        assert!(seen.insert(id), "id {id} delivered twice");
        let ack = ack_of[&id];
        assert_eq!(
            (m.partition, m.offset),
            (ack.partition, ack.offset),
            "id {id}"
        );
        assert_eq!(m.key.as_deref(), Some(key_of(id).as_slice()));
        if let Some(prev) = last_per_key.insert(id % KEYS, id) {
            assert!(prev < id, "key {}: id {id} after {prev}", id % KEYS);
        }
        if !first_lag_checked {
            // Right after the first message, its partition still has unread messages behind it.
            let lag = a.lag(Duration::from_secs(10)).unwrap();
            let row = lag.iter().find(|l| l.partition == m.partition).unwrap();
            assert_eq!(row.next_offset, m.offset + 1);
            assert!(row.lag > 0 && row.high_watermark > m.offset, "{row:?}");
            first_lag_checked = true;
        }
        since_commit.push(m);
        if since_commit.len() == 2500 {
            a.commit(&next_offsets(&since_commit)).unwrap();
            since_commit.clear();
        }
    }
    a.commit(&next_offsets(&since_commit)).unwrap();
    let lag = a.lag(Duration::from_secs(10)).unwrap();
    assert!(!lag.is_empty());
    assert!(lag.iter().all(|l| l.lag == 0), "all read, yet lag {lag:?}");
    // Nothing more arrives.
    assert!(consume(&a, 0, Duration::from_secs(10), Duration::from_secs(2)).is_empty());
    drop(a);

    // 1,000 more; B reads them (and nothing committed before) but does not commit, then leaves.
    produce(&producer, 20_000, 21_000);
    let b = Consumer::connect(&consumer_config(&bs, &group, &topic), None).unwrap();
    let got_b = consume(&b, 1000, Duration::from_secs(60), Duration::from_secs(3));
    let ids_b: Vec<u64> = got_b.iter().map(id_of).collect();
    assert!(
        ids_b.iter().all(|&id| id >= 20_000),
        "B got committed ids again"
    );
    assert_eq!(ids_b.iter().collect::<HashSet<_>>().len(), 1000);
    assert_eq!(ids_b.len(), 1000);
    drop(b);

    // C gets exactly those 1,000 again: uncommitted means redelivered.
    let c = Consumer::connect(&consumer_config(&bs, &group, &topic), None).unwrap();
    let got_c = consume(&c, 1000, Duration::from_secs(60), Duration::from_secs(3));
    let mut ids_c: Vec<u64> = got_c.iter().map(id_of).collect();
    ids_c.sort_unstable();
    assert_eq!(ids_c, (20_000..21_000).collect::<Vec<_>>());
    c.commit(&next_offsets(&got_c)).unwrap();
    let all: Vec<i32> = (0..6).collect();
    let committed = c.committed(&all, Duration::from_secs(10)).unwrap();
    for (p, off) in committed {
        let expect = next_offsets(&got_c)
            .iter()
            .find(|(q, _)| *q == p)
            .map(|x| x.1);
        if let Some(e) = expect {
            assert_eq!(
                off,
                Some(e),
                "partition {p}: committed exactly what was passed"
            );
        }
    }
}

/// Member A never commits in its loop; its hook commits what it processed when partitions are
/// revoked. So member B, joining later, must get none of the old messages.
struct CommitOnRevoke {
    processed: Mutex<HashMap<i32, i64>>,
    revoked: Mutex<Vec<i32>>,
    commit_errors: Mutex<Vec<String>>,
}

impl RebalanceHandler for CommitOnRevoke {
    fn revoking(&self, partitions: &[i32], committer: &Committer<'_>) {
        let offsets: Vec<(i32, i64)> = {
            let processed = self.processed.lock().unwrap();
            partitions
                .iter()
                .filter_map(|p| processed.get(p).map(|&o| (*p, o)))
                .collect()
        };
        if let Err(e) = committer.commit(&offsets) {
            self.commit_errors.lock().unwrap().push(e.to_string());
        }
        self.revoked.lock().unwrap().extend_from_slice(partitions);
    }
}

#[test]
fn rebalance_hook_commits_before_partitions_move() {
    let Some(bs) = kafka_env::bootstrap("rebalance_hook") else {
        return;
    };
    let topic = kafka_env::unique("laptime-rb");
    let group = kafka_env::unique("laptime-rb-group");
    create_topic(&bs, &TopicSpec::new(&topic, 6, 1), Duration::from_secs(30)).unwrap();
    let producer = Producer::connect(&ProducerConfig::new(&bs, &topic)).unwrap();
    // Many keys, so every partition has messages.
    let send = |from: u64, to: u64| {
        let ids: Vec<u64> = (from..to).collect();
        let keys: Vec<Vec<u8>> = ids
            .iter()
            .map(|i| format!("k{}", i % 60).into_bytes())
            .collect();
        let payloads: Vec<Vec<u8>> = ids.iter().map(|&i| payload(i)).collect();
        let idb: Vec<[u8; 8]> = ids.iter().map(|i| i.to_be_bytes()).collect();
        let hs: Vec<[(&str, &[u8]); 1]> = idb.iter().map(|b| [("id", b.as_slice())]).collect();
        let recs: Vec<Record<'_>> = (0..ids.len())
            .map(|j| Record {
                key: &keys[j],
                payload: &payloads[j],
                headers: &hs[j],
            })
            .collect();
        let results = producer.send_all(&recs).wait();
        assert!(results.iter().all(Result::is_ok));
    };
    send(0, 3000);

    let hook = Arc::new(CommitOnRevoke {
        processed: Mutex::new(HashMap::new()),
        revoked: Mutex::new(Vec::new()),
        commit_errors: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let a_count = Arc::new(AtomicUsize::new(0));
    let a_ids = Arc::new(Mutex::new(Vec::new()));
    let a_thread = {
        let (bs, group, topic) = (bs.clone(), group.clone(), topic.clone());
        let (hook, stop, a_count, a_ids) =
            (hook.clone(), stop.clone(), a_count.clone(), a_ids.clone());
        thread::spawn(move || {
            let handler: Arc<dyn RebalanceHandler> = hook.clone();
            let a =
                Consumer::connect(&consumer_config(&bs, &group, &topic), Some(handler)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                match a.poll(Duration::from_millis(100)).unwrap() {
                    Some(Polled::Message(m)) => {
                        let (p, next) = m.next_offset();
                        hook.processed.lock().unwrap().insert(p, next);
                        a_ids.lock().unwrap().push(id_of(&m));
                        a_count.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Polled::Revoked(ps)) => {
                        let mut processed = hook.processed.lock().unwrap();
                        for p in ps {
                            processed.remove(&p);
                        }
                    }
                    _ => {}
                }
            }
            // Dropping A leaves the group; its hook runs once more for what it still holds.
        })
    };
    let start = Instant::now();
    while a_count.load(Ordering::Relaxed) < 3000 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "A read {} of 3000",
            a_count.load(Ordering::Relaxed)
        );
        thread::sleep(Duration::from_millis(50));
    }

    // B joins; some partitions move from A to B. B must get nothing old.
    let b = Consumer::connect(&consumer_config(&bs, &group, &topic), None).unwrap();
    let start = Instant::now();
    let mut b_assigned = Vec::new();
    let mut b_msgs = Vec::new();
    let mut assigned_at: Option<Instant> = None;
    // Until B holds partitions and has fetched from them for a while.
    while assigned_at.is_none_or(|t| t.elapsed() < Duration::from_secs(4)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "B never got partitions"
        );
        match b.poll(Duration::from_millis(200)).unwrap() {
            Some(Polled::Assigned(ps)) => {
                b_assigned.extend(ps);
                assigned_at = Some(Instant::now());
            }
            Some(Polled::Message(m)) => b_msgs.push(id_of(&m)),
            _ => {}
        }
    }
    assert!(!b_assigned.is_empty(), "B never got partitions");
    let revoked = hook.revoked.lock().unwrap().clone();
    assert!(!revoked.is_empty(), "A's hook never saw a revocation");
    assert!(
        hook.commit_errors.lock().unwrap().is_empty(),
        "{:?}",
        hook.commit_errors.lock().unwrap()
    );
    for p in &b_assigned {
        assert!(
            revoked.contains(p),
            "partition {p} moved to B without A's hook seeing it go"
        );
    }
    assert!(
        b_msgs.is_empty(),
        "B re-read {} messages A's hook had committed",
        b_msgs.len()
    );

    // New messages are split between A and B, each once.
    send(3000, 3600);
    let mut b_new = Vec::new();
    let complete = |b_new: &[u64]| {
        let a_ids = a_ids.lock().unwrap();
        let got: HashSet<u64> = a_ids.iter().chain(b_new).copied().collect();
        (0..3600).all(|i| got.contains(&i))
    };
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    // Until every id was seen by A or B, then a quiet second to catch duplicates.
    while done_at.is_none_or(|t| t.elapsed() < Duration::from_secs(1)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "new messages missing"
        );
        if let Some(Polled::Message(m)) = b.poll(Duration::from_millis(100)).unwrap() {
            b_new.push(id_of(&m));
        }
        if done_at.is_none() && complete(&b_new) {
            done_at = Some(Instant::now());
        }
    }
    stop.store(true, Ordering::Relaxed);
    a_thread.join().unwrap();
    let a_ids = a_ids.lock().unwrap();
    let mut all: Vec<u64> = a_ids.iter().copied().chain(b_new.iter().copied()).collect();
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!(
        total,
        3600,
        "{} duplicates across A and B",
        total - all.len()
    );
    assert!(!b_new.is_empty(), "B got none of the new messages");
}
