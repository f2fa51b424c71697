//! Crash safety: a child process writes with `sync: Always`, printing the number of every batch whose
//! `flush()` returned, and is SIGKILLed at a random moment. After each kill the store is opened again
//! and every acknowledged batch must be there exactly once, unacknowledged batches whole or absent,
//! and nothing else.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use laptime_core::{Options, Store, SyncPolicy};

const CHILD_ENV: &str = "LAPTIME_CRASH_CHILD_DIR";
const WRITERS_ENV: &str = "LAPTIME_CRASH_WRITERS";

fn crash_options(writers: usize) -> Options {
    Options {
        writers,
        sync: SyncPolicy::Always,
        // Small pages and segments so that kills land in every phase: WAL append, page seal,
        // segment roll, manifest replace.
        page_rows: 120,
        page_max_age: Duration::from_millis(3),
        segment_max_bytes: 1 << 20,
        ..Options::default()
    }
}

/// The child: write batches from `LAPTIME_CRASH_FIRST` on until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let first: u64 = std::env::var("LAPTIME_CRASH_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let writers = std::env::var(WRITERS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let store = Store::open(&dir, crash_options(writers)).expect("child open");
    println!("OPEN");
    for k in first.. {
        let b = make_batch(&store, k);
        store.append(b);
        store.flush().expect("flush");
        println!("ACK {k}");
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn kill_9_loses_no_acknowledged_event() {
    kill_cycles(1, 50);
}

/// Two writers: each acknowledged batch went to one of two partitions (in turn), names interned
/// by either writer's batches must be in that partition's names file before its records, and
/// both partitions are recovered and adopted again by the next child.
#[test]
fn kill_9_with_two_writers_loses_no_acknowledged_event() {
    kill_cycles(2, 30);
}

fn kill_cycles(writers: usize, default_cycles: u64) {
    let cycles: u64 = std::env::var("LAPTIME_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cycles);
    let dir = tempfile::tempdir().unwrap();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut next_first = 0u64;
    let mut rng = Lcg(0x5eed);
    let mut max_started = 0u64;
    let (mut replayed, mut cut_cycles, mut verified) = (0u64, 0u64, 0u64);
    for cycle in 0..cycles {
        let mut child = spawn_child(
            "crash_child",
            &[
                (CHILD_ENV, dir.path().display().to_string()),
                ("LAPTIME_CRASH_FIRST", next_first.to_string()),
                (WRITERS_ENV, writers.to_string()),
            ],
        );
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill somewhere between "during recovery" and "well into writing".
        let delay = Duration::from_millis(rng.next() % 120);
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let mut opened = false;
        for line in rx.try_iter() {
            if line == "OPEN" {
                opened = true;
            } else if let Some(k) = line.strip_prefix("ACK ") {
                let k: u64 = k.parse().unwrap();
                acked.insert(k);
                max_started = max_started.max(k + 1);
            }
        }
        // The child may have been writing batch max(acked)+1 when it died.
        let limit = max_started.max(next_first) + 1;
        if !opened && status.success() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
            panic!("child exited on its own: {err}");
        }
        // Every few cycles leave the crashed state for the next child to recover itself.
        if cycle % 4 == 3 && cycle + 1 != cycles {
            next_first = limit;
            continue;
        }
        let store = Store::open(dir.path(), crash_options(writers)).expect("reopen after kill");
        for report in store.recovery_reports() {
            replayed += report.replayed_events;
            cut_cycles += u64::from(!report.cuts.is_empty());
        }
        verified += 1;
        let by_batch = stored_batches(&store);
        for k in &acked {
            let got = by_batch.get(k).map_or(0, Vec::len);
            assert_eq!(
                got as u64, PER_BATCH,
                "cycle {cycle}: acknowledged batch {k} has {got} events"
            );
        }
        if let Some(k) = by_batch.keys().find(|k| **k >= limit) {
            panic!("cycle {cycle}: batch {k} was never written");
        }
        assert_whole(&by_batch);
        // Batches that made it without an ack count as written from now on.
        acked.extend(by_batch.keys().copied());
        store.close().unwrap();
        next_first = limit;
    }
    eprintln!(
        "{writers} writer(s), {cycles} kills, {verified} verified reopens: {} batches acknowledged and present, {replayed} events replayed from the WAL, torn tails cut in {cut_cycles} reopens",
        acked.len()
    );
    assert!(
        acked.len() > cycles as usize,
        "the children acknowledged too little to test anything"
    );
    // Every writer adopts a dead partition when it opens: the store does not grow a partition
    // per crash.
    let partitions = std::fs::read_dir(dir.path().join("partitions"))
        .unwrap()
        .count();
    assert_eq!(partitions, writers, "partitions after {cycles} crashes");
}
