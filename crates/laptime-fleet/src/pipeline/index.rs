//! Storing what the consumer group gives this member: each message's pages go into the indexer's
//! store as received batches (their origin = source and seqs, so a message delivered again is
//! recognised, `Store::append_received`); offsets are committed only after `flush()` made the
//! events durable: every `commit_every` messages or `commit_interval`, and when partitions are
//! revoked (a clean hand-over commits before another member takes them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use laptime_storage::ship::decode_message;
use laptime_storage::{Options, Received, Store};

use super::Error;
use crate::kafka::{Committer, Consumer, ConsumerConfig, Message, Polled, RebalanceHandler};

/// Where and how an indexer works.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Its own store directory.
    pub dir: PathBuf,
    /// Commit after this many messages...
    pub commit_every: usize,
    /// ...or this long after the first uncommitted one.
    pub commit_interval: Duration,
    /// How long one poll waits.
    pub poll: Duration,
    /// How often the lag is measured (a round trip per partition to its leader).
    pub lag_interval: Duration,
}

impl IndexConfig {
    /// Defaults: commit every 64 messages or 200 ms, polls of 100 ms.
    pub fn new(dir: impl Into<PathBuf>) -> IndexConfig {
        IndexConfig {
            dir: dir.into(),
            commit_every: 64,
            commit_interval: Duration::from_millis(200),
            poll: Duration::from_millis(100),
            lag_interval: Duration::from_secs(10),
        }
    }
}

/// File in an indexer's store directory holding its group member name.
pub const MEMBER_FILE: &str = "index-member";

/// The static group member name of the indexer whose store is `dir`: read from `dir/index-member`,
/// or made up (random) and written there on the first start. The name belongs to the store, so an
/// indexer restarted on the same store rejoins as the same member and gets back the partitions
/// whose uncommitted messages its store already holds.
pub fn member_name(dir: &Path) -> Result<String, Error> {
    let path = dir.join(MEMBER_FILE);
    let io = |source| Error::Member {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let name = text.trim();
            if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a member name (one line of at most 200 printable characters)",
                )));
            }
            Ok(name.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let name = format!("laptime-index-{:016x}", super::random_id());
            let tmp = dir.join(format!("{MEMBER_FILE}.tmp"));
            {
                let mut f = std::fs::File::create(&tmp).map_err(io)?;
                f.write_all(format!("{name}\n").as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(name)
        }
        Err(e) => Err(io(e)),
    }
}

/// What an indexer did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Messages taken from Kafka.
    pub messages: u64,
    /// Events stored.
    pub events: u64,
    /// Events dropped because the store already held them (a message delivered again).
    pub duplicates: u64,
    /// Events of pages that overlapped what was stored (neither all new nor all stored): not
    /// stored. A shipper that sends whole sealed pages never causes this.
    pub overlaps: u64,
    /// Messages that failed their checks (not stored; their offsets are committed so they do
    /// not block the partition).
    pub bad_messages: u64,
    /// Offset commits.
    pub commits: u64,
    /// Commits Kafka refused (retried with the next one).
    pub commit_failures: u64,
    /// Messages of its partitions not read yet, summed, as last measured (every
    /// [`IndexConfig::lag_interval`]); `None` before the first measurement or when the brokers
    /// did not answer it.
    pub lag: Option<u64>,
}

/// State shared with the rebalance handler (which runs inside `poll`).
struct Shared {
    store: Store,
    dir: PathBuf,
    /// Per partition, the next offset to commit once the store is durable.
    uncommitted: BTreeMap<i32, i64>,
    stats: IndexStats,
}

impl Shared {
    /// Make the store durable, then commit what it now holds.
    fn commit(
        &mut self,
        commit: impl FnOnce(&[(i32, i64)]) -> Result<(), crate::kafka::Error>,
    ) -> Result<(), Error> {
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        self.store.flush().map_err(Error::store(&self.dir))?;
        let offsets: Vec<(i32, i64)> = self.uncommitted.iter().map(|(p, o)| (*p, *o)).collect();
        commit(&offsets)?;
        self.uncommitted.clear();
        self.stats.commits += 1;
        Ok(())
    }
}

struct Handover(Arc<Mutex<Shared>>);

impl RebalanceHandler for Handover {
    fn revoking(&self, partitions: &[i32], committer: &Committer<'_>) {
        let mut shared = lock(&self.0);
        if committer.assignment_lost() {
            // Another member owns them already: what was stored stays, uncommitted (it will be
            // delivered again there).
            shared.uncommitted.retain(|p, _| !partitions.contains(p));
            return;
        }
        // Everything stored is made durable and committed: the revoked partitions before they move,
        // the kept ones along with them (this member still owns those).
        if let Err(e) = shared.commit(|offsets| committer.commit(offsets)) {
            eprintln!("laptime index: commit before hand-over failed: {e} (those messages will be delivered again)");
        }
        shared.uncommitted.retain(|p, _| !partitions.contains(p));
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads an indexer's counters from any thread.
#[derive(Clone)]
pub struct StatsHandle(Arc<Mutex<Shared>>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> IndexStats {
        lock(&self.0).stats
    }
}

/// A consumer-group member storing into its own store.
pub struct Indexer {
    config: IndexConfig,
    consumer: Consumer,
    shared: Arc<Mutex<Shared>>,
}

impl Indexer {
    /// Open (recovering) the store at `config.dir` and join the group of `consumer` (startup check
    /// included: an unreachable Kafka is an error here).
    pub fn start(
        config: IndexConfig,
        consumer: &ConsumerConfig,
        store: Options,
    ) -> Result<Indexer, Error> {
        let store = Store::open(&config.dir, store).map_err(Error::store(&config.dir))?;
        let shared = Arc::new(Mutex::new(Shared {
            store,
            dir: config.dir.clone(),
            uncommitted: BTreeMap::new(),
            stats: IndexStats::default(),
        }));
        let handler: Arc<dyn RebalanceHandler> = Arc::new(Handover(Arc::clone(&shared)));
        let consumer = Consumer::connect(consumer, Some(handler))?;
        Ok(Indexer {
            config,
            consumer,
            shared,
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> IndexStats {
        lock(&self.shared).stats
    }

    /// A handle that reads [`Indexer::stats`] from another thread while `run` goes on.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.shared))
    }

    /// The store it writes (for reading and counters).
    pub fn store(&self) -> Store {
        lock(&self.shared).store.clone()
    }

    /// The consumer (lag, assignment).
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Poll, store and commit until `stop` is set; then commit what is stored and return.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), Error> {
        let mut first_uncommitted: Option<Instant> = None;
        let mut since_commit = 0usize;
        let mut lag_measured: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            if lag_measured.is_none_or(|t| t.elapsed() >= self.config.lag_interval) {
                let lag = self.consumer.lag(Duration::from_millis(500)).ok();
                lock(&self.shared).stats.lag =
                    lag.map(|parts| parts.iter().map(|p| p.lag.max(0) as u64).sum());
                lag_measured = Some(Instant::now());
            }
            match self.consumer.poll(self.config.poll)? {
                Some(Polled::Message(m)) => {
                    self.take(&m)?;
                    since_commit += 1;
                    first_uncommitted.get_or_insert_with(Instant::now);
                }
                Some(Polled::Revoked(parts)) => {
                    eprintln!("laptime index: partitions {parts:?} revoked");
                    lock(&self.shared)
                        .uncommitted
                        .retain(|p, _| !parts.contains(p));
                }
                Some(Polled::Transient(why)) => eprintln!("laptime index: kafka: {why} (retrying)"),
                Some(Polled::Assigned(parts)) if !parts.is_empty() => {
                    eprintln!("laptime index: partitions {parts:?} assigned");
                }
                Some(Polled::Assigned(_)) | None => {}
            }
            let due = first_uncommitted.is_some_and(|t| t.elapsed() >= self.config.commit_interval);
            if since_commit >= self.config.commit_every || due {
                // A refused commit (a rebalance under way, a broker away) loses nothing: the events
                // are durable, and the offsets stay pending for the next commit (or are dropped
                // with their partitions if these move; the new owner reads them again).
                if let Err(e) = self.commit() {
                    lock(&self.shared).stats.commit_failures += 1;
                    eprintln!("laptime index: {e} (kept; retried with the next commit)");
                }
                since_commit = 0;
                first_uncommitted = None;
            }
        }
        self.commit()
    }

    /// Make the store durable and commit every offset stored so far.
    pub fn commit(&mut self) -> Result<(), Error> {
        let consumer = &self.consumer;
        lock(&self.shared).commit(|offsets| consumer.commit(offsets))
    }

    /// Store one message's pages (or count it as bad), and note its offset for the next commit.
    fn take(&mut self, m: &Message) -> Result<(), Error> {
        let mut shared = lock(&self.shared);
        shared.stats.messages += 1;
        match decode_message(&m.payload) {
            Err(e) => {
                shared.stats.bad_messages += 1;
                eprintln!(
                    "laptime index: message at {}/{} offset {} refused: {e}",
                    m.topic, m.partition, m.offset
                );
            }
            Ok(msg) => {
                for page in &msg.pages {
                    let rows = page.meta.rows;
                    let store = shared.store.clone();
                    let mut batch = page
                        .to_batch(|name| store.intern(name))
                        .map_err(Error::store(&self.config.dir))?;
                    batch
                        .set_origin(&msg.source, page.meta.first_seq, page.meta.end_seq())
                        .map_err(Error::store(&self.config.dir))?;
                    match store
                        .append_received(batch)
                        .map_err(Error::store(&self.config.dir))?
                    {
                        Received::Taken => shared.stats.events += rows,
                        Received::Duplicate => shared.stats.duplicates += rows,
                        Received::Overlap { .. } => shared.stats.overlaps += rows,
                        _ => {
                            return Err(Error::StoreStuck {
                                dir: self.config.dir.clone(),
                            })
                        }
                    }
                }
            }
        }
        let (partition, next) = m.next_offset();
        shared.uncommitted.insert(partition, next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_keeps_its_member_name_and_a_damaged_name_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let name = member_name(&a).unwrap();
        assert!(name.starts_with("laptime-index-"), "{name}");
        assert_eq!(member_name(&a).unwrap(), name, "read back, not made anew");
        assert_ne!(
            member_name(&b).unwrap(),
            name,
            "another store, another member"
        );
        // A name written by hand is taken as it is (trimmed).
        std::fs::write(b.join(MEMBER_FILE), "  indexer-7\n").unwrap();
        assert_eq!(member_name(&b).unwrap(), "indexer-7");
        for bad in ["", "\n", "two\nlines", "tab\there", &"x".repeat(201)] {
            std::fs::write(b.join(MEMBER_FILE), bad).unwrap();
            let e = member_name(&b).unwrap_err().to_string();
            assert!(
                e.contains(MEMBER_FILE) && e.contains("not a member name"),
                "{bad:?}: {e}"
            );
        }
    }
}
